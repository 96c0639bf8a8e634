"""Which windows of LDP's clock (begin/end, whole seconds) a replay or a past window asks for.

LDP selects a replay's frames by their GELF `timestamp`, not by our clock and not by the audit
event's time. Frames do not reach LDP in that clock's order (several API servers, each with its
log shipper): ldpReplayMargin bounds how far back a frame may come after a newer one, so every
window starts that much before the position it resumes from, and duplicates are dropped by
identity, never by time.
"""
from __future__ import annotations

import math
import re
import time
from typing import List, NamedTuple, Optional, Tuple

NS = 1_000_000_000
# After the reconnect or the restart: LDP's clock is not ours.
MARGIN_AFTER = 5
# A past window may end a little after our clock's now (another machine wrote the address); it
# is read once LDP has that time. Further ahead is a typo, or a live stream in disguise.
FUTURE_SLACK = 300
_EPOCH = re.compile(r"^\d{1,11}(\.\d+)?$")
_RFC3339_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")   # a date, maybe invalid


class Window(NamedTuple):
    begin: int
    end: int
    clamped_from: Optional[int] = None   # the begin a longer window would have had


def gap(since_s: float, until_s: float, max_window: int, margin: float) -> Window:
    """The window that covers [since - margin, until + MARGIN_AFTER], at most `max_window`
    seconds long (its most recent part: the older part is given up)."""
    begin = int(math.floor(since_s - margin))
    end = int(math.ceil(until_s)) + MARGIN_AFTER
    if end - begin > max_window:
        return Window(end - max_window, end, begin)
    return Window(begin, end)


def merge(a: Optional[Window], b: Window) -> Window:
    """One window covering both (a pending window and a new one)."""
    if a is None:
        return b
    return Window(min(a.begin, b.begin), max(a.end, b.end), None)


class Chunk(NamedTuple):
    begin: int        # asked for: begin=..., end=...
    end: int
    lo_ns: int        # frames stamped before this belong to the previous chunk (0: none)
    hi_ns: int        # frames stamped from this on belong to the next chunk (0: none)


def chunks(begin: int, end: int, size: int) -> List[Chunk]:
    """[begin, end] in requests of at most `size` seconds. Whether LDP's `end` includes its
    second or not, each request but the last asks up to the next chunk's begin and keeps only
    the frames before it: every frame is read once, in one chunk. The first and last chunks
    keep LDP's own reading of the window's begin and end."""
    out: List[Chunk] = []
    b = begin
    while end - b > size:
        out.append(Chunk(b, b + size, b * NS if b != begin else 0, (b + size) * NS))
        b += size
    out.append(Chunk(b, end, b * NS if b != begin else 0, 0))
    return out


def _seconds(key: str, text: str, up: bool, now: float) -> int:
    """A begin/end value: unix seconds (LDP's form; a fraction rounds outwards) or RFC 3339
    (stageTimestamp's rule, the plugin's one parser)."""
    from .._ingest import parse_rfc3339

    if _EPOCH.match(text):
        v = float(text)
        return int(math.ceil(v)) if up else int(math.floor(v))
    ns = parse_rfc3339(text)
    if ns is not None:
        return -(-ns // NS) if up else ns // NS
    if _RFC3339_SHAPE.match(text):
        raise ValueError(f"'{key}={text}' is not a valid date")
    raise ValueError(f"'{key}={text}': give unix seconds (e.g. {int(now) - 3600}) or an "
                     "RFC 3339 time (e.g. 2026-12-01T08:00:00Z)")


def parse_window(begin_text: str, end_text: str, now: float) -> Tuple[int, int]:
    """The [begin, end] (unix seconds) of a past window address; ValueError says what is wrong."""
    begin = _seconds("begin", begin_text, False, now)
    end = _seconds("end", end_text, True, now)
    if begin <= 0:
        raise ValueError("begin= must be after 1970")
    if end <= begin:
        raise ValueError(f"end= ({end}) must be after begin= ({begin})")
    if end > now + FUTURE_SLACK:
        raise ValueError(f"end= ({end}) is {end - int(now)}s in the future: a window with "
                         "begin/end reads what LDP already holds (for the live stream, leave "
                         "begin/end out)")
    return begin, end


def clock(secs: float) -> str:
    """A time of LDP's clock for log and stats lines (whole seconds, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))
