"""Python side of a plugin state and of an open event source (called from k8saudit_ovh._plugin).

Only configuration and I/O live here: producer threads hand raw bytes to a Feeder, whose C code
parses, checks and queues events without the GIL; next_batch drains the queue in C.
"""
from __future__ import annotations

from . import config as config_mod
from . import filesource
from . import ldp
from .errors import OpenError
from ._ingest import Counters, EventQueue, Feeder
from .log import get_logger


class PluginState:
    def __init__(self, config_text: str):
        self.config = config_mod.parse(config_text)
        self.counters = Counters()
        self.log = get_logger()
        if self.config.extra:
            self.log.info("init config keys not used by k8saudit-ovh: %s", ", ".join(self.config.extra))
        self.instances = []

    def open(self, params: str) -> "Instance":
        params = params.strip()
        if not params:
            raise OpenError(
                "k8saudit-ovh: open_params is empty: give an LDP WebSocket address "
                "(wss://<cluster>.logs.ovh.com/tail/?tk=<token>) or an audit log file path")
        queue = EventQueue(self.counters)
        if ldp.is_ldp_params(params):
            producers = [ldp.LdpSource.from_params(params, queue, self.counters, self.config)]
        else:
            producers = [filesource.FileSource(filesource.resolve_paths(params), queue,
                                               Feeder(queue, self.config.max_event_size),
                                               self.config)]
        inst = Instance(queue, producers, self.log)
        inst.start()
        self.instances.append(inst)
        return inst

    def destroy(self):
        for inst in self.instances:
            inst.close()
        self.instances.clear()


class Instance:
    def __init__(self, queue, producers, log):
        self.queue = queue
        self.producers = producers
        self.log = log
        self.closed = False

    def start(self):
        for p in self.producers:
            p.start()

    def close(self, timeout: float = 1.0):
        if self.closed:
            return
        self.closed = True
        self.queue.stop()
        for p in self.producers:
            if not p.stop(timeout):
                self.log.warning("event source thread did not stop within %.1fs", timeout)
