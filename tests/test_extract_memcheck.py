"""Hostile payloads through the real library in a process without Python, under valgrind
(memcheck + leak check) and under the ASan/UBSan host: truncated and byte-flipped real events,
deep nesting, invalid UTF-8, non-objects. Every field spec of fields.txt is asked for each."""
import random
import shutil
from pathlib import Path

import pytest

import conformance

SUPP = Path(__file__).resolve().parent / "host" / "valgrind-cpython.supp"
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=86",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(path, {host event number: conformance event number} of the intact events in it)."""
    rnd = random.Random(20261127)
    out, intact = [], {}
    for n, line in enumerate(conformance.load_events()[:80], 1):
        out.append(line[:rnd.randrange(1, len(line))])                 # truncated
        b = bytearray(line)
        for _ in range(4):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        out.append(bytes(b).replace(b"\n", b" ").replace(b"\r", b" "))  # byte flips
        out.append(line)
        intact[len(out)] = n
    out += [b"[" * 5000 + b"]" * 5000,
            b'{"auditID":"x","requestObject":' + b"[" * 3000 + b"]" * 3000 + b"}",
            b'{"auditID":"\xff\xfe","verb":"get","user":{"username":"\xc3"}}',
            b'{"auditID":"a","requestURI":"/x?command=%zz&a=1;b=2","user":{"groups":7}}',
            b"{}", b"null", b"[1,2,3]", b'"just a string"', b'{"auditID":null}']
    assert all(x.strip() for x in out)      # one host event per entry: the numbers hold
    path = tmp_path_factory.mktemp("hostile") / "hostile.jsonl"
    path.write_bytes(b"\n".join(out) + b"\n")
    return str(path), intact


def _assert_intact_events_match_reference(out, intact):
    """Hostile neighbours must not change what an intact event gives."""
    got = {rec["event"]: rec["values"] for rec in out}
    by_conformance = {n: got[k] for k, n in intact.items()}
    mismatches = conformance.compare(lambda n, payload, specs: by_conformance[n],
                                     event_numbers=sorted(by_conformance))
    assert not mismatches, conformance.report(mismatches)
    # the comparison saw values, not only "no value" on both sides
    assert sum(len(v) for v in by_conformance.values()) > len(by_conformance)


def _args(lib, events):
    return [lib, "extract", "--events", events, "--fields-file",
            str(conformance.CONFORMANCE / "fields.txt")]


def test_hostile_payloads_under_valgrind(c_host, plugin_lib, run_host, hostile):
    hostile, intact = hostile
    vg = shutil.which("valgrind")
    assert vg, "valgrind is required (apt-get install valgrind)"
    rc, out, err = run_host([vg, "--error-exitcode=9", "--leak-check=full",
                             "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
                             f"--suppressions={SUPP}", c_host, *_args(plugin_lib, hostile)],
                            env={"PYTHONMALLOC": "malloc"}, timeout=900)
    assert rc == 0, err[-4000:]
    assert "ERROR SUMMARY: 0 errors" in err
    assert len(out) == sum(1 for line in open(hostile, "rb") if line.strip())
    _assert_intact_events_match_reference(out, intact)


def test_hostile_payloads_under_asan(c_host_asan, plugin_lib, run_host, hostile):
    hostile, intact = hostile
    rc, out, err = run_host([c_host_asan, *_args(plugin_lib, hostile), "--threads", "2"],
                            env=ASAN_ENV, timeout=900)
    assert rc == 0, err[-4000:]
    assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
    assert len(out) == sum(1 for line in open(hostile, "rb") if line.strip())
    _assert_intact_events_match_reference(out, intact)
