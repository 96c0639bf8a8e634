#!/usr/bin/env python3
"""Write include/k8saudit_config_schema.h from the key table in src/k8saudit_ovh/config.py.

    python3 scripts/gen-config-schema.py          # rewrite the header
    python3 scripts/gen-config-schema.py --check  # exit 1 when the header is out of date
"""
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = REPO / "include" / "k8saudit_config_schema.h"


def _config_module():
    # config.py alone: no need for the compiled package to be built or installed
    spec = importlib.util.spec_from_file_location("_k8s_config",
                                                  REPO / "src" / "k8saudit_ovh" / "config.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv) -> int:
    text = _config_module().schema_header()
    if "--check" in argv:
        if HEADER.read_text() != text:
            print(f"{HEADER} is out of date: run scripts/gen-config-schema.py", file=sys.stderr)
            return 1
        return 0
    HEADER.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
