"""Reading the plugin's counters (Counters.snapshot() / plugin_get_metrics): the drops by reason,
written once for the LDP stats line, the `check` command and the CLI's live count."""
from __future__ import annotations

from typing import Dict, Mapping

DROPPED_PREFIX = "dropped_"


def dropped_by_reason(snapshot: Mapping[str, int]) -> Dict[str, int]:
    """{reason: count} of the non-zero dropped_* counters, e.g. {"bad_timestamp": 3}."""
    return {k[len(DROPPED_PREFIX):]: v for k, v in snapshot.items() if k.startswith(DROPPED_PREFIX) and v}


def describe_drops(reasons: Mapping[str, int], none: str = "none") -> str:
    """"bad_timestamp 3, oversize 1" (reasons in name order), or `none` when there are none."""
    return ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or none
