"""What a stream and the rest of the plugin promise each other.

Backpressure and keepalive (the reason the keepalive in keepalive.py is correct):

* A stream hands each frame to a FrameSink (the Feeder of k8saudit_ovh._ingest) from its
  event-loop thread. ``feed_ldp_frame`` BLOCKS that thread while the event queue to next_batch
  is full, until Falco has taken events out (or the instance stops: then it returns -1).
* While it blocks, the stream's asyncio loop does not run at all: nothing more is read from
  the socket (the kernel buffers fill and TCP slows LDP down: memory stays bounded), and the
  keepalive task does not run either. So a slow host never makes the keepalive declare a
  healthy connection dead: time spent blocked is not time without frames.
* When the sink returns, the next ``recv()`` gets the frames the kernel buffered at once and
  marks the connection alive before the keepalive task can run its next check.

So a FrameSink must never return early while the queue is full (dropping frames would lose
events), and a stream must never feed from another thread than its loop's (the keepalive
reasoning above assumes the loop is the one blocked).

A stream reports to its owner only through StreamOwner; it never calls the source directly,
and the source only starts, aborts and joins streams and reads their statistics.
"""
from __future__ import annotations

import logging
import threading
from typing import Protocol


class FrameSink(Protocol):
    def feed_ldp_frame(self, frame: bytes) -> int:
        """Queue the audit events of one frame; blocks while the queue is full (see above).
        Returns the number of events queued, or -1 when the instance is stopping."""

    def set_frame_window(self, lo_ns: int, hi_ns: int) -> None:
        """Skip frames stamped outside [lo_ns, hi_ns) (a neighbouring chunk's; 0: no bound)."""

    def stats(self) -> dict:
        """This sink's own counts (frames, events, duplicates, outside, late, newest frame)."""

    def count_drop(self, reason: str) -> None:
        """Count an event dropped before parsing (e.g. a frame over the size limit)."""


class StreamOwner(Protocol):
    config: object                 # k8saudit_ovh.config.Config
    log: logging.Logger
    ws_log: logging.Logger
    stopping: threading.Event
    counters: object               # k8saudit_ovh._ingest.Counters

    def stream_connected(self, stream, up: bool) -> None:
        """The stream's live connection went up or down (the `connected` gauge)."""

    def stream_finished(self, stream) -> None:
        """A past window was read to its end (the source ends when every stream has)."""

    def stream_failed(self, message: str) -> None:
        """The stream cannot go on (a configuration error, or a bug): fail the source with
        this message (already redacted), which next_batch returns to Falco."""
