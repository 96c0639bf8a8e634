"""Fault injection into the plugin's embedded interpreter, for tests through the C host.

The entry library starts CPython with the standard configuration, which imports
`sitecustomize` from PYTHONPATH at start-up: a test writes one that patches the product, and
hands the host a PYTHONPATH with it and the installed package (the host's environment has
none of ours otherwise, see conftest.host_env)."""
from __future__ import annotations

from pathlib import Path


def sitecustomize_env(tmp_path: Path, code: str) -> dict:
    """Environment for run_host/host_env that runs `code` in the plugin's interpreter."""
    import k8saudit_ovh
    d = tmp_path / "pyinject"
    d.mkdir(exist_ok=True)
    (d / "sitecustomize.py").write_text(code)
    site = Path(k8saudit_ovh.__file__).resolve().parents[1]
    return {"PYTHONPATH": f"{d}:{site}"}
