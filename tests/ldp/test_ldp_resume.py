"""Resume after a restart (ldpStateDir): the host process is killed with SIGKILL mid-stream,
LDP keeps receiving events, and a new process with the same state folder replays what it
missed before going live: nothing lost, nothing Falco had finished delivered again, also when
the stream is not in event-time order (an HA control plane: one log shipper per API server,
one of them late). Driven through the Falco-like C host (a process without Python)."""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared helpers

from ldp_server import synthetic_events  # noqa: E402
from ldp_support import TOKEN, HostRun, _no_proxy_env, cfg, server, wait_for  # noqa: E402,F401

from k8saudit_ovh import ldp  # noqa: E402

STATE = {"ldpStateInterval": 0.1}


def _ids(events):
    return [json.loads(e["payload"] if isinstance(e, dict) else e)["auditID"] for e in events]


def _finished(run):
    """The events the host had finished when it was killed: those it printed before its last
    next_batch call (--batch-marks). Later ones were in its hands: they may come again."""
    marks = [x["finished"] for x in run.lines if "finished" in x]
    last = marks[-1] if marks else 0
    return [e for e in run.events if e["evtnum"] <= last]


def _pub(server, n, prefix):
    evs = synthetic_events(n, prefix=prefix)
    server.publish(evs)
    return evs


def _run(c_host, plugin_lib, server, state_dir, seconds, **extra):
    return HostRun(c_host, plugin_lib, ["--config", cfg(ldpStateDir=str(state_dir), **STATE,
                                                        **extra),
                                        "--open", server.url(fragment="cluster=resume"),
                                        "--max-seconds", str(seconds), "--batch-marks"])


class Producer:
    """An HA control plane writing to LDP, live: `rate` events/s with unique auditIDs; with
    `late`, every other event comes from a second API server whose events reach LDP `late` s
    after they happened. Frames are stamped in LDP's clock with the event's own time
    (clock="event": a shipper that stamps GELF with it, so LDP's clock runs out of order) or
    with their arrival (clock="received")."""

    def __init__(self, server, rate=25.0, late=0.0, clock="event", prefix="p"):
        self.server, self.rate, self.late, self.clock, self.prefix = server, rate, late, clock, prefix
        self.published = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        i, tick = 0, time.monotonic()
        while not self._stop.is_set():
            now = time.time()
            happened = now - (self.late if i % 2 else 0.0)
            ev = synthetic_events(1, start=i, prefix=self.prefix, at=happened)[0]
            self.server.publish([ev], ldp_ts=happened if self.clock == "event" else now)
            self.published.append(ev)
            i += 1
            tick += 1.0 / self.rate
            time.sleep(max(0.0, tick - time.monotonic()))

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(10)


@pytest.mark.parametrize("late,clock,margin", [
    (0, "event", None),          # one API server: in order
    (5, "event", None),          # a second one 5 s late, LDP's clock out of order by 5 s
    (5, "received", None),       # ... LDP stamps arrival: its clock in order, event times not
    (60, "event", 75),           # 60 s late: ldpReplayMargin configured above it
], ids=["in-order", "5s-late", "5s-late-arrival-clock", "60s-late"])
def test_sigkill_and_restart_lose_nothing_and_repeat_nothing(c_host, plugin_lib, server,
                                                             tmp_path, late, clock, margin):
    extra = {"ldpReplayMargin": margin} if margin else {}
    state_dir = tmp_path / "state"
    run1 = _run(c_host, plugin_lib, server, state_dir, 120, **extra)
    assert server.wait_clients(1, timeout=15)
    with Producer(server, 25, late, clock) as prod:
        run1.wait_events(70)                           # ~3 s of stream
        run1.kill()                                    # no close, no final state write
        time.sleep(2.0)                                # down; LDP keeps receiving
        run2 = _run(c_host, plugin_lib, server, state_dir, 14, **extra)
        assert server.wait_clients(1, timeout=15)
        time.sleep(2.0)                                # live again
    assert run2.finish(timeout=60) == 0, run2.stderr()
    published = _ids(prod.published)
    all1, finished1, second = _ids(run1.events), _ids(_finished(run1)), _ids(run2.events)
    assert len(set(published)) == len(published) > 150
    lost = set(published) - set(all1) - set(second)
    assert not lost, f"{len(lost)} of {len(published)} events lost"
    assert len(second) == len(set(second)), "an event delivered twice after the restart"
    again = set(finished1) & set(second)
    assert not again, f"{len(again)} events Falco had finished were delivered again"
    assert len(set(all1) - set(finished1)) <= 256          # at most the batch in the host's hands
    # every event of run 2 is one LDP has
    assert set(second) <= set(published)
    m = run2.lines[-1]["metrics"]
    assert m["replays_failed"] == 0 and m["duplicates_dropped"] >= 1
    err = run2.stderr()
    assert "resuming from" in err and "resume replay of" in err
    assert TOKEN not in err and TOKEN not in run1.stderr()
    assert TOKEN not in json.dumps(run2.lines) and TOKEN not in json.dumps(run1.lines)
    for f in state_dir.iterdir():
        assert TOKEN.encode() not in f.read_bytes()


def test_restart_after_a_clean_close_repeats_nothing(c_host, plugin_lib, server, tmp_path):
    """A stop (the host closes the plugin), events meanwhile, a start: exactly the missed ones,
    in the order LDP received them."""
    state_dir = tmp_path / "state"
    run1 = _run(c_host, plugin_lib, server, state_dir, 4)
    assert server.wait_clients(1, timeout=15)
    a = _pub(server, 200, "ca")
    run1.wait_events(len(a))
    assert run1.finish(timeout=60) == 0, run1.stderr()
    b = _pub(server, 150, "cb")      # nobody listening
    run2 = _run(c_host, plugin_lib, server, state_dir, 8)
    assert server.wait_clients(1, timeout=15)
    c = _pub(server, 50, "cc")
    run2.wait_events(len(b) + len(c), timeout=30)
    assert run2.finish(timeout=60) == 0, run2.stderr()
    assert _ids(run1.events) == _ids(a)
    assert _ids(run2.events) == _ids(b) + _ids(c)


@pytest.mark.parametrize("content", [b"{not json\n", b"", b'{"version": 2}\n',
                                     b"\x00\xff" * 40,
                                     b'{"version": 2, "stream": "x", "records": 0}\n'])
def test_corrupt_state_warns_and_starts_live(c_host, plugin_lib, server, tmp_path, content):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    target = ldp.parse_url(server.url(fragment="cluster=resume"))
    from k8saudit_ovh.ldp.state import StateStore
    path = Path(StateStore(str(state_dir), None).path(target))
    path.write_bytes(content)
    _pub(server, 50, "old")        # history before the start
    run = _run(c_host, plugin_lib, server, state_dir, 6)
    assert server.wait_clients(1, timeout=15)
    live = _pub(server, 100, "live")
    run.wait_events(len(live))
    assert run.finish(timeout=60) == 0, run.stderr()
    assert _ids(run.events) == _ids(live)     # live start: no replay
    err = run.stderr()
    assert "resume state" in err and "not used" in err and "starting live" in err
    assert err.count("not used") == 1
    assert not [p for p in server.requests if "begin=" in p]
    assert TOKEN not in err
    head = json.loads(path.read_bytes().split(b"\n", 1)[0])    # replaced by a good snapshot
    assert head["version"] == 2 and head["stream"] == target.stream_id


def test_unusable_state_dir_does_not_stop_the_source(c_host, plugin_lib, server, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = _run(c_host, plugin_lib, server, blocker / "sub", 6)
    assert server.wait_clients(1, timeout=15)
    live = _pub(server, 20, "nodir")
    run.wait_events(len(live))
    assert run.finish(timeout=60) == 0, run.stderr()
    assert "resume after a restart is off" in run.stderr()


def test_two_streams_resume_each_from_its_own_state(c_host, plugin_lib, tmp_path):
    from ldp_server import LdpServer
    state_dir = tmp_path / "state"
    with LdpServer(token="tok-ra-1") as a, LdpServer(token="tok-rb-2") as b:
        params = a.url(fragment="cluster=a") + "," + b.url(fragment="cluster=b")

        def run(seconds):
            return HostRun(c_host, plugin_lib, ["--config", cfg(ldpStateDir=str(state_dir),
                                                                **STATE),
                                                "--open", params, "--max-seconds", str(seconds),
                                                "--batch-marks"])
        run1 = run(120)
        assert a.wait_clients(1, timeout=15) and b.wait_clients(1, timeout=15)
        a1, b1 = _pub(a, 150, "a1"), _pub(b, 60, "b1")
        run1.wait_events(len(a1) + len(b1))
        time.sleep(0.5)                        # the host asks for its next batch
        run1.kill()
        a2, b2 = _pub(a, 100, "a2"), _pub(b, 120, "b2")
        run2 = run(12)
        assert a.wait_clients(1, timeout=15) and b.wait_clients(1, timeout=15)
        a3, b3 = _pub(a, 50, "a3"), _pub(b, 50, "b3")
        run2.wait_events(len(a2 + a3 + b2 + b3), timeout=30)
        assert run2.finish(timeout=60) == 0, run2.stderr()
    by_cluster = {"a": [], "b": []}
    for e in run2.events:
        ev = json.loads(e["payload"])
        by_cluster[ev["annotations"]["cluster_name"]].append(ev["auditID"])
    assert by_cluster["a"] == _ids(a2 + a3)
    assert by_cluster["b"] == _ids(b2 + b3)
    assert len(list(state_dir.glob("*.state"))) == 2
    assert "tok-ra-1" not in run2.stderr() and "tok-rb-2" not in run2.stderr()
