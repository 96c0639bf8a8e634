"""Shared by the extraction benchmarks and check_ratio.py: the payloads (the conformance events
in ../shared), the field sets, and one interleaved measurement of the three loops.

All loops run inside Cython without the GIL (Extractor.parse_only / Extractor.bench), with one
extract_fields call per field like Falco, a new event number per event and iteration (so each
event is parsed once, at its first field), so Python overhead does not count."""
from __future__ import annotations

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


def simdjson_parse_ns(payloads: list[bytes], iterations: int) -> int:
    """pysimdjson's full DOM parse of every payload, from Python (a reference point)."""
    import simdjson
    parser = simdjson.Parser()
    t0 = time.perf_counter_ns()
    for _ in range(iterations):
        for p in payloads:
            parser.parse(p)
    return time.perf_counter_ns() - t0


def measure(payloads: list[bytes], rule_specs: list[str], all_specs: list[str] | None = None,
            rounds: int = 7, iterations: int = 5, simdjson: bool = True) -> dict:
    """Interleaved rounds of each loop; the minimum per loop (least disturbed by the machine).
    Returns ns per event for each loop, ns per field call, events/s and the ratio
    (rule-field extraction incl. its parse) / (parse only)."""
    from k8saudit_ovh_testing.hooks import Extractor
    x = Extractor()
    n = len(payloads) * iterations
    best: dict[str, float] = {}

    def keep(name, ns):
        best[name] = min(best.get(name, float("inf")), ns / n)

    x.bench(payloads, rule_specs, 1)        # warm up: buffers reach their size
    for _ in range(rounds):
        keep("parse_only", x.parse_only(payloads, iterations))
        keep("rule_fields", x.bench(payloads, rule_specs, iterations))
        if all_specs:
            keep("all_fields", x.bench(payloads, all_specs, iterations))
        if simdjson:
            keep("pysimdjson_parse", simdjson_parse_ns(payloads, iterations))
    out = {"events": len(payloads), "payload_bytes_avg": sum(map(len, payloads)) / len(payloads),
           "rule_specs": len(rule_specs), "all_specs": len(all_specs or ())}
    for name, ns in best.items():
        out[name + "_ns_per_event"] = ns
        out[name + "_events_per_s"] = 1e9 / ns if ns else float("inf")
    out["rule_fields_ns_per_call"] = best["rule_fields"] / len(rule_specs)
    out["rule_fields_ns_per_call_after_parse"] = (best["rule_fields"] - best["parse_only"]) / len(rule_specs)
    if all_specs:
        out["all_fields_ns_per_call"] = best["all_fields"] / len(all_specs)
        out["all_fields_ns_per_call_after_parse"] = (best["all_fields"] - best["parse_only"]) / len(all_specs)
    out["ratio"] = best["rule_fields"] / best["parse_only"]
    return out


def format_report(m: dict) -> str:
    lines = ["%d events, %.0f bytes each on average" % (m["events"], m["payload_bytes_avg"])]
    rows = [("parse only (jdoc_parse, nogil loop)", "parse_only"),
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
