"""The threaded LDP path under the sanitizers: several streams with their resume state (the
delivery journal next_batch appends to), a reconnect with its replay, and a close while a
stream is blocked on a full queue (backpressure), through the Falco-like C host built with
ASan/UBSan and under valgrind; then a restart that resumes from that state, and a past window
read in several requests. Also the same close in-process, with its threads checked."""
from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared helpers

from ldp_server import LdpServer, synthetic_events  # noqa: E402
from ldp_support import HostRun, _no_proxy_env, cfg, lib, server, wait_for  # noqa: E402,F401

ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=86",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
VALGRIND_SUPP = Path(__file__).resolve().parents[1] / "host" / "valgrind-cpython.supp"
QUEUE_EVENTS = 16384


def _scenario(host_cmd, env, backlog: int, timeout: float, pause_ms: int, state_dir):
    """Two streams; A drops and reconnects (replay on); B then gets `backlog` events at once
    while the host stalls for `pause_ms` (the burst fills the queue and B's thread blocks);
    the host then takes 1000 more events and closes while B is still blocked. Returns (rc,
    summary, stderr)."""
    with LdpServer(token="tok-a-5150") as a, LdpServer(token="tok-b-5150") as b:
        first = 100
        run = HostRun(host_cmd[0], host_cmd[1], ["--config", cfg(ldpStateDir=str(state_dir),
                                                                 ldpStateInterval=0.2),
                                                 "--open",
                                                 a.url() + "," + b.url(), "--max-events",
                                                 str(4 * first + 1000), "--max-seconds", "600",
                                                 "--quiet", "--pause-after",
                                                 f"{4 * first}:{pause_ms}"],
                      env=env, prefix=host_cmd[2:])
        assert a.wait_clients(1, timeout=timeout) and b.wait_clients(1, timeout=timeout)
        a.publish(synthetic_events(first, prefix="sa1"))
        b.publish(synthetic_events(first, prefix="sb1"))
        a.drop()
        assert a.wait_clients(1, handshakes=2, timeout=timeout)
        assert wait_for(lambda: a.replays >= 1, timeout=timeout)
        a.publish(synthetic_events(first, prefix="sa2"))
        b.publish(synthetic_events(first, prefix="sb2"))
        burst = synthetic_events(backlog, prefix="sb3")
        pub = threading.Thread(target=lambda: [b.publish(burst[i:i + 2000])
                                               for i in range(0, backlog, 2000)], daemon=True)
        pub.start()
        rc = run.finish(timeout=timeout * 4)
        pub.join(60)
        # a restart on the same state (resume replay, catch-up, journal) and a past window
        t = int(time.time())
        again = HostRun(host_cmd[0], host_cmd[1], [
            "--config", cfg(ldpStateDir=str(state_dir), ldpWindowChunk=1), "--open",
            a.url() + f"&begin={t - 20}&end={t}," + b.url() + f"&begin={t - 20}&end={t}",
            "--max-seconds", "600", "--quiet"], env=env, prefix=host_cmd[2:])
        rc2 = again.finish(timeout=timeout * 4)
        resumed = HostRun(host_cmd[0], host_cmd[1], [
            "--config", cfg(ldpStateDir=str(state_dir)), "--open", a.url() + "," + b.url(),
            "--max-seconds", "3", "--quiet"], env=env, prefix=host_cmd[2:])
        rc3 = resumed.finish(timeout=timeout * 4)
    summary = run.lines[-1] if run.lines else {}
    assert rc2 == 0 and again.lines[-1]["end"] == "EOF", again.stderr()[-6000:]
    assert again.lines[-1]["events"] >= 4 * first, again.lines[-1]
    assert rc3 == 0 and "resuming from" in resumed.stderr(), resumed.stderr()[-6000:]
    return rc, summary, run.stderr() + again.stderr() + resumed.stderr()


def test_threaded_ldp_under_asan(c_host_asan, plugin_lib, tmp_path):
    rc, summary, err = _scenario([c_host_asan, plugin_lib], ASAN_ENV, backlog=3 * QUEUE_EVENTS,
                                 timeout=30, pause_ms=5000, state_dir=tmp_path / "state")
    assert rc == 0, err[-6000:]
    assert "AddressSanitizer" not in err and "runtime error" not in err, err[-6000:]
    assert summary["end"] == "MAX", summary
    m = summary["metrics"]
    assert m["connected"] == 2 and m["reconnects"] >= 1
    # closed while B was blocked: the queue was (nearly) full at the end
    assert m["queue_depth"] >= QUEUE_EVENTS // 2, m


@pytest.mark.slow
def test_threaded_ldp_under_valgrind(c_host, plugin_lib, tmp_path):
    vg = shutil.which("valgrind")
    assert vg, "valgrind is required (apt-get install valgrind)"
    prefix = [vg, "-q", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=none",
              f"--suppressions={VALGRIND_SUPP}", "--num-callers=30"]
    rc, summary, err = _scenario([c_host, plugin_lib, *prefix], {"PYTHONMALLOC": "malloc"},
                                 backlog=QUEUE_EVENTS + 4000, timeout=300, pause_ms=20000,
                                 state_dir=tmp_path / "state")
    errors = [blk for blk in err.split("\n\n") if "lost in loss record" not in blk]
    assert rc == 0, "\n\n".join(errors)[-20000:]
    assert summary["end"] == "MAX" and summary["metrics"]["reconnects"] >= 1, summary
    assert summary["metrics"]["queue_depth"] >= QUEUE_EVENTS // 2, summary   # closed while blocked


def test_close_during_backpressure_stops_every_thread(lib, server):
    n = 2 * QUEUE_EVENTS
    with lib.init(cfg()) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        evs = synthetic_events(n, prefix="cbp")
        pub = threading.Thread(target=lambda: [server.publish(evs[i:i + 2000])
                                               for i in range(0, n, 2000)], daemon=True)
        pub.start()
        # nothing calls next_batch: the queue fills to its capacity, then the stream blocks
        assert wait_for(lambda: st.metrics()["events_ingested"] >= QUEUE_EVENTS, timeout=30)
        ingested = st.metrics()["events_ingested"]
        time.sleep(0.5)
        assert st.metrics()["events_ingested"] == ingested < n     # blocked: backpressure
        t0 = time.monotonic()
        inst.close()
        assert time.monotonic() - t0 < 5
        assert not [t for t in threading.enumerate()
                    if t.name.startswith("k8saudit-ovh-ldp") and t.is_alive()]
        assert wait_for(lambda: server.live_clients == 0, timeout=5)
        assert st.metrics()["connected"] == 0
        pub.join(30)
