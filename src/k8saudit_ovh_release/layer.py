"""The plugin layer: a reproducible .tar.gz of regular files and directories (what falcoctl
0.13 accepts and its next release still accepts), and its extraction the way falcoctl does it."""
from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import List

from .media import ArtifactError


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
