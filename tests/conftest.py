"""Shared fixtures: the plugin library, shared/ data, and the Falco-like C host.

The C host (tests/host/falco_host.c) is a process without Python: it loads the plugin the way
Falco does, so the plugin has to bring up its own runtime. ``run_host`` therefore runs it with
an environment stripped of PYTHONPATH / PYTHONHOME / VIRTUAL_ENV.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional

import pytest

import conformance
# The C host's build and run helpers live in host_tools (benchmarks/ use them too); they stay
# importable from here for the test modules that take them from conftest.
from host_tools import (CFLAGS, HOST_SRC, INCLUDE, LIBS, PYTHON_ENV_VARS, REPO,  # noqa: F401
                        SAN_FLAGS, compile_c, compiler, host_env)
from host_tools import run_host as _run_host


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (valgrind and the like)")


@pytest.fixture(scope="session")
def run_host():
    """``run_host(args, env=None, timeout=120) -> (rc, json_lines, stderr)``."""
    return _run_host


@pytest.fixture(scope="session")
def plugin_lib() -> str:
    import k8saudit_ovh

    path = Path(k8saudit_ovh.library_path())
    assert path.is_file(), f"k8saudit_ovh.library_path() points to a missing file: {path}"
    return str(path)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (spec + conformance corpus): the test is skipped without it (see conformance.py)."""
    return conformance.require()


@pytest.fixture(scope="session")
def c_host(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("c_host") / "falco_host"
    return str(compile_c([HOST_SRC], out, CFLAGS, LIBS))


def _asan_probe(tmpdir: Path) -> Optional[str]:
    """None when the C compiler builds and runs an ASan/UBSan program, else why not."""
    src = tmpdir / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    cmd = [compiler(), *SAN_FLAGS, str(src), "-o", str(tmpdir / "probe")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}"
    r = subprocess.run([str(tmpdir / "probe")], capture_output=True, text=True)
    if r.returncode != 0:
        return f"the ASan probe program exited with {r.returncode}:\n{r.stderr[-2000:]}"
    return None


def asan_required() -> bool:
    """In CI a missing ASan is an error, not a skip: a green run must include the ASan tests.
    CI runners set CI=true; .ci/run also sets K8SAUDIT_OVH_REQUIRE_ASAN=1."""
    return (os.environ.get("K8SAUDIT_OVH_REQUIRE_ASAN") == "1"
            or os.environ.get("CI", "").lower() in ("true", "1"))


@pytest.fixture(scope="session")
def c_host_asan(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("c_host_asan")
    why = _asan_probe(d)
    if why:
        if asan_required():
            pytest.fail("AddressSanitizer is required in CI and does not work here: " + why)
        pytest.skip("the C compiler has no working AddressSanitizer: " + why)
    return str(compile_c([HOST_SRC], d / "falco_host_asan", CFLAGS + SAN_FLAGS, LIBS))
