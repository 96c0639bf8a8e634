"""A small OCI distribution client: push falcoctl plugin artifacts, pull them like falcoctl.

Only what k8saudit-ovh's releases need, on the standard library: blobs (monolithic upload),
manifests and image indexes, token ("Bearer") and basic authentication, http for a loopback
registry and https elsewhere.

Layout pushed (what falcoctl reads)::

    tag(s) -> OCI image index  (application/vnd.oci.image.index.v1+json)
                 manifests[i] -> OCI image manifest, platform linux/<goarch>
                     config   application/vnd.cncf.falco.plugin.config.v1+json  {name,version,requirements}
                     layers[0] application/vnd.cncf.falco.plugin.layer.v1+tar.gz  (title annotation = file name)
"""
from __future__ import annotations

import base64
import json
import os
import platform as _platform
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .layer import extract_layer
from .media import (GOARCH, MEDIA_PLUGIN_CONFIG, MEDIA_PLUGIN_LAYER, MEDIA_RULESFILE_CONFIG,
                    MEDIA_RULESFILE_LAYER, Artifact, ArtifactError, floating_tags,
                    semver_compatible, sha256_digest)

MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ANNOTATION_TITLE = "org.opencontainers.image.title"

# artifact type -> (config media type, layer media type)
ARTIFACT_TYPES = {
    "plugin": (MEDIA_PLUGIN_CONFIG, MEDIA_PLUGIN_LAYER),
    "rulesfile": (MEDIA_RULESFILE_CONFIG, MEDIA_RULESFILE_LAYER),
}


class RegistryError(ArtifactError):
    """A registry answered with an error, or could not be reached."""


# ---------------------------------------------------------------------------- references

@dataclass
class Reference:
    registry: str           # host[:port]
    repository: str
    reference: Optional[str] = None   # tag or sha256:... digest

    @property
    def is_digest(self) -> bool:
        return bool(self.reference and self.reference.startswith("sha256:"))

    def __str__(self) -> str:
        sep = "@" if self.is_digest else ":"
        return f"{self.registry}/{self.repository}" + (f"{sep}{self.reference}" if self.reference else "")


def parse_reference(ref: str) -> Reference:
    """``host[:port]/repo/path[:tag|@sha256:hex]``; the registry part is required."""
    ref = ref.strip()
    for scheme in ("oci://", "https://", "http://"):
        if ref.startswith(scheme):
            ref = ref[len(scheme):]
    if "/" not in ref:
        raise ArtifactError(f"reference {ref!r} has no registry part (REGISTRY/REPOSITORY[:TAG])")
    registry, rest = ref.split("/", 1)
    if not ("." in registry or ":" in registry or registry == "localhost"):
        raise ArtifactError(f"reference {ref!r}: {registry!r} is not a registry host")
    digest = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise ArtifactError(f"reference {ref!r}: bad digest {digest!r}")
    tag = None
    m = re.fullmatch(r"(.+?):([A-Za-z0-9_][A-Za-z0-9._-]{0,127})", rest)
    if m:
        rest, tag = m.groups()
    if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*", rest):
        raise ArtifactError(f"reference {ref!r}: bad repository name {rest!r}")
    return Reference(registry, rest, digest or tag)


def host_platform() -> str:
    arch = _platform.machine()
    return f"linux/{GOARCH.get(arch, arch)}"


# ---------------------------------------------------------------------------- client

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by hand (blob downloads may go to another host, which must not
    get our Authorization header)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401
        return None


class Registry:
    def __init__(self, host: str, *, plain_http: bool = False, username: Optional[str] = None,
                 password: Optional[str] = None, timeout: float = 60.0):
        self.host = host
        self.base = ("http://" if plain_http else "https://") + host
        self.username = username
        self.password = password
        self.timeout = timeout
        self._auth: Dict[str, str] = {}        # scope -> Authorization header value
        self._opener = urllib.request.build_opener(_NoRedirect)

    # -- transport

    def _basic(self) -> Optional[str]:
        if self.username is None:
            return None
        tok = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
        return "Basic " + tok

    def _token(self, challenge: str, scope: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{self.host}: bearer challenge without realm: {challenge!r}")
        q = {"service": params.get("service", "")}
        q["scope"] = params.get("scope") or scope
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(q)
        req = urllib.request.Request(url)
        basic = self._basic()
        if basic:
            req.add_header("Authorization", basic)
        try:
            with self._opener.open(req, timeout=self.timeout) as r:
                body = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RegistryError(f"{self.host}: token request refused ({e.code}): "
                                "check the credentials") from None
        except (urllib.error.URLError, OSError) as e:
            raise RegistryError(f"{self.host}: token service unreachable: {e}") from None
        tok = body.get("token") or body.get("access_token")
        if not tok:
            raise RegistryError(f"{self.host}: the token service returned no token")
        return "Bearer " + tok

    def request(self, method: str, path_or_url: str, *, scope: str, data: Optional[bytes] = None,
                headers: Optional[Dict[str, str]] = None, ok: Sequence[int] = (200,),
                _redirects: int = 5) -> Tuple[int, Dict[str, str], bytes]:
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        same_host = urllib.parse.urlsplit(url).netloc == self.host
        for attempt in (0, 1):
            req = urllib.request.Request(url, data=data, method=method)
            for k, v in (headers or {}).items():
                req.add_header(k, v)
            if same_host and scope in self._auth:
                req.add_header("Authorization", self._auth[scope])
            try:
                with self._opener.open(req, timeout=self.timeout) as r:
                    return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
            except urllib.error.HTTPError as e:
                body = e.read() if e.fp else b""
                hdrs = {k.lower(): v for k, v in (e.headers or {}).items()}
                if e.code in (301, 302, 303, 307, 308) and "location" in hdrs and _redirects:
                    nxt = urllib.parse.urljoin(url, hdrs["location"])
                    return self.request("GET" if e.code == 303 else method, nxt, scope=scope,
                                        data=data, headers=headers, ok=ok,
                                        _redirects=_redirects - 1)
                if e.code == 401 and attempt == 0 and same_host:
                    challenge = hdrs.get("www-authenticate", "")
                    if challenge.lower().startswith("bearer"):
                        self._auth[scope] = self._token(challenge, scope)
                        continue
                    if challenge.lower().startswith("basic") and self._basic():
                        self._auth[scope] = self._basic()  # type: ignore[assignment]
                        continue
                if e.code in ok:
                    return e.code, hdrs, body
                raise RegistryError(f"{method} {url}: {e.code} {e.reason}: "
                                    f"{body[:300].decode('utf-8', 'replace')}") from None
            except (urllib.error.URLError, OSError) as e:
                raise RegistryError(f"{method} {url}: {getattr(e, 'reason', e)}") from None
        raise RegistryError(f"{method} {url}: not authorized (401)")

    # -- API

    @staticmethod
    def _scope(repo: str, push: bool) -> str:
        return f"repository:{repo}:{'pull,push' if push else 'pull'}"

    def blob_exists(self, repo: str, digest: str, *, push: bool = False) -> bool:
        code, _, _ = self.request("HEAD", f"/v2/{repo}/blobs/{digest}",
                                  scope=self._scope(repo, push), ok=(200, 404))
        return code == 200

    def push_blob(self, repo: str, data: bytes, digest: Optional[str] = None) -> str:
        digest = digest or sha256_digest(data)
        if sha256_digest(data) != digest:
            raise ArtifactError(f"blob content does not match {digest}")
        scope = self._scope(repo, True)
        if self.blob_exists(repo, digest, push=True):
            return digest
        code, hdrs, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope, data=b"",
                                     headers={"Content-Length": "0"}, ok=(202,))
        loc = hdrs.get("location")
        if not loc:
            raise RegistryError(f"{self.host}: upload started without a Location")
        loc = urllib.parse.urljoin(self.base + "/", loc)
        loc += ("&" if "?" in loc else "?") + urllib.parse.urlencode({"digest": digest})
        self.request("PUT", loc, scope=scope, data=data, ok=(201,),
                     headers={"Content-Type": "application/octet-stream",
                              "Content-Length": str(len(data))})
        return digest

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        digest = sha256_digest(body)
        _, hdrs, _ = self.request("PUT", f"/v2/{repo}/manifests/{reference}",
                                  scope=self._scope(repo, True), data=body, ok=(201,),
                                  headers={"Content-Type": media_type})
        got = hdrs.get("docker-content-digest")
        if got and got != digest:
            raise RegistryError(f"{self.host}: manifest stored as {got}, expected {digest}")
        return digest

    def get_manifest(self, repo: str, reference: str) -> Tuple[bytes, str, str]:
        accept = ", ".join([MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_LIST,
                            MEDIA_DOCKER_MANIFEST])
        _, hdrs, body = self.request("GET", f"/v2/{repo}/manifests/{reference}",
                                     scope=self._scope(repo, False), headers={"Accept": accept})
        digest = sha256_digest(body)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"manifest {reference} has digest {digest}: refused")
        media = (hdrs.get("content-type") or "").split(";")[0].strip()
        try:
            media = json.loads(body).get("mediaType") or media
        except ValueError:
            raise RegistryError(f"manifest {reference} is not JSON") from None
        return body, media, digest

    def get_blob(self, repo: str, digest: str) -> bytes:
        _, _, body = self.request("GET", f"/v2/{repo}/blobs/{digest}",
                                  scope=self._scope(repo, False))
        if sha256_digest(body) != digest:
            raise RegistryError(f"blob {digest} does not match its digest: refused")
        return body

    def tags(self, repo: str) -> List[str]:
        _, _, body = self.request("GET", f"/v2/{repo}/tags/list", scope=self._scope(repo, False))
        return sorted(json.loads(body).get("tags") or [])


def _client(ref: Reference, plain_http: bool, username: Optional[str],
            password: Optional[str]) -> Registry:
    return Registry(ref.registry, plain_http=plain_http, username=username, password=password)


# ---------------------------------------------------------------------------- push

def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def plugin_manifest(art: Artifact) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_PLUGIN_CONFIG, "digest": art.config_digest,
                   "size": art.config_size},
        "layers": [{"mediaType": MEDIA_PLUGIN_LAYER, "digest": art.layer_digest,
                    "size": art.layer_size,
                    "annotations": {ANNOTATION_TITLE: Path(art.tarball).name}}],
        "annotations": dict(sorted(art.annotations.items())),
    }


def push_plugin(ref: str, artifacts: Sequence[Artifact], *, tags: Optional[Sequence[str]] = None,
                plain_http: bool = False, username: Optional[str] = None,
                password: Optional[str] = None) -> dict:
    """Pushes one manifest per platform and an image index over them, tagged with ``tags``
    (default: the version's floating tags, as falcosecurity publishes: full, major.minor,
    major, latest). A tag in ``ref`` itself is pushed too."""
    if not artifacts:
        raise ArtifactError("nothing to push")
    names = {(a.name, a.version) for a in artifacts}
    if len(names) != 1:
        raise ArtifactError(f"artifacts of different plugins or versions: {sorted(names)}")
    plats = [a.platform for a in artifacts]
    if len(set(plats)) != len(plats):
        raise ArtifactError(f"two artifacts for one platform: {plats}")
    r = parse_reference(ref)
    reg = _client(r, plain_http, username, password)
    version = artifacts[0].version
    all_tags = list(tags) if tags is not None else floating_tags(version)
    if r.reference and not r.is_digest and r.reference not in all_tags:
        all_tags.insert(0, r.reference)

    entries = []
    for art in sorted(artifacts, key=lambda a: a.platform):
        layer = art.path(art.tarball).read_bytes()
        cfg = art.path(art.config_file).read_bytes()
        reg.push_blob(r.repository, cfg, art.config_digest)
        reg.push_blob(r.repository, layer, art.layer_digest)
        body = _canonical(plugin_manifest(art))
        digest = reg.put_manifest(r.repository, sha256_digest(body), body, MEDIA_OCI_MANIFEST)
        os_, arch = art.platform.split("/", 1)
        entries.append({"mediaType": MEDIA_OCI_MANIFEST, "digest": digest, "size": len(body),
                        "platform": {"architecture": arch, "os": os_}})
    index = {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": entries,
             "annotations": {"org.opencontainers.image.version": version}}
    body = _canonical(index)
    index_digest = ""
    for tag in all_tags:
        index_digest = reg.put_manifest(r.repository, tag, body, MEDIA_OCI_INDEX)
    return {"repository": f"{r.registry}/{r.repository}", "index_digest": index_digest,
            "tags": all_tags, "manifests": entries}


# ---------------------------------------------------------------------------- pull

@dataclass
class PullResult:
    reference: str
    manifest_digest: str
    artifact_type: str
    config: dict
    files: List[str] = field(default_factory=list)


def _select_platform(index: dict, platform: str) -> dict:
    os_, _, arch = platform.partition("/")
    for m in index.get("manifests") or []:
        p = m.get("platform") or {}
        if p.get("os") == os_ and p.get("architecture") == arch:
            return m
    have = sorted("%s/%s" % ((m.get("platform") or {}).get("os"),
                             (m.get("platform") or {}).get("architecture"))
                  for m in index.get("manifests") or [])
    raise ArtifactError(f"no artifact for platform {platform} (available: {', '.join(have)})")


def pull(ref: str, dest: os.PathLike, *, platform: Optional[str] = None,
         allowed_types: Sequence[str] = ("plugin", "rulesfile"),
         plain_http: bool = False, username: Optional[str] = None,
         password: Optional[str] = None,
         plugin_api_version: Optional[str] = None) -> PullResult:
    """What ``falcoctl artifact install`` does with a reference: resolve the tag, take the
    manifest of this platform from the index, check the artifact type against
    ``allowed_types`` (by the config media type), fetch and verify the layer, and extract it
    into ``dest`` refusing symlinks, hard links and paths that leave ``dest``.

    ``plugin_api_version``: when given (the framework's version, as falcoctl's follower reads
    it from Falco), the artifact's ``plugin_api_version`` requirement must be compatible."""
    r = parse_reference(ref)
    if not r.reference:
        r.reference = "latest"
    reg = _client(r, plain_http, username, password)
    body, media, digest = reg.get_manifest(r.repository, r.reference)
    doc = json.loads(body)
    if media in (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST) or "manifests" in doc:
        entry = _select_platform(doc, platform or host_platform())
        body, media, digest = reg.get_manifest(r.repository, entry["digest"])
        doc = json.loads(body)
    cfg_media = (doc.get("config") or {}).get("mediaType")
    kind = next((k for k, (c, _) in ARTIFACT_TYPES.items() if c == cfg_media), None)
    if kind is None:
        raise ArtifactError(f"{r}: config media type {cfg_media!r} is not a Falco artifact")
    if kind not in allowed_types:
        raise ArtifactError(f"{r}: artifact type {kind!r} is not allowed ({', '.join(allowed_types)})")
    config = json.loads(reg.get_blob(r.repository, doc["config"]["digest"]))
    if plugin_api_version:
        for req in config.get("requirements") or []:
            if req.get("name") == "plugin_api_version" and not semver_compatible(
                    plugin_api_version, req.get("version", "")):
                raise ArtifactError(f"{r}: requires plugin API {req.get('version')}, the "
                                    f"framework has {plugin_api_version}")
    layer_media = ARTIFACT_TYPES[kind][1]
    layers = [lay for lay in doc.get("layers") or [] if lay.get("mediaType") == layer_media]
    if len(layers) != 1:
        raise ArtifactError(f"{r}: expected one {layer_media} layer, found {len(layers)}")
    data = reg.get_blob(r.repository, layers[0]["digest"])
    files = extract_layer(data, Path(dest))
    return PullResult(str(r), digest, kind, config, files)
