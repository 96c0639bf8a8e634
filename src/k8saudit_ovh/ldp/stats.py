"""The LDP statistics line (logged every ldpStatsInterval seconds)."""
from __future__ import annotations

import time

from ..metrics import describe_drops, dropped_by_reason
from .redact import redact
from .window import clock


def summary(counters, n_streams: int) -> dict:
    snap = counters.snapshot()
    return {
        "connected": snap.get("connected", 0), "streams": n_streams,
        "events": snap.get("events_ingested", 0), "frames": snap.get("frames_received", 0),
        "bytes": snap.get("bytes_ingested", 0), "reconnects": snap.get("reconnects", 0),
        "duplicates": snap.get("duplicates_dropped", 0), "lag_ms": snap.get("lag_ms", 0),
        "queue": snap.get("queue_depth", 0), "replayed": snap.get("replayed_events", 0),
        "replays_failed": snap.get("replays_failed", 0),
        "dropped": dropped_by_reason(snap),
    }


def _window_part(s) -> str:
    w = s.window
    if w is None:
        return f"{s.target.label} window: starting"
    state = "read" if s.finished else f"at {clock(w.position)} ({w.percent:.0f}%)"
    return (f"{s.target.label} window {state}, request {w.done}/{w.requests}, "
            f"{s.events} events, {w.duplicates} duplicates dropped")


def _stream_part(s, now: float) -> str:
    if s.target.is_window:
        return _window_part(s)
    since = s.connected_since
    state = f"up {now - since:.0f}s" if since is not None else f"down: {s.last_error or 'connecting'}"
    text = f"{s.target.label} {state}, {s.events} events"
    r = s.replayer.stats if s.replayer is not None else None
    if r is not None and (r.done or r.failed):
        text += f", {r.done} replays: {r.events} events, {r.duplicates} duplicates dropped"
        if r.failed:
            text += f", {r.failed} FAILED"
    drops = {k: v for k, v in s.sink.frame_drops().items() if v}
    if drops:
        text += f", bad frames {drops}"
    late = s.sink.stats()["late"]
    if late:
        text += f", {late} frames later than ldpReplayMargin"
    return text


class StatsLine:
    """Builds the line; remembers the previous call for the event rate."""

    def __init__(self):
        self._prev = None

    def __call__(self, counters, streams) -> str:
        st = summary(counters, len(streams))
        now = time.monotonic()
        rate = ""
        if self._prev is not None:
            t0, e0 = self._prev
            if now > t0:
                rate = f" ({(st['events'] - e0) / (now - t0):.1f}/s)"
        self._prev = (now, st["events"])
        dropped = describe_drops(st["dropped"])
        per = "; ".join(_stream_part(s, now) for s in streams)
        failed = f" ({st['replays_failed']} FAILED)" if st["replays_failed"] else ""
        return redact(
            f"LDP: {st['connected']}/{st['streams']} connected; events {st['events']}{rate}, "
            f"frames {st['frames']}, {st['bytes']} bytes; dropped: {dropped}; "
            f"duplicates {st['duplicates']}; replayed {st['replayed']}{failed}; "
            f"reconnects {st['reconnects']}; lag {st['lag_ms']} ms; queue {st['queue']} "
            f"[{per}]", [s.target.token for s in streams])
