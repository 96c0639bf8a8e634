"""Which events Falco has received, per stream, and keeping that in the resume state.

The Feeder knows the newest event it queued. Once the queue to next_batch is seen empty after
that event was queued, it has been handed to Falco (the queue is FIFO); one tick later Falco
has asked for its next batch, so it is done with that one (a process killed while still
processing a batch must get it again after the restart). A stream with a replay pending does
not move forward: after a crash the pending window must be replayed again.
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
        self._handed_out: dict = {}     # stream -> newest event handed out at the last tick

    def sample(self):
        """Called every tick of the keeper thread: cheap, no I/O."""
        for key, ns in self._handed_out.items():
            if ns > self.delivered[key]:
                self.delivered[key] = ns
        seen = [(id(s), s.sink.last_event_ts, s.replay_pending) for s in self.streams]
        if len(self.queue) != 0:
            self._handed_out = {}
            return
        self._handed_out = {key: ts for key, ts, pending in seen if not pending}

    def save(self):
        if self.store is None:
            return
        for s in self.streams:
            ns = self.delivered[id(s)]
            if ns > self.saved[id(s)] and self.store.save(s.target, ns):
                self.saved[id(s)] = ns
