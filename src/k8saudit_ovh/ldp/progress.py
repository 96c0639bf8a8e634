"""Which events Falco has received, per stream, and keeping that in the resume state.

The Feeder knows the newest event it queued; an event counts as delivered once the queue to
next_batch has been seen empty after it was queued (the queue is FIFO, so everything queued
before that moment was handed to Falco). A stream with a replay pending does not move forward:
after a crash the pending window must be replayed again.
"""
from __future__ import annotations

from typing import Optional

from .state import StateStore


class Progress:
    def __init__(self, store: Optional[StateStore], streams, queue):
        self.store = store
        self.streams = streams
        self.queue = queue
        self.delivered = {id(s): s.resume_ns or 0 for s in streams}
        self.saved = dict(self.delivered)

    def sample(self):
        """Called often (each tick of the keeper thread): cheap, no I/O."""
        seen = [(s, s.sink.last_event_ts, s.replay_pending) for s in self.streams]
        if len(self.queue) != 0:
            return
        for s, ts, pending in seen:
            if not pending and ts > self.delivered[id(s)]:
                self.delivered[id(s)] = ts

    def save(self):
        if self.store is None:
            return
        for s in self.streams:
            ns = self.delivered[id(s)]
            if ns > self.saved[id(s)] and self.store.save(s.target, ns):
                self.saved[id(s)] = ns
