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
    rnd = random.Random(20261127)
    out = []
    for line in conformance.load_events()[:80]:
        out.append(line[:rnd.randrange(1, len(line))])                 # truncated
        b = bytearray(line)
        for _ in range(4):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        out.append(bytes(b).replace(b"\n", b" ").replace(b"\r", b" "))  # byte flips
        out.append(line)
    out += [b"[" * 5000 + b"]" * 5000,
            b'{"auditID":"x","requestObject":' + b"[" * 3000 + b"]" * 3000 + b"}",
            b'{"auditID":"\xff\xfe","verb":"get","user":{"username":"\xc3"}}',
            b'{"auditID":"a","requestURI":"/x?command=%zz&a=1;b=2","user":{"groups":7}}',
            b"{}", b"null", b"[1,2,3]", b'"just a string"', b'{"auditID":null}']
    path = tmp_path_factory.mktemp("hostile") / "hostile.jsonl"
    path.write_bytes(b"\n".join(x for x in out if x.strip()) + b"\n")
    return str(path)


def _args(lib, events):
    return [lib, "extract", "--events", events, "--fields-file",
            str(conformance.path("fields.txt"))]


def test_hostile_payloads_under_valgrind(c_host, plugin_lib, run_host, hostile):
    vg = shutil.which("valgrind")
    assert vg, "valgrind is required (apt-get install valgrind)"
    rc, out, err = run_host([vg, "--error-exitcode=9", "--leak-check=full",
                             "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
                             f"--suppressions={SUPP}", c_host, *_args(plugin_lib, hostile)],
                            env={"PYTHONMALLOC": "malloc"}, timeout=900)
    assert rc == 0, err[-4000:]
    assert "ERROR SUMMARY: 0 errors" in err
    assert len(out) == sum(1 for line in open(hostile, "rb") if line.strip())


def test_hostile_payloads_under_asan(c_host_asan, plugin_lib, run_host, hostile):
    rc, out, err = run_host([c_host_asan, *_args(plugin_lib, hostile), "--threads", "2"],
                            env=ASAN_ENV, timeout=900)
    assert rc == 0, err[-4000:]
    # Intact events among the hostile ones still give their reference values.
    assert any(rec["values"] for rec in out)
