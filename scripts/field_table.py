#!/usr/bin/env python3
"""Render the README field table from include/k8saudit_fields.h (the one table of fields).

    scripts/field_table.py          print the table
    scripts/field_table.py --write  rewrite it in README.md between the markers
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- fields:begin -->", "<!-- fields:end -->"
FIXED = {"ka.sourceips"}


def fields():
    text = (ROOT / "include" / "k8saudit_fields.h").read_text()
    rows = re.findall(r'\{"(ka\.[^"]+)", (\d), (\d), (\d), (\d),\s*\n\s*"((?:[^"\\]|\\.)*)"\}', text)
    return [(n, int(l), int(i), int(k), int(r), d.replace('\\"', '"')) for n, l, i, k, r, d in rows]


def table():
    out = ["| # | Name | Type | Arg | Description |", "|---|---|---|---|---|"]
    for i, (name, is_list, idx, key, req, desc) in enumerate(fields()):
        arg = ", ".join(a for a, on in (("Key", key), ("Index", idx), ("Required", req)) if on) or "None"
        typ = "string (list)" if is_list else "string"
        mark = " **(fixed)**" if name in FIXED or "eff_run_as" in name else ""
        out.append(f"| {i} | `{name}`{mark} | {typ} | {arg} | {desc.replace('|', '&#124;')} |")
    return "\n".join(out)


def main():
    t = table()
    if "--write" not in sys.argv:
        print(t)
        return
    readme = ROOT / "README.md"
    s = readme.read_text()
    a, b = s.index(BEGIN) + len(BEGIN), s.index(END)
    readme.write_text(s[:a] + "\n" + t + "\n" + s[b:])


if __name__ == "__main__":
    main()
