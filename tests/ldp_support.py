"""Shared by the LDP tests: the fast init config, the loopback server fixtures, draining a
source through the Python host, and the C host (a process without Python, like Falco) run in
the background."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time

import pytest

from conftest import host_env
from ldp_server import LdpServer, make_tls

from k8saudit_ovh_cli.host import PluginLibrary

TOKEN = "s3cr3t-T0ken-4242"
# Short enough to keep tests quick, long enough that a loaded 2-core machine never makes a
# healthy connection look dead (a pong within 3 s).
FAST = {"ldpPingInterval": 0.5, "ldpPingTimeout": 3, "ldpMinBackoff": 0.05,
        "ldpMaxBackoff": 0.3, "ldpConnectTimeout": 5, "ldpStatsInterval": 0,
        "ldpReplayIdleTimeout": 2}


def cfg(**extra) -> str:
    return json.dumps({**FAST, **extra})


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    for k in list(os.environ):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy",
                         "socks_proxy", "no_proxy"):
            monkeypatch.delenv(k)


@pytest.fixture
def server():
    with LdpServer(token=TOKEN) as srv:
        yield srv


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def lib(plugin_lib):
    return PluginLibrary(plugin_lib)


def drain(inst, n: int, timeout: float = 20.0) -> list:
    """Events from next_batch until `n` arrived or `timeout` passed (FAILURE/EOF raise/stop)."""
    got = []
    end = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < end:
        rc, evs = inst.next_batch()
        assert rc in (0, -1), f"next_batch returned {rc}: FAILURE/EOF on a live stream"
        got.extend(evs)
    return got


def wait_for(cond, timeout: float = 10.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


class HostRun:
    """falco_host running in the background; its stdout JSON lines are collected."""

    def __init__(self, c_host, plugin_lib, args, env=None, prefix=()):
        self.proc = subprocess.Popen([*prefix, c_host, plugin_lib, "replay", *args],
                                     env=host_env(env),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines = []
        self.err = b""
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        self._te = threading.Thread(target=self._read_err, daemon=True)
        self._te.start()

    def _read(self):
        for line in self.proc.stdout:
            if not line.strip():
                continue
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                # only a SIGKILL may cut a line, and then it is the last one
                self.partial = line
        self.proc.stdout.close()

    partial = None

    def kill(self):
        """SIGKILL, like an OOM kill or a node loss: no close, no final state write."""
        self.proc.kill()
        return self.finish()

    def _read_err(self):
        self.err = self.proc.stderr.read()

    @property
    def events(self):
        return [x for x in self.lines if "evtnum" in x]

    def wait_events(self, n, timeout=20):
        assert wait_for(lambda: len(self.events) >= n or self.proc.poll() is not None,
                        timeout=timeout), f"{len(self.events)} of {n} events"
        assert len(self.events) >= n, self.stderr()

    def finish(self, timeout=30):
        rc = self.proc.wait(timeout)
        self._t.join(5)
        self._te.join(5)
        return rc

    def stderr(self):
        return self.err.decode("utf-8", "replace")


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def plugin_log():
    """The plugin's log lines (in-process hosts: the plugin logs through this interpreter)."""
    h = _Capture()
    log = logging.getLogger("k8saudit-ovh")
    log.addHandler(h)
    yield h.lines
    log.removeHandler(h)
