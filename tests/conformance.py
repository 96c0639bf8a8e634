"""Comparison of extracted ka.* values with the reference answers of k8saudit 0.18.0.

The data lives outside the repository, in ../shared beside it (never copied here; the
environment variable K8SAUDIT_OVH_SHARED names another place): conformance/events.jsonl (one
audit event a line, 985 real events), conformance/fields.txt (the field specs),
conformance/expected.jsonl (line N: what the reference returned for event N; an absent spec
means "no value"), and spec/fields.json (the reference plugin's field list).

Without it, every test that needs it is skipped with one line saying what is missing and where
it is expected (`require`). CI sets K8SAUDIT_OVH_REQUIRE_SHARED=1: the skip becomes a failure,
so that CI always runs them.

`compare(extract)` drives any extractor: `extract(evtnum, payload, specs)` must return
{spec: [values]} for one event (specs without a value may be absent or map to []). The Python
`Extractor` and the C host both plug in here.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import pytest

SHARED = Path(os.environ.get("K8SAUDIT_OVH_SHARED") or Path(__file__).resolve().parents[2] / "shared")
CONFORMANCE = SHARED / "conformance"
NEEDED = ("conformance/events.jsonl", "conformance/fields.txt", "conformance/expected.jsonl",
          "spec/fields.json")
REQUIRE_ENV = "K8SAUDIT_OVH_REQUIRE_SHARED"
SKIP_PREFIX = "needs the shared spec and conformance corpus"

Extract = Callable[[int, bytes, list], dict]


def available() -> bool:
    return all((SHARED / n).is_file() for n in NEEDED)


def require() -> Path:
    """SHARED, or skip the calling test (fail it when REQUIRE_ENV is set) with one line that
    says what is missing and where. The message is the same for every test, so that pytest's
    skip summary folds them into a single line."""
    if available():
        return SHARED
    msg = (f"{SKIP_PREFIX} ({', '.join(NEEDED)}), expected in {SHARED} "
           "(../shared beside the repository, or set K8SAUDIT_OVH_SHARED)")
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{REQUIRE_ENV} is set: {msg}", pytrace=False)
    pytest.skip(msg)


def path(name: str) -> Path:
    """A file of the conformance corpus (the calling test is skipped when it is missing)."""
    return require() / "conformance" / name


def is_fixed_spec(spec: str) -> bool:
    """Specs where this project deliberately fixes a reference bug: not in expected.jsonl."""
    return spec.startswith("ka.sourceips") or ".eff_run_as_" in spec


def load_events() -> list[bytes]:
    """Payloads, byte for byte as in events.jsonl (line N = event N)."""
    with open(path("events.jsonl"), "rb") as fh:
        return [line.rstrip(b"\r\n") for line in fh if line.strip()]


def load_specs(include_fixed: bool = False) -> list[str]:
    with open(path("fields.txt"), encoding="utf-8") as fh:
        specs = [line.strip() for line in fh if line.strip()]
    return specs if include_fixed else [s for s in specs if not is_fixed_spec(s)]


def load_expected() -> list[dict]:
    """Line N: {spec: [values]} for event N."""
    out = []
    with open(path("expected.jsonl"), encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            rec = json.loads(line)
            if rec["event"] != n:
                raise ValueError(f"expected.jsonl line {n} is about event {rec['event']}")
            out.append(rec["values"])
    return out


@dataclass
class Mismatch:
    event: int
    spec: str
    expected: Optional[list]
    got: Optional[list]

    def __str__(self) -> str:
        return f"event {self.event} {self.spec}: expected {self.expected!r}, got {self.got!r}"


def compare(extract: Extract, events: Optional[list[bytes]] = None, specs: Optional[list[str]] = None,
            expected: Optional[list[dict]] = None, event_numbers: Optional[Iterable[int]] = None
            ) -> list[Mismatch]:
    """Every mismatch between extract() and the reference, in event then spec order.
    None stands for "no value" (an absent spec)."""
    events = load_events() if events is None else events
    specs = load_specs() if specs is None else specs
    expected = load_expected() if expected is None else expected
    if len(events) != len(expected):
        raise ValueError(f"{len(events)} events but {len(expected)} expected lines")
    numbers = range(1, len(events) + 1) if event_numbers is None else event_numbers
    out = []
    for n in numbers:
        got = extract(n, events[n - 1], specs)
        want = expected[n - 1]
        for spec in specs:
            e = want.get(spec) or None
            g = got.get(spec) or None
            if e != g:
                out.append(Mismatch(n, spec, e, g))
    return out


def report(mismatches: list[Mismatch], limit: int = 25) -> str:
    """A readable summary: the count, the first mismatches, and the specs most affected."""
    if not mismatches:
        return "no mismatch"
    by_spec: dict[str, int] = {}
    for m in mismatches:
        by_spec[m.spec] = by_spec.get(m.spec, 0) + 1
    lines = [f"{len(mismatches)} mismatches in {len({m.event for m in mismatches})} events; first ones:"]
    lines += [f"  {m}" for m in mismatches[:limit]]
    lines.append("by spec: " + ", ".join(f"{s} x{c}" for s, c in sorted(by_spec.items(), key=lambda i: -i[1])))
    return "\n".join(lines)
