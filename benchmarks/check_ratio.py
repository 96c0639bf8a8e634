#!/usr/bin/env python3
"""Short benchmark for CI: the cost of extracting the 33 ka.* fields the official rules use,
including the event's parse, relative to the parse alone. Exits 1 when the ratio exceeds
--max-ratio (default 4.0; the design target is 2.0), 2 when the conformance events are missing.

    python benchmarks/check_ratio.py [--max-ratio 4.0] [--rounds 15] [--iterations 3] [--all]

Each loop is timed `rounds` times, interleaved, and the fastest round counts (the one least
disturbed by other processes).
"""
import argparse
import sys

import bench_common


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-ratio", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--all", action="store_true", help="also time every spec of fields.txt")
    args = ap.parse_args(argv)
    if not bench_common.available():
        print("conformance events not found at %s" % bench_common.conformance.CONFORMANCE, file=sys.stderr)
        return 2
    m = bench_common.measure(bench_common.load_payloads(), bench_common.load_rule_specs(),
                             bench_common.load_all_specs() if args.all else None,
                             rounds=args.rounds, iterations=args.iterations)
    print(bench_common.format_report(m))
    if m["ratio"] > args.max_ratio:
        print("FAIL: ratio %.2f > %.2f" % (m["ratio"], args.max_ratio))
        return 1
    print("ok: ratio %.2f <= %.2f" % (m["ratio"], args.max_ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
