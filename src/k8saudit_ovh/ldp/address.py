"""LDP tail addresses: the grammar of open_params (one address, or several joined with ``,``).

    wss://gra1.logs.ovh.com/tail/?tk=<token>              the address LDP's manager gives
    gra1.logs.ovh.com/tail/?tk=<token>                    the same, no scheme (wss:// implied)
    wss://gra1.logs.ovh.com/tail/?tk=<token>#cluster=prod  events without annotations.cluster_name
                                                          get "prod" (ka.cluster.name)
    ws://127.0.0.1:8080/tail/?tk=test                     plain ws:// only for loopback hosts
    wss://gra1.logs.ovh.com/tail/?tk=<token>&begin=1733050800&end=1733137200
                                                          a past window (LDP's replay): read
                                                          once, then EOF; begin/end in unix
                                                          seconds or RFC 3339
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import List, Optional

from .errors import LdpError
from .redact import redact, remember_token
from .window import parse_window

SEPARATOR = ","

_HOST_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEMELESS_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:\d+)?(?=[/?#]|$)")
_LDP_DOMAIN = ".logs.ovh.com"
FRAGMENT_KEYS = ("cluster",)
WINDOW_KEYS = ("begin", "end")


@dataclass(frozen=True)
class LdpUrl:
    """One LDP tail address, validated. `url` holds the token: never log it, use `display`."""

    host: str
    port: int
    secure: bool
    path: str            # path and query as given (without the fragment)
    token: str = field(repr=False)
    cluster: Optional[str] = None
    begin: Optional[int] = None   # a past window: [begin, end] in unix seconds (LDP's clock)
    end: Optional[int] = None

    @property
    def is_window(self) -> bool:
        return self.begin is not None

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
        if self.is_window:
            text += f"&begin={self.begin}&end={self.end}"
        if self.cluster:
            text += "#cluster=" + urllib.parse.quote(self.cluster, safe="")
        return text

    @property
    def label(self) -> str:
        """Short name for log lines: host and cluster."""
        return self.netloc + (f"#{self.cluster}" if self.cluster else "")

    @property
    def stream_id(self) -> str:
        """A stable name for this stream that does not reveal the token: a hash of the
        address without its tk= value (so a new token keeps the same resume state)."""
        query = [(k, v) for k, v in urllib.parse.parse_qsl(self.path.partition("?")[2],
                                                           keep_blank_values=True) if k != "tk"]
        key = f"{self.scheme}://{self.netloc}{self.path.partition('?')[0]}?" \
              + urllib.parse.urlencode(sorted(query)) + f"#{self.cluster or ''}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def replay_url(self, begin: int, end: int) -> str:
        sep = "&" if "?" in self.path else "?"
        return f"{self.url}{sep}begin={int(begin)}&end={int(end)}"


def _window(raw: str, query) -> tuple:
    for key in WINDOW_KEYS:
        if key not in query:
            other = "end" if key == "begin" else "begin"
            raise _fail(raw, f"'{other}=' needs '{key}=' too: a past window is "
                             "begin=<time>&end=<time>")
        if len(query[key]) > 1:
            raise _fail(raw, f"several {key}= parameters")
    # a '+' of an RFC 3339 offset arrives decoded as a space (the address has no real space)
    try:
        return parse_window(query["begin"][0].replace(" ", "+"),
                            query["end"][0].replace(" ", "+"), time.time())
    except ValueError as exc:
        raise _fail(raw, str(exc)) from None


def _fail(raw: str, why: str) -> LdpError:
    shown = redact(raw)
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return LdpError(f"k8saudit-ovh: invalid LDP address '{shown}': {why}")


def is_loopback(host: str) -> bool:
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
            remember_token(token)
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
    if scheme == "ws" and not is_loopback(host):
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
    begin = end = None
    if any(k in query for k in WINDOW_KEYS):
        begin, end = _window(raw, query)
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
    # begin/end are set per request (replays, chunks of a window): the path keeps the rest
    rest = [kv for kv in parts.query.split("&") if kv and kv.split("=", 1)[0] not in WINDOW_KEYS]
    if rest:
        path += "?" + "&".join(rest)
    token = tokens[0]
    remember_token(token)
    return LdpUrl(host=host.lower(), port=port, secure=(scheme == "wss"), path=path, token=token,
                  cluster=cluster, begin=begin, end=end)


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
    if len({u.is_window for u in urls}) > 1:
        raise LdpError("k8saudit-ovh: open_params mixes live LDP addresses and past windows "
                       "(begin=/end=): open them in separate Falco runs")
    seen = set()
    for u in urls:
        key = (u.host, u.port, u.path, u.begin, u.end)
        if key in seen:
            raise LdpError(f"k8saudit-ovh: the LDP address {u.display} is listed twice")
        seen.add(key)
    return urls
