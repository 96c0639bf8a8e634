"""Resume after a restart (ldpStateDir): the host process is killed with SIGKILL mid-stream,
LDP keeps receiving events, and a new process with the same state folder replays what it
missed before going live. Driven through the Falco-like C host, config via plugin_init."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ldp_server import synthetic_events  # noqa: E402
from ldp_support import TOKEN, HostRun, _no_proxy_env, cfg, server, wait_for  # noqa: E402,F401

from k8saudit_ovh import ldp  # noqa: E402
from k8saudit_ovh.ldp.state import StateStore  # noqa: E402

STATE = {"ldpStateInterval": 0.1}


def _state_files(d: Path):
    return sorted(p for p in d.iterdir() if p.suffix == ".json") if d.is_dir() else []


def _newest(d: Path) -> int:
    files = _state_files(d)
    return json.loads(files[0].read_text())["newest_event_ns"] if files else 0


def _ts_ns(payload: str) -> int:
    from k8saudit_ovh._source import rfc3339_ns
    return rfc3339_ns(json.loads(payload)["stageTimestamp"])


def _publish(server, n, prefix, batch=50, pause=0.02):
    evs = synthetic_events(n, prefix=prefix)
    for i in range(0, n, batch):
        server.publish(evs[i:i + batch])
        time.sleep(pause)            # a stream, not one burst: the kill lands between frames
    return evs


def _run(c_host, plugin_lib, server, state_dir, seconds, **extra):
    return HostRun(c_host, plugin_lib, ["--config", cfg(ldpStateDir=str(state_dir), **STATE,
                                                        **extra),
                                        "--open", server.url(fragment="cluster=resume"),
                                        "--max-seconds", str(seconds)])


def _ids(events):
    return [json.loads(e["payload"])["auditID"] for e in events]


def test_sigkill_then_restart_replays_the_missed_window(c_host, plugin_lib, server, tmp_path):
    state_dir = tmp_path / "state"
    run1 = _run(c_host, plugin_lib, server, state_dir, 120)
    assert server.wait_clients(1, timeout=15)
    a = _publish(server, 400, "ra")
    run1.wait_events(len(a))
    # The kill comes once the state holds the newest delivered event: everything before it
    # must not come again, everything after must come.
    newest_a = max(_ts_ns(e) for e in a)
    assert wait_for(lambda: _newest(state_dir) == newest_a, timeout=10), _newest(state_dir)
    run1.kill()
    assert server.wait_clients(0, timeout=5) or server.live_clients == 0
    b = _publish(server, 300, "rb")          # LDP keeps receiving while the plugin is down
    run2 = _run(c_host, plugin_lib, server, state_dir, 12)
    assert server.wait_clients(1, timeout=15)
    c = _publish(server, 300, "rc")
    run2.wait_events(len(b) + len(c), timeout=30)
    assert run2.finish(timeout=60) == 0, run2.stderr()
    first, second = _ids(run1.events), _ids(run2.events)
    assert first == _ids([{"payload": e} for e in a])
    # every event once, in the order LDP received them
    assert second == _ids([{"payload": e} for e in b + c]), (len(second), second[:3])
    summary = run2.lines[-1]
    assert summary["end"] == "TIME"
    m = summary["metrics"]
    assert m["events_delivered"] == len(b) + len(c) == len(run2.events)
    assert m["replayed_events"] >= len(b)
    assert m["duplicates_dropped"] >= 1            # A's tail was in the replay window
    assert m["replays_failed"] == 0
    replays = [p for p in server.requests if "begin=" in p]
    assert replays, server.requests
    err = run2.stderr()
    assert "resuming from" in err and "resume replay of" in err
    # the token is in no state file, log line or metric
    for f in _state_files(state_dir):
        assert TOKEN not in f.read_text()
        assert f.name.startswith("ldp-") and ldp.parse_url(server.url(fragment="cluster=resume")).stream_id in f.name
    assert TOKEN not in err and TOKEN not in run1.stderr()
    assert TOKEN not in json.dumps(run2.lines) and TOKEN not in json.dumps(run1.lines)
    assert _newest(state_dir) == max(_ts_ns(e) for e in c)     # written at close


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"version": 1}', b"\x00\xff" * 40,
                                     b'{"version": 1, "stream": "x", "newest_event_ns": 5}'])
def test_corrupt_state_warns_and_starts_live(c_host, plugin_lib, server, tmp_path, content):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    target = ldp.parse_url(server.url(fragment="cluster=resume"))
    path = Path(StateStore(str(state_dir), None).path(target))
    path.write_bytes(content)
    server.publish(synthetic_events(50, prefix="old"))        # history before the start
    run = _run(c_host, plugin_lib, server, state_dir, 6)
    assert server.wait_clients(1, timeout=15)
    live = _publish(server, 100, "live")
    run.wait_events(len(live))
    assert run.finish(timeout=60) == 0, run.stderr()
    assert _ids(run.events) == _ids([{"payload": e} for e in live])     # live start: no replay
    err = run.stderr()
    assert "resume state" in err and "not used" in err and "starting live" in err
    assert err.count("resume state") == 1
    assert not [p for p in server.requests if "begin=" in p]
    assert TOKEN not in err
    assert _newest(state_dir) == max(_ts_ns(e) for e in live)           # replaced at close


def test_unusable_state_dir_does_not_stop_the_source(c_host, plugin_lib, server, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = _run(c_host, plugin_lib, server, blocker / "sub", 6)
    assert server.wait_clients(1, timeout=15)
    live = _publish(server, 20, "nodir")
    run.wait_events(len(live))
    assert run.finish(timeout=60) == 0, run.stderr()
    assert "resume after a restart is off" in run.stderr()


def test_state_file_is_replaced_atomically(tmp_path):
    target = ldp.parse_url("wss://gra1.logs.ovh.com/tail/?tk=" + TOKEN)
    store = StateStore(str(tmp_path), None)
    assert store.prepare() is None
    now = time.time_ns()
    assert store.save(target, now) and store.load(target) == now
    assert store.save(target, now + 1) and store.load(target) == now + 1
    assert [p.name for p in tmp_path.iterdir()] == [Path(store.path(target)).name]  # no temp left
    text = Path(store.path(target)).read_text()
    assert TOKEN not in text and "gra1.logs.ovh.com" in text
    # a new token for the same stream keeps its state; another stream has its own
    assert ldp.parse_url("wss://gra1.logs.ovh.com/tail/?tk=other-token").stream_id == target.stream_id
    assert ldp.parse_url("wss://gra2.logs.ovh.com/tail/?tk=" + TOKEN).stream_id != target.stream_id
    fresh = StateStore(str(tmp_path / "new" / "dir"), None)
    assert fresh.prepare() is None
    assert os.stat(fresh.directory).st_mode & 0o777 == 0o700     # readable by the plugin only


class _Publisher:
    """Publishes 20 events every 20 ms, numbered, until stopped: LDP never stops receiving."""

    def __init__(self, server):
        import threading
        self.server, self.published, self._stop = server, [], threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        i = 0
        while not self._stop.is_set():
            evs = synthetic_events(20, start=i, prefix="cont")
            self.server.publish(evs)
            self.published.extend(evs)
            i += 20
            time.sleep(0.02)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(10)


def test_sigkill_while_ldp_keeps_sending(c_host, plugin_lib, server, tmp_path):
    """The kill lands anywhere in a continuous stream: every event is delivered at least once,
    and what comes twice is only the tail the killed process delivered after its last state
    write (at most ldpStateInterval s of events)."""
    state_dir = tmp_path / "state"
    run1 = _run(c_host, plugin_lib, server, state_dir, 120)
    assert server.wait_clients(1, timeout=15)
    with _Publisher(server) as pub:
        run1.wait_events(500)
        run1.kill()
        time.sleep(1.0)                                  # down, LDP still receiving
        run2 = _run(c_host, plugin_lib, server, state_dir, 15)
        assert server.wait_clients(1, timeout=15)
        time.sleep(1.0)
    published = _ids([{"payload": e} for e in pub.published])
    first = _ids(run1.events)
    assert wait_for(lambda: set(first) | set(_ids(run2.events)) >= set(published), timeout=30)
    assert run2.finish(timeout=60) == 0, run2.stderr()
    second = _ids(run2.events)
    assert set(first) | set(second) == set(published)            # none lost
    assert len(second) == len(set(second))                       # none twice within a run
    again = set(first) & set(second)
    assert again == set(first[len(first) - len(again):]), "re-delivered events are not a tail"
    assert len(again) <= 20 * 50 * (STATE["ldpStateInterval"] + 1) # ~1000 events/s x interval
    assert TOKEN not in run2.stderr()


def test_two_streams_resume_each_from_its_own_state(c_host, plugin_lib, tmp_path):
    from ldp_server import LdpServer
    state_dir = tmp_path / "state"
    with LdpServer(token="tok-ra-1") as a, LdpServer(token="tok-rb-2") as b:
        params = a.url(fragment="cluster=a") + "," + b.url(fragment="cluster=b")

        def run(seconds):
            return HostRun(c_host, plugin_lib, ["--config", cfg(ldpStateDir=str(state_dir),
                                                                **STATE),
                                                "--open", params, "--max-seconds", str(seconds)])
        run1 = run(120)
        assert a.wait_clients(1, timeout=15) and b.wait_clients(1, timeout=15)
        a1, b1 = _publish(a, 150, "a1"), _publish(b, 60, "b1")
        run1.wait_events(len(a1) + len(b1))
        newest = {max(_ts_ns(e) for e in a1), max(_ts_ns(e) for e in b1)}

        def saved():
            return {json.loads(p.read_text())["newest_event_ns"] for p in _state_files(state_dir)}
        assert wait_for(lambda: saved() == newest, timeout=10), saved()
        run1.kill()
        a2, b2 = _publish(a, 100, "a2"), _publish(b, 120, "b2")
        run2 = run(12)
        assert a.wait_clients(1, timeout=15) and b.wait_clients(1, timeout=15)
        a3, b3 = _publish(a, 50, "a3"), _publish(b, 50, "b3")
        run2.wait_events(len(a2 + a3 + b2 + b3), timeout=30)
        assert run2.finish(timeout=60) == 0, run2.stderr()
    got = run2.events
    by_cluster = {"a": [], "b": []}
    for e in got:
        ev = json.loads(e["payload"])
        by_cluster[ev["annotations"]["cluster_name"]].append(ev["auditID"])
    assert by_cluster["a"] == _ids([{"payload": e} for e in a2 + a3])
    assert by_cluster["b"] == _ids([{"payload": e} for e in b2 + b3])
    assert len(_state_files(state_dir)) == 2
    assert "tok-ra-1" not in run2.stderr() and "tok-rb-2" not in run2.stderr()
