"""Replay windows: margins, clamping to ldpReplayMaxWindow, merging, giving up."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared helpers

from ldp_server import synthetic_events  # noqa: E402
from ldp_support import _no_proxy_env, cfg, drain, lib, plugin_log, server, wait_for  # noqa: E402,F401

from k8saudit_ovh.ldp import window  # noqa: E402


def test_gap_has_margins_on_both_sides():
    w = window.gap(1000.4, 1010.2, 3600, 60)
    assert (w.begin, w.end) == (940, 1011 + window.MARGIN_AFTER)
    assert w.clamped_from is None


def test_long_gap_is_clamped_to_its_most_recent_part():
    w = window.gap(1000.0, 9000.0, 600, 30)
    assert w.end == 9000 + window.MARGIN_AFTER and w.end - w.begin == 600
    assert w.clamped_from == 1000 - 30


def test_windows_merge_into_one_that_covers_both():
    a = window.gap(1000.0, 1010.0, 3600, 30)
    b = window.gap(1005.0, 1100.0, 3600, 30)
    m = window.merge(a, b)
    assert (m.begin, m.end) == (a.begin, b.end)
    assert window.merge(None, b) == b


def test_chunks_cover_the_window_once():
    """Each request but the last asks up to the next chunk's begin and keeps only the frames
    before it; the first and the last keep LDP's own reading of begin and end."""
    parts = window.chunks(1000, 1010, 3)
    assert [(c.begin, c.end) for c in parts] == [(1000, 1003), (1003, 1006), (1006, 1009),
                                                 (1009, 1010)]
    ns = window.NS
    assert [(c.lo_ns, c.hi_ns) for c in parts] == [(0, 1003 * ns), (1003 * ns, 1006 * ns),
                                                   (1006 * ns, 1009 * ns), (1009 * ns, 0)]
    assert window.chunks(1000, 1010, 10) == [window.Chunk(1000, 1010, 0, 0)]
    assert window.chunks(1000, 1010, 3600) == [window.Chunk(1000, 1010, 0, 0)]
    week = window.chunks(0, 7 * 86400, 3600)
    assert len(week) == 168 and all(c.end - c.begin == 3600 for c in week)


def test_clamped_replay_asks_ldp_for_the_last_window_only(lib, server, plugin_log):
    with lib.init(cfg(ldpReplayMaxWindow=7)) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        server.drop()
        assert wait_for(lambda: server.replays >= 1, timeout=20)
        server.publish(synthetic_events(3, prefix="after"))
        assert len(drain(inst, 3)) == 3
        inst.close()
    req = [p for p in server.requests if "begin=" in p][0]
    q = dict(kv.split("=") for kv in req.split("?", 1)[1].split("&"))
    assert int(q["end"]) - int(q["begin"]) == 7
    assert any("only the last 7s are replayed" in ln and "lost" in ln for ln in plugin_log)


def test_a_replay_refused_every_time_is_given_up_and_counted(lib, server, plugin_log):
    with lib.init(cfg()) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        server.reject_replays(503, 3)
        server.drop()
        assert wait_for(lambda: st.metrics()["replays_failed"] == 1, timeout=30)
        server.publish(synthetic_events(3, prefix="live"))
        assert len(drain(inst, 3)) == 3          # the live stream goes on
        inst.close()
    assert server.rejected == [503, 503, 503]
    assert sum("replay of [" in ln and "failed" in ln for ln in plugin_log) == 3
    assert any("given up after 3 attempts" in ln for ln in plugin_log)


def test_a_window_that_comes_while_one_waits_is_merged_into_it():
    """Two reconnects before the first replay has started: one replay covers both gaps."""
    from k8saudit_ovh.ldp.replay import Replayer

    class _Task:
        def done(self):
            return False                 # the first replay has not finished

    spawned = []

    class _Owner:
        log = None

    r = Replayer(_Owner(), None, None, lambda coro: spawned.append(coro) or _Task(), None)
    r.schedule(window.gap(1000.0, 1010.0, 3600, 30))
    r.schedule(window.gap(1050.0, 1060.0, 3600, 30))
    assert len(spawned) == 1              # one task drains the merged window
    spawned[0].close()
    assert r.pending
    assert (r._window.begin, r._window.end) == (1000 - 30, 1060 + window.MARGIN_AFTER)
