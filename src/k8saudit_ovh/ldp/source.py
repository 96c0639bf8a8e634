"""The producer for LDP addresses (the interface of filesource.FileSource): one Stream per
address, all feeding one queue, and a keeper thread for the statistics line and the resume
state. Live: never finishes the queue; fails it only when a stream cannot go on."""
from __future__ import annotations

import threading
import time
from typing import List, Optional

from .address import LdpUrl, parse_params
from .errors import LdpError
from .progress import Progress
from .redact import loggers, redact
from .state import StateStore
from .stats import StatsLine
from .stream import Stream, block_sigpipe
from .tls import make_ssl_context

# How long open() waits for every stream's first connection outcome (seconds, at most).
OPEN_WAIT = 5.0
# How often the keeper thread looks at what was delivered (seconds, at most).
PROGRESS_TICK = 0.1


class LdpSource:
    def __init__(self, targets: List[LdpUrl], queue, counters, config):
        from .._source import Dedupe, Feeder

        self.targets = targets
        self.queue = queue
        self.counters = counters
        self.config = config
        self.log, self.ws_log = loggers()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connected: set = set()
        self._failed = False
        self.store = self._state_store()
        self.streams = []
        for i, t in enumerate(targets):
            sink = Feeder(queue, config.max_event_size)
            if t.cluster:
                sink.set_cluster_name(t.cluster)
            dedupe = None
            if config.ldp_replay or self.store is not None:
                dedupe = Dedupe(config.ldp_dedupe_capacity)
                sink.set_dedupe(dedupe)
            resume = self.store.load(t) if self.store is not None else None
            self.streams.append(Stream(self, t, i, sink, dedupe, resume))
        self.progress = Progress(self.store, self.streams, queue)
        self.stats_line = StatsLine()
        self._keeper: Optional[threading.Thread] = None

    @classmethod
    def from_params(cls, params: str, queue, counters, config) -> "LdpSource":
        return cls(parse_params(params), queue, counters, config)

    def _state_store(self) -> Optional[StateStore]:
        if not self.config.ldp_state_dir:
            return None
        store = StateStore(self.config.ldp_state_dir, self.log)
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
        self.progress.save()
        with self._lock:
            self._connected.clear()
        self.counters.set("connected", 0)
        return ok

    def _keep(self):
        block_sigpipe()
        cfg = self.config
        now = time.monotonic()
        next_stats = now + cfg.ldp_stats_interval if cfg.ldp_stats_interval > 0 else None
        next_save = now + cfg.ldp_state_interval
        tick = min(PROGRESS_TICK, cfg.ldp_state_interval / 2)
        while not self.stopping.wait(tick):
            try:
                now = time.monotonic()
                self.progress.sample()
                if now >= next_save:
                    next_save = now + cfg.ldp_state_interval
                    self.progress.save()
                if next_stats is not None and now >= next_stats:
                    next_stats = now + cfg.ldp_stats_interval
                    self.log.info("%s", self.stats_line(self.counters, self.streams))
            except Exception:
                self.log.exception("LDP: statistics or resume state failed")
        self.progress.sample()
