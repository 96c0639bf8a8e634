"""Shared fixtures: the plugin library, shared/ data, and the Falco-like C host.

The C host (tests/host/falco_host.c) is a process without Python: it loads the plugin the way
Falco does, so the plugin has to bring up its own runtime. ``run_host`` therefore runs it with
an environment stripped of PYTHONPATH / PYTHONHOME / VIRTUAL_ENV.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
HOST_SRC = REPO / "tests" / "host" / "falco_host.c"
INCLUDE = REPO / "include"

CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-I", str(INCLUDE)]
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1",
             "-fno-omit-frame-pointer"]
LIBS = ["-ldl", "-lpthread"]

# variables that would hand the host process a Python environment it must not rely on
PYTHON_ENV_VARS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (valgrind and the like)")


def compiler() -> str:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or "cc"


def compile_c(sources: Sequence[Path], out: Path, flags: Sequence[str], libs: Sequence[str] = (),
              shared: bool = False) -> Path:
    cmd = [compiler(), *flags]
    if shared:
        cmd += ["-shared", "-fPIC"]
    cmd += [str(s) for s in sources] + ["-o", str(out), *libs]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"compilation failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return out


def host_env(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment for host processes: ours minus the Python variables, plus ``env``."""
    e = {k: v for k, v in os.environ.items() if k not in PYTHON_ENV_VARS}
    if env:
        e.update(env)
    return e


def _run_host(args: Sequence[str], env: Optional[Dict[str, str]] = None,
              timeout: float = 120) -> Tuple[int, List[object], str]:
    """Runs a host command line (``args[0]`` is the executable, or valgrind) and returns
    ``(returncode, [each non-empty stdout line parsed as JSON], stderr)``."""
    r = subprocess.run([str(a) for a in args], env=host_env(env), capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    out = r.stdout.decode("utf-8", errors="strict")
    err = r.stderr.decode("utf-8", errors="replace")
    parsed: List[object] = []
    # split on "\n" only: str.splitlines() would also split inside JSON strings (U+2028, U+0085)
    for i, line in enumerate(out.split("\n")):
        if not line.strip():
            continue
        try:
            parsed.append(json.loads(line))
        except ValueError as e:
            raise AssertionError(
                f"host stdout line {i + 1} is not JSON ({e}): {line[:500]!r}\nstderr:\n{err}"
            ) from None
    return r.returncode, parsed, err


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
    d = Path(__file__).resolve().parents[1].parent / "shared"
    if not (d / "conformance" / "events.jsonl").is_file():
        pytest.fail(f"shared data not found at {d} (expected ../shared next to the repo)")
    return d


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
