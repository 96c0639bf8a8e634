"""C-host benchmark: the library driven from a process without Python (tests/host/falco_host.c
`bench`: one extract_fields call per field, a new event number per event, as Falco does) over the
conformance events, for the 33 fields of the official rules and for every spec of fields.txt,
beside simdjson's C++ DOM parse of the same payloads (parse_baseline.cpp) measured in the same
run. Numbers are printed; the checks are guards.C_HOST, speed ratios, never a time."""
import json
import os
import sys
from pathlib import Path

import pytest

import bench_common
import c_host_bench
import guards

HERE = Path(__file__).resolve().parent
ITERATIONS = int(os.environ.get("K8SAUDIT_OVH_BENCH_ITERATIONS", "20"))


@pytest.fixture(autouse=True)
def _corpus():
    """Skipped (failed in CI) without the conformance corpus: see tests/conformance.py."""
    bench_common.conformance.require()


def test_c_host_throughput_against_dom_parse(native, tmp_path):
    from k8saudit_ovh import library_path
    host, base = native
    last = {}

    def measure():
        last["m"] = c_host_bench.measure(host, base, library_path(), tmp_path, iterations=ITERATIONS)
        return c_host_bench.ns_per_event(last["m"])
    speeds, ns = guards.best_speeds(guards.C_HOST, measure)
    m = last["m"]
    report = {"dom_parse_ns_per_event": round(ns["dom_parse"], 1)}
    for name, nspecs in (("rule_fields", 33), ("all_specs", len(bench_common.load_all_specs()))):
        r = m[name]["run"]
        report[name] = {"events_per_s": round(1e9 / ns[name]), "ns_per_event": round(ns[name], 1),
                        "ns_per_field_call": round(ns[name] / nspecs, 2),
                        "ratio_to_dom_parse": round(ns[name] / ns["dom_parse"], 2)}
        assert r["field_calls"] == nspecs * r["events"], r
    print("\nC-host benchmark:", json.dumps(report, indent=2), file=sys.stderr)
    print(guards.report(guards.C_HOST, speeds), file=sys.stderr)
    (HERE / ".c-host-bench.json").write_text(json.dumps(report, indent=2))
    assert guards.failures(guards.C_HOST, speeds) == []
