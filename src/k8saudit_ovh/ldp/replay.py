"""Replays: a window of LDP's clock read on a second connection with LDP's begin/end
parameters: the gap of a reconnect, what a restart missed, or a chunk of a past window.

Each replay feeds a Feeder of its own (the same queue, Dedupe and journal as the live one), so
its counts are its own and the stream's Dedupe drops what was already delivered. While a
replay of the stream's window is pending, the resume state holds the window's begin: a process
killed before the replay ends replays it again after its restart.
"""
from __future__ import annotations

import asyncio
import enum
from typing import Callable, List, NamedTuple, Optional

from .connect import open_connection
from .failures import describe
from .pump import pump
from .window import NS, Window, merge

# Attempts per window before it is given up.
ATTEMPTS = 3


class Status(enum.Enum):
    DONE = "done"
    STOPPING = "stopping"      # the instance closes
    REFUSED = "refused"        # HTTP 400/401/403/404: the address or token is refused
    GIVEN_UP = "given up"      # every attempt failed: the window may be missing


class Outcome(NamedTuple):
    status: Status
    message: str = ""          # why it failed (REFUSED, GIVEN_UP)
    events: int = 0            # queued by this replay
    duplicates: int = 0        # dropped by this replay as already delivered


def warn_if_clamped(log, target, w: Window):
    """Say which part of a window longer than ldpReplayMaxWindow is given up."""
    if w.clamped_from is not None:
        log.warning("LDP %s: %ds missed; only the last %ds are replayed (ldpReplayMaxWindow): "
                    "events received by LDP in [%d, %d) are lost", target.display,
                    w.end - w.clamped_from, w.end - w.begin, w.clamped_from, w.begin)


async def fetch(owner, target, ssl_ctx, sink, begin: int, end: int, kind: str, spawn,
                on_events: Optional[Callable[[int], None]] = None) -> Outcome:
    """Read LDP's [begin, end] into `sink` until the server closes the connection or sends
    nothing for ldpReplayIdleTimeout s. A connection that breaks before is read again (the
    Dedupe drops what came twice), ATTEMPTS times in all."""
    cfg, log, counters = owner.config, owner.log, owner.counters
    first = sink.stats()
    why = ""
    for attempt in range(1, ATTEMPTS + 1):
        last = attempt == ATTEMPTS
        try:
            ws = await open_connection(target, cfg, target.replay_url(begin, end),
                                       ssl_ctx=ssl_ctx, logger=owner.ws_log)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            fatal, why = describe(exc, target, cfg.ldp_connect_timeout)
            log.warning("LDP %s: %s of [%d, %d] failed: %s%s", target.display, kind, begin, end,
                        why, "" if fatal or last else f"; retrying ({attempt}/{ATTEMPTS})")
            if fatal:
                return _outcome(Status.REFUSED, why, first, sink)
            if not last:
                await asyncio.sleep(cfg.ldp_min_backoff * attempt)
            continue

        def on_frame(n, counters=counters):
            counters.add("replayed_events", n)
            if on_events is not None:
                on_events(n)
        try:
            end_ = await pump(ws, sink, cfg, spawn, on_frame, idle_limit=cfg.ldp_replay_idle_timeout)
        finally:
            ws.transport.abort()
        if end_.stopping:
            return _outcome(Status.STOPPING, "", first, sink)
        if end_.clean:
            return _outcome(Status.DONE, "", first, sink)
        why = end_.reason
        log.warning("LDP %s: %s of [%d, %d] cut short: %s%s", target.display, kind, begin, end,
                    why, "" if last else f"; reading it again ({attempt}/{ATTEMPTS})")
        if not last:
            await asyncio.sleep(cfg.ldp_min_backoff * attempt)
    return _outcome(Status.GIVEN_UP, why, first, sink)


def _outcome(status: Status, message: str, first: dict, sink) -> Outcome:
    now = sink.stats()
    return Outcome(status, message, now["events"] - first["events"],
                   now["duplicates"] - first["duplicates"])


class ReplayStats:
    __slots__ = ("events", "duplicates", "done", "failed")

    def __init__(self):
        self.events = self.duplicates = self.done = self.failed = 0


class Replayer:
    """The replays of one stream, run on the stream's event loop (one at a time)."""

    def __init__(self, owner, target, make_sink, spawn, ssl_ctx, state=None):
        self.owner = owner
        self.target = target
        self.make_sink = make_sink       # a new Feeder wired like the live one
        self.spawn = spawn
        self.ssl_ctx = ssl_ctx
        self.state = state               # the stream's StreamState, or None
        self.stats = ReplayStats()
        self._window: Optional[Window] = None
        self._holds: List[int] = []      # resume-state holds of the waiting window
        self._task: Optional[asyncio.Task] = None

    @property
    def pending(self) -> bool:
        """A window is waiting or being replayed."""
        return self._window is not None or (self._task is not None and not self._task.done())

    def hold(self, w: Window) -> Optional[int]:
        return self.state.hold(w.begin * NS) if self.state is not None else None

    def schedule(self, window: Window):
        """Replay `window` in the background (merged with one that is waiting). The resume
        state holds it from now on: the live connection already delivers what comes after."""
        warn_if_clamped(self.owner.log, self.target, window)
        self._holds.append(self.hold(window))
        self._window = merge(self._window, window)
        if self._task is None or self._task.done():
            self._task = self.spawn(self._drain())

    async def _drain(self):
        while self._window is not None:
            w, self._window = self._window, None
            holds, self._holds = self._holds, []
            outcome = await self.run(w)
            if outcome.status is Status.STOPPING:
                return
            for h in holds:
                self.release(h)

    def release(self, hold_id: Optional[int], inherited: bool = False):
        if self.state is not None:
            self.state.release(hold_id, inherited)

    async def run(self, w: Window, kind: str = "replay") -> Outcome:
        """Replay one window now and log how it went (replays_failed and an ERROR when it was
        given up). The caller releases its hold unless the outcome is STOPPING."""
        log = self.owner.log
        out = await fetch(self.owner, self.target, self.ssl_ctx, self.make_sink(), w.begin, w.end,
                          kind, self.spawn)
        self.stats.events += out.events
        self.stats.duplicates += out.duplicates
        if out.status is Status.DONE:
            self.stats.done += 1
            log.info("LDP %s: %s of [%d, %d]: %d events, %d duplicates dropped",
                     self.target.display, kind, w.begin, w.end, out.events, out.duplicates)
        elif out.status in (Status.GIVEN_UP, Status.REFUSED):
            self.stats.failed += 1
            self.owner.counters.add("replays_failed", 1)
            log.error("LDP %s: %s of [%d, %d] given up%s: events received by LDP in that window "
                      "may be missing", self.target.display, kind, w.begin, w.end,
                      f" after {ATTEMPTS} attempts" if out.status is Status.GIVEN_UP
                      else f" ({out.message})")
        return out
