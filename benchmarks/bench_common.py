"""Shared by the extraction benchmarks and check_ratio.py: the payloads (the conformance events
in ../shared), the field sets, and one interleaved measurement of the loops.

Our loops run inside Cython without the GIL (Extractor.parse_only / Extractor.bench), with one
extract_fields call per field like Falco, a new event number per event (so each event is
parsed once, at its first field), so Python overhead does not count. The baselines are
simdjson's DOM parse in C++ (parse_baseline.cpp, another process) and pysimdjson's parse from a
Python loop; guards.py compares them."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import conformance  # noqa: E402

RULE_FIELDS_FILE = HERE / "rule_fields.txt"


def available() -> bool:
    return conformance.available()


def load_payloads() -> list[bytes]:
    return conformance.load_events()


def load_rule_specs() -> list[str]:
    """The 33 ka.* field specs the official k8s_audit_rules.yaml uses."""
    return [line.strip() for line in RULE_FIELDS_FILE.read_text().splitlines() if line.strip()]


def load_all_specs() -> list[str]:
    return conformance.load_specs(include_fixed=True)


def simdjson_parse_ns(payloads: list[bytes], iterations: int = 1, parser=None) -> int:
    """pysimdjson's full DOM parse of every payload, from Python (the baseline the project does
    not control)."""
    import simdjson
    parser = parser or simdjson.Parser()
    t0 = time.perf_counter_ns()
    for _ in range(iterations):
        for p in payloads:
            parser.parse(p)
    return time.perf_counter_ns() - t0


@contextlib.contextmanager
def one_cpu():
    """The measuring thread, and the processes it starts meanwhile, on one CPU: a ratio
    between two loops means something only if both ran on the same core (on a VM, one vCPU
    can be slowed for seconds by its host's neighbours while the other is not)."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


# Events per timed chunk: a chunk takes 10-100 us, short enough that most runs of it are not
# preempted on a loaded 2-core machine; the fastest of the rounds is kept per chunk.
CHUNK = 32


def measure(payloads: list[bytes], rule_specs: list[str], all_specs: list[str] | None = None,
            rounds: int = 15, simdjson: bool = True, dom_parse=None) -> dict:
    """Interleaved rounds of each loop over the payloads in chunks of CHUNK events; per loop,
    the sum over chunks of the fastest round (one pass the machine did not disturb).
    dom_parse: a callable giving simdjson's C++ DOM parse in ns per event (another process,
    c_host_bench.dom_parse_ns), run once per round; the fastest counts.
    Returns ns per event for each loop, ns per field call, events/s and the ratio
    (rule-field extraction incl. its parse) / (parse only)."""
    from k8saudit_ovh._extract import Extractor
    x = Extractor()
    chunks = [payloads[i:i + CHUNK] for i in range(0, len(payloads), CHUNK)]
    loops = {"parse_only": lambda c: x.parse_only(c, 1),
             "rule_fields": lambda c: x.bench(c, rule_specs, 1)}
    if all_specs:
        loops["all_fields"] = lambda c: x.bench(c, all_specs, 1)
    if simdjson:
        import simdjson as pysimdjson
        parser = pysimdjson.Parser()
        loops["pysimdjson_parse"] = lambda c: simdjson_parse_ns(c, 1, parser)
    best = {name: [float("inf")] * len(chunks) for name in loops}

    dom = float("inf")

    with one_cpu():
        x.bench(payloads, rule_specs, 1)        # warm up: buffers reach their size
        for _ in range(rounds):
            for name, fn in loops.items():
                b = best[name]
                for i, c in enumerate(chunks):
                    b[i] = min(b[i], fn(c))
            if dom_parse:
                dom = min(dom, dom_parse())
    out = {"events": len(payloads), "payload_bytes_avg": sum(map(len, payloads)) / len(payloads),
           "rule_specs": len(rule_specs), "all_specs": len(all_specs or ())}
    ns_event = {name: sum(b) / len(payloads) for name, b in best.items()}
    if dom_parse:
        ns_event["dom_parse"] = dom
    for name, ns in ns_event.items():
        out[name + "_ns_per_event"] = ns
        out[name + "_events_per_s"] = 1e9 / ns if ns else float("inf")
    out["rule_fields_ns_per_call"] = ns_event["rule_fields"] / len(rule_specs)
    out["rule_fields_ns_per_call_after_parse"] = (ns_event["rule_fields"] - ns_event["parse_only"]) / len(rule_specs)
    if all_specs:
        out["all_fields_ns_per_call"] = ns_event["all_fields"] / len(all_specs)
        out["all_fields_ns_per_call_after_parse"] = (ns_event["all_fields"] - ns_event["parse_only"]) / len(all_specs)
    out["ratio"] = ns_event["rule_fields"] / ns_event["parse_only"]
    return out


def ns_per_event(m: dict) -> dict:
    """{loop: ns per event} of a measure() result (what guards.py reads)."""
    suffix = "_ns_per_event"
    return {k[:-len(suffix)]: v for k, v in m.items() if k.endswith(suffix)}


def format_report(m: dict) -> str:
    lines = ["%d events, %.0f bytes each on average" % (m["events"], m["payload_bytes_avg"])]
    rows = [("simdjson DOM parse (C++, parse_baseline)", "dom_parse"),
            ("parse only (jdoc_parse, nogil loop)", "parse_only"),
            ("pysimdjson Parser.parse (Python loop)", "pysimdjson_parse"),
            ("%d rule fields, incl. parse" % m["rule_specs"], "rule_fields"),
            ("%d fields.txt specs, incl. parse" % m["all_specs"], "all_fields")]
    for label, key in rows:
        if key + "_ns_per_event" in m:
            lines.append("  %-40s %9.0f ns/event %12.0f events/s" % (label, m[key + "_ns_per_event"],
                                                                      m[key + "_events_per_s"]))
    lines.append("  rule fields: %.1f ns per field call (%.1f ns after the parse)"
                 % (m["rule_fields_ns_per_call"], m["rule_fields_ns_per_call_after_parse"]))
    if "all_fields_ns_per_call" in m:
        lines.append("  all specs:   %.1f ns per field call (%.1f ns after the parse)"
                     % (m["all_fields_ns_per_call"], m["all_fields_ns_per_call_after_parse"]))
    lines.append("  ratio (rule-field extraction incl. parse) / (parse only) = %.2f" % m["ratio"])
    return "\n".join(lines)
