"""Liveness of one connection: ping after a quiet period, give up when nothing answers.

Correct only under the backpressure contract of contract.py: while the FrameSink blocks, this
task does not run, so blocked time never counts as silence.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable, Optional


class Liveness:
    """When the connection last showed life; `reason` says why it was aborted, `idle` that it
    was for sending nothing for idle_limit s (the end of a replay, not a fault)."""
    __slots__ = ("last_rx", "last_frame", "reason", "idle")

    def __init__(self):
        self.last_rx = self.last_frame = time.monotonic()
        self.reason: Optional[str] = None
        self.idle = False


def check_interval(interval: float, timeout: float, idle_limit: Optional[float]) -> float:
    return max(0.01, min(1.0, interval / 4, timeout / 4, idle_limit / 4 if idle_limit else 1.0))


async def keepalive(ws, live: Liveness, interval: float, timeout: float,
                    idle_limit: Optional[float], on_pong: Callable[[], None]):
    """Ping after `interval` s without a frame; abort the connection when neither a pong nor
    a frame comes within `timeout` s, or when no frame comes for `idle_limit` s (a replay is
    over). Returns when it aborted the connection or the connection closed."""
    from websockets.exceptions import ConnectionClosed

    tick = check_interval(interval, timeout, idle_limit)
    pong = None
    ping_at = 0.0
    while True:
        await asyncio.sleep(tick)
        now = time.monotonic()
        if idle_limit is not None and now - live.last_frame >= idle_limit:
            live.reason = f"nothing for {idle_limit:g}s"
            live.idle = True
            ws.transport.abort()
            return
        if pong is not None:
            if pong.done() or live.last_rx > ping_at:
                if pong.done():
                    live.last_rx = max(live.last_rx, now)
                    on_pong()
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
