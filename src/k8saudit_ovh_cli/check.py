"""`k8saudit-ovh check URL`: connect once to an LDP address and say, in plain words, what works
and what does not (address, proxy, TCP/TLS, token, stream), counting a few audit events."""
from __future__ import annotations

import asyncio
import time
from typing import Callable

from k8saudit_ovh.metrics import describe_drops, dropped_by_reason
from k8saudit_ovh.ldp.address import LdpUrl, parse_url
from k8saudit_ovh.ldp.connect import open_connection, proxy_display, proxy_for
from k8saudit_ovh.ldp.errors import LdpError
from k8saudit_ovh.ldp.failures import close_reason, describe
from k8saudit_ovh.ldp.redact import loggers
from k8saudit_ovh.ldp.tls import PREFIX, make_ssl_context, trust_description

# exit codes
OK, CONNECT_FAILED, INVALID, NO_AUDIT_EVENTS = 0, 1, 2, 3


def check(address: str, config, events: int = 3, timeout: float = 30.0,
          out: Callable[[str], None] = print) -> int:
    """OK when connected (even if the stream stays quiet), CONNECT_FAILED when the connection
    fails, INVALID for an invalid address or setting (ldpCAFile, SSL_CERT_FILE, SSL_CERT_DIR)
    or a refused token, NO_AUDIT_EVENTS when frames arrive but none holds an audit event."""
    loggers()
    try:
        target = parse_url(address)
    except LdpError as exc:
        out(f"address   : INVALID: {exc}")
        return INVALID
    return asyncio.run(_check(target, config, events, timeout, out))


async def _check(target: LdpUrl, config, events: int, timeout: float, out) -> int:
    out(f"address   : {target.display}")
    trusted = bad_trust = ssl_ctx = None
    if target.secure:
        try:
            ssl_ctx = make_ssl_context(config.ldp_ca_file)      # reads the certificates
            trusted = trust_description(config.ldp_ca_file)
        except LdpError as exc:
            bad_trust = str(exc).removeprefix(PREFIX)
    out(f"            host {target.host}, port {target.port}, "
        + ("plain ws:// (loopback only)" if not target.secure
           else f"TLS verified with {trusted}" if trusted else "TLS")
        + (f", cluster name '{target.cluster}'" if target.cluster else ""))
    if bad_trust:
        # the same sentence as in Falco's log and its open error
        out(f"trust     : INVALID: {bad_trust}")
        return INVALID
    proxy = proxy_for(target)
    out(f"proxy     : {proxy_display(proxy) + ' (from the environment)' if proxy else 'none'}")
    t0 = time.monotonic()
    try:
        ws = await open_connection(target, config, ssl_ctx=ssl_ctx)
    except Exception as exc:
        fatal, msg = describe(exc, target, config.ldp_connect_timeout)
        out(f"connect   : FAILED: {msg}")
        return INVALID if fatal else CONNECT_FAILED
    ms = 1000 * (time.monotonic() - t0)
    ssl_obj = ws.transport.get_extra_info("ssl_object")
    if ssl_obj is not None:
        out(f"TLS       : ok ({ssl_obj.version()}, certificate verified for {target.host})")
    out(f"handshake : ok (HTTP 101, WebSocket open in {ms:.0f} ms)")
    try:
        frames, got, counts, bad, closed = await _sample(ws, target, config, events, timeout, out)
    finally:
        ws.transport.abort()
    out(f"            {frames} frames, {got} audit events"
        + (", dropped: " + describe_drops(counts) if counts else "")
        + (f" (bad frames: {bad})" if bad else ""))
    if closed:
        out(f"            the server closed the connection: {closed}")
    if frames and not got:
        out("result    : CONNECTED, but no frame held an audit event (is this the stream that "
            "receives the MKS audit logs?)")
        return NO_AUDIT_EVENTS
    if not frames:
        out(f"result    : CONNECTED; no event within {timeout:g}s (a quiet cluster, or audit "
            "log forwarding is not set up for this stream)")
        return OK
    out("result    : OK")
    return OK


async def _sample(ws, target, config, events, timeout, out):
    """Read frames through a private Feeder until `events` audit events or `timeout`."""
    from websockets.exceptions import ConnectionClosed

    from k8saudit_ovh._ingest import Counters, EventQueue, Feeder

    counters = Counters()
    queue = EventQueue(counters)
    feeder = Feeder(queue, config.max_event_size)
    if target.cluster:
        feeder.set_cluster_name(target.cluster)
    got = frames = 0
    closed = None
    out(f"events    : waiting up to {timeout:g}s for {events} audit events...")
    end = time.monotonic() + timeout
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
    snap = counters.snapshot()
    drops = dropped_by_reason(snap)
    bad = {k: v for k, v in feeder.frame_drops().items() if v}
    return frames, got, drops, bad, closed
