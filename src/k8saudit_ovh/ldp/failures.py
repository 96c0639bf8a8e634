"""Why a connection attempt failed, in a sentence that says what happened and what to check.

The same sentence goes to the log, to the `check` command and, when the source gives up, to
the error Falco gets. describe() never returns an empty text and never the token.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Iterator, Optional, Tuple

from .address import LdpUrl
from .connect import proxy_display, proxy_for
from .errors import LdpError
from .redact import redact

# Answers at the handshake that mean the address or the token is wrong: retrying cannot help.
FATAL_STATUSES = (400, 401, 403, 404)


def _chain(exc: BaseException, limit: int = 8) -> Iterator[BaseException]:
    seen = set()
    e: Optional[BaseException] = exc
    while e is not None and id(e) not in seen and len(seen) < limit:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _text(exc: BaseException) -> str:
    """str(exc), or its class name when that is empty (ConnectionResetError() has no text)."""
    return str(exc).strip() or type(exc).__name__


def http_status_text(status: int, target: LdpUrl) -> Tuple[bool, str]:
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
    if 500 <= status < 600:
        return False, (f"the server answered HTTP {status} to the WebSocket handshake (a "
                       "server-side fault, usually temporary: retrying)")
    return False, (f"the server answered HTTP {status} to the WebSocket handshake instead of "
                   "101: is this an LDP WebSocket tail address?")


def _tls(exc: ssl.SSLError, target: LdpUrl, where: str) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or exc.reason or _text(exc)
        if "hostname" in str(why).lower() or "ip address mismatch" in str(why).lower():
            return (f"TLS certificate verification failed for {target.host}: {why} (the "
                    "certificate is for another name: check the host name in the address)")
        return (f"TLS certificate verification failed for {target.host}: {why} (a private "
                "CA or a TLS-inspecting proxy? set ldpCAFile, or SSL_CERT_FILE in the "
                "environment, to its CA certificate)")
    reason = (exc.reason or "").upper()
    if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL",
                  "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG") or "wrong version" in str(exc):
        return (f"TLS handshake with {where} failed: the server does not speak TLS "
                f"({exc.reason or _text(exc)}); use ws:// for a plain server (loopback only) "
                "or check the port")
    if isinstance(exc, ssl.SSLEOFError) or "EOF" in reason:
        return (f"TLS handshake with {where} failed: the server closed the connection during "
                "the handshake (a server or proxy that does not speak TLS on this port, or "
                "that refuses this client)")
    return f"TLS handshake with {where} failed: {exc.reason or _text(exc)}"


def describe(exc: BaseException, target: LdpUrl,
             timeout: Optional[float] = None) -> Tuple[bool, str]:
    """(fatal, message) for a failed connection attempt. Fatal: HTTP 400/401/403/404 at the
    handshake, or an unusable setting."""
    from websockets import exceptions as wse

    where = f"{target.host}:{target.port}"
    chain = list(_chain(exc))
    for e in chain:
        if isinstance(e, wse.InvalidStatus):
            return http_status_text(e.response.status_code, target)
    in_http = any(isinstance(e, wse.InvalidMessage) for e in chain)
    if target.secure and not in_http and isinstance(
            exc, (ConnectionResetError, ssl.SSLEOFError, ConnectionAbortedError)):
        # Before any HTTP: the TLS handshake itself was cut, what a plain-TCP server does
        # when it gets a TLS ClientHello.
        return False, (f"TLS handshake with {where} failed: the server cut the connection "
                       f"({_text(exc)}); it probably does not speak TLS on this port: check the "
                       "port (or use ws:// for a plain server, loopback only)")
    proxy = proxy_for(target)
    if proxy and not any(isinstance(e, (wse.InvalidHandshake, ssl.SSLError)) for e in chain):
        # Connect errors before any proxy answer concern the proxy, not LDP.
        shown = proxy_display(proxy)
        for e in chain:
            fatal_msg = _one(e, target, shown.split("://", 1)[-1], timeout, wse)
            if fatal_msg is not None:
                return False, (f"cannot reach the proxy {shown} (from the environment: "
                               f"HTTPS_PROXY/ALL_PROXY): {fatal_msg[1]}; check the proxy setting")
    for e in chain:
        msg = _one(e, target, where, timeout, wse)
        if msg is not None:
            return msg
    return False, redact(f"connection to {where} failed: {type(exc).__name__}: {_text(exc)}")


def _one(e, target: LdpUrl, where: str, timeout, wse) -> Optional[Tuple[bool, str]]:
    if isinstance(e, LdpError):
        return True, redact(_text(e))
    if isinstance(e, wse.InvalidProxy):
        return True, redact(f"invalid proxy setting in the environment (HTTPS_PROXY/ALL_PROXY): "
                            f"{_text(e)}")
    if isinstance(e, wse.ProxyError):
        cause = e.__cause__ or e.__context__
        return False, redact(f"the proxy refused or failed the tunnel to {where}: {_text(e)}"
                             + (f" ({_text(cause)})" if cause else "")
                             + "; check HTTPS_PROXY and NO_PROXY")
    if isinstance(e, ssl.SSLError):
        return False, redact(_tls(e, target, where))
    if isinstance(e, socket.gaierror):
        return False, (f"cannot resolve the host name '{target.host}' ({e.strerror or _text(e)}):"
                       " check its spelling and the DNS of this host")
    if isinstance(e, ConnectionRefusedError):
        return False, (f"connection refused by {where}: nothing listens on that port (check "
                       "the port, or a firewall that rejects it)")
    if isinstance(e, (TimeoutError, asyncio.TimeoutError)):
        within = f" within {timeout:g}s" if timeout else ""
        return False, (f"no WebSocket connection to {where}{within} (ldpConnectTimeout): the "
                       "host does not answer; check the address, a firewall dropping the "
                       "traffic, or the need for a proxy (HTTPS_PROXY)")
    if isinstance(e, ConnectionResetError):
        return False, (f"the connection to {where} was reset by the peer (a server or "
                       "firewall that closed it abruptly)")
    if isinstance(e, (ConnectionAbortedError, BrokenPipeError)):
        return False, f"the connection to {where} was aborted ({_text(e)})"
    if isinstance(e, EOFError):
        return False, (f"{where} closed the connection without answering the WebSocket "
                       "handshake (is this a WebSocket server?)")
    if isinstance(e, wse.InvalidMessage):
        return None if (e.__cause__ or e.__context__) else (
            False, f"no valid HTTP answer from {where} to the WebSocket handshake")
    if isinstance(e, wse.InvalidHandshake):
        return False, redact(f"WebSocket handshake with {where} failed: {_text(e)}")
    if isinstance(e, wse.ConnectionClosed):
        return False, close_reason(e)
    if isinstance(e, OSError):
        return False, redact(f"network error with {where}: {e.strerror or _text(e)}")
    return None


def close_reason(exc) -> str:
    rcvd = getattr(exc, "rcvd", None)
    sent = getattr(exc, "sent", None)
    if rcvd is not None:
        return redact(f"closed by the server (code {rcvd.code}"
                      + (f": {rcvd.reason}" if rcvd.reason else "") + ")")
    if sent is not None:
        return redact(f"closed (code {sent.code}" + (f": {sent.reason}" if sent.reason else "") + ")")
    return "connection lost (no close frame)"
