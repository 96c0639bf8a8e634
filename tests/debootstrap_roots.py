"""Debian 12 roots for the artifact tests, made by debootstrap from Debian's mirror and cached
as tarballs under $K8SAUDIT_OVH_DEBOOTSTRAP_CACHE (default /var/cache/k8saudit-ovh/debootstrap),
so CI builds them once per machine:

    bare     debootstrap --variant=minbase bookworm: glibc and libstdc++, no Python, no
             OpenSSL, no CA store (the test checks it).
    python   the same plus Debian's python3.11 and libpython3.11 (apt-get in the root): a host
             whose own CPython, OpenSSL and libpython3.11.so.1.0 must not be used.

Each test run unpacks a fresh copy. Needs root, debootstrap, tar and chroot.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import dist_support as ds

SUITE = "bookworm"
CACHE = Path(os.environ.get("K8SAUDIT_OVH_DEBOOTSTRAP_CACHE", "/var/cache/k8saudit-ovh/debootstrap"))
MIRROR = os.environ.get("K8SAUDIT_OVH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PYTHON_PACKAGES = ("python3.11", "libpython3.11")


def run(cmd, timeout=1200, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {r.returncode}\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def _arch() -> str:
    return run(["dpkg", "--print-architecture"]).stdout.strip()


def _cache_root(tarball: Path, make) -> Path:
    """tarball, made by make(root_dir) into a scratch directory when it is not cached yet."""
    if tarball.is_file():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f".build-{tarball.stem}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        (work / "root").mkdir(parents=True)
        make(work / "root")
        partial = work / "root.tar"
        run(["tar", "-C", work / "root", "--numeric-owner", "-cf", partial, "."])
        os.replace(partial, tarball)       # atomic: a concurrent run sees all or nothing
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def bare_tarball() -> Path:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (debootstrap and chroot)")
    arch = _arch()

    def make(root: Path) -> None:
        debootstrap = ds.require_tool("debootstrap", "debootstrap")
        run([debootstrap, "--variant=minbase", f"--arch={arch}", SUITE, root, MIRROR])
    return _cache_root(CACHE / f"{SUITE}-{arch}-minbase.tar", make)


def python_tarball() -> Path:
    base = bare_tarball()

    def make(root: Path) -> None:
        run(["tar", "-C", root, "--numeric-owner", "-xpf", base])
        shutil.copyfile("/etc/resolv.conf", root / "etc" / "resolv.conf")   # apt needs DNS
        chroot(root, ["/bin/sh", "-c",
                      "apt-get update -qq && apt-get install -y -qq --no-install-recommends "
                      + " ".join(PYTHON_PACKAGES) + " && apt-get clean && "
                      "rm -rf /var/lib/apt/lists/*"],
               env={"DEBIAN_FRONTEND": "noninteractive"})
    return _cache_root(CACHE / f"{SUITE}-{_arch()}-minbase-python3.11.tar", make)


def unpack(tarball: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    run(["tar", "-C", dest, "--numeric-owner", "-xpf", tarball])
    return dest


def chroot(root: Path, argv, env=None, timeout=900) -> subprocess.CompletedProcess:
    """argv in root with exactly env (plus PATH) as its environment."""
    e = {"PATH": ds.CLEAN_PATH, **(env or {})}
    return run([ds.require_tool("chroot", "coreutils"), root, "/usr/bin/env", "-i",
                *(f"{k}={v}" for k, v in e.items()), *argv], timeout=timeout)
