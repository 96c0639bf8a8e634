"""Replays: the window LDP received while this stream was not reading it (a reconnect, or the
plugin's restart), fetched on a second connection with LDP's begin/end parameters. The events
go through the stream's FrameSink, whose Dedupe drops those already delivered."""
from __future__ import annotations

import asyncio
from typing import Optional

from .connect import open_connection
from .failures import describe
from .pump import STOPPING, pump
from .window import Window, merge

# Replay attempts per window before it is given up.
ATTEMPTS = 3


def warn_if_clamped(log, target, w: Window):
    """Say which part of a window longer than ldpReplayMaxWindow is given up."""
    if w.clamped_from is not None:
        log.warning("LDP %s: %ds missed; only the last %ds are replayed (ldpReplayMaxWindow): "
                    "events received by LDP in [%d, %d) are lost", target.display,
                    w.end - w.clamped_from, w.end - w.begin, w.clamped_from, w.begin)


class ReplayStats:
    __slots__ = ("events", "duplicates", "done", "failed")

    def __init__(self):
        self.events = self.duplicates = self.done = self.failed = 0


class Replayer:
    """The replays of one stream, run on the stream's event loop (one at a time)."""

    def __init__(self, owner, target, sink, spawn, ssl_ctx):
        self.owner = owner
        self.target = target
        self.sink = sink
        self.spawn = spawn
        self.ssl_ctx = ssl_ctx
        self.stats = ReplayStats()
        # Events not newer than this were delivered by the process before a restart: no
        # replay of this run may bring them again (the Dedupe never saw them).
        self.floor_ns = 0
        self._window: Optional[Window] = None
        self._task: Optional[asyncio.Task] = None

    @property
    def pending(self) -> bool:
        """A window is waiting or being replayed (the resume state must not move past it)."""
        return self._window is not None or (self._task is not None and not self._task.done())

    def schedule(self, window: Window):
        """Replay `window` in the background (merged with one that is waiting)."""
        warn_if_clamped(self.owner.log, self.target, window)
        self._window = merge(self._window, window)
        if self._task is None or self._task.done():
            self._task = self.spawn(self._drain())

    async def _drain(self):
        while self._window is not None:
            w, self._window = self._window, None
            if await self.run(w) == STOPPING:
                return

    async def run(self, w: Window, kind: str = "replay") -> Optional[str]:
        """Replay one window now. Returns STOPPING when the instance closes, "fatal: <msg>"
        when the server refused the address (HTTP 400/401/403/404), else None."""
        owner, cfg, log = self.owner, self.owner.config, self.owner.log
        counters = owner.counters
        self.sink.set_min_ts(max(w.min_ts, self.floor_ns))
        try:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    ws = await open_connection(self.target, cfg, self.target.replay_url(w.begin, w.end),
                                               ssl_ctx=self.ssl_ctx, logger=owner.ws_log)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    fatal, msg = describe(exc, self.target, cfg.ldp_connect_timeout)
                    last = fatal or attempt == ATTEMPTS
                    log.warning("LDP %s: %s of [%d, %d] failed: %s%s", self.target.display,
                                kind, w.begin, w.end, msg,
                                "" if last else f"; retrying ({attempt}/{ATTEMPTS})")
                    if last:
                        self.stats.failed += 1
                        counters.add("replays_failed", 1)
                        log.error("LDP %s: %s of [%d, %d] given up after %d attempts: events "
                                  "received by LDP in that window may be missing",
                                  self.target.display, kind, w.begin, w.end, attempt)
                        return f"fatal: {msg}" if fatal else None
                    await asyncio.sleep(cfg.ldp_min_backoff * attempt)
                    continue
                events = [0]
                dups0 = counters.snapshot().get("duplicates_dropped", 0)

                def on_frame(n):
                    events[0] += n
                    counters.add("replayed_events", n)
                try:
                    reason = await pump(ws, self.sink, cfg, self.spawn, on_frame,
                                        idle_limit=cfg.ldp_replay_idle_timeout)
                finally:
                    ws.transport.abort()
                dups = counters.snapshot().get("duplicates_dropped", 0) - dups0
                self.stats.events += events[0]
                self.stats.duplicates += dups
                self.stats.done += 1
                if reason == STOPPING:
                    return STOPPING
                log.info("LDP %s: %s of [%d, %d]: %d events, %d duplicates dropped",
                         self.target.display, kind, w.begin, w.end, events[0], dups)
                return None
        finally:
            self.sink.set_min_ts(0)
        return None
