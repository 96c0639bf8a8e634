"""Reading one connection: frames to the FrameSink until the connection ends."""
from __future__ import annotations

import time
from typing import Callable, NamedTuple, Optional

from .connect import max_frame_size
from .failures import close_reason
from .keepalive import Liveness, keepalive

# A server's close that ends a replay as complete (RFC 6455: normal closure, going away).
CLEAN_CLOSE_CODES = (1000, 1001)


class End(NamedTuple):
    """Why a connection's reading ended."""
    reason: str               # for the log
    stopping: bool = False    # the instance closes
    clean: bool = False       # the server closed normally, or sent nothing for idle_limit s:
                              # for a replay, it read the whole window


STOPPING = End("stopping", stopping=True)


async def pump(ws, sink, config, spawn, on_frame: Callable[[int], None],
               on_pong: Callable[[], None] = lambda: None,
               idle_limit: Optional[float] = None) -> End:
    """Feed frames to `sink` until the connection ends; returns why. `on_frame(n)` after
    each frame with the number of events it queued. The sink may block (contract.py): the
    keepalive task runs only between frames."""
    from websockets.exceptions import ConnectionClosed

    live = Liveness()
    ka = spawn(keepalive(ws, live, config.ldp_ping_interval, config.ldp_ping_timeout,
                         idle_limit, on_pong))
    feed = sink.feed_ldp_frame
    recv = ws.recv
    monotonic = time.monotonic
    try:
        while True:
            frame = await recv(decode=False)
            n = feed(frame)
            if n < 0:
                return STOPPING
            live.last_rx = live.last_frame = monotonic()
            on_frame(n)
    except ConnectionClosed as exc:
        if live.reason:
            return End(live.reason, clean=live.idle)
        if exc.sent is not None and exc.sent.code == 1009:
            sink.count_drop("oversize")
            return End(f"a frame over {max_frame_size(config)} bytes was dropped "
                       "(see maxEventSize)")
        rcvd = exc.rcvd
        return End(close_reason(exc), clean=rcvd is not None and rcvd.code in CLEAN_CLOSE_CODES)
    finally:
        ka.cancel()
