"""Building and running the Falco-like C host (tests/host/falco_host.c) and other small C
programs: compiler flags, ``compile_c``, the environment of a host process (``host_env``: no
Python variables, like Falco's) and ``run_host``.

A plain module with a name of its own, shared by tests/ (through tests/conftest.py) and
benchmarks/: ``from conftest import ...`` would get whichever conftest.py pytest imported last,
the root one when benchmarks/ runs alone (`make bench`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
HOST_SRC = REPO / "tests" / "host" / "falco_host.c"
INCLUDE = REPO / "include"

CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-I", str(INCLUDE)]
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1",
             "-fno-omit-frame-pointer"]
LIBS = ["-ldl", "-lpthread"]

# variables that would hand the host process a Python environment it must not rely on
PYTHON_ENV_VARS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


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


def run_host(args: Sequence[str], env: Optional[Dict[str, str]] = None,
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
