"""The one reading of the drop counters used by the LDP stats line, `check` and the live count."""
from k8saudit_ovh.metrics import describe_drops, dropped_by_reason


def test_dropped_by_reason_keeps_non_zero_drop_counters_only():
    snap = {"events_ingested": 9, "dropped_oversize": 1, "dropped_bad_timestamp": 3,
            "dropped_invalid_json": 0, "duplicates_dropped": 4}
    assert dropped_by_reason(snap) == {"oversize": 1, "bad_timestamp": 3}


def test_describe_drops_orders_reasons_and_says_none():
    assert describe_drops({"oversize": 1, "bad_timestamp": 3}) == "bad_timestamp 3, oversize 1"
    assert describe_drops({}) == "none"
    assert describe_drops({}, none="") == ""
