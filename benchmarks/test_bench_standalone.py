"""The benchmarks run on their own: `make bench` runs benchmarks/ without tests/, and the README
runs single files (`pytest -s benchmarks/test_bench_ldp.py`). Both suites share the root
conftest.py; a benchmark that imported `conftest` for the C host helpers got tests/conftest.py
only when tests/ was collected too (`make test`), and failed to import alone. The guards are
only worth something if `make bench` reaches them, so each of those command lines is collected
here, in a fresh pytest process, as `make test` (CI) runs."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTEST = "$(PY) -m pytest"


def recipe(target: str) -> list:
    """The pytest arguments of a Makefile target whose recipe is `$(PY) -m pytest ...`."""
    lines = (REPO / "Makefile").read_text().splitlines()
    at = [i for i, ln in enumerate(lines) if ln.split(":", 1)[0] == target and ":" in ln]
    assert at, f"the Makefile has no '{target}' target"
    cmd = lines[at[0] + 1].strip()
    assert cmd.startswith(PYTEST), f"make {target} runs {cmd!r}, not {PYTEST}"
    return shlex.split(cmd[len(PYTEST):])


def _collect(args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", *args, "--collect-only"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_make_test_runs_both_suites_and_make_bench_only_the_benchmarks():
    assert {"tests", "benchmarks"} <= set(recipe("test"))
    args = recipe("bench")
    assert "benchmarks" in args and "tests" not in args


@pytest.mark.parametrize("target", ["make bench"] + sorted(
    f"benchmarks/{p.name}" for p in HERE.glob("test_*.py")))
def test_collects_on_its_own(target):
    args = recipe("bench") if target == "make bench" else ["-q", "-p", "no:cacheprovider", target]
    r = _collect(args)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "error" not in r.stdout.strip().splitlines()[-1], out[-4000:]
    if target == "make bench":
        # the throughput guards are among what it runs
        for guard in ("test_bench_extract.py::test_throughput_guards",
                      "test_bench_c_host.py::test_c_host_throughput_against_dom_parse",
                      "test_bench_ldp.py::test_ldp_ingest"):
            assert guard in r.stdout, out[-4000:]
