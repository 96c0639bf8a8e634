"""C-host benchmark: the library driven from a process without Python (tests/host/falco_host.c
`bench`: one extract_fields call per field, a new event number per event, as Falco does) over the
conformance events, for the 33 fields of the official rules and for every spec of fields.txt,
beside a parse-only baseline (simdjson DOM parse of the same payloads, parse_baseline.cpp)
measured in the same run. Numbers are printed; the check is a ratio, never a time."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bench_common

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ROUNDS = 7
# The 4x CI guard of the issue is benchmarks/test_bench_extract.py::test_ratio (extraction
# against the parse, both inside the extension). Here the host's own per-call work (building
# the request, strlen of results: what libsinsp does too) is inside the timed loop and not in
# the baseline, so this bound only catches gross regressions of the end-to-end path.
END_TO_END_BOUND = 6.0
ITERATIONS = int(os.environ.get("K8SAUDIT_OVH_BENCH_ITERATIONS", "20"))



@pytest.fixture(autouse=True)
def _corpus():
    """Skipped (failed in CI) without the conformance corpus: see tests/conformance.py."""
    bench_common.conformance.require()


def _cc(args, out):
    r = subprocess.run(args + ["-o", str(out)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return str(out)


@pytest.fixture(scope="module")
def binaries(tmp_path_factory):
    import simdjson
    d = tmp_path_factory.mktemp("cbench")
    sj = Path(simdjson.__file__).parent
    host = _cc(["cc", "-O2", "-std=c11", "-Iinclude", "tests/host/falco_host.c", "-ldl", "-lpthread"],
               d / "falco_host")
    base = _cc(["c++", "-O3", "-std=c++17", f"-I{sj}", str(HERE / "parse_baseline.cpp"),
                str(sj / "simdjson.cpp")], d / "parse_baseline")
    return host, base


def _run(cmd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_c_host_throughput_against_parse_only(binaries, tmp_path):
    from k8saudit_ovh import library_path
    host, base = binaries
    events = str(bench_common.conformance.path("events.jsonl"))
    rule = tmp_path / "rule.txt"
    rule.write_text("\n".join(bench_common.load_rule_specs()) + "\n")
    every = tmp_path / "all.txt"
    every.write_text("\n".join(bench_common.load_all_specs()) + "\n")
    best = {}
    for _ in range(ROUNDS):      # interleaved rounds; the fastest of each loop counts
        for name, cmd in (
            ("parse_only", [base, events, str(ITERATIONS)]),
            ("rule_fields", [host, library_path(), "bench", "--events", events, "--fields-file", str(rule),
                             "--iterations", str(ITERATIONS)]),
            ("all_specs", [host, library_path(), "bench", "--events", events, "--fields-file", str(every),
                           "--iterations", str(ITERATIONS)]),
        ):
            r = _run(cmd)
            if name not in best or r["seconds"] < best[name]["seconds"]:
                best[name] = r
    parse_ns = best["parse_only"]["ns_per_event"]
    report = {"parse_only_ns_per_event": round(parse_ns, 1)}
    for name, nspecs in (("rule_fields", 33), ("all_specs", len(bench_common.load_all_specs()))):
        r = best[name]
        ns_event = r["seconds"] * 1e9 / r["events"]
        report[name] = {"events_per_s": round(r["events_per_s"]), "ns_per_event": round(ns_event, 1),
                        "ns_per_field_call": round(r["ns_per_field_call"], 2),
                        "ratio_to_parse_only": round(ns_event / parse_ns, 2)}
    print("\nC-host benchmark:", json.dumps(report, indent=2), file=sys.stderr)
    (HERE / ".c-host-bench.json").write_text(json.dumps(report, indent=2))
    assert best["rule_fields"]["field_calls"] == 33 * best["rule_fields"]["events"]
    assert report["rule_fields"]["ratio_to_parse_only"] <= END_TO_END_BOUND, report
