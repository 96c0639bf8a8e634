"""Past windows (an address with begin= and end=): every event LDP holds in the window, in LDP's
order, once, read in requests of ldpWindowChunk seconds, then EOF. Through the Falco-like C host
(a process without Python), the ctypes host and the `k8saudit-ovh tail` command."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared helpers

from conftest import host_env  # noqa: E402
from ldp_server import LdpServer, synthetic_events  # noqa: E402
from ldp_support import TOKEN, HostRun, _no_proxy_env, cfg, lib, server, wait_for  # noqa: E402,F401


def _ids(events):
    return [json.loads(e["payload"] if isinstance(e, dict) else e)["auditID"] for e in events]


def _history(server, seconds=20.0, rate=50, late=0.0, start=None):
    """What LDP received over `seconds` s at `rate` events/s, ending 40 s ago; with `late`,
    every other event comes from an API server `late` s behind, whose shipper stamps GELF
    with the event's time (LDP's clock out of order). Returns [(ldp_ts, event)] in the order
    LDP received them."""
    t0 = start if start is not None else math.floor(time.time()) - 60
    out = []
    for i in range(int(seconds * rate)):
        t = t0 + i / rate - (late if i % 2 else 0.0)
        out.append((t, synthetic_events(1, start=i, prefix="w", at=t)[0]))
    server.record([e for _, e in out], [t for t, _ in out])
    return out, t0


def _window_requests(server):
    out = []
    for p in server.requests:
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p).query)
        if "begin" in q:
            out.append((int(q["begin"][0]), int(q["end"][0])))
    return out


def _read(c_host, plugin_lib, url, seconds=60, **extra):
    run = HostRun(c_host, plugin_lib, ["--config", cfg(**extra), "--open", url,
                                       "--max-seconds", str(seconds)])
    rc = run.finish(timeout=seconds + 30)
    return run, rc


def test_a_10s_window_of_a_50_per_second_stream_is_read_exactly_then_eof(c_host, plugin_lib,
                                                                          server):
    hist, t0 = _history(server)
    begin, end = t0 + 5, t0 + 15
    # the test server's `end` counts its whole second, like LDP's "up to end"
    expected = [e for t, e in hist if begin <= t < end + 1]
    assert len(expected) == 550
    run, rc = _read(c_host, plugin_lib, server.url() + f"&begin={begin}&end={end}")
    assert rc == 0, run.stderr()
    assert _ids(run.events) == _ids(expected)          # exactly its events, in order, once
    summary = run.lines[-1]
    assert summary["end"] == "EOF"
    assert summary["metrics"]["events_delivered"] == 550
    assert _window_requests(server) == [(begin, end)]   # one request (ldpWindowChunk 3600)
    err = run.stderr()
    assert "past window" in err and "550 events" in err and TOKEN not in err


@pytest.mark.parametrize("replay_end", ["second", "exclusive"])
def test_a_window_longer_than_the_chunk_is_read_in_several_requests_and_still_exact(
        c_host, plugin_lib, replay_end):
    with LdpServer(token=TOKEN, replay_end=replay_end) as srv:
        hist, t0 = _history(srv)
        begin, end = t0 + 5, t0 + 15
        stop = end + 1 if replay_end == "second" else end
        expected = [e for t, e in hist if begin <= t < stop]
        run, rc = _read(c_host, plugin_lib, srv.url() + f"&begin={begin}&end={end}",
                        ldpWindowChunk=3)
        assert rc == 0, run.stderr()
        assert _window_requests(srv) == [(begin, begin + 3), (begin + 3, begin + 6),
                                         (begin + 6, begin + 9), (begin + 9, end)]
    assert _ids(run.events) == _ids(expected)
    assert run.lines[-1]["end"] == "EOF"
    assert run.lines[-1]["metrics"]["duplicates_dropped"] == 0
    assert "window request 4/4" in run.stderr()


def test_a_window_of_an_out_of_order_stream_has_each_event_once(c_host, plugin_lib):
    """Two API servers, one 5 s behind, GELF stamped with the event time: LDP's clock runs out
    of order. Each request returns its part sorted by time (replay_sorted) and reaches past its
    chunk's end: the boundary filter keeps every event in exactly one chunk."""
    with LdpServer(token=TOKEN, replay_sorted=True) as srv:
        hist, t0 = _history(srv, late=5.0)
        begin, end = t0 + 5, t0 + 15
        expected = sorted(((t, e) for t, e in hist if begin <= t < end + 1), key=lambda x: x[0])
        run, rc = _read(c_host, plugin_lib, srv.url() + f"&begin={begin}&end={end}",
                        ldpWindowChunk=4)
        assert rc == 0, run.stderr()
        assert len(_window_requests(srv)) == 3
    got = _ids(run.events)
    assert len(got) == len(set(got))
    assert got == _ids([e for _, e in expected])


def test_rfc3339_bounds_and_the_stats_line(c_host, plugin_lib):
    """begin/end in RFC 3339; a server that never closes a replay (each request ends after
    ldpReplayIdleTimeout): the stats line shows where the window is; no state is written."""
    with LdpServer(token=TOKEN, replay_close=False) as srv:
        hist, t0 = _history(srv, seconds=6, rate=20)
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        url = srv.url() + f"&begin={iso(t0)}&end={iso(t0 + 5)}"
        state = Path(os.environ.get("TMPDIR", "/tmp")) / f"k8s-window-state-{os.getpid()}"
        run, rc = _read(c_host, plugin_lib, url, ldpWindowChunk=2, ldpReplayIdleTimeout=0.6,
                        ldpStatsInterval=0.2, ldpStateDir=str(state))
        assert rc == 0, run.stderr()
    expected = [e for t, e in hist if t0 <= t < t0 + 6]
    assert _ids(run.events) == _ids(expected)
    err = run.stderr()
    assert "window at " in err and "(40%), request 1/3" in err
    assert "read: 120 events in 3 request(s)" in err
    assert "without resume state" in err
    assert not state.exists() or not list(state.iterdir())


def test_a_request_that_keeps_failing_ends_the_source_with_the_part_not_read(c_host, plugin_lib,
                                                                            server):
    hist, t0 = _history(server)
    begin, end = t0 + 5, t0 + 15
    server.reject_replays(503, 3, begin=begin + 4)      # the second request, every attempt
    run = HostRun(c_host, plugin_lib, ["--config", cfg(ldpWindowChunk=4), "--open",
                                       server.url() + f"&begin={begin}&end={end}",
                                       "--max-seconds", "60"])
    rc = run.finish(timeout=90)
    assert rc == 1                                       # next_batch FAILURE: the host stops
    err = run.stderr()
    assert f"reading [{begin + 4}, {begin + 8}] of the past window failed" in err
    assert "were not read" in err and "503" in err and TOKEN not in err
    # what was read before is delivered: the first chunk's events
    assert _ids(run.events) == _ids([e for t, e in hist if begin <= t < begin + 4])


def test_a_refused_token_fails_the_open(c_host, plugin_lib, server):
    _history(server, seconds=2)
    t = math.floor(time.time()) - 100
    run = HostRun(c_host, plugin_lib, ["--config", cfg(), "--expect-open-fail", "--open",
                                       server.url(token="wrong") + f"&begin={t}&end={t + 10}"])
    assert run.finish(timeout=60) == 0, run.stderr()
    msg = run.lines[0]["open_error"]
    assert "401" in msg and "wrong" not in msg


def test_the_ctypes_host_reads_a_window_to_eof(lib, server):
    hist, t0 = _history(server, seconds=4, rate=25)
    with lib.init(cfg(ldpWindowChunk=1)) as st:
        inst = st.open(server.url() + f"&begin={t0}&end={t0 + 3}")
        got = [ev.payload for ev in inst.events(timeout_s=60)]
        assert inst.eof
        inst.close()
    assert _ids(got) == _ids([e for t, e in hist if t0 <= t < t0 + 4])


def test_tail_command_reads_a_window_and_exits(server):
    hist, t0 = _history(server, seconds=3, rate=10)
    url = server.url() + f"&begin={t0}&end={t0 + 2}"
    exe = Path(sys.executable).parent / "k8saudit-ovh"
    r = subprocess.run([str(exe), "tail", url, "--config", cfg(), "--count-interval", "0",
                        "--fields", "ka.auditid"], capture_output=True, text=True, timeout=120,
                       env=host_env())
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if "ka.auditid=" in ln]
    expected = _ids([e for t, e in hist if t0 <= t < t0 + 3])
    assert [ln.split("ka.auditid=")[1] for ln in lines] == expected
    assert f"-- {len(expected)} events" in r.stderr and TOKEN not in r.stderr + r.stdout
