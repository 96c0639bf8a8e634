"""Which LDP window (begin/end, whole seconds of LDP's clock) a replay asks for."""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

# Before the connection was last known alive (frame or pong) and after the reconnect: LDP's
# begin/end are whole seconds and its clock is not ours.
MARGIN_BEFORE = 30
MARGIN_AFTER = 5


class Window(NamedTuple):
    begin: int
    end: int
    min_ts: int = 0        # events not newer than this (ns) were delivered before a restart
    clamped_from: Optional[int] = None   # the begin a longer window would have had


def gap(since_wall: float, until_wall: float, max_window: int, min_ts: int = 0) -> Window:
    """The window that covers [since, until] with the margins, at most `max_window` seconds
    long (its most recent part: the older part is given up)."""
    begin = int(math.floor(since_wall)) - MARGIN_BEFORE
    end = int(math.ceil(until_wall)) + MARGIN_AFTER
    if end - begin > max_window:
        return Window(end - max_window, end, min_ts, begin)
    return Window(begin, end, min_ts)


def merge(a: Optional[Window], b: Window) -> Window:
    """One window covering both (a pending window and a new one). The duplicate filter of a
    restart only applies when both windows have one."""
    if a is None:
        return b
    return Window(min(a.begin, b.begin), max(a.end, b.end), min(a.min_ts, b.min_ts),
                  None)
