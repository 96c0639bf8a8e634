"""Fatal source errors as Falco sees them: the real library in the Falco-like C host (no Python
in the process) must end the capture with next_batch = FAILURE, after delivering what it had,
and get_last_error must say what failed and where. Also the rule between the state's errors
(the newest one wins over an earlier extraction failure's text), the file source's edge cases
(empty open_params, a directory, oversize lines) and the queue's byte limit.

A read error is made real by a directory entry that links to /proc/self/mem: opening it works,
reading offset 0 of the reading process fails with EIO. The reader thread crashes for real too:
with a MemoryError, on a document larger than the address space the host runs with.
"""
from __future__ import annotations

import calendar
import errno
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared helpers
from conftest import host_env  # noqa: E402

# How long the host may wait for a FAILURE before it reports the end "TIME": a plugin that
# turns a fatal error into TIMEOUT never ends the capture, and this makes that a test failure.
MAX_SECONDS = "30"
OLD = 946684800  # 2000-01-01: mtime of the file read first


def audit_line(i: int, **extra) -> str:
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
          "auditID": f"fail-{i:04d}", "stage": "ResponseComplete", "verb": "get",
          "requestURI": f"/api/v1/pods/p{i}", "user": {"username": "u", "groups": ["g"]},
          "stageTimestamp": f"2024-05-01T10:00:{i % 60:02d}.5Z"}
    ev.update(extra)
    return json.dumps(ev, separators=(",", ":"))


def _replay(c_host, lib, *args, env=None, timeout=120):
    r = subprocess.run([c_host, lib, "replay", *args], env=host_env(env), capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    out = [json.loads(line) for line in r.stdout.split("\n") if line.strip()]
    return r.returncode, out, r.stderr


def _batch_failure(err: str) -> str:
    """The get_last_error text the host printed after next_batch returned FAILURE."""
    marker = "falco_host: ERROR: plugin_next_batch failed: "
    assert marker in err, err[-3000:]
    return err.split(marker, 1)[1].splitlines()[0]


def _payloads(out):
    return [rec["payload"] for rec in out if "payload" in rec]


@pytest.fixture(scope="module")
def proc_mem_gives_eio():
    try:
        with open("/proc/self/mem", "rb") as f:
            f.read(1)
    except OSError as exc:
        assert exc.errno == errno.EIO, exc
        return
    pytest.fail("reading /proc/self/mem at offset 0 did not fail: no way to make a read error")


@pytest.fixture()
def unreadable_dir(tmp_path, proc_mem_gives_eio):
    """A directory: a.jsonl (3 events, read first) then b.jsonl, whose read fails (EIO)."""
    d = tmp_path / "audit"
    d.mkdir()

    def make(lines):
        a = d / "a.jsonl"
        a.write_text("".join(line + "\n" for line in lines))
        os.utime(a, (OLD, OLD))
        os.symlink("/proc/self/mem", d / "b.jsonl")
        return d, lines
    return make


# ---- fatal errors end the capture with FAILURE ------------------------------------------------

def test_read_error_ends_the_capture_after_the_delivered_events(c_host, plugin_lib, unreadable_dir):
    d, lines = unreadable_dir([audit_line(i) for i in range(3)])
    rc, out, err = _replay(c_host, plugin_lib, "--open", str(d), "--max-seconds", MAX_SECONDS)
    assert rc == 1, (rc, out[-1:], err[-2000:])
    assert _batch_failure(err) == (
        f"k8saudit-ovh: error reading audit log '{d / 'b.jsonl'}': Input/output error")
    assert _payloads(out) == lines                  # nothing lost before the failure
    assert not [rec for rec in out if "end" in rec]


def test_newest_error_wins_over_an_extraction_failure(c_host, plugin_lib, unreadable_dir):
    # ka.user.groups of a non-array fails; the last extraction before the FAILURE fails.
    d, lines = unreadable_dir([audit_line(i, user={"username": "u", "groups": 7}) for i in range(3)])
    rc, out, err = _replay(c_host, plugin_lib, "--open", str(d), "--max-seconds", MAX_SECONDS,
                           "--field", "ka.user.groups", "--field", "ka.user.name")
    assert rc == 1, (rc, out[-1:], err[-2000:])
    assert _batch_failure(err) == (
        f"k8saudit-ovh: error reading audit log '{d / 'b.jsonl'}': Input/output error")
    assert [rec["values"] for rec in out] == [{"ka.user.name": ["u"]}] * 3


def _capped(limit):
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return cap


def _replay_capped(c_host, lib, *args):
    r = subprocess.run([c_host, lib, "replay", *args], env=host_env(), capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL, preexec_fn=_capped(AS_LIMIT))
    return r.returncode, [json.loads(line) for line in r.stdout.split("\n") if line.strip()], r.stderr


# An address-space limit that the host and the plugin run in with room to spare (they need
# under 128 MiB), far below what the documents below would take.
AS_LIMIT = 384 << 20


def test_crashed_reader_thread_ends_the_capture(c_host, plugin_lib, tmp_path):
    # Anything but an OSError in the reader thread ends the source too: here a MemoryError,
    # from a multi-line document (a sparse file: "[" then 700 MiB of NUL bytes) that does not
    # fit in the process.
    d = tmp_path / "audit"
    d.mkdir()
    lines = [audit_line(i) for i in range(2)]
    (d / "a.jsonl").write_text("".join(line + "\n" for line in lines))
    os.utime(d / "a.jsonl", (OLD, OLD))
    with open(d / "b.json", "wb") as f:
        f.write(b"[\n")
        f.truncate(700 << 20)
    rc, out, err = _replay_capped(c_host, plugin_lib, "--open", str(d), "--max-seconds", MAX_SECONDS)
    assert rc == 1, (rc, out[-1:], err[-2000:])
    assert _batch_failure(err) == f"k8saudit-ovh: file reader failed on '{d / 'b.json'}': MemoryError"
    assert _payloads(out) == lines


def test_small_document_under_an_address_space_limit(c_host, plugin_lib, tmp_path):
    """A pretty-printed EventList is read whole; reading it must not reserve the 1 GiB
    document limit (which failed with a MemoryError under RLIMIT_AS)."""
    items = [json.loads(audit_line(i)) for i in range(2)]
    doc = tmp_path / "list.json"
    doc.write_text(json.dumps({"kind": "EventList", "items": items}, indent=2))
    rc, out, err = _replay_capped(c_host, plugin_lib, "--open", str(doc), "--max-seconds", MAX_SECONDS)
    assert rc == 0, err[-2000:]
    assert _payloads(out) == [json.dumps(e, separators=(",", ":")) for e in items]
    assert out[-1]["end"] == "EOF"


# ---- the same rule in one plugin state, through the in-process host ---------------------------

BAD_GROUPS = audit_line(1, user={"username": "u", "groups": 7}).encode()


def test_error_precedence_in_one_state(plugin_lib, tmp_path):
    from k8saudit_ovh_cli.host import PluginError, PluginLibrary

    lib = PluginLibrary(plugin_lib)
    missing = tmp_path / "missing.jsonl"
    with lib.init("") as state:
        assert state.extract(BAD_GROUPS, 1, ["ka.user.groups"]) == {}
        assert state.last_error() == "wrong JSON type for the field"
        with pytest.raises(PluginError) as e:          # open's error supersedes it
            state.open(str(missing))
        assert str(e.value) == f"k8saudit-ovh: cannot open audit log '{missing}': No such file or directory"
        assert state.last_error() == str(e.value)
        assert state.extract(BAD_GROUPS, 2, ["ka.user.groups"]) == {}
        assert state.last_error() == "wrong JSON type for the field"   # and the newest wins again


def test_crashed_reader_in_process(plugin_lib, tmp_path, monkeypatch):
    from k8saudit_ovh import filesource
    from k8saudit_ovh_cli.host import PluginError, PluginLibrary

    def crash(self, f):
        raise MemoryError()
    monkeypatch.setattr(filesource.FileSource, "_read", crash)
    src = tmp_path / "a.jsonl"
    src.write_text(audit_line(1) + "\n")
    lib = PluginLibrary(plugin_lib)
    with lib.init("") as state:
        with state.open(str(src)) as inst:
            with pytest.raises(PluginError) as e:
                for _ in range(1000):       # TIMEOUTs until the thread has failed
                    inst.next_batch()
            assert str(e.value) == f"k8saudit-ovh: file reader failed on '{src}': MemoryError"
            with pytest.raises(PluginError):   # the failure stays: never EOF afterwards
                inst.next_batch()


# ---- the queue: fail, finish, byte limit ------------------------------------------------------

SUCCESS, FAILURE, TIMEOUT, EOF = 0, 1, -1, 6


def _queue(**kw):
    from k8saudit_ovh._ingest import Counters, EventQueue, Feeder
    q = EventQueue(Counters(), **kw)
    return q, Feeder(q, 1 << 20)


def test_queue_fail_delivers_queued_events_then_failure():
    q, feeder = _queue()
    for i in range(3):
        assert feeder.feed(audit_line(i).encode()) == 1
    q.fail("k8saudit-ovh: the source broke")
    q.finish()                       # what the reader's finally does: FAILURE still wins
    rc, evs = q.next_batch()
    assert rc == SUCCESS and [p for _, p in evs] == [audit_line(i).encode() for i in range(3)]
    assert q.next_batch() == (FAILURE, [])
    assert q.next_batch() == (FAILURE, [])


def test_queue_byte_limit_blocks_the_producer_until_drained():
    size = len(audit_line(0)) + 38          # plugin event: 38-byte header + payload
    q, feeder = _queue(max_events=1000, max_bytes=5 * size + size // 2)
    done = []

    def produce():
        for i in range(12):
            feeder.feed(audit_line(i).encode())
        done.append(True)
    t = threading.Thread(target=produce, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while len(q) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    t.join(1.0)
    assert len(q) == 5 and t.is_alive() and not done   # 5 fit; the 6th waits for room
    got = []
    while len(got) < 12 and time.monotonic() < deadline:
        rc, evs = q.next_batch()
        assert rc in (SUCCESS, TIMEOUT)
        assert len(evs) <= 5
        got += [p for _, p in evs]
    t.join(30)
    assert got == [audit_line(i).encode() for i in range(12)] and done


def test_queue_admits_one_event_larger_than_the_byte_limit():
    q, feeder = _queue(max_bytes=100)
    big = audit_line(1, annotations={"pad": "x" * 500}).encode()
    t = threading.Thread(target=feeder.feed, args=(big,), daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "an event larger than the byte limit must not block an empty queue"
    ts = (calendar.timegm((2024, 5, 1, 10, 0, 1)) * 10**9) + 500_000_000
    assert q.next_batch() == (SUCCESS, [(ts, big)])


# ---- file source edge cases through the C host ------------------------------------------------

@pytest.mark.parametrize("params", ["", "   "], ids=["empty", "blank"])
def test_empty_open_params(c_host, plugin_lib, params):
    rc, out, err = _replay(c_host, plugin_lib, "--open", params, "--expect-open-fail")
    assert rc == 0, err
    assert out == [{"open_error": "k8saudit-ovh: open_params is empty: give an LDP WebSocket "
                                  "address (wss://<cluster>.logs.ovh.com/tail/?tk=<token>) or an "
                                  "audit log file path"}]


def test_directory_is_read_in_modification_time_order(c_host, plugin_lib, tmp_path):
    d = tmp_path / "logs"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "z.jsonl").write_text(audit_line(99) + "\n")   # not descended into
    names = {"c.jsonl": (0, 1), "a.jsonl": (2, 3), "b.jsonl": (4, 5), "empty.jsonl": ()}
    for t, (name, ids) in enumerate(names.items()):
        p = d / name
        p.write_text("".join(audit_line(i) + "\n" for i in ids))
        os.utime(p, (OLD + t, OLD + t))
    rc, out, err = _replay(c_host, plugin_lib, "--open", str(d), "--max-seconds", MAX_SECONDS)
    assert rc == 0, err
    assert _payloads(out) == [audit_line(i) for i in range(6)]
    assert out[-1]["end"] == "EOF" and out[-1]["metrics"]["events_delivered"] == 6


def test_empty_directory_is_eof(c_host, plugin_lib, tmp_path):
    rc, out, err = _replay(c_host, plugin_lib, "--open", str(tmp_path), "--max-seconds", MAX_SECONDS)
    assert rc == 0, err
    assert len(out) == 1 and out[0]["end"] == "EOF" and out[0]["events"] == 0


def test_fifo_without_a_writer_is_empty_not_a_hang(c_host, plugin_lib, tmp_path):
    # A plain open() of a FIFO waits for a writer: plugin_open would hang Falco's start.
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    rc, out, err = _replay(c_host, plugin_lib, "--open", str(fifo), "--max-seconds", MAX_SECONDS,
                           timeout=60)
    assert rc == 0, err
    assert out[-1]["end"] == "EOF" and out[-1]["events"] == 0, out


def _sized(i: int, size: int) -> str:
    base = audit_line(i, annotations={"pad": ""})
    line = audit_line(i, annotations={"pad": "x" * (size - len(base))})
    assert len(line) == size
    return line


def test_oversize_lines_are_skipped_and_counted(c_host, plugin_lib, tmp_path):
    limit = 2000
    at_limit, over, far_over = _sized(1, limit), _sized(2, limit + 1), _sized(3, 10 * limit)
    small = [audit_line(i) for i in (10, 11, 12)]
    src = tmp_path / "mixed.jsonl"
    # the last line has no newline: it ends at EOF
    src.write_text("\n".join([small[0], over, at_limit, far_over, small[1], small[2], far_over]))
    cfg = json.dumps({"maxEventSize": limit, "webhookMaxBatchSize": limit})
    rc, out, err = _replay(c_host, plugin_lib, "--config", cfg, "--open", str(src),
                           "--max-seconds", MAX_SECONDS)
    assert rc == 0, err
    assert _payloads(out) == [small[0], at_limit, small[1], small[2]]
    m = out[-1]["metrics"]
    assert out[-1]["end"] == "EOF" and m["dropped_oversize"] == 3, m
    assert sum(v for k, v in m.items() if k.startswith("dropped_")) == 3, m


# NaN and Infinity are not JSON: Falco (and the C host) refuse them before plugin_init;
# test_config.py checks that config.py refuses them too, for other hosts. Values are checked by
# the Python config code, which runs when CPython starts: at the first open (plugin_init only
# checks that the config is a JSON object), before the open params are looked at.
@pytest.mark.parametrize("config,key", [
    ('{"maxEventSize":1e400}', "maxEventSize"),
    ('{"maxEventSize":67108865}', "maxEventSize"),
    ('{"ldpStatsInterval":1e999}', "ldpStatsInterval"),
])
def test_infinite_and_too_large_config_fails_first_open(c_host, plugin_lib, config, key):
    rc, out, err = _replay(c_host, plugin_lib, "--config", config, "--open", "/nonexistent",
                           "--expect-open-fail")
    assert rc == 0, err
    assert len(out) == 1 and f"'{key}'" in out[0]["open_error"], out
