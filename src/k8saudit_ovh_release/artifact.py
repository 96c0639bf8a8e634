"""The falcoctl plugin artifact: build it from the installed package, push it, pull it.

A falcoctl plugin artifact is an OCI artifact whose layer is a ``.tar.gz`` that falcoctl
extracts into Falco's plugins directory (``/usr/share/falco/plugins``), and whose config blob
is a small JSON document (name, version, requirements). Ours carries the whole runtime, so a
host needs nothing but glibc and libstdc++ (the stock Falco images, Wolfi or Debian)::

    libk8saudit-ovh.so                              the library Falco loads (plain C)
    k8saudit-ovh-runtime/BUILD-INFO.json            CPython, arch, glibc, what takes the room
    k8saudit-ovh-runtime/lib/                       libpython3.X.so.1.0, OpenSSL, zlib...
    k8saudit-ovh-runtime/python3X.zip               standard-library byte code it needs
    k8saudit-ovh-runtime/lib-dynload/               their extension modules (_ssl, _asyncio...)
    k8saudit-ovh-runtime/site-packages/             k8saudit_ovh (compiled modules),
                                                    websockets, certifi; byte code compiled

The CPython embedded is the one running the build (a shared-library build, see pyruntime).
An artifact is built for that CPython minor version, one architecture (``uname -m``) and
glibc >= the newest symbol version its ELF files use (BUILD-INFO.json, OCI annotations).

Command line (also ``k8saudit-ovh artifact ...``)::

    python -m k8saudit_ovh_release.artifact build [--out dist]
    python -m k8saudit_ovh_release.artifact push REF ARTIFACT.json... [--plain-http] [--no-floating-tags]
    python -m k8saudit_ovh_release.artifact pull REF DIR [--plain-http] [--platform linux/amd64]
"""
from __future__ import annotations

import argparse
import ctypes
import gzip
import importlib.metadata as metadata
import json
import os
import platform as _platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from k8saudit_ovh import LIBRARY_NAME, PLUGIN_NAME, __version__

from . import oci, pyruntime, stdlib
from .layer import check_member, extract_layer, write_tarball  # noqa: F401 (re-exported)
from .media import (DEFAULT_REGISTRY, DEFAULT_REPOSITORY, GOARCH,  # noqa: F401 (re-exported)
                    MEDIA_PLUGIN_CONFIG, MEDIA_PLUGIN_LAYER, MEDIA_RULESFILE_CONFIG,
                    MEDIA_RULESFILE_LAYER, SOURCE_URL, Artifact, ArtifactError, floating_tags,
                    semver_compatible, sha256_digest)

# Packages of the k8saudit-ovh distribution that never run inside Falco.
NOT_SHIPPED = ("k8saudit_ovh_cli", "k8saudit_ovh_release", "k8saudit_ovh_testing")
RUNTIME_DIR = "k8saudit-ovh-runtime"        # the shim's K8S_RUNTIME_DIR (src/shim/pyembed.h)
SITE_DIR = RUNTIME_DIR + "/site-packages"
LIB_DIR = RUNTIME_DIR + "/lib"
DYNLOAD_DIR = RUNTIME_DIR + "/lib-dynload"
BUILD_INFO = RUNTIME_DIR + "/BUILD-INFO.json"
# The CPython minor version releases embed (README "Which CPython"); other builds say so.
RELEASE_PYTHON = "3.11"
# Compressed size budget of the linux/amd64 layer (issue 8).
SIZE_BUDGET = 15 * 1024 * 1024

# dist-info files that carry the build machine's paths or local state: left out
_DIST_INFO_SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}

# What the plugin imports at run time, for the dynamic half of the standard-library selection
# and for the check of the staged runtime (code run by an isolated interpreter).
_RUNTIME_PROBE = """
import sys
import k8saudit_ovh, k8saudit_ovh._plugin, k8saudit_ovh.runtime, k8saudit_ovh.trust
import importlib
for name in ("k8saudit_ovh.ldp", "websockets.asyncio.client", "websockets.proxy", "websockets.uri"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        if not e.name.startswith(("k8saudit_ovh.ldp", "websockets")):
            raise
import ssl, asyncio, json
ssl.create_default_context(cafile=k8saudit_ovh.trust.bundled_ca_bundle())
"localhost".encode("idna")
asyncio.new_event_loop().close()
print(json.dumps(sorted(sys.modules)))
"""

# Every module of the standard-library zip must import on its own: a module whose top-level
# import was cut (NEVER) would otherwise only fail in Falco, on the path that needs it.
_IMPORT_ALL = """
import importlib, json, sys, zipfile
names = sorted(n[:-4].replace("/", ".").removesuffix(".__init__")
               for n in zipfile.ZipFile(sys.path[0]).namelist())
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except Exception as e:
        failed.append(f"{name}: {type(e).__name__}: {e}")
if failed:
    sys.exit("standard-library modules that do not import:\\n  " + "\\n  ".join(failed))
print(json.dumps(sorted(sys.modules)))
"""


# ---------------------------------------------------------------------------- identity

@dataclass
class PluginIdentity:
    name: str
    version: str
    required_api_version: str
    id: int
    event_source: str


def read_identity(lib: os.PathLike) -> PluginIdentity:
    """What the library declares to Falco. These calls are static C in the library: loading it
    here does not start anything."""
    dll = ctypes.CDLL(os.fspath(lib), mode=os.RTLD_LOCAL)

    def s(sym: str) -> str:
        fn = getattr(dll, "plugin_" + sym)
        fn.restype = ctypes.c_char_p
        fn.argtypes = []
        return fn().decode("utf-8")

    get_id = dll.plugin_get_id
    get_id.restype = ctypes.c_uint32
    return PluginIdentity(name=s("get_name"), version=s("get_version"),
                          required_api_version=s("get_required_api_version"),
                          id=int(get_id()), event_source=s("get_event_source"))


# ---------------------------------------------------------------------------- collection

def _requirement_names(dist: metadata.Distribution) -> List[str]:
    """Runtime requirements of a distribution (extras left out)."""
    names = []
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if m:
            names.append(m.group(1))
    return names


def runtime_distributions(root: str = "k8saudit-ovh") -> List[metadata.Distribution]:
    """The package's distribution and, transitively, every runtime dependency."""
    seen: Dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ArtifactError(f"dependency {name!r} of {root} is not installed in this "
                                f"Python ({sys.executable}): pip install it first") from None
        seen[key] = dist
        todo.extend(_requirement_names(dist))
    return [seen[k] for k in sorted(seen)]


def _dist_files(dist: metadata.Distribution) -> List[Tuple[Path, str]]:
    """(source path, path relative to site-packages) of the files a distribution installed in
    site-packages (scripts and anything outside it, byte code and local state are left out)."""
    out = []
    for f in dist.files or []:
        rel = PurePosixPath(str(f).replace(os.sep, "/"))
        if rel.is_absolute() or ".." in rel.parts:
            continue                         # bin/ scripts and the like
        if "__pycache__" in rel.parts or rel.suffix == ".pyc":
            continue
        if rel.parts[0].endswith(".dist-info") and rel.name in _DIST_INFO_SKIP:
            continue
        src = Path(dist.locate_file(f))
        if src.is_file():
            out.append((src, str(rel)))
    return out


def _glibc_requirement(files: Iterable[Path], prefix: bytes = b"GLIBC_") -> Optional[str]:
    """Newest ``<prefix>x.y[.z]`` symbol version referenced by these ELF files (GLIBC_ for
    glibc, GLIBCXX_ for libstdc++): a conservative bound of what the host must have."""
    best: Optional[Tuple[int, ...]] = None
    pat = re.compile(re.escape(prefix) + rb"(\d+)\.(\d+)(?:\.(\d+))?")
    for p in files:
        for m in pat.finditer(p.read_bytes()):
            v = tuple(int(x) for x in m.groups() if x is not None)
            if best is None or v > best:
                best = v
    return ".".join(map(str, best)) if best else None


# ---------------------------------------------------------------------------- build

def config_json(ident: PluginIdentity) -> bytes:
    """falcoctl's config blob for a plugin."""
    cfg = {"name": ident.name, "version": ident.version,
           "requirements": [{"name": "plugin_api_version", "version": ident.required_api_version}]}
    return json.dumps(cfg, separators=(",", ":")).encode()


def compile_bytecode(site: Path) -> None:
    """Byte code, compiled once here (the plugins directory may be read-only at run time).
    Reproducible: unchecked-hash .pyc files do not depend on file times, ``-d`` keeps this
    machine's paths out of them, and a fresh interpreter with a fixed hash seed marshals the
    same bytes every time (set constants follow string hashes; marshal output depends on
    reference counts in a long-lived process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    r = subprocess.run([sys.executable, "-m", "compileall", "-q", "-f", "-j", "1", "-d", SITE_DIR,
                        "--invalidation-mode", "unchecked-hash", str(site)],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise ArtifactError("byte-compiling the collected Python files failed:\n"
                            + (r.stdout + r.stderr)[-2000:])


def _probe(paths: Sequence[Path], *, strict: bool, code: str = _RUNTIME_PROBE) -> List[str]:
    """Runs ``code`` in an isolated interpreter whose sys.path is ``paths`` (first, or only
    when ``strict``) and returns the modules it loaded."""
    setup = f"import sys\nsys.path{'[:]' if strict else '[:0]'} = {[str(p) for p in paths]!r}\n"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0"}
    r = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", setup + code], env=env,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        what = "the staged runtime misses something" if strict else "the plugin does not import"
        raise ArtifactError(f"{what}:\n{r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


_SIZE_GROUPS = (
    (LIB_DIR + "/libpython", "libpython (CPython interpreter)"),
    (LIB_DIR + "/libcrypto", "OpenSSL (libcrypto, libssl)"),
    (LIB_DIR + "/libssl", "OpenSSL (libcrypto, libssl)"),
    (LIB_DIR + "/", "other shared libraries"),
    (RUNTIME_DIR + "/python", "standard library byte code (zip)"),
    (DYNLOAD_DIR + "/", "standard extension modules (lib-dynload)"),
    (SITE_DIR + "/k8saudit_ovh/", "k8saudit_ovh (compiled modules and Python)"),
    (SITE_DIR + "/websockets", "websockets"),
    (SITE_DIR + "/certifi", "certifi (CA bundle)"),
    (LIBRARY_NAME, "libk8saudit-ovh.so (entry library)"),
)


def size_report(staging: Path) -> List[Dict[str, object]]:
    """What takes the room: per group, bytes on disk and gzip -9 bytes (each file compressed
    alone: close to, and a little above, its share of the layer), largest first."""
    groups: Dict[str, List[int]] = {}
    for p in sorted(staging.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(staging).as_posix()
        label = next((g for prefix, g in _SIZE_GROUPS if rel.startswith(prefix)), "other")
        data = p.read_bytes()
        acc = groups.setdefault(label, [0, 0, 0])
        acc[0] += len(data)
        acc[1] += len(gzip.compress(data, compresslevel=9, mtime=0))
        acc[2] += 1
    rows = [{"what": k, "bytes": v[0], "gzip_bytes": v[1], "files": v[2]}
            for k, v in groups.items()]
    return sorted(rows, key=lambda r: -int(r["gzip_bytes"]))


def _say(log, msg: str) -> None:
    if log is not None:
        print(f"k8saudit-ovh artifact: {msg}", file=log)


def stage(staging: Path, log=None) -> Dict[str, object]:
    """Lays the artifact's files out in ``staging`` (empty): the installed k8saudit-ovh, its
    dependencies, and the CPython running this build with what the plugin needs of it.
    Returns the build info."""
    import k8saudit_ovh

    py = pyruntime.build_python()
    _say(log, f"embedding CPython {py.version} from {py.libpython}")
    if py.minor != RELEASE_PYTHON:
        _say(log, f"note: releases embed CPython {RELEASE_PYTHON}; this build embeds "
                  f"{py.version} (the artifact works the same, its BUILD-INFO says which)")
    pkg_dir = Path(k8saudit_ovh.__file__).resolve().parent
    lib = pkg_dir / LIBRARY_NAME
    if not lib.is_file():
        raise ArtifactError(f"{lib} is missing: install the package with `pip install .` first")
    for mod in ("_plugin", "_ingest", "_jsonidx", "_extract"):
        if not (pkg_dir / (mod + py.ext_suffix)).is_file():
            raise ArtifactError(f"extension module k8saudit_ovh.{mod}{py.ext_suffix} is missing "
                                f"from {pkg_dir}: the package is not built for this Python")

    rt, site = staging / RUNTIME_DIR, staging / SITE_DIR
    libdir, dynload = staging / LIB_DIR, staging / DYNLOAD_DIR
    for d in (site, libdir, dynload):
        d.mkdir(parents=True)
    shutil.copyfile(lib, staging / LIBRARY_NAME)
    dists = runtime_distributions()
    shipped: List[Tuple[Path, str]] = []
    for dist in dists:
        files = _dist_files(dist)
        if not files:
            raise ArtifactError(f"{dist.metadata['Name']} lists no files (installed in "
                                "editable/development mode?): install it normally")
        for src, rel in files:
            if rel == f"k8saudit_ovh/{LIBRARY_NAME}":
                continue                     # it sits at the top of the artifact
            if rel.split("/", 1)[0] in NOT_SHIPPED:
                continue                     # operator tools and release tooling stay out of Falco
            if {"tests", "test"} & set(rel.split("/")[1:-1]):
                continue                     # a dependency's own test suite (certifi has one)
            dst = site / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            shipped.append((dst, rel))
    if not (site / "k8saudit_ovh" / ("_plugin" + py.ext_suffix)).is_file():
        raise ArtifactError("k8saudit_ovh was not collected from its installed files")

    # The standard library: what the shipped files import (statically) and what importing
    # and starting the plugin loads (dynamically, which also covers the compiled modules).
    loaded = _probe([site, py.stdlib, py.dynload], strict=False)
    seeds = stdlib.seeds_of_files(shipped) | set(loaded)
    index = stdlib.StdlibIndex(py.stdlib, py.dynload, py.ext_suffix)
    modules = stdlib.closure(index, seeds)
    with tempfile.TemporaryDirectory(prefix="k8saudit-ovh-stdlib-") as work:
        n_py = pyruntime.write_stdlib_zip(py, modules, rt / py.zip_name, Path(work))
    exts = []
    for name, (kind, path) in sorted(modules.items()):
        if kind == "extension":
            exts.append(dynload / path.name)
            shutil.copyfile(path, exts[-1])
    libpython = libdir / py.soname
    shutil.copyfile(py.libpython, libpython)
    own_exts = [p for p in site.rglob("*.so") if p.is_file()]
    bundled = pyruntime.bundle_libraries([libpython, *exts, *own_exts], libdir)
    for elf in [libpython, *[libdir / s for s in bundled]]:
        pyruntime.finish_elf(elf, "$ORIGIN" if set(pyruntime.needed(elf)) & set(bundled)
                             else None)
    for elf in [*exts, *own_exts]:
        pyruntime.finish_elf(elf, "$ORIGIN/" + os.path.relpath(libdir, elf.parent)
                             if set(pyruntime.needed(elf)) & set(bundled) else None)
    compile_bytecode(site)
    _probe([rt / py.zip_name, dynload, site], strict=True)
    _probe([rt / py.zip_name, dynload, site], strict=True, code=_IMPORT_ALL)

    elf = [p for p in staging.rglob("*.so*") if p.is_file()]
    sizes = size_report(staging)
    info = {
        "name": PLUGIN_NAME, "version": __version__,
        "python": py.minor, "python_version": py.version, "soabi": sysconfig.get_config_var("SOABI") or "",
        "arch": _platform.machine(), "os": "linux",
        "glibc": _glibc_requirement(elf),
        "glibcxx": _glibc_requirement(elf, b"GLIBCXX_"),
        "libraries": [py.soname, *bundled],
        "stdlib_modules": n_py, "stdlib_extensions": sorted(p.name for p in exts),
        "distributions": {d.metadata["Name"]: d.version for d in dists},
        "sizes": sizes,
        "host_needs": "an x86_64/arm64 glibc Linux (glibc >= the 'glibc' above) with libstdc++",
    }
    (staging / BUILD_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def build(out_dir: os.PathLike = "dist", *, log=None) -> Artifact:
    """Builds ``<out_dir>/k8saudit-ovh-<version>-linux-<arch>.tar.gz``, its config blob and its
    descriptor from the k8saudit-ovh installed in this Python, embedding this CPython."""
    import k8saudit_ovh

    out = Path(out_dir)
    ident = read_identity(Path(k8saudit_ovh.__file__).resolve().parent / LIBRARY_NAME)
    if ident.name != PLUGIN_NAME:
        raise ArtifactError(f"the library declares name {ident.name!r}, not {PLUGIN_NAME!r}")
    if ident.version != __version__:
        raise ArtifactError(f"library version {ident.version} != package version {__version__}: "
                            "reinstall the package")
    arch = _platform.machine()
    goarch = GOARCH.get(arch)
    if not goarch:
        raise ArtifactError(f"unknown architecture {arch!r}")
    stem = f"{ident.name}-{ident.version}-linux-{arch}"
    with tempfile.TemporaryDirectory(prefix="k8saudit-ovh-artifact-") as tmp:
        staging = Path(tmp) / "stage"
        staging.mkdir()
        info = stage(staging, log=log)
        out.mkdir(parents=True, exist_ok=True)
        tarball = out / f"{stem}.tar.gz"
        write_tarball(staging, tarball)
    cfg = config_json(ident)
    cfg_file = out / f"{stem}.config.json"
    cfg_file.write_bytes(cfg)
    layer = tarball.read_bytes()
    _say(log, f"{tarball.name}: {len(layer)} bytes compressed ({len(layer) / 2**20:.1f} MiB); "
              "largest parts: " + ", ".join(f"{r['what']} {int(r['gzip_bytes']) / 2**20:.1f} MiB"
                                           for r in info["sizes"][:4]))  # type: ignore[index]
    if goarch == "amd64" and len(layer) > SIZE_BUDGET:
        _say(log, f"warning: over the {SIZE_BUDGET // 2**20} MiB budget for linux/amd64")
    annotations = {
        "org.opencontainers.image.source": SOURCE_URL,
        "org.opencontainers.image.version": ident.version,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "io.k8saudit-ovh.python": str(info["python_version"]),
        "io.k8saudit-ovh.soabi": str(info["soabi"]),
        "io.k8saudit-ovh.glibc": str(info["glibc"] or ""),
    }
    art = Artifact(name=ident.name, version=ident.version, arch=arch, platform=f"linux/{goarch}",
                   tarball=tarball.name, config_file=cfg_file.name,
                   layer_digest=sha256_digest(layer), layer_size=len(layer),
                   config_digest=sha256_digest(cfg), config_size=len(cfg),
                   python=str(info["python"]), python_version=str(info["python_version"]),
                   soabi=str(info["soabi"]), glibc=info["glibc"],  # type: ignore[arg-type]
                   required_api_version=ident.required_api_version,
                   annotations=annotations, dir=str(out))
    art.save()
    return art

# ---------------------------------------------------------------------------- command line

def _cmd_build(args) -> int:
    art = build(args.out, log=sys.stderr)
    print(json.dumps({"tarball": str(art.path(art.tarball)), "config": str(art.path(art.config_file)),
                      "platform": art.platform, "python": art.python, "glibc": art.glibc,
                      "layer_size": art.layer_size, "layer_digest": art.layer_digest,
                      "config_digest": art.config_digest}, indent=2))
    return 0


def _cmd_push(args) -> int:
    arts = [Artifact.load(p) for p in args.artifacts]
    tags = None if not args.no_floating_tags else [arts[0].version]
    res = oci.push_plugin(args.ref, arts, tags=tags, plain_http=args.plain_http,
                          username=os.environ.get("K8SAUDIT_OVH_REGISTRY_USER"),
                          password=os.environ.get("K8SAUDIT_OVH_REGISTRY_PASSWORD"))
    print(json.dumps(res, indent=2))
    return 0


def _cmd_pull(args) -> int:
    res = oci.pull(args.ref, args.dir, platform=args.platform, plain_http=args.plain_http,
                   username=os.environ.get("K8SAUDIT_OVH_REGISTRY_USER"),
                   password=os.environ.get("K8SAUDIT_OVH_REGISTRY_PASSWORD"))
    print(json.dumps({"digest": res.manifest_digest, "config": res.config,
                      "files": len(res.files)}, indent=2))
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds the ``build`` / ``push`` / ``pull`` subcommands to ``p`` (used by ``main`` and by
    ``k8saudit-ovh artifact``)."""
    sub = p.add_subparsers(dest="artifact_command", required=True)
    b = sub.add_parser("build", help="build the falcoctl plugin artifact from this installation")
    b.add_argument("--out", default="dist", help="output directory (default: dist)")
    b.set_defaults(artifact_func=_cmd_build)
    pu = sub.add_parser("push", help="push built artifacts (one per platform) to a registry")
    pu.add_argument("ref", help="REGISTRY/REPOSITORY (tags are added) or REGISTRY/REPOSITORY:TAG")
    pu.add_argument("artifacts", nargs="+", help="*.artifact.json files written by build")
    pu.add_argument("--plain-http", action="store_true", help="http instead of https")
    pu.add_argument("--no-floating-tags", action="store_true",
                    help="tag only the full version (not major.minor, major, latest)")
    pu.set_defaults(artifact_func=_cmd_push)
    pl = sub.add_parser("pull", help="pull an artifact and extract it like falcoctl install")
    pl.add_argument("ref", help="REGISTRY/REPOSITORY:TAG or @DIGEST")
    pl.add_argument("dir", help="plugins directory to extract into")
    pl.add_argument("--platform", default=None, help="OS/ARCH (default: this machine's)")
    pl.add_argument("--plain-http", action="store_true", help="http instead of https")
    pl.set_defaults(artifact_func=_cmd_pull)


def run(args) -> int:
    """Runs a parsed ``artifact`` command line; errors print one line and return 1."""
    try:
        return args.artifact_func(args)
    except ArtifactError as e:
        print(f"k8saudit-ovh artifact: {e}", file=sys.stderr)
        return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="k8saudit-ovh artifact",
                                     description="falcoctl plugin artifact: build, push, pull")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
