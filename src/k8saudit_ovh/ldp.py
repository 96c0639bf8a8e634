"""Audit events from the OVHcloud Logs Data Platform (LDP) WebSocket live tail.

open_params (one stream, or several joined with ``,``)::

    wss://gra1.logs.ovh.com/tail/?tk=<token>              the address LDP's manager gives
    gra1.logs.ovh.com/tail/?tk=<token>                    the same, no scheme (wss:// implied)
    wss://gra1.logs.ovh.com/tail/?tk=<token>#cluster=prod  events without annotations.cluster_name
                                                          get "prod" (ka.cluster.name)
    ws://127.0.0.1:8080/tail/?tk=test                     plain ws:// only for loopback hosts

Each frame is ``{"message": "<GELF JSON>"}``; the audit payload is the GELF ``short_message``
(``full_message`` when it is empty or not JSON). Frames are handed as bytes to a Feeder, whose C
code unwraps, parses, checks and queues the events without the GIL.

One thread per stream runs an asyncio loop that owns its WebSocket (the ``websockets`` asyncio
client: one thread, no hand-off per frame; ``stop()`` cancels it, whatever phase it is in). It
pings after ``ldpPingInterval`` seconds without a frame and re-opens the connection when neither
a pong nor a frame comes within ``ldpPingTimeout``; any read error or dead connection re-opens it
too, after an exponential backoff with jitter (``ldpMinBackoff`` .. ``ldpMaxBackoff``, reset
after a healthy connection). Only HTTP 400/401/403/404 at the first handshake (and unusable
settings) are configuration errors that end the source, with a message that says which;
everything else is retried for ever, so Falco never sees FAILURE or EOF for a transient fault.
While the queue to next_batch is full, the Feeder blocks the loop: nothing more is read
(backpressure) and memory stays bounded. With ``ldpReplayOnReconnect``, the window missed while
disconnected is fetched on a second connection with LDP's ``begin``/``end`` parameters and
duplicates are dropped by (auditID, stage) in bounded memory.

The token (``tk=``) never appears in a log line, an error or a metric: every text goes through
:func:`redact`.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import random
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from . import __version__, trust
from .filesource import SourceError
from .log import get_logger

SEPARATOR = ","

# A connection that stayed up this long resets the reconnect backoff.
HEALTHY_SECONDS = 10.0
# Replay window margins (seconds): before the connection was last known alive (frame or pong),
# after the reconnect. LDP's begin/end are whole seconds and its clock is not ours.
REPLAY_MARGIN_BEFORE = 30
REPLAY_MARGIN_AFTER = 5
# Replay attempts per window before it is given up.
REPLAY_ATTEMPTS = 3
# How long open() waits for every stream's first connection outcome (seconds, at most).
OPEN_WAIT = 5.0

_WS_LOGGER_NAME = "k8saudit-ovh.websockets"


class LdpError(SourceError):
    """An LDP address or setting the plugin cannot use; the message says why (token redacted)."""


# ---------------------------------------------------------------------------------------------
# token redaction

# tk=<value>: the value ends at a URL/text delimiter, or at a ':' that ends a phrase.
_TOKEN_RE = re.compile(r"(?i)((?:^|[?&#;\s\"'(/])tk=)([^&#\s\"'<>)]+?)(?=[&#\s\"'<>)]|:(?:\s|$)|$)")
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_known_tokens: set = set()
_tokens_lock = threading.Lock()


def _remember_token(token: str) -> None:
    forms = {token, urllib.parse.unquote(token), urllib.parse.quote(token, safe="")}
    with _tokens_lock:
        _known_tokens.update(t for t in forms if len(t) >= 4)


def redact(text, tokens=()) -> str:
    """`text` with every ``tk=<value>`` replaced by ``tk=***``, every known token of 4
    characters or more (those of the URLs parsed in this process, and `tokens`) by ``***``, and
    the credentials of URLs (``http://user:pw@proxy``) by ``***``."""
    text = str(text)
    text = _TOKEN_RE.sub(lambda m: m.group(1) + "***", text)
    text = _USERINFO_RE.sub(r"\1***@", text)          # proxy credentials
    with _tokens_lock:
        known = sorted(_known_tokens | {t for t in tokens if t and len(t) >= 4}, key=len,
                       reverse=True)
    for t in known:
        if t in text:
            text = text.replace(t, "***")
    return text


class RedactFilter(logging.Filter):
    """A logging filter that redacts tokens from the message and the traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string: leave the record alone
            return True
        red = redact(msg)
        if red != msg:
            record.msg = red
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_REDACT_FILTER = RedactFilter()


def _loggers():
    log = get_logger()
    if _REDACT_FILTER not in log.filters:
        log.addFilter(_REDACT_FILTER)
    wslog = logging.getLogger(_WS_LOGGER_NAME)
    if _REDACT_FILTER not in wslog.filters:
        wslog.addFilter(_REDACT_FILTER)
        wslog.setLevel(logging.WARNING)
    return log, wslog


# ---------------------------------------------------------------------------------------------
# addresses

_HOST_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEMELESS_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:\d+)?(?=[/?#]|$)")
_LDP_DOMAIN = ".logs.ovh.com"
FRAGMENT_KEYS = ("cluster",)


@dataclass(frozen=True)
class LdpUrl:
    """One LDP tail address, validated. `url` holds the token: never log it, use `display`."""

    host: str
    port: int
    secure: bool
    path: str            # path and query as given (without the fragment)
    token: str = field(repr=False)
    cluster: Optional[str] = None

    @property
    def scheme(self) -> str:
        return "wss" if self.secure else "ws"

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The address to connect to (contains the token)."""
        return f"{self.scheme}://{self.netloc}{self.path}"

    @property
    def display(self) -> str:
        """The address for humans: token redacted, cluster name shown."""
        text = redact(f"{self.scheme}://{self.netloc}{self.path}", (self.token,))
        if self.cluster:
            text += "#cluster=" + urllib.parse.quote(self.cluster, safe="")
        return text

    @property
    def label(self) -> str:
        """Short name for log lines: host and cluster."""
        return self.netloc + (f"#{self.cluster}" if self.cluster else "")

    def replay_url(self, begin: int, end: int) -> str:
        sep = "&" if "?" in self.path else "?"
        return f"{self.url}{sep}begin={int(begin)}&end={int(end)}"


def _fail(raw: str, why: str) -> LdpError:
    shown = redact(raw)
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return LdpError(f"k8saudit-ovh: invalid LDP address '{shown}': {why}")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if not host or len(host) > 253:
        return False
    return all(_HOST_LABEL.match(label) for label in host.rstrip(".").split("."))


def parse_url(text: str) -> LdpUrl:
    """Validate one LDP tail address (with or without wss://); LdpError says what is wrong."""
    raw = text.strip()
    if not raw:
        raise LdpError("k8saudit-ovh: empty LDP address in open_params")
    if len(raw) > 8192:
        raise _fail(raw, "longer than 8192 characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise _fail(raw, "contains spaces or control characters")
    m = _SCHEME.match(raw)
    if m:
        scheme = m.group(1).lower()
        rest = raw[m.end():]
        if scheme in ("http", "https"):
            raise _fail(raw, "k8saudit-ovh reads the LDP WebSocket live tail "
                             "(wss://<cluster>.logs.ovh.com/tail/?tk=<token>); "
                             "it has no webhook server")
        if scheme not in ("ws", "wss"):
            raise _fail(raw, f"unsupported scheme '{scheme}://' (use wss://, or no scheme)")
    else:
        scheme, rest = "wss", raw
    for token in urllib.parse.parse_qs(urllib.parse.urlsplit("x://h/" + rest).query,
                                       keep_blank_values=True).get("tk", []):
        if token:
            _remember_token(token)
    try:
        parts = urllib.parse.urlsplit(f"{scheme}://{rest}")
        host = parts.hostname or ""
        port = parts.port
    except ValueError as exc:
        raise _fail(raw, f"malformed host or port ({redact(exc)})") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _fail(raw, "user:password@ is not allowed in the address (the token goes in tk=)")
    if not host:
        raise _fail(raw, "no host name")
    if not _valid_host(host):
        raise _fail(raw, f"'{host}' is not a valid host name")
    if port is None:
        if parts.netloc.endswith(":"):
            raise _fail(raw, "empty port")
        port = 443 if scheme == "wss" else 80
    if not 1 <= port <= 65535:
        raise _fail(raw, f"port {port} out of range")
    if scheme == "ws" and not _is_loopback(host):
        raise _fail(raw, "ws:// would send the token unencrypted: use wss:// "
                         "(ws:// is accepted for loopback addresses only)")
    try:
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise _fail(raw, f"malformed query ({redact(exc)})") from None
    tokens = query.get("tk", [])
    if not tokens:
        raise _fail(raw, "no tk=<token> parameter: copy the stream's WebSocket address from the "
                         "LDP manager ('Monitor in real-time', then 'Copy WebSocket address')")
    if len(tokens) > 1:
        raise _fail(raw, "several tk= parameters")
    if not tokens[0]:
        raise _fail(raw, "empty tk= token")
    for key in ("begin", "end"):
        if key in query:
            raise _fail(raw, f"'{key}=' replays a past window: k8saudit-ovh streams live and sets "
                             "begin/end itself after a reconnect (ldpReplayOnReconnect)")
    cluster = None
    if parts.fragment:
        try:
            frag = urllib.parse.parse_qs(parts.fragment, keep_blank_values=True,
                                         strict_parsing=True)
        except ValueError:
            raise _fail(raw, "the part after '#' must be cluster=<name>") from None
        unknown = sorted(set(frag) - set(FRAGMENT_KEYS))
        if unknown:
            raise _fail(raw, f"unknown option '#{unknown[0]}=' (known: "
                             + ", ".join(f"#{k}=" for k in FRAGMENT_KEYS) + ")")
        if "cluster" in frag:
            if len(frag["cluster"]) > 1:
                raise _fail(raw, "several #cluster= names")
            cluster = frag["cluster"][0]
            if not cluster or len(cluster) > 253 or any(ord(c) < 0x20 or ord(c) == 0x7F
                                                        for c in cluster):
                raise _fail(raw, "#cluster= needs a name of 1 to 253 printable characters")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    token = tokens[0]
    _remember_token(token)
    return LdpUrl(host=host.lower(), port=port, secure=(scheme == "wss"), path=path, token=token,
                  cluster=cluster)


def split_params(params: str) -> List[str]:
    return [p.strip() for p in params.split(SEPARATOR) if p.strip()]


def is_ldp_params(params: str) -> bool:
    """True when open_params name LDP tail addresses rather than files."""
    params = params.strip()
    if not params:
        return False
    first = split_params(params)[0] if split_params(params) else params
    m = _SCHEME.match(first)
    if m:
        return m.group(1).lower() in ("ws", "wss", "http", "https")
    if os.path.exists(params):
        return False
    hm = _SCHEMELESS_HOST.match(first)
    if not hm:
        return False
    host = hm.group(1).lower().rstrip(".")
    if host.endswith(_LDP_DOMAIN):
        return True
    return bool(re.search(r"[?&]tk=", first)) and ("." in host or host.startswith("[")
                                                   or host == "localhost")


def parse_params(params: str) -> List[LdpUrl]:
    urls = [parse_url(p) for p in split_params(params)]
    if not urls:
        raise LdpError("k8saudit-ovh: open_params has no LDP address")
    seen = set()
    for u in urls:
        key = (u.host, u.port, u.path)
        if key in seen:
            raise LdpError(f"k8saudit-ovh: the LDP address {u.display} is listed twice")
        seen.add(key)
    return urls


# ---------------------------------------------------------------------------------------------
# connecting

def proxy_for(target: LdpUrl) -> Optional[str]:
    """The proxy websockets takes from the environment for this address (HTTPS_PROXY for
    wss://, NO_PROXY honoured...), or None; loopback addresses never go through a proxy."""
    if _is_loopback(target.host):
        return None
    try:
        from websockets.proxy import get_proxy
        from websockets.uri import parse_uri
        return get_proxy(parse_uri(target.url))
    except ImportError:        # websockets < 15: no proxy support
        return None


def proxy_display(proxy: str) -> str:
    """A proxy URL without its credentials."""
    p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    try:
        port = p.port
    except ValueError:
        port = None
    return f"{p.scheme}://{p.hostname or '?'}" + (f":{port}" if port else "")


def ssl_context(config) -> ssl.SSLContext:
    """Verified TLS (TLS 1.2 at least) with the CAs trust.choose_ca_bundle picks."""
    cafile, origin = trust.choose_ca_bundle(config.ldp_ca_file or "")
    if cafile and not os.path.isfile(cafile):
        raise LdpError(f"k8saudit-ovh: ldpCAFile '{cafile}' is not a readable file")
    try:
        ctx = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise LdpError(f"k8saudit-ovh: cannot load {origin} '{cafile}': {exc}") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    trust.log_choice(cafile, origin)
    return ctx


def max_frame_size(config) -> int:
    # The event is escaped twice (GELF string inside the frame's message string).
    return 8 * config.max_event_size + 65536


async def open_connection(target: LdpUrl, config, url: Optional[str] = None, ssl_ctx=None,
                          logger=None):
    """A websockets (asyncio) ClientConnection to `url` (default: the live tail of `target`),
    through the proxy the environment names, TLS verified, no permessage-deflate, keepalive
    left to the caller. Cancelling the calling task aborts any phase."""
    from websockets.asyncio.client import connect

    if target.secure and ssl_ctx is None:
        ssl_ctx = ssl_context(config)
    kwargs = {} if proxy_for(target) else {"proxy": None}
    return await connect(
        url or target.url, ssl=ssl_ctx if target.secure else None, compression=None, **kwargs,
        open_timeout=config.ldp_connect_timeout, ping_interval=None, ping_timeout=None,
        close_timeout=1, max_size=max_frame_size(config), max_queue=16,
        user_agent_header=f"k8saudit-ovh/{__version__}",
        logger=logger or logging.getLogger(_WS_LOGGER_NAME))


def describe_error(exc: BaseException, target: LdpUrl, timeout: Optional[float] = None) -> tuple:
    """(fatal, message in plain words) for a failed connection attempt; the token is redacted.
    Fatal: HTTP 400/401/403/404 at the handshake, or an unusable setting."""
    from websockets import exceptions as wse

    status = None
    e, depth = exc, 0
    while e is not None and status is None and depth < 8:
        if isinstance(e, wse.InvalidStatus):
            status = e.response.status_code
        e = e.__cause__ or e.__context__
        depth += 1
    where = f"{target.host}:{target.port}"
    if status is not None:
        if status == 401:
            return True, ("LDP refused the token (HTTP 401 Unauthorized): the token is wrong "
                          "or revoked; copy the stream's WebSocket address again from the LDP "
                          "manager")
        if status == 403:
            return True, ("LDP denied access (HTTP 403 Forbidden): the token may not read this "
                          "stream, or the stream's WebSocket live tail is not enabled")
        if status == 404:
            return True, (f"no LDP live tail at this address (HTTP 404 Not Found): check the "
                          f"host name '{target.host}' and the path")
        if status == 400:
            return True, ("LDP rejected the address (HTTP 400 Bad Request): check the URL and "
                          "its parameters")
        return False, f"the server answered HTTP {status} to the WebSocket handshake"
    if isinstance(exc, LdpError):
        return True, redact(str(exc))
    if isinstance(exc, wse.InvalidProxy):
        return True, redact(f"invalid proxy setting in the environment: {exc}")
    if isinstance(exc, wse.ProxyError):
        cause = exc.__cause__ or exc.__context__
        return False, redact(f"proxy error: {exc}" + (f" ({cause})" if cause else ""))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False, (f"TLS certificate verification failed for {target.host}: "
                       f"{exc.verify_message or exc.reason} (a private CA? set ldpCAFile)")
    if isinstance(exc, ssl.SSLError):
        return False, f"TLS error with {where}: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return False, f"cannot resolve the host name '{target.host}': {exc.strerror}"
    if isinstance(exc, ConnectionRefusedError):
        return False, f"connection refused by {where}"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        within = f" within {timeout:g}s" if timeout else ""
        return False, f"no WebSocket connection to {where}{within} (ldpConnectTimeout)"
    if isinstance(exc, wse.InvalidMessage):
        return False, f"no valid HTTP answer from {where} to the WebSocket handshake"
    if isinstance(exc, wse.InvalidHandshake):
        return False, redact(f"WebSocket handshake with {where} failed: {exc}")
    if isinstance(exc, wse.ConnectionClosed):
        return False, close_reason(exc)
    if isinstance(exc, OSError):
        return False, f"{exc.strerror or exc} ({where})"
    return False, redact(f"{type(exc).__name__}: {exc}")


def close_reason(exc) -> str:
    rcvd = getattr(exc, "rcvd", None)
    sent = getattr(exc, "sent", None)
    if rcvd is not None:
        return redact(f"closed by the server (code {rcvd.code}"
                      + (f": {rcvd.reason}" if rcvd.reason else "") + ")")
    if sent is not None:
        return redact(f"closed (code {sent.code}" + (f": {sent.reason}" if sent.reason else "") + ")")
    return "connection lost (no close frame)"


class Backoff:
    """Exponential reconnect delays with +-20% jitter, kept within [lo, hi] seconds."""

    def __init__(self, lo: float, hi: float, rng=random.random):
        self.lo, self.hi, self.rng = lo, hi, rng
        self.failures = 0

    def next(self) -> float:
        base = min(self.hi, self.lo * (2 ** min(self.failures, 40)))
        self.failures += 1
        return max(self.lo, min(self.hi, base * (0.8 + 0.4 * self.rng())))

    def reset(self):
        self.failures = 0


# ---------------------------------------------------------------------------------------------
# streams

def _block_sigpipe():
    """A write to a connection the peer closed must give EPIPE, not kill the host: an embedded
    interpreter does not ignore SIGPIPE, and the signal goes to the writing thread."""
    try:
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    except (AttributeError, ValueError, OSError):
        pass


class _Liveness:
    __slots__ = ("last_rx", "last_frame", "reason")

    def __init__(self):
        self.last_rx = self.last_frame = time.monotonic()
        self.reason: Optional[str] = None


class _Stream:
    """One LDP address. Its thread runs an asyncio loop with the live connection and, after a
    reconnect with replay on, a replay connection; both feed the same Feeder (one thread)."""

    def __init__(self, source: "LdpSource", target: LdpUrl, index: int):
        from ._source import Dedupe, Feeder

        self.source = source
        self.target = target
        cfg = source.config
        self.dedupe = Dedupe(cfg.ldp_dedupe_capacity) if cfg.ldp_replay else None
        self.feeder = Feeder(source.queue, cfg.max_event_size)
        if target.cluster:
            self.feeder.set_cluster_name(target.cluster)
        if self.dedupe is not None:
            self.feeder.set_dedupe(self.dedupe)
        self.thread = threading.Thread(target=self._thread_main, name=f"k8saudit-ovh-ldp-{index}",
                                       daemon=True)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_lock = threading.Lock()
        self._tasks: set = set()
        self._ssl_ctx = None
        # state, read by the statistics line
        self.connected_since: Optional[float] = None
        self.frames = 0
        self.events = 0
        self.replayed_events = 0
        self.reconnects = 0
        self.last_error = ""
        self.last_alive_wall: Optional[float] = None   # last frame or pong of the live connection
        self.first_outcome = threading.Event()
        self.fatal: Optional[str] = None
        # replay
        self._replay_window: Optional[tuple] = None
        self._replay_task: Optional[asyncio.Task] = None

    # -- thread / loop
    def _thread_main(self):
        _block_sigpipe()
        loop = asyncio.new_event_loop()
        try:
            with self._loop_lock:
                self.loop = loop
            loop.run_until_complete(self._main())
        except Exception as exc:  # a bug here must not end the stream silently
            self.source.log.error("LDP %s: stream thread failed: %s", self.target.display,
                                  redact(f"{type(exc).__name__}: {exc}"), exc_info=True)
            self.source.on_fatal(redact(f"k8saudit-ovh: LDP stream {self.target.display} "
                                        f"failed: {type(exc).__name__}: {exc}"))
        finally:
            self.first_outcome.set()
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=0.5))
            except Exception:
                pass
            # abort() must never write to the self-pipe of a closed loop: that write would
            # raise SIGPIPE in the calling (host) thread, where nothing ignores it.
            with self._loop_lock:
                self.loop = None
            loop.close()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _main(self):
        if self.source.stopping.is_set():
            return
        if self.target.secure:
            self._ssl_ctx = ssl_context(self.source.config)
        live = self._spawn(self._live())
        try:
            await live
        except asyncio.CancelledError:
            pass

    def _cancel_all(self):
        for t in list(self._tasks):
            t.cancel()

    def abort(self):
        with self._loop_lock:
            loop = self.loop
            if loop is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(self._cancel_all)
                except RuntimeError:
                    pass

    def start(self):
        self.thread.start()

    def join(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    # -- live connection
    async def _live(self):
        log = self.source.log
        cfg = self.source.config
        stop = self.source.stopping
        backoff = Backoff(cfg.ldp_min_backoff, cfg.ldp_max_backoff)
        ever = False
        down_since_wall = None
        while not stop.is_set():
            try:
                ws = await open_connection(self.target, cfg, ssl_ctx=self._ssl_ctx,
                                           logger=self.source.ws_log)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                fatal, msg = describe_error(exc, self.target, cfg.ldp_connect_timeout)
                self.last_error = msg
                if fatal and not ever:
                    self.fatal = f"k8saudit-ovh: {self.target.display}: {msg}"
                    self.first_outcome.set()
                    self.source.on_fatal(self.fatal)
                    return
                delay = backoff.next()
                log.warning("LDP %s: %s; retrying in %.1fs", self.target.display, msg, delay)
                self.first_outcome.set()
                await asyncio.sleep(delay)
                continue
            now_wall = time.time()
            self.connected_since = time.monotonic()
            previous_alive = self.last_alive_wall
            self.last_alive_wall = now_wall
            self.source.set_connected(self, True)
            if ever:
                self.reconnects += 1
                self.source.counters.add("reconnects", 1)
                log.info("LDP %s: reconnected (down %.1fs)", self.target.display,
                         now_wall - (down_since_wall or now_wall))
                if cfg.ldp_replay:
                    self._schedule_replay(previous_alive or down_since_wall or now_wall,
                                          now_wall)
            else:
                log.info("LDP %s: connected", self.target.display)
            ever = True
            self.first_outcome.set()
            try:
                reason = await self._pump(ws)
            finally:
                ws.transport.abort()
                self.source.set_connected(self, False)
            up = time.monotonic() - self.connected_since
            self.connected_since = None
            down_since_wall = time.time()
            if reason == "stopping" or stop.is_set():
                return
            if up >= HEALTHY_SECONDS:
                backoff.reset()
            self.last_error = reason
            delay = backoff.next()
            log.warning("LDP %s: %s after %.1fs; reconnecting in %.1fs", self.target.display,
                        reason, up, delay)
            await asyncio.sleep(delay)

    async def _pump(self, ws, idle_limit: Optional[float] = None, replay: bool = False) -> str:
        """Feed frames until the connection ends; returns why ("stopping" when closing)."""
        from websockets.exceptions import ConnectionClosed

        live = _Liveness()
        keepalive = self._spawn(self._keepalive(ws, live, idle_limit, replay))
        feed = self.feeder.feed_ldp_frame
        recv = ws.recv
        monotonic = time.monotonic
        try:
            while True:
                frame = await recv(decode=False)
                n = feed(frame)
                if n < 0:
                    return "stopping"
                live.last_rx = live.last_frame = monotonic()
                if replay:
                    self.replayed_events += n
                else:
                    self.frames += 1
                    self.events += n
                    self.last_alive_wall = time.time()
        except ConnectionClosed as exc:
            if live.reason:
                return live.reason
            if exc.sent is not None and exc.sent.code == 1009:
                self.feeder.count_drop("oversize")
                return (f"a frame over {max_frame_size(self.source.config)} bytes was dropped "
                        "(see maxEventSize)")
            return close_reason(exc)
        finally:
            keepalive.cancel()

    async def _keepalive(self, ws, live: _Liveness, idle_limit: Optional[float], replay: bool):
        """Ping after ldpPingInterval s without a frame; abort the connection when neither a
        pong nor a frame comes within ldpPingTimeout s. While the Feeder is blocked by a full
        queue (backpressure) this task does not run, and reading resumes before it checks."""
        from websockets.exceptions import ConnectionClosed

        cfg = self.source.config
        interval, timeout = cfg.ldp_ping_interval, cfg.ldp_ping_timeout
        tick = max(0.01, min(1.0, interval / 4, timeout / 4,
                             idle_limit / 4 if idle_limit else 1.0))
        pong = None
        ping_at = 0.0
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if idle_limit is not None and now - live.last_frame >= idle_limit:
                live.reason = "idle"
                ws.transport.abort()
                return
            if pong is not None:
                if pong.done() or live.last_rx > ping_at:
                    if pong.done():
                        live.last_rx = max(live.last_rx, now)
                        if not replay:
                            self.last_alive_wall = time.time()
                    pong = None
                elif now - ping_at >= timeout:
                    live.reason = (f"no frame and no answer to ping for {now - live.last_rx:.1f}s "
                                   "(dead connection)")
                    ws.transport.abort()
                    return
            if pong is None and now - live.last_rx >= interval:
                try:
                    pong = await ws.ping()
                except ConnectionClosed:
                    return
                ping_at = now

    # -- replay of the gap after a reconnect
    def _schedule_replay(self, start_wall: float, reconnect_wall: float):
        cfg = self.source.config
        begin = int(math.floor(start_wall)) - REPLAY_MARGIN_BEFORE
        end = int(math.ceil(reconnect_wall)) + REPLAY_MARGIN_AFTER
        if end - begin > cfg.ldp_replay_max_window:
            self.source.log.warning(
                "LDP %s: disconnected for %.0fs; only the last %ds are replayed "
                "(ldpReplayMaxWindow)", self.target.display, reconnect_wall - start_wall,
                cfg.ldp_replay_max_window)
            begin = end - cfg.ldp_replay_max_window
        if self._replay_window is not None:
            begin = min(begin, self._replay_window[0])
            end = max(end, self._replay_window[1])
        self._replay_window = (begin, end)
        if self._replay_task is None or self._replay_task.done():
            self._replay_task = self._spawn(self._replay())

    async def _replay(self):
        log = self.source.log
        cfg = self.source.config
        while self._replay_window is not None:
            begin, end = self._replay_window
            self._replay_window = None
            for attempt in range(1, REPLAY_ATTEMPTS + 1):
                before = self.replayed_events
                try:
                    ws = await open_connection(self.target, cfg, self.target.replay_url(begin, end),
                                               ssl_ctx=self._ssl_ctx, logger=self.source.ws_log)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    fatal, msg = describe_error(exc, self.target, cfg.ldp_connect_timeout)
                    last = fatal or attempt == REPLAY_ATTEMPTS
                    log.warning("LDP %s: replay of [%d, %d] failed: %s%s", self.target.display,
                                begin, end, msg, "" if last else "; retrying")
                    if last:
                        break
                    await asyncio.sleep(cfg.ldp_min_backoff * attempt)
                    continue
                try:
                    reason = await self._pump(ws, idle_limit=cfg.ldp_replay_idle_timeout,
                                              replay=True)
                finally:
                    ws.transport.abort()
                if reason == "stopping":
                    return
                log.info("LDP %s: replayed [%d, %d]: %d events (duplicates dropped)",
                         self.target.display, begin, end, self.replayed_events - before)
                break


class LdpSource:
    """The producer for LDP addresses (the interface of filesource.FileSource): one thread per
    address, all feeding one queue. Live: never finishes the queue; fails it only on a
    configuration error."""

    def __init__(self, targets: List[LdpUrl], queue, counters, config):
        self.targets = targets
        self.queue = queue
        self.counters = counters
        self.config = config
        self.log, self.ws_log = _loggers()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connected: set = set()
        self._failed = False
        self.streams = [_Stream(self, t, i) for i, t in enumerate(targets)]
        self._stats_thread: Optional[threading.Thread] = None
        self._stats_prev = None

    @classmethod
    def from_params(cls, params: str, queue, counters, config) -> "LdpSource":
        return cls(parse_params(params), queue, counters, config)

    # -- called by the streams
    def set_connected(self, stream, up: bool):
        with self._lock:
            if up:
                self._connected.add(id(stream))
            else:
                self._connected.discard(id(stream))
            self.counters.set("connected", len(self._connected))

    def on_fatal(self, message: str):
        message = redact(message)
        with self._lock:
            if self._failed:
                return
            self._failed = True
        self.log.error("%s", message)
        self.queue.fail(message)

    # -- producer interface
    def start(self):
        """Start the streams, then wait (OPEN_WAIT s at most) for each first connection
        outcome: a configuration error (token, address, CA file) is raised here, so that it
        is an open error."""
        if any(t.secure for t in self.targets):
            ssl_context(self.config)            # LdpError when ldpCAFile is unusable
        for s in self.streams:
            s.start()
        if self.config.ldp_stats_interval > 0:
            self._stats_thread = threading.Thread(target=self._stats_run,
                                                  name="k8saudit-ovh-ldp-stats", daemon=True)
            self._stats_thread.start()
        deadline = time.monotonic() + min(OPEN_WAIT, self.config.ldp_connect_timeout + 0.5)
        for s in self.streams:
            s.first_outcome.wait(max(0.0, deadline - time.monotonic()))
            if s.fatal:
                self.stop(1.0)
                raise LdpError(s.fatal)

    def stop(self, timeout: float = 1.0) -> bool:
        self.stopping.set()
        self.queue.stop()
        for s in self.streams:
            s.abort()
        deadline = time.monotonic() + timeout
        ok = True
        for s in self.streams:
            ok = s.join(max(0.0, deadline - time.monotonic())) and ok
        if self._stats_thread is not None:
            self._stats_thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._connected.clear()
        self.counters.set("connected", 0)
        return ok

    # -- statistics
    def stats(self) -> dict:
        snap = self.counters.snapshot()
        return {
            "connected": snap.get("connected", 0), "streams": len(self.streams),
            "events": snap.get("events_ingested", 0), "frames": snap.get("frames_received", 0),
            "bytes": snap.get("bytes_ingested", 0), "reconnects": snap.get("reconnects", 0),
            "duplicates": snap.get("duplicates_dropped", 0), "lag_ms": snap.get("lag_ms", 0),
            "queue": snap.get("queue_depth", 0),
            "dropped": {k[len("dropped_"):]: v for k, v in snap.items()
                        if k.startswith("dropped_") and v},
        }

    def stats_line(self) -> str:
        st = self.stats()
        now = time.monotonic()
        rate = ""
        if self._stats_prev is not None:
            t0, e0 = self._stats_prev
            if now > t0:
                rate = f" ({(st['events'] - e0) / (now - t0):.1f}/s)"
        self._stats_prev = (now, st["events"])
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(st["dropped"].items())) or "none"
        per = []
        for s in self.streams:
            since = s.connected_since
            state = (f"up {now - since:.0f}s" if since is not None
                     else f"down: {s.last_error or 'connecting'}")
            drops = {k: v for k, v in s.feeder.frame_drops().items() if v}
            per.append(f"{s.target.label} {state}, {s.events} events"
                       + (f", {s.replayed_events} replayed" if s.replayed_events else "")
                       + (f", bad frames {drops}" if drops else ""))
        return redact(
            f"LDP: {st['connected']}/{st['streams']} connected; events {st['events']}{rate}, "
            f"frames {st['frames']}, {st['bytes']} bytes; dropped: {dropped}; "
            f"duplicates {st['duplicates']}; reconnects {st['reconnects']}; "
            f"lag {st['lag_ms']} ms; queue {st['queue']} [" + "; ".join(per) + "]")

    def _stats_run(self):
        _block_sigpipe()
        while not self.stopping.wait(self.config.ldp_stats_interval):
            try:
                self.log.info("%s", self.stats_line())
            except Exception:
                pass


# ---------------------------------------------------------------------------------------------
# `k8saudit-ovh check URL`

def check(address: str, config, events: int = 3, timeout: float = 30.0,
          out: Callable[[str], None] = print) -> int:
    """Connect once to an LDP address, say in plain words what works and what does not, and
    count a few audit events. Returns 0 when connected (even if the stream stays quiet),
    1 when the connection fails, 2 for an invalid address or setting or a refused token,
    3 when frames arrive but none holds an audit event."""
    _loggers()
    try:
        target = parse_url(address)
    except LdpError as exc:
        out(f"address   : INVALID: {exc}")
        return 2
    return asyncio.run(_check(target, config, events, timeout, out))


async def _check(target: LdpUrl, config, events: int, timeout: float, out) -> int:
    from websockets.exceptions import ConnectionClosed

    from ._source import Counters, EventQueue, Feeder

    out(f"address   : {target.display}")
    out(f"            host {target.host}, port {target.port}, "
        + (("TLS verified with " + (f"the CA file {config.ldp_ca_file}" if config.ldp_ca_file
                                    else "the system CAs")) if target.secure
           else "plain ws:// (loopback only)")
        + (f", cluster name '{target.cluster}'" if target.cluster else ""))
    proxy = proxy_for(target)
    out(f"proxy     : {proxy_display(proxy) + ' (from the environment)' if proxy else 'none'}")
    t0 = time.monotonic()
    try:
        ws = await open_connection(target, config)
    except Exception as exc:
        fatal, msg = describe_error(exc, target, config.ldp_connect_timeout)
        out(f"connect   : FAILED: {msg}")
        return 2 if fatal else 1
    ms = 1000 * (time.monotonic() - t0)
    ssl_obj = ws.transport.get_extra_info("ssl_object")
    if ssl_obj is not None:
        out(f"TLS       : ok ({ssl_obj.version()}, certificate verified for {target.host})")
    out(f"handshake : ok (HTTP 101, WebSocket open in {ms:.0f} ms)")
    counters = Counters()
    queue = EventQueue(counters)
    feeder = Feeder(queue, config.max_event_size)
    if target.cluster:
        feeder.set_cluster_name(target.cluster)
    got = frames = 0
    closed = None
    out(f"events    : waiting up to {timeout:g}s for {events} audit events...")
    end = time.monotonic() + timeout
    try:
        while got < events:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                frame = await asyncio.wait_for(ws.recv(decode=False), left)
            except (asyncio.TimeoutError, TimeoutError):
                break
            except ConnectionClosed as exc:
                closed = close_reason(exc)
                break
            frames += 1
            got += max(0, feeder.feed_ldp_frame(frame))
            queue.next_batch()          # keep the private queue empty
    finally:
        ws.transport.abort()
    snap = counters.snapshot()
    drops = {k[len("dropped_"):]: v for k, v in snap.items() if k.startswith("dropped_") and v}
    bad = {k: v for k, v in feeder.frame_drops().items() if v}
    out(f"            {frames} frames, {got} audit events"
        + (", dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(drops.items())) if drops else "")
        + (f" (bad frames: {bad})" if bad else ""))
    if closed:
        out(f"            the server closed the connection: {closed}")
    if frames and not got:
        out("result    : CONNECTED, but no frame held an audit event (is this the stream that "
            "receives the MKS audit logs?)")
        return 3
    if not frames:
        out(f"result    : CONNECTED; no event within {timeout:g}s (a quiet cluster, or audit "
            "log forwarding is not set up for this stream)")
        return 0
    out("result    : OK")
    return 0
