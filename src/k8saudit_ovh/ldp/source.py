"""The producer for LDP addresses (the interface of filesource.FileSource): one Stream per
address, all feeding one queue, and a keeper thread for the statistics line and the resume
state. Live: never finishes the queue; fails it only when a stream cannot go on. Past windows
(begin=/end=): finishes it once every stream has read its window (next_batch: EOF)."""
from __future__ import annotations

import threading
import time
from typing import List, Optional

from .address import LdpUrl, parse_params
from .errors import LdpError
from .redact import loggers, redact
from .state import StateStore
from .stats import StatsLine
from .stream import Stream, block_sigpipe
from .tls import make_ssl_context

# How long open() waits for every stream's first connection outcome (seconds, at most).
OPEN_WAIT = 5.0
# How often the keeper thread wakes up (seconds, at most).
KEEPER_TICK = 0.1


class LdpSource:
    def __init__(self, targets: List[LdpUrl], queue, counters, config):
        self.targets = targets
        self.queue = queue
        self.counters = counters
        self.config = config
        self.log, self.ws_log = loggers()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connected: set = set()
        self._finished: set = set()
        self._failed = False
        self.windows = bool(targets) and targets[0].is_window
        self.store = self._state_store()
        self.states = []
        self.streams = []
        try:
            for i, t in enumerate(targets):
                self.streams.append(self._stream(i, t))
        except BaseException:
            self._close_states()
            raise
        self.stats_line = StatsLine()
        self._keeper: Optional[threading.Thread] = None

    def _stream(self, index: int, target: LdpUrl) -> Stream:
        from .._ingest import Dedupe, Feeder, Journal

        cfg = self.config
        state = None
        if self.store is not None:
            state = self.store.open(target, Journal())
            self.states.append(state)
        dedupe = None
        if cfg.ldp_replay or state is not None or target.is_window:
            dedupe = Dedupe(cfg.ldp_dedupe_capacity)
        journal = state.journal if state is not None else None

        def make_sink():
            sink = Feeder(self.queue, cfg.max_event_size)
            if target.cluster:
                sink.set_cluster_name(target.cluster)
            sink.set_dedupe(dedupe)
            sink.set_journal(journal)
            return sink
        return Stream(self, target, index, make_sink, dedupe, state)

    @classmethod
    def from_params(cls, params: str, queue, counters, config) -> "LdpSource":
        return cls(parse_params(params), queue, counters, config)

    def _state_store(self) -> Optional[StateStore]:
        if not self.config.ldp_state_dir:
            return None
        if self.windows:
            self.log.info("LDP: a past window is read without resume state (ldpStateDir is "
                          "not used)")
            return None
        store = StateStore(self.config.ldp_state_dir, self.log, self.config.ldp_replay_margin)
        why = store.prepare()
        if why:
            self.log.warning("LDP: %s; resume after a restart is off for this run", why)
            return None
        return store

    # -- StreamOwner (contract.py)
    def stream_connected(self, stream, up: bool):
        with self._lock:
            if up:
                self._connected.add(id(stream))
            else:
                self._connected.discard(id(stream))
            self.counters.set("connected", len(self._connected))

    def stream_finished(self, stream):
        """A past window was read to its end; the last one finishes the queue (EOF)."""
        with self._lock:
            self._finished.add(id(stream))
            done = len(self._finished) == len(self.streams)
        if done:
            self.queue.finish()

    def stream_failed(self, message: str):
        message = redact(message)
        with self._lock:
            if self._failed:
                return
            self._failed = True
        self.log.error("%s", message)
        self.queue.fail(message)

    # -- producer interface
    def start(self):
        """Start the streams, then wait (OPEN_WAIT s at most) for each first connection
        outcome: a configuration error (token, address, CA file) is raised here, so that it
        is an open error."""
        if any(t.secure for t in self.targets):
            make_ssl_context(self.config.ldp_ca_file)     # LdpError when ldpCAFile is unusable
        for s in self.streams:
            s.start()
        self._keeper = threading.Thread(target=self._keep, name="k8saudit-ovh-ldp-keeper",
                                        daemon=True)
        self._keeper.start()
        deadline = time.monotonic() + min(OPEN_WAIT, self.config.ldp_connect_timeout + 0.5)
        for s in self.streams:
            s.first_outcome.wait(max(0.0, deadline - time.monotonic()))
            if s.fatal:
                self.stop(1.0)
                raise LdpError(s.fatal)

    def stop(self, timeout: float = 1.0) -> bool:
        self.stopping.set()
        self.queue.stop()
        for s in self.streams:
            s.abort()
        deadline = time.monotonic() + timeout
        ok = True
        for s in self.streams:
            ok = s.join(max(0.0, deadline - time.monotonic())) and ok
        if self._keeper is not None:
            self._keeper.join(max(0.0, deadline - time.monotonic()))
        self._close_states()
        with self._lock:
            self._connected.clear()
        self.counters.set("connected", 0)
        return ok

    def _close_states(self):
        for st in self.states:
            try:
                st.close()
            except Exception:
                self.log.exception("LDP %s: writing the resume state at close failed",
                                   st.target.display)

    def _keep(self):
        block_sigpipe()
        cfg = self.config
        now = time.monotonic()
        next_stats = now + cfg.ldp_stats_interval if cfg.ldp_stats_interval > 0 else None
        next_save = now + cfg.ldp_state_interval
        tick = min(KEEPER_TICK, cfg.ldp_state_interval / 2)
        late_warned = set()
        while not self.stopping.wait(tick):
            try:
                now = time.monotonic()
                if now >= next_save:
                    next_save = now + cfg.ldp_state_interval
                    for st in self.states:
                        st.flush()
                for s in self.streams:
                    if id(s) not in late_warned and s.sink.stats()["late"]:
                        late_warned.add(id(s))
                        self.log.warning(
                            "LDP %s: frames come more than ldpReplayMargin (%gs) behind newer "
                            "ones in LDP's clock: a replay after a reconnect or a restart may "
                            "miss such late events (raise ldpReplayMargin)", s.target.display,
                            cfg.ldp_replay_margin)
                if next_stats is not None and now >= next_stats:
                    next_stats = now + cfg.ldp_stats_interval
                    self.log.info("%s", self.stats_line(self.counters, self.streams))
            except Exception:
                self.log.exception("LDP: statistics or resume state failed")
