"""Each fact has one definition: the version, the shipped modules (no test hooks in them)."""
import importlib
import importlib.metadata
import re
from pathlib import Path

import pytest

import k8saudit_ovh

REPO = Path(__file__).resolve().parents[2]


def test_version_is_written_once_and_the_build_reads_it():
    assert importlib.metadata.version("k8saudit-ovh") == k8saudit_ovh.__version__
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M)
    assert not re.search(r"^version\s*=", pyproject, re.M)
    shim = (REPO / "src" / "shim" / "k8saudit_shim.c").read_text()
    assert k8saudit_ovh.__version__ not in shim


@pytest.mark.parametrize("module, hooks", [
    ("k8saudit_ovh._extract", ("Extractor", "parse_spec", "FIELD_NAMES", "_Events")),
    ("k8saudit_ovh._jsonidx", ("Index",)),
    ("k8saudit_ovh._ingest", ("rfc3339_ns",)),
])
def test_shipped_modules_carry_no_test_hooks(module, hooks):
    mod = importlib.import_module(module)
    assert [h for h in hooks if hasattr(mod, h)] == []


def test_dedupe_has_no_test_only_method():
    from k8saudit_ovh._ingest import Dedupe
    assert not hasattr(Dedupe(16), "seen")


def test_test_hooks_live_in_their_own_package():
    hooks = importlib.import_module("k8saudit_ovh_testing.hooks")
    for name in ("Extractor", "parse_spec", "Index", "rfc3339_ns", "dedupe_seen"):
        assert callable(getattr(hooks, name)), name
