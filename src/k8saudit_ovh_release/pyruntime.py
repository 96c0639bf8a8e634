"""The CPython that travels inside the artifact, taken from the interpreter running the build.

Laid out under ``k8saudit-ovh-runtime/`` (the shim, src/shim/pyembed.c, expects exactly this)::

    lib/libpython3.X.so.1.0        stripped; RUNPATH $ORIGIN
    lib/libssl.so.3, ...           every library the shipped ELF files need beyond glibc and
                                   libstdc++/libgcc_s; RUNPATH $ORIGIN
    python3X.zip                   the standard-library modules the plugin needs, byte code only
    lib-dynload/*.so               their extension modules; RUNPATH $ORIGIN/../lib

The build machine's paths never travel: every RUNPATH is rewritten (patchelf) and byte code
is compiled with archive-relative file names.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from .media import ArtifactError

# Provided by every glibc host (glibc itself, its loader) and by the C++ runtime Falco needs
# anyway: never bundled.
HOST_LIBS = re.compile(r"^(libc|libm|libpthread|libdl|librt|libutil|libresolv|libanl|libmvec|"
                       r"ld-linux[-\w]*|ld64|linux-vdso|linux-gate|libstdc\+\+|libgcc_s)\.so")

ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class BuildPython:
    version: str            # 3.11.7
    minor: str              # 3.11
    libpython: Path
    soname: str
    stdlib: Path
    dynload: Path
    ext_suffix: str

    @property
    def zip_name(self) -> str:
        return "python%s.zip" % self.minor.replace(".", "")


def build_python() -> BuildPython:
    """The running interpreter, which must be a shared-library build (the artifact embeds its
    libpython)."""
    cv = sysconfig.get_config_var
    version = "%d.%d.%d" % sys.version_info[:3]
    if sys.implementation.name != "cpython":
        raise ArtifactError(f"the artifact embeds CPython; this is {sys.implementation.name}")
    if not cv("Py_ENABLE_SHARED"):
        raise ArtifactError(
            f"this CPython {version} ({sys.executable}) is not a shared-library build "
            "(configured without --enable-shared), so it has no libpython to embed: build the "
            "artifact with a shared CPython (e.g. pyenv with PYTHON_CONFIGURE_OPTS="
            "--enable-shared, or Debian's python3)")
    soname = cv("INSTSONAME") or ""
    lib = Path(cv("LIBDIR") or "") / soname
    if not soname or not lib.is_file():
        raise ArtifactError(f"this CPython {version} says its library is {lib}, which does not "
                            "exist")
    return BuildPython(version=version, minor="%d.%d" % sys.version_info[:2], libpython=lib,
                       soname=soname, stdlib=Path(sysconfig.get_path("stdlib")),
                       dynload=Path(cv("DESTSHARED") or ""), ext_suffix=cv("EXT_SUFFIX") or ".so")


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ArtifactError(f"{name} is needed to build the artifact (apt-get install {package})")
    return path


def _run(cmd: List[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise ArtifactError(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()[-1000:]}")
    return r.stdout


def needed(elf: Path) -> List[str]:
    return _run([_tool("patchelf", "patchelf"), "--print-needed", str(elf)]).split()


def resolved(elf: Path) -> Dict[str, Path]:
    """soname -> file, as the dynamic loader of this machine resolves the libraries of elf."""
    out = {}
    for line in _run([_tool("ldd", "libc-bin"), str(elf)]).splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m:
            out[m.group(1)] = Path(m.group(2))
    return out


def bundle_libraries(elves: Iterable[Path], libdir: Path) -> List[str]:
    """Copies into libdir every library the ELF files need (transitively) that a glibc host
    may lack. Returns their sonames."""
    todo = list(elves)
    copied: List[str] = []
    while todo:
        elf = todo.pop()
        where = resolved(elf)
        for soname in needed(elf):
            if HOST_LIBS.match(soname) or (libdir / soname).exists():
                continue
            src = where.get(soname)
            if src is None:
                raise ArtifactError(f"{elf.name} needs {soname}, which this machine does not have")
            dst = libdir / soname
            shutil.copyfile(src, dst)
            copied.append(soname)
            todo.append(dst)
    return sorted(copied)


def finish_elf(elf: Path, runpath: Optional[str]) -> None:
    """Strips elf and sets its RUNPATH (or removes the build machine's)."""
    _run([_tool("strip", "binutils"), "--strip-unneeded", str(elf)])
    patchelf = _tool("patchelf", "patchelf")
    if runpath:
        _run([patchelf, "--set-rpath", runpath, str(elf)])
    else:
        _run([patchelf, "--remove-rpath", str(elf)])
    os.chmod(elf, 0o644)


def write_stdlib_zip(py: BuildPython, modules: Dict[str, tuple], out: Path, work: Path) -> int:
    """Byte code of the selected pure-Python modules in a stored (uncompressed: the layer is
    gzipped as a whole) zip, reproducible. Returns the number of modules."""
    src = work / "stdlib-src"
    count = 0
    for name, (kind, path) in sorted(modules.items()):
        if kind == "extension":
            continue
        rel = Path(*name.split(".")) / "__init__.py" if kind == "package" \
            else Path(*name.split(".")).with_suffix(".py")
        dst = src / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dst)
        count += 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    r = subprocess.run([sys.executable, "-m", "compileall", "-q", "-b", "-j", "1", "-d",
                        py.zip_name, "--invalidation-mode", "unchecked-hash", str(src)],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise ArtifactError("byte-compiling the standard library failed:\n"
                            + (r.stdout + r.stderr)[-2000:])
    pycs = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.pyc"))
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for rel in pycs:
            info = zipfile.ZipInfo(rel, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            z.writestr(info, (src / rel).read_bytes())
    return count
