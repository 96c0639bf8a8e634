"""The metric names are written in three places: the plugin's counter table (what
plugin_get_metrics reports), the README's Metrics table and DESIGN's Metrics list. They stay
equal, in the plugin's order for the README."""
from __future__ import annotations

import re
from pathlib import Path

from k8saudit_ovh._ingest import Counters

REPO = Path(__file__).resolve().parents[2]


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = re.search(r"^#{2,3} ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + (nxt.start() if nxt else len(text))]


def plugin_metric_names():
    return list(Counters().snapshot())


def test_the_plugin_reports_its_counters_in_one_order():
    names = plugin_metric_names()
    assert len(names) == len(set(names)) >= 17
    assert all(re.fullmatch(r"[a-z][a-z_]*[a-z]", n) for n in names)


def test_readme_metrics_table_is_the_plugins_list():
    table = _section((REPO / "README.md").read_text(), "### Metrics\n")
    rows = re.findall(r"^\| `([a-z_]+)` \| (counter|gauge) \|", table, re.M)
    assert [n for n, _ in rows] == plugin_metric_names()          # in the plugin's order
    from k8saudit_ovh_testing.hooks import counter_kinds
    assert {n: k for n, k in rows} == counter_kinds()


def test_design_metrics_list_is_the_plugins_list():
    section = _section((REPO / "docs" / "DESIGN.md").read_text(), "## Metrics")
    items = re.findall(r"^- [^:\n]+:(.*(?:\n  .*)*)", section, re.M)
    listed = [w.strip() for item in items for w in item.replace("\n", " ").split(",")]
    assert sorted(listed) == sorted(plugin_metric_names())
