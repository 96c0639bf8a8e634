#!/usr/bin/env python3
"""The CI throughput guards from the command line: our parse, the 33 rule fields and every
spec of fields.txt inside the extension, and (--c-host) the same through the Falco-like C host,
each against simdjson's C++ DOM parse measured in the same run (benchmarks/guards.py).
One measurement, no retry (the tests retry a failed guard up to 3 times). Exits 1 when a
guard fails, 2 when the conformance events are missing.

    python benchmarks/check_ratio.py [--rounds 15] [--c-host]
"""
import argparse
import sys
import tempfile
from pathlib import Path

import bench_common
import c_host_bench
import guards


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--c-host", action="store_true", help="also run the C-host guards")
    args = ap.parse_args(argv)
    if not bench_common.available():
        print("conformance events not found at %s" % bench_common.conformance.CONFORMANCE, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        host, dom = c_host_bench.build(Path(tmp))
        m = bench_common.measure(bench_common.load_payloads(), bench_common.load_rule_specs(),
                                 bench_common.load_all_specs(), rounds=args.rounds,
                                 dom_parse=lambda: c_host_bench.dom_parse_ns(dom))
        ns = bench_common.ns_per_event(m)
        speeds = {g.name: g.speed(ns) for g in guards.EXTENSION}
        print(bench_common.format_report(m))
        print(guards.report(guards.EXTENSION, speeds))
        failed = guards.failures(guards.EXTENSION, speeds)
        base = guards.baseline_failure(ns)
        failed += [base] if base else []
        if args.c_host:
            from k8saudit_ovh import library_path
            c = c_host_bench.ns_per_event(c_host_bench.measure(host, dom, library_path(), Path(tmp)))
            speeds = {g.name: g.speed(c) for g in guards.C_HOST}
            print("C host:")
            print(guards.report(guards.C_HOST, speeds))
            failed += guards.failures(guards.C_HOST, speeds)
    for msg in failed:
        print("FAIL:", msg)
    if failed:
        return 1
    print("ok: every guard above its floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
