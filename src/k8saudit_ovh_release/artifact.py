"""The falcoctl plugin artifact: build it from the installed package, push it, pull it.

A falcoctl plugin artifact is an OCI artifact whose layer is a ``.tar.gz`` that falcoctl
extracts into Falco's plugins directory (``/usr/share/falco/plugins``), and whose config blob
is a small JSON document (name, version, requirements). Ours carries everything the plugin
needs except CPython itself::

    libk8saudit-ovh.so                         the library Falco loads (plain C)
    k8saudit-ovh.runtime                       where that library finds libpython, its home and
                                               its Python package (read by the library at init)
    k8saudit-ovh-runtime/BUILD-INFO.json       what this artifact supports (CPython, arch, glibc)
    k8saudit-ovh-runtime/site-packages/...     k8saudit_ovh (with its compiled extension
                                               modules) and its dependencies (websockets),
                                               with byte code compiled ahead of time

The host needs only the stock CPython shared library of the same minor version the artifact
was built with (Debian 12: ``apt-get install libpython3.11``): no venv, no pip, no PYTHONPATH.

An artifact is built for one CPython minor version (extension modules are ``cpython-3XY``),
one architecture (``uname -m``) and glibc >= the newest symbol version its ELF files use
(recorded in BUILD-INFO.json and in the OCI manifest annotations).

Command line (the same as ``k8saudit-ovh artifact ...``)::

    python -m k8saudit_ovh_release.artifact build [--out dist] [--libpython PATH] [--home DIR]
    python -m k8saudit_ovh_release.artifact push REF ARTIFACT.json... [--plain-http] [--no-floating-tags]
    python -m k8saudit_ovh_release.artifact pull REF DIR [--plain-http] [--platform linux/amd64]
"""
from __future__ import annotations

import argparse
import ctypes
import gzip
import hashlib
import importlib.metadata as metadata
import io
import json
import os
import platform as _platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from k8saudit_ovh import LIBRARY_NAME, PLUGIN_NAME, __version__

# ---------------------------------------------------------------------------- constants

MEDIA_PLUGIN_CONFIG = "application/vnd.cncf.falco.plugin.config.v1+json"
MEDIA_PLUGIN_LAYER = "application/vnd.cncf.falco.plugin.layer.v1+tar.gz"
MEDIA_RULESFILE_CONFIG = "application/vnd.cncf.falco.rulesfile.config.v1+json"
MEDIA_RULESFILE_LAYER = "application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz"

RUNTIME_SIDECAR = "k8saudit-ovh.runtime"
# Packages of the k8saudit-ovh distribution that never run inside Falco.
NOT_SHIPPED = ("k8saudit_ovh_cli", "k8saudit_ovh_release")
RUNTIME_DIR = "k8saudit-ovh-runtime"
SITE_DIR = RUNTIME_DIR + "/site-packages"
BUILD_INFO = RUNTIME_DIR + "/BUILD-INFO.json"

# Where a release is published (index.yaml, README.md, "Install on OVHcloud MKS" and the Helm values use the same).
DEFAULT_REGISTRY = "ghcr.io"
DEFAULT_REPOSITORY = "k8saudit-ovh/k8saudit-ovh/plugin/k8saudit-ovh"
SOURCE_URL = "https://github.com/k8saudit-ovh/k8saudit-ovh"

# uname -m -> GOARCH (the OCI platform falcoctl selects by runtime.GOARCH)
GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
          "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
# uname -m -> Debian multiarch triplet (where Debian keeps libpython3.X.so.1.0)
MULTIARCH = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu",
             "armv7l": "arm-linux-gnueabihf", "ppc64le": "powerpc64le-linux-gnu",
             "s390x": "s390x-linux-gnu", "riscv64": "riscv64-linux-gnu"}

# dist-info files that carry the build machine's paths or local state: left out
_DIST_INFO_SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


class ArtifactError(Exception):
    """The artifact cannot be built, pushed, pulled or extracted (message says why)."""


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


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def floating_tags(version: str) -> List[str]:
    """The tags falcosecurity publishes for a release: full, major.minor, major, latest.
    A pre-release (``0.8.0-rc1``) gets only its own tag."""
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        return [version]
    major, minor, _ = m.groups()
    return [version, f"{major}.{minor}", major, "latest"]


def semver_compatible(have: str, need: str) -> bool:
    """Falco's and falcoctl's rule: same major, and have >= need."""
    def parse(v: str) -> Tuple[int, int, int]:
        m = re.match(r"(\d+)\.(\d+)\.(\d+)", v.strip())
        if not m:
            raise ValueError(f"not a semantic version: {v!r}")
        return tuple(int(x) for x in m.groups())  # type: ignore[return-value]
    h, n = parse(have), parse(need)
    return h[0] == n[0] and h >= n


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


def default_libpython(arch: Optional[str] = None) -> str:
    """Where Debian/Ubuntu keep this CPython's shared library for ``arch``."""
    arch = arch or _platform.machine()
    triplet = MULTIARCH.get(arch)
    if not triplet:
        raise ArtifactError(f"no Debian multiarch path known for {arch!r}: pass --libpython")
    return f"/usr/lib/{triplet}/libpython{sys.version_info[0]}.{sys.version_info[1]}.so.1.0"


# ---------------------------------------------------------------------------- tarball

def _walk_sorted(root: Path) -> List[Path]:
    """Every directory and regular file under root, each directory before its contents,
    siblings in byte order (so the archive lists them the same way on every machine)."""
    out: List[Path] = []

    def visit(d: Path) -> None:
        for child in sorted(d.iterdir(), key=lambda p: p.name.encode()):
            if child.is_symlink():
                raise ArtifactError(f"symlink in the staging tree: {child}")
            if child.is_dir():
                out.append(child)
                visit(child)
            elif child.is_file():
                out.append(child)
            else:
                raise ArtifactError(f"not a regular file or directory: {child}")
    visit(root)
    return out


def write_tarball(staging: Path, out: Path) -> None:
    """A reproducible .tar.gz of staging's contents: flat (members are ``name`` and
    ``dir/name``, no leading ``./`` or wrapper directory), directories and regular files only,
    mtime 0, uid/gid 0, no user/group names, modes 0755/0644, gzip without name or time."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in _walk_sorted(staging):
            rel = p.relative_to(staging).as_posix()
            ti = tarfile.TarInfo(rel)
            ti.mtime = 0
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if p.is_dir():
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tar.addfile(ti)
            else:
                data = p.read_bytes()
                ti.type = tarfile.REGTYPE
                ti.mode = 0o644
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    with open(out, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as gz:
            gz.write(buf.getvalue())


def check_member(m: tarfile.TarInfo) -> str:
    """The safe relative path of an archive member, or ArtifactError: only directories and
    regular files, no absolute path, no ``..``, no empty name (what falcoctl also refuses)."""
    name = m.name
    if not (m.isfile() or m.isdir()):
        kind = "symlink" if m.issym() else "hard link" if m.islnk() else "special file"
        raise ArtifactError(f"archive member {name!r} is a {kind}: refused")
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or name.startswith("/"):
        raise ArtifactError(f"archive member {name!r} escapes the target directory: refused")
    rel = "/".join(x for x in p.parts if x not in ("", "."))
    if not rel:
        raise ArtifactError(f"archive member {name!r} has no name: refused")
    return rel


def extract_layer(data: bytes, dest: Path) -> List[str]:
    """Extracts a plugin layer into dest like falcoctl: every member checked first, then
    directories created and files written (0755 / 0644). Returns the member paths."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ArtifactError(f"the layer is not a valid .tar.gz: {e}") from None
    names = [check_member(m) for m in members]
    with tar:
        for m, rel in zip(members, names):
            target = dest / rel
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                os.chmod(target, 0o755)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            assert src is not None
            tmp = target.with_name(target.name + ".falcoctl-tmp")
            with open(tmp, "wb") as f:
                shutil.copyfileobj(src, f)
            os.chmod(tmp, 0o755 if m.mode & 0o111 else 0o644)
            os.replace(tmp, target)
    return names


# ---------------------------------------------------------------------------- build

@dataclass
class Artifact:
    """One built artifact (one platform). Saved next to the tarball as ``<stem>.artifact.json``
    so that ``push`` can assemble several platforms into one OCI index."""
    name: str
    version: str
    arch: str                       # uname -m (as in the tarball name)
    platform: str                   # OCI platform, e.g. linux/amd64
    tarball: str                    # file name, next to this descriptor
    config_file: str                # file name of the config blob, next to this descriptor
    layer_digest: str
    layer_size: int
    config_digest: str
    config_size: int
    python: str                     # CPython minor version, e.g. 3.11
    soabi: str
    glibc: Optional[str]
    required_api_version: str
    libpython: str
    home: Optional[str]
    annotations: Dict[str, str] = field(default_factory=dict)
    dir: str = ""                   # where the files are (not saved)

    def path(self, name: str) -> Path:
        return Path(self.dir) / name

    def save(self) -> Path:
        d = asdict(self)
        d.pop("dir")
        out = self.path(Path(self.tarball).name.replace(".tar.gz", ".artifact.json"))
        out.write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
        return out

    @classmethod
    def load(cls, path: os.PathLike) -> "Artifact":
        p = Path(path)
        d = json.loads(p.read_text())
        return cls(dir=str(p.parent), **d)


def config_json(ident: PluginIdentity) -> bytes:
    """falcoctl's config blob for a plugin."""
    cfg = {"name": ident.name, "version": ident.version,
           "requirements": [{"name": "plugin_api_version", "version": ident.required_api_version}]}
    return json.dumps(cfg, separators=(",", ":")).encode()


def runtime_sidecar(libpython: str, home: Optional[str]) -> str:
    lines = ["# Read by libk8saudit-ovh.so at plugin_init; relative paths are relative to this",
             "# file's directory. Environment overrides: K8SAUDIT_OVH_LIBPYTHON,",
             "# K8SAUDIT_OVH_PYTHONHOME.",
             f"libpython={libpython}"]
    if home:
        lines.append(f"home={home}")
    lines.append(f"path={SITE_DIR}")
    return "\n".join(lines) + "\n"


def compile_bytecode(site: Path) -> None:
    """Byte code, compiled once here (the plugins directory may be read-only at run time).
    Reproducible: unchecked-hash .pyc files do not depend on file times, ``-d`` keeps this
    machine's paths out of them, and a fresh interpreter with a fixed hash seed marshals the
    same bytes every time (set constants follow string hashes; marshal output depends on
    reference counts in a long-lived process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    r = subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "1", "-d", SITE_DIR,
                        "--invalidation-mode", "unchecked-hash", str(site)],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise ArtifactError("byte-compiling the collected Python files failed:\n"
                            + (r.stdout + r.stderr)[-2000:])


def stage(staging: Path, *, libpython: str, home: Optional[str]) -> Dict[str, object]:
    """Lays the artifact's files out in ``staging`` (empty) from this Python's installed
    k8saudit-ovh and its dependencies. Returns the build info."""
    import k8saudit_ovh

    pkg_dir = Path(k8saudit_ovh.__file__).resolve().parent
    lib = pkg_dir / LIBRARY_NAME
    if not lib.is_file():
        raise ArtifactError(f"{lib} is missing: install the package with `pip install .` first")
    soabi = sysconfig.get_config_var("SOABI") or ""
    ext_suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    for mod in ("_plugin", "_source", "_jsonidx", "_extract"):
        if not (pkg_dir / (mod + ext_suffix)).is_file():
            raise ArtifactError(f"extension module k8saudit_ovh.{mod}{ext_suffix} is missing "
                                f"from {pkg_dir}: the package is not built for this Python")

    site = staging / SITE_DIR
    site.mkdir(parents=True)
    shutil.copyfile(lib, staging / LIBRARY_NAME)
    dists = runtime_distributions()
    copied: List[str] = []
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
            dst = site / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            copied.append(rel)
    if not (site / "k8saudit_ovh" / ("_plugin" + ext_suffix)).is_file():
        raise ArtifactError("k8saudit_ovh was not collected from its installed files")

    compile_bytecode(site)

    (staging / RUNTIME_SIDECAR).write_text(runtime_sidecar(libpython, home))
    elf = [p for p in staging.rglob("*.so") if p.is_file()]
    info = {
        "name": PLUGIN_NAME, "version": __version__,
        "python": "%d.%d" % sys.version_info[:2], "soabi": soabi,
        "arch": _platform.machine(), "os": "linux",
        "glibc": _glibc_requirement(elf),
        "glibcxx": _glibc_requirement(elf, b"GLIBCXX_"),
        "libpython": libpython, "home": home,
        "distributions": {d.metadata["Name"]: d.version for d in dists},
        "host_needs": f"the CPython {sys.version_info[0]}.{sys.version_info[1]} shared library "
                      f"(Debian/Ubuntu: libpython{sys.version_info[0]}.{sys.version_info[1]}) "
                      "and its standard library",
    }
    (staging / BUILD_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def build(out_dir: os.PathLike = "dist", *, libpython: Optional[str] = None,
          home: Optional[str] = "/usr") -> Artifact:
    """Builds ``<out_dir>/k8saudit-ovh-<version>-linux-<arch>.tar.gz``, its config blob and its
    descriptor from the k8saudit-ovh installed in this Python.

    ``libpython``: where the target host's CPython library is (default: Debian's path for this
    Python's version and this machine's arch). ``home``: the Python home on the target host
    (default ``/usr``, Debian's); ``None`` leaves it to the library (the home recorded at build
    time if it exists on the host, else CPython's own search)."""
    import k8saudit_ovh

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    libpython = libpython or default_libpython()
    m = re.search(r"libpython(\d+\.\d+)", os.path.basename(libpython))
    mine = "%d.%d" % sys.version_info[:2]
    if m and m.group(1) != mine:
        raise ArtifactError(f"--libpython {libpython} is CPython {m.group(1)}, but the extension "
                            f"modules are built for CPython {mine}: build with python{m.group(1)}")
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
        info = stage(staging, libpython=libpython, home=home)
        tarball = out / f"{stem}.tar.gz"
        write_tarball(staging, tarball)
    cfg = config_json(ident)
    cfg_file = out / f"{stem}.config.json"
    cfg_file.write_bytes(cfg)
    layer = tarball.read_bytes()
    annotations = {
        "org.opencontainers.image.source": SOURCE_URL,
        "org.opencontainers.image.version": ident.version,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "io.k8saudit-ovh.python": str(info["python"]),
        "io.k8saudit-ovh.soabi": str(info["soabi"]),
        "io.k8saudit-ovh.glibc": str(info["glibc"] or ""),
        "io.k8saudit-ovh.libpython": libpython,
    }
    art = Artifact(name=ident.name, version=ident.version, arch=arch, platform=f"linux/{goarch}",
                   tarball=tarball.name, config_file=cfg_file.name,
                   layer_digest=sha256_digest(layer), layer_size=len(layer),
                   config_digest=sha256_digest(cfg), config_size=len(cfg),
                   python=str(info["python"]), soabi=str(info["soabi"]),
                   glibc=info["glibc"], required_api_version=ident.required_api_version,
                   libpython=libpython, home=home, annotations=annotations, dir=str(out))
    art.save()
    return art


# ---------------------------------------------------------------------------- command line

def _cmd_build(args) -> int:
    home = None if args.home in ("", "none") else args.home
    art = build(args.out, libpython=args.libpython, home=home)
    print(json.dumps({"tarball": str(art.path(art.tarball)), "config": str(art.path(art.config_file)),
                      "platform": art.platform, "python": art.python, "glibc": art.glibc,
                      "layer_digest": art.layer_digest, "config_digest": art.config_digest},
                     indent=2))
    return 0


def _cmd_push(args) -> int:
    from . import oci
    arts = [Artifact.load(p) for p in args.artifacts]
    tags = None if not args.no_floating_tags else [arts[0].version]
    res = oci.push_plugin(args.ref, arts, tags=tags, plain_http=args.plain_http,
                          username=os.environ.get("K8SAUDIT_OVH_REGISTRY_USER"),
                          password=os.environ.get("K8SAUDIT_OVH_REGISTRY_PASSWORD"))
    print(json.dumps(res, indent=2))
    return 0


def _cmd_pull(args) -> int:
    from . import oci
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
    b.add_argument("--libpython", default=None,
                   help="CPython library on the target host (default: Debian's, %s)"
                        % default_libpython_or_none())
    b.add_argument("--home", default="/usr",
                   help="Python home on the target host (default /usr; 'none' to leave it "
                        "to the library)")
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


def default_libpython_or_none() -> str:
    try:
        return default_libpython()
    except ArtifactError:
        return "none for this arch"


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
