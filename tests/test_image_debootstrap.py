"""The container image without a Docker engine: the Dockerfile's COPY and RUN steps replayed in a
Debian 12 root made by debootstrap (what debian:12-slim, the base of falcosecurity/falco:*-debian,
is), then the plugin loaded and driven there by the C host, in a root that has the CPython
shared library but no python executable.

The base root is built once and cached as a tarball under $K8SAUDIT_OVH_DEBOOTSTRAP_CACHE
(default /var/cache/k8saudit-ovh/debootstrap); every run unpacks a fresh copy. Needs root,
debootstrap, and Debian's mirror ($K8SAUDIT_OVH_DEBIAN_MIRROR, default deb.debian.org).

    python -m pytest -m slow tests/test_image_debootstrap.py
"""
from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import List, Tuple

import pytest

import dist_support as ds
from k8saudit_ovh import LIBRARY_NAME
from k8saudit_ovh_release import artifact

pytestmark = pytest.mark.slow

SUITE = "bookworm"                      # Debian 12, the base of falcosecurity/falco:*-debian
CACHE = Path(os.environ.get("K8SAUDIT_OVH_DEBOOTSTRAP_CACHE", "/var/cache/k8saudit-ovh/debootstrap"))
MIRROR = os.environ.get("K8SAUDIT_OVH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DOCKERFILE = ds.REPO / "Dockerfile"


def _run(cmd, timeout=900, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {r.returncode}\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def _base_root_tarball() -> Path:
    """A minbase Debian 12 root, debootstrap'ed once and kept as a tarball."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root (debootstrap and chroot)")
    arch = _run(["dpkg", "--print-architecture"]).stdout.strip()
    tarball = CACHE / f"{SUITE}-{arch}-minbase.tar"
    if tarball.is_file():
        return tarball
    debootstrap = ds.require_tool("debootstrap", "debootstrap")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f".build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        _run([debootstrap, "--variant=minbase", f"--arch={arch}", SUITE, work / "root", MIRROR])
        partial = tarball.with_suffix(".partial")
        _run(["tar", "-C", work / "root", "--numeric-owner", "-cf", partial, "."])
        os.replace(partial, tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def _dockerfile_steps() -> List[Tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile after FROM, line continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    steps = []
    seen_from = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            assert re.fullmatch(r"docker\.io/falcosecurity/falco:\$\{FALCO_VERSION\}-debian", rest)
            seen_from = True
        elif seen_from:
            steps.append((instr, rest.strip()))
    assert seen_from
    return steps


def _replay_dockerfile(root: Path, dist: Path) -> List[str]:
    """Runs the Dockerfile's COPY and RUN steps in root (context: the repository, with the built
    artifact in dist/). Other instructions must be metadata only."""
    done = []
    for instr, args in _dockerfile_steps():
        if instr == "COPY":
            *srcs, dest = shlex.split(args)
            assert dest.endswith("/"), "COPY of several files needs a directory destination"
            target = root / dest.lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            for src in srcs:
                base = dist if src.startswith("dist/") else ds.REPO
                pattern = src[len("dist/"):] if src.startswith("dist/") else src
                matches = sorted(glob.glob(str(base / pattern)))
                assert matches, f"COPY {src}: nothing matches"
                for m in matches:
                    shutil.copy2(m, target / Path(m).name)
            done.append(f"COPY {args}")
        elif instr == "RUN":
            _run([ds.require_tool("chroot", "coreutils"), root, "/usr/bin/env", "-i",
                  f"PATH={ds.CLEAN_PATH}", "HOME=/root", "/bin/sh", "-c", args])
            done.append(f"RUN {args}")
        elif instr in ("LABEL", "ARG"):
            continue
        else:
            pytest.fail(f"Dockerfile instruction {instr} is not replayed by this test: extend it")
    assert any(s.startswith("RUN") for s in done)
    return done


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    base = _base_root_tarball()
    art = ds.build_artifact(tmp_path_factory.mktemp("dist"))
    root = tmp_path_factory.mktemp("image") / "root"
    root.mkdir()
    _run(["tar", "-C", root, "--numeric-owner", "-xpf", base])
    shutil.copyfile("/etc/resolv.conf", root / "etc" / "resolv.conf")   # apt-get needs DNS
    steps = _replay_dockerfile(root, Path(art.dir))
    yield root, art, steps
    shutil.rmtree(root, ignore_errors=True)


def _replay_in_root(root: Path, lib: str, c_host: str):
    host = root / "usr" / "local" / "bin" / "falco_host"
    shutil.copyfile(c_host, host)
    os.chmod(host, 0o755)
    shutil.copyfile(ds.require_events(), root / "tmp" / "events.jsonl")
    rc, lines, err = ds.run_clean(["/usr/local/bin/falco_host", lib, "replay", "--open",
                                   "/tmp/events.jsonl", "--quiet"], chroot=root)
    return ds.replay_summary(lines, err, rc)


def test_image_root_has_libpython_but_no_python_executable(image_root):
    root, art, _ = image_root
    assert (root / art.libpython.lstrip("/")).is_file()
    assert not glob.glob(str(root / "usr" / "bin" / "python*")), \
        "the image must not need a Python executable"
    opt = root / "opt" / "k8saudit-ovh"
    assert (opt / LIBRARY_NAME).is_file() and (opt / artifact.RUNTIME_SIDECAR).is_file()
    assert not (root / "tmp" / "k8saudit-ovh").exists(), "the RUN step cleans up after itself"
    assert not os.listdir(root / "var" / "lib" / "apt" / "lists") or \
        os.listdir(root / "var" / "lib" / "apt" / "lists") == ["partial"]


def test_plugin_replays_in_the_image_root(image_root, c_host):
    root, _, _ = image_root
    end = _replay_in_root(root, f"/opt/k8saudit-ovh/{LIBRARY_NAME}", c_host)
    assert end["end"] == "EOF" and end["events"] == ds.EVENTS_DELIVERED, end


def test_without_home_cpython_finds_debians_prefix_by_itself(image_root, c_host):
    """The sidecar's home=/usr is a belt: Debian's libpython also finds its prefix alone."""
    root, _, _ = image_root
    src, dst = root / "opt" / "k8saudit-ovh", root / "opt" / "k8saudit-ovh-nohome"
    shutil.copytree(src, dst)
    sidecar = dst / artifact.RUNTIME_SIDECAR
    sidecar.write_text("".join(ln for ln in sidecar.read_text().splitlines(True)
                               if not ln.startswith("home=")))
    end = _replay_in_root(root, f"/opt/k8saudit-ovh-nohome/{LIBRARY_NAME}", c_host)
    assert end["events"] == ds.EVENTS_DELIVERED, end
