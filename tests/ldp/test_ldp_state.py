"""The resume state's journal and files, through the real C path: a Feeder queues frames,
next_batch hands them out, the next next_batch journals them as finished; then the state is
flushed, reloaded, damaged, upgraded. In-process (the SIGKILL tests are test_ldp_resume.py)."""
from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared helpers

from ldp_server import gelf_frame, synthetic_events  # noqa: E402

from k8saudit_ovh import ldp  # noqa: E402
from k8saudit_ovh._ingest import Counters, Dedupe, EventQueue, Feeder, Journal  # noqa: E402
from k8saudit_ovh.ldp import state as state_mod  # noqa: E402
from k8saudit_ovh.ldp.state import StateStore  # noqa: E402
from k8saudit_ovh_testing.hooks import dedupe_seen  # noqa: E402

NS = 10**9
TARGET = ldp.parse_url("wss://gra1.logs.ovh.com/tail/?tk=st4te-T0ken#cluster=c1")
REC = struct.Struct("<QqII")          # a journal record: identity, LDP ns, kind, check


class _Log:
    def __init__(self):
        self.lines = []

    def warning(self, msg, *a):
        self.lines.append(("WARNING", msg % a))

    info = error = warning


def _deliver(state, events, ldp_ts):
    """Queue `events` (frames stamped `ldp_ts`) through a Feeder wired to the state's journal,
    hand them out, then ask for the next batch: they are finished, hence journaled."""
    q = EventQueue(Counters())
    f = Feeder(q, 1 << 20)
    f.set_journal(state.journal)
    for e, t in zip(events, ldp_ts):
        assert f.feed_ldp_frame(gelf_frame(e, ldp_ts=t).encode()) == 1
    got = []
    while len(got) < len(events):
        rc, evs = q.next_batch()
        got += evs
    q.next_batch()                     # the host is done with the last batch
    return got


def _open(d, margin=60.0, log=None):
    log = log or _Log()
    return StateStore(str(d), log, margin).open(TARGET, Journal()), log


def _journal_records(d):
    out = []
    for p in sorted(Path(d).glob("*.journal")):
        data = p.read_bytes()
        out += [REC.unpack_from(data, i) for i in range(0, len(data) - len(data) % 24, 24)]
    return out


def test_finished_events_reach_the_journal_file_before_the_next_batch(tmp_path):
    st, _ = _open(tmp_path)
    assert st.resume is None                                   # first run: live
    evs = synthetic_events(5, prefix="j")
    base = int(time.time()) - 10
    t = base + 0.25                           # exact in binary and in the frame's text
    q = EventQueue(Counters())
    f = Feeder(q, 1 << 20)
    f.set_journal(st.journal)
    for i, e in enumerate(evs):
        f.feed_ldp_frame(gelf_frame(e, ldp_ts=t + i).encode())
    rc, batch = q.next_batch()
    assert rc == 0 and len(batch) == 5
    assert _journal_records(tmp_path) == []                    # handed out, not finished
    q.next_batch()                                             # finished
    recs = _journal_records(tmp_path)
    assert [r[2] for r in recs] == [1] * 5                     # DELIVERED
    assert [r[1] for r in recs] == [(base + i) * NS + NS // 4 for i in range(5)]
    assert len({r[0] for r in recs}) == 5 and 0 not in {r[0] for r in recs}
    st.close()
    assert not list(tmp_path.glob("*.journal"))                # a clean close leaves a snapshot
    assert len(list(tmp_path.glob("*.state"))) == 1


def test_a_killed_run_resumes_from_its_journal_with_the_margin(tmp_path):
    st, _ = _open(tmp_path, margin=30)
    t0 = int(time.time()) - 100
    evs = synthetic_events(40, prefix="k")
    _deliver(st, evs, [t0 + i for i in range(40)])
    st.flush()                                                 # fsync, no close: then a SIGKILL
    st2, log = _open(tmp_path, margin=30)
    rp = st2.resume
    newest = (t0 + 39) * NS
    assert rp.newest_ns == newest and rp.begin_ns == newest - 30 * NS
    assert rp.why == "the newest event delivered"
    # the identities since the margin (and a second of slack) are kept for the replay
    assert 30 <= rp.kept <= 40
    d = Dedupe(64)
    d.preload(st2.journal, rp.begin_ns)
    seen = [dedupe_seen(d, json.loads(e)["auditID"], json.loads(e)["stage"]) for e in evs]
    assert all(seen[-30:]) and not any(seen[:9])               # older than the window: not kept
    st2.close()


def test_a_cut_last_record_is_ignored_with_one_warning(tmp_path):
    st, _ = _open(tmp_path)
    t0 = int(time.time()) - 50
    _deliver(st, synthetic_events(10, prefix="c"), [t0 + i for i in range(10)])
    j = next(tmp_path.glob("*.journal"))
    shutil.copytree(tmp_path, tmp_path / "killed")             # as SIGKILL leaves it
    killed = tmp_path / "killed"
    jk = killed / j.name
    jk.write_bytes(jk.read_bytes()[:-7])
    st2, log = _open(killed)
    assert st2.resume.newest_ns == (t0 + 8) * NS        # the 9 whole records
    assert [w for w in log.lines if "cut short" in w[1]]
    st2.close()
    st.close()


def test_an_unfinished_replay_is_replayed_again_after_a_kill(tmp_path):
    st, _ = _open(tmp_path)
    t0 = int(time.time()) - 300
    _deliver(st, synthetic_events(3, prefix="h"), [t0, t0 + 1, t0 + 2])
    hold = st.hold(int((t0 - 200) * NS))                       # a reconnect's replay begins
    shutil.copytree(tmp_path, tmp_path / "k1")
    st2, _ = _open(tmp_path / "k1")
    assert st2.resume.begin_ns == int((t0 - 200) * NS)
    assert st2.resume.why == "a replay the previous run had not finished"
    st2.close()
    st.release(hold)
    shutil.copytree(tmp_path, tmp_path / "k2")
    st3, _ = _open(tmp_path / "k2")
    assert st3.resume.begin_ns == (t0 + 2 - 60) * NS
    st3.close()
    st.close()


def test_the_journal_is_folded_into_a_new_snapshot_once_it_outgrows_it(tmp_path, monkeypatch):
    monkeypatch.setattr(state_mod, "COMPACT_MIN_BYTES", 0)
    monkeypatch.setattr(state_mod, "JOURNAL_GROWTH", 1)
    # 1 x: 20 records in the journal (480 bytes) outgrow a snapshot of 20 (320 bytes)
    st, _ = _open(tmp_path)
    t0 = time.time() - 20
    first_gen = st.gen
    evs = synthetic_events(30, prefix="f")
    _deliver(st, evs[:20], [t0 + i * 0.1 for i in range(20)])
    st.flush()
    assert st.gen == first_gen + 1 and st.durable_gen == st.gen
    assert [p.name for p in tmp_path.glob("*.journal")] == [f"ldp-{TARGET.stream_id}.{st.gen}.journal"]
    _deliver(st, evs[20:], [t0 + 2 + i * 0.1 for i in range(10)])
    shutil.copytree(tmp_path, tmp_path / "k")
    head = json.loads((tmp_path / "k" / f"ldp-{TARGET.stream_id}.state").read_bytes().split(b"\n")[0])
    assert head["records"] == 20 and head["version"] == 2 and "st4te" not in json.dumps(head)
    st2, _ = _open(tmp_path / "k")
    assert st2.resume.kept == 30                               # 20 in the snapshot + 10 journaled
    st2.close()
    st.close()


def test_a_version_1_state_is_read_once(tmp_path):
    ns = time.time_ns() - 5 * NS
    legacy = tmp_path / f"ldp-{TARGET.stream_id}.json"
    legacy.write_text(json.dumps({"version": 1, "stream": TARGET.stream_id,
                                  "newest_event_ns": ns}))
    st, log = _open(tmp_path)
    assert st.resume.begin_ns == ns - 60 * NS and "version 1" in st.resume.why
    assert not legacy.exists()                                  # replaced by the snapshot
    st.close()


@pytest.mark.parametrize("why,mutate", [
    ("another version or stream", lambda h, b: (dict(h, stream="0" * 32), b)),
    ("another version or stream", lambda h, b: (dict(h, version=3), b)),
    ("size or CRC", lambda h, b: (h, b[:-1])),
    ("size or CRC", lambda h, b: (h, bytes([b[0] ^ 1]) + b[1:])),
    ("non-negative integer", lambda h, b: (dict(h, generation=-1), b)),
    ("older than 30 days", lambda h, b: (dict(h, origin_ns=1), b)),
])
def test_a_damaged_snapshot_is_not_used(tmp_path, why, mutate):
    st, _ = _open(tmp_path)
    _deliver(st, synthetic_events(3, prefix="d"), [time.time() - 3] * 3)
    st.close()
    snap = tmp_path / f"ldp-{TARGET.stream_id}.state"
    head, body = snap.read_bytes().split(b"\n", 1)
    h, b = mutate(json.loads(head), body)
    if why.startswith("older"):          # nothing delivered: the position is the origin
        h["records"], h["crc32"], b = 0, 0, b""
    snap.write_bytes(json.dumps(h).encode() + b"\n" + b)
    st2, log = _open(tmp_path)
    assert st2.resume is None
    warns = [w for w in log.lines if "not used" in w[1]]
    assert len(warns) == 1 and why in warns[0][1] and "starting live" in warns[0][1]
    st2.close()


def test_a_journal_append_that_fails_is_reported_and_repaired(tmp_path):
    """A descriptor that refuses writes (a full or broken disk): the records stay in memory,
    the next flush warns once and writes a new snapshot with them."""
    st, _ = _open(tmp_path)
    rfd = os.open(os.devnull, os.O_RDONLY)
    old = st.journal.attach(rfd)                   # appends now fail with EBADF
    os.close(old)
    st._fd = rfd
    t0 = time.time() - 5
    _deliver(st, synthetic_events(4, prefix="e"), [t0] * 4)
    assert st.journal.errors[0] >= 1
    st.flush()
    assert [w for w in st.store.log.lines if "appending to the resume journal failed" in w[1]]
    shutil.copytree(tmp_path, tmp_path / "k")
    st2, _ = _open(tmp_path / "k")
    assert st2.resume.kept == 4
    st2.close()
    st.close()


def test_an_ldp_clock_behind_ours_keeps_what_a_restart_needs(tmp_path):
    """The first events' LDP time is far behind our clock (shippers that stamp GELF with a
    lagging event time): the start time of the run must not prune them or move the position."""
    st, _ = _open(tmp_path)
    t0 = int(time.time()) - 600
    _deliver(st, synthetic_events(5, prefix="b"), [t0 + i for i in range(5)])
    st.flush()
    st.close()
    st2, _ = _open(tmp_path)
    assert st2.resume.begin_ns == (t0 + 4 - 60) * NS and st2.resume.kept == 5
    st2.close()


def test_gelf_timestamps_place_events_in_ldps_clock():
    from k8saudit_ovh_testing.hooks import epoch_ns
    assert epoch_ns("1722841200") == 1722841200 * NS
    assert epoch_ns("1722841200.123456") == 1722841200123456000
    assert epoch_ns("1722841200.1234567891") == 1722841200123456789
    assert epoch_ns("1.7e9") == 1700000000 * NS
    for bad in ("", "0", "-5", "abc", "1e400", "12.", ".5", "99999999999", "1722841200x"):
        assert epoch_ns(bad) is None, bad
    j = Journal()
    q = EventQueue(Counters())
    f = Feeder(q, 1 << 20)
    f.set_journal(j)
    ev = synthetic_events(4, prefix="g")
    frame = json.loads(gelf_frame(ev[0], ldp_ts=1722841200.5))
    f.feed_ldp_frame(json.dumps(frame).encode())                  # a number
    g = json.loads(frame["message"])
    g.update(short_message=ev[1], timestamp="2024-08-05T07:00:01Z")
    f.feed_ldp_frame(json.dumps({"message": json.dumps(g)}).encode())   # RFC 3339 text
    del g["timestamp"]
    g["short_message"] = ev[2]
    before = time.time_ns()
    f.feed_ldp_frame(json.dumps({"message": json.dumps(g)}).encode())   # none: receive time
    q.next_batch()
    q.next_batch()
    j.fold()
    kept = j.kept()
    ns = [struct.unpack_from("<Qq", kept, i)[1] for i in range(0, len(kept), 16)]
    assert ns[:2] == [1722841200500000000, 1722841201000000000]
    assert before <= ns[2] <= time.time_ns()


def test_frames_of_a_neighbouring_chunk_are_skipped_and_late_frames_counted():
    q = EventQueue(Counters())
    f = Feeder(q, 1 << 20)
    f.set_frame_window(1000 * NS, 1010 * NS)
    f.set_late_margin(60 * NS)
    ev = synthetic_events(5, prefix="w")
    n = [f.feed_ldp_frame(gelf_frame(e, ldp_ts=t).encode())
         for e, t in zip(ev, (999.999, 1000, 1009.999, 1010, 1005))]
    assert n == [0, 1, 1, 0, 1]
    st = f.stats()
    assert st["outside"] == 2 and st["events"] == 3 and st["newest_frame_ns"] == 1009999000000
    g = Feeder(q, 1 << 20)
    g.set_late_margin(60 * NS)
    for e, t in zip(synthetic_events(3, prefix="l"), (5000, 4950, 4900)):
        g.feed_ldp_frame(gelf_frame(e, ldp_ts=t).encode())
    assert g.stats()["late"] == 1                               # 100 s behind the newest
