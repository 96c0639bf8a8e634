"""What the artifact builder and the OCI client share: media types, platforms, where a release
is published, version rules and the built-artifact descriptor. (A module of its own so that
neither imports the other.)"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

MEDIA_PLUGIN_CONFIG = "application/vnd.cncf.falco.plugin.config.v1+json"
MEDIA_PLUGIN_LAYER = "application/vnd.cncf.falco.plugin.layer.v1+tar.gz"
MEDIA_RULESFILE_CONFIG = "application/vnd.cncf.falco.rulesfile.config.v1+json"
MEDIA_RULESFILE_LAYER = "application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz"

# Where a release is published (index.yaml, README.md's "Install on OVHcloud MKS" and the Helm
# values use the same).
DEFAULT_REGISTRY = "ghcr.io"
DEFAULT_REPOSITORY = "k8saudit-ovh/k8saudit-ovh/plugin/k8saudit-ovh"
SOURCE_URL = "https://github.com/k8saudit-ovh/k8saudit-ovh"

# uname -m -> GOARCH (the OCI platform falcoctl selects by runtime.GOARCH)
GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
          "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


class ArtifactError(Exception):
    """The artifact cannot be built, pushed, pulled or extracted (message says why)."""


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
    python_version: str             # the embedded CPython, e.g. 3.11.7
    soabi: str
    glibc: Optional[str]
    required_api_version: str
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
