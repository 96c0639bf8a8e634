"""A past window: an address with begin= and end= (LDP's replay, the incident responder's
"run the rules over last Tuesday"). Every event LDP holds in the window, in LDP's order, once,
read in requests of ldpWindowChunk seconds (a week is not one giant request); then the stream
is finished, and once every stream is, next_batch returns EOF: Falco finishes the rules and
exits. No resume state is read or written: the same command reads the same window again.
"""
from __future__ import annotations

import asyncio
import time

from .replay import Status, fetch
from .window import MARGIN_AFTER, chunks, clock


class Progress:
    """Where a window's reading is (read by the statistics line from another thread; the
    events it brought are the stream's `events`)."""
    __slots__ = ("begin", "end", "requests", "done", "position", "duplicates")

    def __init__(self, begin: int, end: int, requests: int):
        self.begin, self.end, self.requests = begin, end, requests
        self.done = self.duplicates = 0
        self.position = begin            # LDP's clock read up to here

    @property
    def percent(self) -> float:
        return 100.0 * (self.position - self.begin) / max(1, self.end - self.begin)


async def read_window(stream, ssl_ctx):
    owner, t = stream.owner, stream.target
    cfg, log = owner.config, owner.log
    parts = chunks(t.begin, t.end, cfg.ldp_window_chunk)
    p = stream.window = Progress(t.begin, t.end, len(parts))
    log.info("LDP %s: reading the past window [%s, %s] of LDP's clock (%d s) in %d request(s), "
             "then the source ends", t.display, clock(t.begin), clock(t.end), t.end - t.begin,
             len(parts))
    for i, c in enumerate(parts):
        if i == len(parts) - 1:
            wait = t.end + MARGIN_AFTER - time.time()
            if wait > 0:            # LDP has not reached the window's end yet
                log.info("LDP %s: the window ends in %.0fs: waiting for LDP to get there",
                         t.display, wait)
                await asyncio.sleep(wait)
        sink = stream.make_sink()
        sink.set_frame_window(c.lo_ns, c.hi_ns)
        out = await fetch(owner, t, ssl_ctx, sink, c.begin, c.end, "window read", stream._spawn,
                          stream._on_window_events)
        stream.first_outcome.set()
        if out.status is Status.STOPPING:
            return
        if out.status is not Status.DONE:
            owner.counters.add("replays_failed", 1)
            stream._fail(f"k8saudit-ovh: {t.display}: reading [{c.begin}, {c.end}] of the past "
                         f"window failed ({out.message}); events of LDP's clock from "
                         f"{clock(c.begin)} on were not read")
            return
        p.done, p.position = i + 1, c.end
        p.duplicates += out.duplicates
        if len(parts) > 1:
            log.info("LDP %s: window request %d/%d [%d, %d]: %d events", t.display, i + 1,
                     len(parts), c.begin, c.end, out.events)
    log.info("LDP %s: past window [%s, %s] read: %d events in %d request(s), %d duplicates "
             "dropped", t.display, clock(t.begin), clock(t.end), stream.events, len(parts),
             p.duplicates)
    stream.finished = True
    owner.stream_finished(stream)
