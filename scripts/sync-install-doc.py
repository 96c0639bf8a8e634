#!/usr/bin/env python3
"""Copies deploy/helm/values.yaml into the install documentation, between the markers
<!-- helm-values:begin --> and <!-- helm-values:end -->, in README.md
(where the markers exist). tests/distribution/test_distribution.py checks that they are equal.

    python3 scripts/sync-install-doc.py          # rewrite
    python3 scripts/sync-install-doc.py --check  # exit 1 when a document is stale
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
DOCS = [ROOT / "README.md"]
BLOCK = re.compile(r"(<!-- helm-values:begin -->\n```yaml\n)(.*?)(```\n<!-- helm-values:end -->)",
                   re.S)


def main(argv) -> int:
    check = "--check" in argv
    values = VALUES.read_text()
    stale = []
    for doc in DOCS:
        if not doc.is_file():
            continue
        text = doc.read_text()
        if not BLOCK.search(text):
            continue
        new = BLOCK.sub(lambda m: m.group(1) + values + m.group(3), text)
        if new != text:
            stale.append(doc)
            if not check:
                doc.write_text(new)
    for doc in stale:
        print(("stale: " if check else "updated: ") + str(doc.relative_to(ROOT)))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
