"""Every connection failure names its cause: in the `check` command, in the plugin's log while
it retries, and (for what cannot be retried) in the error Falco gets from open or next_batch.

The failures are made on loopback only: a plain server for wss://, a wrong CA, a certificate
for another name, a closed port, a black-holed connect (a listener whose backlog is full and
that never accepts), a reset, an HTTP 503, a name that does not resolve (the resolver is
replaced in-process: no DNS query leaves the machine), a proxy that is down or refuses.
"""
from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ldp_server import ConnectProxy, LdpServer, make_tls, synthetic_events  # noqa: E402
from ldp_support import (TOKEN, HostRun, _no_proxy_env, cfg, drain, lib, plugin_log,  # noqa: E402,F401
                         server, tls, wait_for)

from k8saudit_ovh import config as config_mod  # noqa: E402
from k8saudit_ovh.ldp import connect as ldp_connect  # noqa: E402
from k8saudit_ovh_cli.check import check  # noqa: E402


class _Listeners:
    """Loopback sockets that misbehave on purpose."""

    def __init__(self):
        self.socks = []

    def closed_port(self) -> int:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def black_hole(self) -> int:
        """A listener with a full backlog that never accepts: new SYNs are dropped, so a
        connect neither succeeds nor fails until the client's timeout."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(0)
        port = s.getsockname()[1]
        self.socks.append(s)
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            self.socks.append(c)
        time.sleep(0.1)
        return port

    def resetter(self) -> int:
        """Accepts, reads a little, then closes with SO_LINGER 0: a TCP reset."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        self.socks.append(s)

        def run():
            while True:
                try:
                    c, _ = s.accept()
                except OSError:
                    return
                try:
                    c.settimeout(2)
                    c.recv(16)
                except OSError:
                    pass
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
        threading.Thread(target=run, daemon=True).start()
        return s.getsockname()[1]

    def close(self):
        for s in self.socks:
            s.close()


@pytest.fixture
def listeners():
    ls = _Listeners()
    yield ls
    ls.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    good_ca, good_ctx = make_tls(tmp_path_factory.mktemp("good"))
    other_ca, _ = make_tls(tmp_path_factory.mktemp("other"))
    named_ca, named_ctx = make_tls(tmp_path_factory.mktemp("named"), hostnames=("other.example",),
                                   ips=())
    return {"good": (good_ca, good_ctx), "other_ca": other_ca, "named": (named_ca, named_ctx)}


def _case(kind, listeners, certs, stack, monkeypatch):
    """(address, extra init config, words the message must hold) for one failure kind."""
    if kind == "plain server for wss://":
        srv = stack(LdpServer(token=TOKEN))
        return f"wss://127.0.0.1:{srv.port}/tail/?tk={TOKEN}", {}, ["TLS handshake",
                                                                   "does not speak TLS"]
    if kind == "wrong CA":
        srv = stack(LdpServer(token=TOKEN, ssl_context=certs["good"][1]))
        return (srv.url(host="localhost"), {"ldpCAFile": certs["other_ca"]},
                ["certificate verification failed", "ldpCAFile"])
    if kind == "hostname mismatch":
        srv = stack(LdpServer(token=TOKEN, ssl_context=certs["named"][1]))
        return (srv.url(host="localhost"), {"ldpCAFile": certs["named"][0]},
                ["certificate verification failed", "another name"])
    if kind == "closed port":
        return f"ws://127.0.0.1:{listeners.closed_port()}/tail/?tk={TOKEN}", {}, ["refused"]
    if kind == "black-holed connect":
        return (f"ws://127.0.0.1:{listeners.black_hole()}/tail/?tk={TOKEN}",
                {"ldpConnectTimeout": 1}, ["within 1s", "ldpConnectTimeout"])
    if kind == "reset":
        return (f"wss://127.0.0.1:{listeners.resetter()}/tail/?tk={TOKEN}", {},
                ["TLS handshake", "cut the connection"])
    if kind == "HTTP 503":
        srv = stack(LdpServer(token=TOKEN))
        srv.reject(503, 1000)
        return srv.url(), {}, ["HTTP 503"]
    if kind == "DNS":
        real = socket.getaddrinfo

        def no_dns(host, *a, **kw):
            if str(host).endswith(".invalid"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real(host, *a, **kw)
        monkeypatch.setattr(socket, "getaddrinfo", no_dns)
        return f"wss://ldp-test.invalid:4443/tail/?tk={TOKEN}", {}, ["cannot resolve",
                                                                   "ldp-test.invalid"]
    if kind == "proxy down":
        monkeypatch.setattr(ldp_connect, "is_loopback", lambda host: False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listeners.closed_port()}")
        return f"wss://ldp-test.invalid:4443/tail/?tk={TOKEN}", {}, ["proxy", "refused"]
    if kind == "proxy refuses":
        proxy = stack(ConnectProxy())      # refuses every target that is not loopback
        monkeypatch.setattr(ldp_connect, "is_loopback", lambda host: False)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        return f"wss://ldp-test.invalid:4443/tail/?tk={TOKEN}", {}, ["proxy", "HTTP 403"]
    raise AssertionError(kind)


KINDS = ["plain server for wss://", "wrong CA", "hostname mismatch", "closed port",
         "black-holed connect", "reset", "HTTP 503", "DNS", "proxy down", "proxy refuses"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_failure_names_its_cause(kind, lib, listeners, certs, monkeypatch, plugin_log):
    entered = []

    def stack(cm):
        entered.append(cm)
        return cm.__enter__()
    try:
        address, extra, words = _case(kind, listeners, certs, stack, monkeypatch)
        # the check command
        out = []
        rc = check(address, config_mod.parse(cfg(**extra)), events=1, timeout=1, out=out.append)
        text = "\n".join(out)
        failed = [ln for ln in out if ln.startswith("connect   : FAILED: ")]
        assert rc == 1 and len(failed) == 1, text
        reason = failed[0][len("connect   : FAILED: "):]
        assert len(reason) > 20 and all(w in reason for w in words), reason
        assert TOKEN not in text
        # the plugin: retried (not an open error), the log line says the same
        with lib.init(cfg(**extra)) as st:
            inst = st.open(address)
            assert wait_for(lambda: any("retrying in" in ln for ln in plugin_log), timeout=15)
            inst.close()
        retry = [ln for ln in plugin_log if "retrying in" in ln]
        assert all(w in retry[0] for w in words), retry[0]
        assert not any(TOKEN in ln for ln in plugin_log)
    finally:
        for cm in reversed(entered):
            cm.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------------
# what Falco sees: next_batch FAILURE with a sentence, through the C host

def test_refusal_after_the_open_wait_fails_next_batch(c_host, plugin_lib, server):
    server.reject(503)          # open sees a transient failure and returns...
    server.reject(401)          # ...then the retry is refused: the token is wrong
    run = HostRun(c_host, plugin_lib, ["--config", cfg(), "--open", server.url(),
                                       "--max-seconds", "60"])
    rc = run.finish(timeout=90)
    err = run.stderr()
    assert rc != 0 and "plugin_next_batch failed:" in err, err[-2000:]
    msg = err.split("plugin_next_batch failed:", 1)[1]
    assert "HTTP 401" in msg and "refused the token" in msg and "tk=***" in msg
    assert server.rejected == [503, 401]
    assert TOKEN not in err


def _crashing_copy(tmp_path: Path) -> str:
    """A copy of the installed plugin whose stream raises after 20 frames, as a bug would. The
    library starts an isolated interpreter whose sys.path is the folder holding its package,
    so the copy (with websockets linked next to it) runs instead of the installed code."""
    import shutil

    import k8saudit_ovh
    import websockets
    sp = tmp_path / "site-packages"
    shutil.copytree(Path(k8saudit_ovh.__file__).parent, sp / "k8saudit_ovh",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (sp / "websockets").symlink_to(Path(websockets.__file__).parent)
    stream = sp / "k8saudit_ovh" / "ldp" / "stream.py"
    text = stream.read_text()
    anchor = "    def _on_frame(self, n: int):\n"
    assert anchor in text, "stream.py changed: update the injected failure"
    stream.write_text(text.replace(anchor, anchor + "        if self.frames >= 20:\n"
                                   "            raise RuntimeError('injected stream failure')\n"))
    return str(sp / "k8saudit_ovh" / k8saudit_ovh.LIBRARY_NAME)


def test_crashed_stream_thread_fails_next_batch(c_host, server, tmp_path):
    run = HostRun(c_host, _crashing_copy(tmp_path), ["--config", cfg(), "--open", server.url(),
                                                     "--max-seconds", "60"])
    assert server.wait_clients(1, timeout=15)
    for i in range(5):
        server.publish(synthetic_events(10, prefix=f"crash{i}"))
    rc = run.finish(timeout=90)
    err = run.stderr()
    assert rc != 0 and "plugin_next_batch failed:" in err, err[-2000:]
    msg = err.split("plugin_next_batch failed:", 1)[1]
    assert "stream" in msg and "failed: RuntimeError: injected stream failure" in msg
    assert 20 <= len(run.events) <= 50
    assert TOKEN not in err


# ---------------------------------------------------------------------------------------------
# branches: auth errors after a connection, several streams, backoff reset

@pytest.mark.parametrize("status", [401, 403])
def test_auth_refusal_after_a_connection_is_retried(lib, server, plugin_log, status):
    with lib.init(cfg(ldpReplayOnReconnect=False)) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        server.publish(synthetic_events(5, prefix="pre"))
        assert len(drain(inst, 5)) == 5
        server.reject(status, 2)       # e.g. a token rotated while connected, then restored
        server.drop()
        assert server.wait_clients(1, handshakes=2, timeout=15)
        server.publish(synthetic_events(5, prefix="post"))
        assert len(drain(inst, 5)) == 5          # drain() fails on FAILURE/EOF
        assert server.rejected == [status, status]
        assert st.metrics()["reconnects"] >= 1
        inst.close()
    assert any(f"HTTP {status}" in ln and "retrying" in ln for ln in plugin_log)


def test_one_stream_fatal_at_open_names_that_stream(lib):
    from k8saudit_ovh_cli.host import PluginError
    with LdpServer(token="tok-good-1") as good, LdpServer(token="tok-bad-2") as bad:
        bad.reject(404)
        with lib.init(cfg()) as st:
            with pytest.raises(PluginError) as e:
                st.open(good.url(fragment="cluster=ok") + "," + bad.url(fragment="cluster=ko"))
        msg = str(e.value)
        assert "HTTP 404" in msg and f":{bad.port}/" in msg and f":{good.port}/" not in msg
        assert "tok-bad-2" not in msg
        assert wait_for(lambda: good.live_clients == 0, timeout=5)   # the good one is closed


def test_one_stream_reconnects_while_the_other_runs(lib):
    with LdpServer(token="tok-a-111") as a, LdpServer(token="tok-b-222") as b:
        with lib.init(cfg()) as st:
            inst = st.open(a.url() + "," + b.url())
            assert a.wait_clients(1) and b.wait_clients(1)
            a.reject(503, 1000)              # a stays down...
            a.drop()
            assert wait_for(lambda: len(a.rejected) >= 2, timeout=15)
            evs = synthetic_events(200, prefix="bonly")
            b.publish(evs)                   # ...while b keeps delivering
            assert [e.payload for e in drain(inst, 200)] == [e.encode() for e in evs]
            assert st.metrics()["connected"] == 1
            a._reject.clear()
            assert a.wait_clients(1, handshakes=2, timeout=15)
            ea = synthetic_events(50, prefix="aback")
            a.publish(ea)
            got = drain(inst, 50)
            assert {e.payload for e in got} >= {e.encode() for e in ea}
            assert wait_for(lambda: st.metrics()["connected"] == 2, timeout=5)
            inst.close()


def _delays(lines):
    import re
    return [float(m.group(1)) for ln in lines for m in [re.search(r"reconnecting in ([\d.]+)s", ln)]
            if m]


@pytest.mark.parametrize("healthy", [True, False])
def test_backoff_resets_after_a_healthy_connection(lib, server, plugin_log, monkeypatch, healthy):
    from k8saudit_ovh.ldp import backoff
    monkeypatch.setattr(backoff, "HEALTHY_SECONDS", 0.5 if healthy else 3600)
    conf = cfg(ldpMinBackoff=0.1, ldpMaxBackoff=30, ldpReplayOnReconnect=False)
    with lib.init(conf) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        for i in range(4):                  # four short-lived connections: the delay grows
            server.drop()
            assert server.wait_clients(1, handshakes=i + 2, timeout=30)
        time.sleep(1.0)                     # then one that stays up (healthy or not)
        server.drop()
        assert wait_for(lambda: len(_delays(plugin_log)) >= 5, timeout=30)
        inst.close()
    d = _delays(plugin_log)
    assert d[3] >= 0.6                      # 0.1 * 2^3 * 0.8: the backoff grew
    if healthy:
        assert d[4] <= 0.15, d              # reset: back to ldpMinBackoff (+20% jitter)
    else:
        assert d[4] >= 1.2, d               # not reset: 0.1 * 2^4 * 0.8
