"""Distribution: the falcoctl plugin artifact (layout, what it ships, RUNPATHs, size, config,
reproducibility, safe extraction), index.yaml, the Helm values (stock image, falcoctl installs
the plugin) and the install documentation stay consistent."""
from __future__ import annotations

import ctypes
import io
import json
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import PurePosixPath

import pytest

import dist_support as ds
from k8saudit_ovh import LIBRARY_NAME, PLUGIN_NAME, __version__
from k8saudit_ovh_release import artifact, layer, oci

REPO = ds.REPO
VALUES = REPO / "deploy" / "helm" / "values.yaml"
INDEX = REPO / "index.yaml"
INSTALL_DOC = REPO / "README.md"
INDEX_URL = "https://raw.githubusercontent.com/k8saudit-ovh/k8saudit-ovh/main/index.yaml"

# falcoctl's index Entry (the fields of its pkg/index Entry type)
ENTRY_MANDATORY = {"name", "type", "registry", "repository"}
ENTRY_OPTIONAL = {"signature", "description", "home", "keywords", "license", "maintainers",
                  "sources"}
ENTRY_TYPES = {"plugin", "rulesfile", "asset"}

# top-level keys of the Falco chart's values.yaml (falcosecurity/charts, falco 9.x)
CHART_TOP_LEVEL = {
    "image", "imagePullSecrets", "nameOverride", "fullnameOverride", "namespaceOverride",
    "podAnnotations", "serviceAccount", "rbac", "podLabels", "podPriorityClassName",
    "podSecurityContext", "containerSecurityContext", "scc", "resources", "nodeSelector",
    "affinity", "tolerations", "healthChecks", "tty", "controller", "services", "metrics",
    "mounts", "driver", "collectors", "extra", "podHostname", "certs", "customRules",
    "falcosidekick", "responseActions", "falco-talon", "falcoctl", "serviceMonitor", "grafana",
    "falco",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return ds.build_artifact(tmp_path_factory.mktemp("artifact"))


@pytest.fixture(scope="module")
def members(built):
    with tarfile.open(built.path(built.tarball), "r:gz") as tar:
        return tar.getmembers()


@pytest.fixture(scope="module")
def values():
    return ds.require_yaml().safe_load(VALUES.read_text())


@pytest.fixture(scope="module")
def index():
    return ds.require_yaml().safe_load(INDEX.read_text())


def _init_schema() -> dict:
    import k8saudit_ovh
    dll = ctypes.CDLL(k8saudit_ovh.library_path())
    dll.plugin_get_init_schema.restype = ctypes.c_char_p
    dll.plugin_get_init_schema.argtypes = [ctypes.POINTER(ctypes.c_uint32)]
    kind = ctypes.c_uint32(0)
    return json.loads(dll.plugin_get_init_schema(ctypes.byref(kind)))


def _lib_identity():
    import k8saudit_ovh
    return artifact.read_identity(k8saudit_ovh.library_path())


# ------------------------------------------------------------------------------ artifact


def test_artifact_name_platform_and_digests(built):
    import platform
    arch = platform.machine()
    assert built.tarball == f"k8saudit-ovh-{__version__}-linux-{arch}.tar.gz"
    assert built.platform == f"linux/{artifact.GOARCH[arch]}"
    layer = built.path(built.tarball).read_bytes()
    cfg = built.path(built.config_file).read_bytes()
    assert built.layer_digest == artifact.sha256_digest(layer) and built.layer_size == len(layer)
    assert built.config_digest == artifact.sha256_digest(cfg) and built.config_size == len(cfg)
    assert built.python == ds.this_python_version()
    assert built.soabi == sysconfig.get_config_var("SOABI")
    assert re.fullmatch(r"\d+\.\d+", built.glibc or ""), built.glibc
    # the descriptor round-trips (push reads it)
    again = artifact.Artifact.load(built.path(built.tarball.replace(".tar.gz", ".artifact.json")))
    assert again == built


def test_artifact_is_flat_safe_and_reproducible_tar(members, built):
    names = [m.name for m in members]
    assert len(names) == len(set(names))
    for m in members:
        assert m.isfile() or m.isdir(), f"{m.name}: only files and directories are allowed"
        p = PurePosixPath(m.name)
        assert not p.is_absolute() and ".." not in p.parts and not m.name.startswith("./"), m.name
        assert m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == ""
        assert m.mode == (0o755 if m.isdir() else 0o644), (m.name, oct(m.mode))
        # every directory is listed before what it contains
        if len(p.parts) > 1:
            assert str(p.parent) in names[: names.index(m.name)], m.name
    top = {PurePosixPath(n).parts[0] for n in names}
    assert top == {LIBRARY_NAME, artifact.RUNTIME_DIR}
    raw = built.path(built.tarball).read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0", "gzip header must carry no mtime"


def test_artifact_carries_package_extensions_dependencies_and_bytecode(members):
    names = {m.name for m in members}
    site = artifact.SITE_DIR
    ext = sysconfig.get_config_var("EXT_SUFFIX")
    for mod in ("_plugin", "_ingest", "_jsonidx", "_extract"):
        assert f"{site}/k8saudit_ovh/{mod}{ext}" in names
    for mod in ("__init__", "runtime", "config", "filesource", "log"):
        assert f"{site}/k8saudit_ovh/{mod}.py" in names
    assert f"{site}/websockets/__init__.py" in names, "websockets (runtime dependency) is missing"
    assert any(re.fullmatch(rf"{site}/websockets-[\d.]+\.dist-info/METADATA", n) for n in names)
    # the entry library sits at the top only; no build-machine state travels
    assert f"{site}/k8saudit_ovh/{LIBRARY_NAME}" not in names
    assert not [n for n in names if n.endswith(("/RECORD", "/direct_url.json", "/INSTALLER"))]
    tag = sys.implementation.cache_tag
    for n in names:
        if n.endswith(".py") and "/site-packages/" in n:
            d, f = n.rsplit("/", 1)
            pyc = f"{d}/__pycache__/{f[:-3]}.{tag}.pyc"
            assert pyc in names, f"no byte code for {n}"


def test_artifact_carries_its_cpython_runtime(members, built):
    names = {m.name for m in members}
    soname = sysconfig.get_config_var("INSTSONAME")
    zip_name = "python%d%d.zip" % sys.version_info[:2]
    assert f"{artifact.LIB_DIR}/{soname}" in names
    assert f"{artifact.RUNTIME_DIR}/{zip_name}" in names
    for mod in ("_ssl", "_socket", "_asyncio", "select", "_json"):
        assert f"{artifact.DYNLOAD_DIR}/{mod}{sysconfig.get_config_var('EXT_SUFFIX')}" in names
    assert re.search(r"/lib/libssl\.so\.\d+$", "\n".join(names), re.M), "OpenSSL is not bundled"
    assert f"{artifact.SITE_DIR}/certifi/cacert.pem" in names
    with tarfile.open(built.path(built.tarball), "r:gz") as tar:
        info = json.loads(tar.extractfile(artifact.BUILD_INFO).read())
        stdlib_zip = tar.extractfile(f"{artifact.RUNTIME_DIR}/{zip_name}").read()
    assert info["python"] == built.python and info["glibc"] == built.glibc
    assert info["python_version"] == "%d.%d.%d" % sys.version_info[:3]
    assert info["distributions"]["k8saudit-ovh"] == __version__
    assert {"websockets", "certifi"} <= set(info["distributions"])
    with zipfile.ZipFile(io.BytesIO(stdlib_zip)) as z:
        zipped = set(z.namelist())
    assert all(n.endswith(".pyc") for n in zipped), "the standard library ships as byte code"
    for mod in ("encodings/__init__.pyc", "encodings/idna.pyc", "asyncio/__init__.pyc",
                "ssl.pyc", "json/__init__.pyc", "logging/__init__.pyc"):
        assert mod in zipped, mod
    for never in ("tkinter/", "unittest/", "idlelib/", "test/", "pydoc", "lib2to3/", "ensurepip/"):
        assert not [n for n in zipped if n.startswith(never)], f"{never} has no place in Falco"


def test_artifact_ships_only_what_runs_in_falco(members):
    """No operator tools, no release tooling, no test harness, no build-machine state."""
    names = [m.name for m in members]
    site_top = {PurePosixPath(n).parts[2] for n in names
                if n.startswith(artifact.SITE_DIR + "/") and len(PurePosixPath(n).parts) > 2}
    packages = {t for t in site_top if not t.endswith(".dist-info")}
    assert packages == {"k8saudit_ovh", "websockets", "certifi"}, packages
    for bad in (*artifact.NOT_SHIPPED, "tests/", "benchmarks/", "falco_host", "ldp_server",
                "conftest", "sample-audit", "dist_support", "__editable__", ".pth"):
        hits = [n for n in names if bad in n]
        assert not hits, f"{bad!r} must not be in the artifact: {hits[:5]}"
    assert not [n for n in names if n.endswith(("/RECORD", "/direct_url.json", "/INSTALLER"))]


def test_artifact_elf_files_find_their_libraries_relative_to_themselves(built, tmp_path):
    """Every RUNPATH is $ORIGIN-relative (none points at the build machine); every library an
    ELF file needs is glibc, libstdc++/libgcc_s, or in the artifact's lib/."""
    from k8saudit_ovh_release import pyruntime
    dest = tmp_path / "plugins"
    layer.extract_layer(built.path(built.tarball).read_bytes(), dest)
    libdir = dest / artifact.LIB_DIR
    bundled = {p.name for p in libdir.iterdir()}
    elves = [p for p in dest.rglob("*.so*") if p.is_file()]
    assert len(elves) > 10
    for elf in elves:
        r = subprocess.run(["patchelf", "--print-rpath", str(elf)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        for entry in filter(None, r.stdout.strip().split(":")):
            assert entry.startswith("$ORIGIN"), f"{elf.name}: RUNPATH {entry}"
            target = (elf.parent / entry.replace("$ORIGIN", ".")).resolve()
            assert target == libdir.resolve(), f"{elf.name}: RUNPATH {entry} is not lib/"
        for soname in pyruntime.needed(elf):
            assert pyruntime.HOST_LIBS.match(soname) or soname in bundled, \
                f"{elf.name} needs {soname}, which is neither glibc/libstdc++ nor bundled"
    build_paths = [p for p in {sys.prefix, sys.base_prefix, str(REPO)} if len(p) > 4]
    for pyc in dest.rglob("*.pyc"):
        data = pyc.read_bytes()
        leaked = [p for p in build_paths if p.encode() in data]
        assert not leaked, f"{pyc}: carries the build path {leaked}"


def test_artifact_size_within_budget(built, members):
    """Issue 8's budget: 15 MB compressed for linux/amd64; BUILD-INFO says what takes it."""
    if built.platform == "linux/amd64":
        assert built.layer_size <= artifact.SIZE_BUDGET, built.layer_size
    with tarfile.open(built.path(built.tarball), "r:gz") as tar:
        sizes = json.loads(tar.extractfile(artifact.BUILD_INFO).read())["sizes"]
    listed = sum(int(r["bytes"]) for r in sizes)
    on_disk = sum(m.size for m in members if m.isfile() and m.name != artifact.BUILD_INFO)
    assert listed == on_disk, "the size report must account for every file"
    assert [r["gzip_bytes"] for r in sizes] == sorted((r["gzip_bytes"] for r in sizes),
                                                      reverse=True)


def test_config_json_is_falcoctls_plugin_config(built):
    cfg = json.loads(built.path(built.config_file).read_bytes())
    ident = _lib_identity()
    assert cfg == {"name": PLUGIN_NAME, "version": __version__,
                   "requirements": [{"name": "plugin_api_version", "version": "3.0.0"}]}
    assert ident.name == PLUGIN_NAME and ident.version == __version__
    assert ident.required_api_version == "3.0.0"


def test_build_is_reproducible(built, tmp_path):
    again = artifact.build(tmp_path)
    assert again.layer_digest == built.layer_digest
    assert again.config_digest == built.config_digest


def test_manifest_uses_falcoctl_media_types(built):
    m = oci.plugin_manifest(built)
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert m["config"]["mediaType"] == "application/vnd.cncf.falco.plugin.config.v1+json"
    assert [lay["mediaType"] for lay in m["layers"]] == [
        "application/vnd.cncf.falco.plugin.layer.v1+tar.gz"]
    assert m["layers"][0]["annotations"]["org.opencontainers.image.title"] == built.tarball
    assert m["config"]["digest"] == built.config_digest
    assert m["layers"][0]["digest"] == built.layer_digest


def test_floating_tags_and_semver_rules():
    assert artifact.floating_tags("0.7.0") == ["0.7.0", "0.7", "0", "latest"]
    assert artifact.floating_tags("1.2.3-rc1") == ["1.2.3-rc1"]
    ok, bad = artifact.semver_compatible, lambda a, b: not artifact.semver_compatible(a, b)
    assert ok("3.12.0", "3.0.0") and ok("3.0.0", "3.0.0") and ok("0.7.0", "0.6.0")
    assert bad("2.0.0", "3.0.0") and bad("4.0.0", "3.0.0") and bad("0.5.9", "0.6.0")


def test_reference_parsing():
    r = oci.parse_reference("127.0.0.1:5000/k8saudit-ovh/plugin/k8saudit-ovh:0.7")
    assert (r.registry, r.repository, r.reference) == ("127.0.0.1:5000",
                                                       "k8saudit-ovh/plugin/k8saudit-ovh", "0.7")
    r = oci.parse_reference("ghcr.io/a/b@sha256:" + "0" * 64)
    assert r.is_digest and r.repository == "a/b"
    assert oci.parse_reference("ghcr.io/a/b").reference is None
    for bad in ("k8saudit-ovh:0.7", "ghcr.io/A/b:1", "ghcr.io/a/b@sha256:12"):
        with pytest.raises(artifact.ArtifactError):
            oci.parse_reference(bad)


def _targz(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for ti, data in entries:
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name, data=b"x"):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    return ti, data


def _link(name, target, kind):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = target
    return ti, None


@pytest.mark.parametrize("entry", [
    _link("libk8saudit-ovh.so", "/etc/passwd", tarfile.SYMTYPE),
    _link("evil", "libk8saudit-ovh.so", tarfile.LNKTYPE),
    _file("../escape.so"),
    _file("/abs.so"),
    _file("dir/../../escape.so"),
], ids=["symlink", "hardlink", "dotdot", "absolute", "nested-dotdot"])
def test_extraction_refuses_what_falcoctl_refuses(tmp_path, entry):
    dest = tmp_path / "plugins"
    data = _targz([_file("ok.so"), entry])
    with pytest.raises(artifact.ArtifactError):
        artifact.extract_layer(data, dest)
    # members are all checked before anything is written
    assert not dest.exists() or not any(dest.iterdir())
    assert not (tmp_path / "escape.so").exists()


def test_extraction_writes_files_and_directories(tmp_path, built):
    dest = tmp_path / "plugins"
    names = layer.extract_layer(built.path(built.tarball).read_bytes(), dest)
    assert (dest / LIBRARY_NAME).is_file() and (dest / artifact.BUILD_INFO).is_file()
    assert all((dest / n).exists() for n in names)
    assert not [p for p in dest.rglob("*") if p.is_symlink()]


# ------------------------------------------------------------------------------ index.yaml


def test_index_yaml_is_a_falcoctl_index(index):
    assert isinstance(index, list) and index, "index.yaml is a list of entries"
    names = [e.get("name") for e in index]
    assert len(names) == len(set(names))
    for e in index:
        assert isinstance(e, dict)
        missing = ENTRY_MANDATORY - set(e)
        assert not missing, f"entry {e.get('name')}: missing {missing}"
        unknown = set(e) - ENTRY_MANDATORY - ENTRY_OPTIONAL
        assert not unknown, f"entry {e.get('name')}: keys falcoctl does not know: {unknown}"
        assert e["type"] in ENTRY_TYPES
        for k in ENTRY_MANDATORY | {"description", "home", "license"}:
            if k in e:
                assert isinstance(e[k], str) and e[k].strip(), k
        for k in ("keywords", "sources"):
            if k in e:
                assert isinstance(e[k], list) and all(isinstance(x, str) and x for x in e[k])
        for m in e.get("maintainers", []):
            assert set(m) <= {"email", "name"} and m.get("name")
            assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", m.get("email", "")), m
        assert "://" not in e["registry"] and not e["repository"].startswith("/")
        oci.parse_reference(f"{e['registry']}/{e['repository']}")


def test_index_entry_for_this_plugin(index):
    e = next(x for x in index if x["name"] == PLUGIN_NAME)
    assert e["type"] == "plugin"
    assert (e["registry"], e["repository"]) == (artifact.DEFAULT_REGISTRY,
                                                artifact.DEFAULT_REPOSITORY)
    assert e["license"] == "Apache-2.0"
    assert {"kubernetes", "audit", "ovh", "mks"} <= set(e["keywords"])
    assert e["sources"] and all(s.startswith("https://") for s in e["sources"])
    assert e["maintainers"]
    assert artifact.SOURCE_URL in e["sources"] and e["home"] == artifact.SOURCE_URL


# ------------------------------------------------------------------------------ Helm values


def _plugin_cfg(values, name):
    return next(p for p in values["falco"]["plugins"] if p["name"] == name)


def test_helm_values_use_only_chart_keys(values):
    unknown = set(values) - CHART_TOP_LEVEL
    assert not unknown, f"keys the Falco chart does not have: {unknown}"


def test_helm_values_deployment_without_driver_or_collectors(values):
    assert values["controller"]["kind"] == "deployment"
    assert values["controller"]["deployment"]["replicas"] == 1
    assert values["driver"]["enabled"] is False
    assert values["collectors"]["enabled"] is False


def test_helm_values_load_the_plugin_falcoctl_installs_with_the_url_from_a_secret(values):
    falco = values["falco"]
    assert falco["load_plugins"] == [PLUGIN_NAME, "json"]
    ovh = _plugin_cfg(values, PLUGIN_NAME)
    assert ovh["open_params"] == "${LDP_URL}"
    # relative: Falco looks in /usr/share/falco/plugins, where falcoctl extracts the artifact
    assert ovh["library_path"] == LIBRARY_NAME
    schema = _init_schema()
    unknown = set(ovh["init_config"]) - set(schema.get("properties", {}))
    assert not unknown, f"init_config keys the plugin's schema does not define: {unknown}"
    assert _plugin_cfg(values, "json")["library_path"] == "libjson.so"
    env = {e["name"]: e for e in values["extra"]["env"]}
    ref = env["LDP_URL"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] and ref["key"]
    assert "value" not in env["LDP_URL"], "the URL holds the LDP token: never inline it"
    assert "/etc/falco/k8s_audit_rules.yaml" in falco["rules_files"]


def test_helm_values_use_the_stock_falco_image(values):
    img = values["image"]
    assert (img["registry"], img["repository"]) == ("docker.io", "falcosecurity/falco")
    assert re.fullmatch(r"\d+\.\d+\.\d+(-debian)?", str(img.get("tag", "0.0.0"))), img
    assert not (REPO / "Dockerfile").exists(), "no custom image: the Dockerfile is gone"


def test_helm_values_falcoctl_installs_the_plugin_from_this_projects_index(values, index):
    cfg = values["falcoctl"]
    assert cfg["artifact"]["install"]["enabled"] is True
    indexes = cfg["config"]["indexes"]
    urls = [i["url"] for i in indexes]
    assert "https://falcosecurity.github.io/falcoctl/index.yaml" in urls
    # the last entry of a name wins when falcoctl merges indexes, and falcosecurity's index has
    # a k8saudit-ovh entry of its own (the Go plugin)
    assert urls[-1] == INDEX_URL, "this project's index must come last"
    assert PLUGIN_NAME in {e["name"] for e in index}
    art = cfg["config"]["artifact"]
    assert "plugin" in art["allowedTypes"]
    version = _ref_version(art["install"]["refs"], PLUGIN_NAME)
    assert version is not None, "falcoctl must install the plugin"
    assert re.fullmatch(r"\d+\.\d+", version) and __version__.startswith(version + "."), \
        f"install {PLUGIN_NAME}:<major.minor of this release>, not {version}"
    assert version in artifact.floating_tags(__version__), "a tag each release pushes"


def _ref_version(refs, name):
    for r in refs:
        n, _, v = r.rpartition(":")
        if n == name:
            return v
    return None


def test_rules_refs_are_satisfied_by_this_plugin_version(values):
    art = values["falcoctl"]["config"]["artifact"]
    assert {"plugin", "rulesfile"} <= set(art["allowedTypes"])
    install, follow = art["install"]["refs"], art["follow"]["refs"]
    assert art["install"]["resolveDeps"] is False, \
        "resolveDeps would pull the official k8saudit next to this plugin"
    rules = _ref_version(install, "k8saudit-rules")
    assert rules is not None, "the official rules must be installed"
    # the crash-loop trap: a floating major (k8saudit-rules:0 / latest) follows into rules
    # that may require a newer plugin than the image has
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", rules), f"pin k8saudit-rules to major.minor: {rules}"
    assert _ref_version(follow, "k8saudit-rules") == rules
    mm = ".".join(rules.split(".")[:2])
    assert mm in ds.RULES_REQUIREMENTS, f"requirements of k8saudit-rules {mm} unknown: add them"
    need = ds.RULES_REQUIREMENTS[mm]
    assert artifact.semver_compatible(__version__, need[PLUGIN_NAME])
    assert artifact.semver_compatible(_lib_identity().version, need[PLUGIN_NAME])
    json_ref = _ref_version(install, "json")
    assert json_ref and re.fullmatch(r"\d+\.\d+(\.\d+)?", json_ref)
    if "json" in need:
        v = json_ref if json_ref.count(".") == 2 else json_ref + ".0"
        assert artifact.semver_compatible(v, need["json"])


def test_plugin_defines_the_fields_the_rules_use_and_no_json_fields():
    import k8saudit_ovh
    dll = ctypes.CDLL(k8saudit_ovh.library_path())
    dll.plugin_get_fields.restype = ctypes.c_char_p
    names = {f["name"] for f in json.loads(dll.plugin_get_fields())}
    missing = set(ds.RULES_KA_FIELDS) - names
    assert not missing, f"fields the official rules use are missing: {missing}"
    clash = [n for n in names if n.startswith(("json.", "jevt."))]
    assert not clash, "json.*/jevt.* belong to the json plugin (Falco refuses duplicates)"


# ------------------------------------------------------------------------------ docs


def _values_blocks(text):
    return re.findall(r"<!-- helm-values:begin -->\n```yaml\n(.*?)```\n<!-- helm-values:end -->",
                      text, re.S)


def test_install_doc_matches_values_and_index(values, index):
    assert INSTALL_DOC.is_file()
    docs = [INSTALL_DOC]
    entry = next(x for x in index if x["name"] == PLUGIN_NAME)
    for doc in docs:
        text = doc.read_text()
        blocks = _values_blocks(text)
        assert blocks == [VALUES.read_text()], \
            f"{doc.name}: the values block is not values.yaml: run scripts/sync-install-doc.py"
        assert f"{entry['registry']}/{entry['repository']}" in text
        assert INDEX_URL in text and "falcoctl artifact install k8saudit-ovh:0.7" in text
        assert "k8saudit-ovh check" in text
        for gone in ("Dockerfile", "docker build", "/opt/k8saudit-ovh", "libpython3.11)"):
            assert gone not in text, f"{doc.name} still describes the custom image ({gone!r})"
        assert "k8saudit-rules:0.18" in text and "json:0.7" in text
        assert "kubectl -n falco create secret generic k8saudit-ovh-ldp" in text
        for name in ("Monitor in real-time", "WebSocket"):
            assert name in text, f"{doc.name}: how to get the LDP URL ({name!r}) is missing"


# ------------------------------------------------------------------------------ registry auth


def test_registry_client_does_the_token_dance_and_keeps_the_token_on_its_host():
    """ghcr.io-style auth: 401 + Bearer challenge, token from the realm with basic credentials,
    retry with the token; a blob redirect to another host gets no Authorization header."""
    import base64
    import http.server
    import threading

    seen = []
    body = json.dumps({"schemaVersion": 2, "mediaType": oci.MEDIA_OCI_INDEX,
                       "manifests": []}).encode()
    blob = b"layer-bytes"

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code, data=b"", headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            auth = self.headers.get("Authorization", "")
            seen.append((self.server.server_port, self.path, auth))
            port = self.server.server_port
            if self.path.startswith("/token"):
                ok = auth == "Basic " + base64.b64encode(b"u:p").decode()
                assert "scope=repository%3Aa%2Fb%3Apull" in self.path
                return self._send(200 if ok else 401, json.dumps({"token": "T0K"}).encode())
            if self.path == "/cdn/blob":
                return self._send(200, blob)
            if auth != "Bearer T0K":
                realm = f"http://127.0.0.1:{port}/token"
                return self._send(401, b"{}", [("WWW-Authenticate",
                                               f'Bearer realm="{realm}",service="reg"')])
            if self.path == "/v2/a/b/manifests/1.0":
                return self._send(200, body, [("Content-Type", oci.MEDIA_OCI_INDEX)])
            if self.path.startswith("/v2/a/b/blobs/"):
                other = self.server.other_port
                return self._send(307, b"", [("Location", f"http://localhost:{other}/cdn/blob")])
            return self._send(404)

    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), H) for _ in range(2)]
    servers[0].other_port = servers[1].server_port
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        reg = oci.Registry(f"127.0.0.1:{servers[0].server_port}", plain_http=True,
                           username="u", password="p")
        got, media, digest = reg.get_manifest("a/b", "1.0")
        assert got == body and media == oci.MEDIA_OCI_INDEX
        assert reg.get_blob("a/b", artifact.sha256_digest(blob)) == blob
        cdn = [a for port, path, a in seen if path == "/cdn/blob"]
        assert cdn == [""], "the registry token must not follow a redirect to another host"
        with pytest.raises(artifact.ArtifactError, match="does not match its digest"):
            reg.get_blob("a/b", "sha256:" + "0" * 64)
        bad = oci.Registry(f"127.0.0.1:{servers[0].server_port}", plain_http=True,
                           username="u", password="wrong")
        with pytest.raises(oci.RegistryError, match="token request refused"):
            bad.get_manifest("a/b", "1.0")
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def test_build_refuses_a_cpython_without_a_shared_library(tmp_path, monkeypatch):
    """A static CPython has no libpython to embed: the build says so and writes nothing."""
    from k8saudit_ovh_release import pyruntime
    real = pyruntime.sysconfig.get_config_var
    monkeypatch.setattr(pyruntime.sysconfig, "get_config_var",
                        lambda k: 0 if k == "Py_ENABLE_SHARED" else real(k))
    with pytest.raises(artifact.ArtifactError, match="not a shared-library build"):
        artifact.build(tmp_path)
    assert not list(tmp_path.iterdir())


def test_build_refuses_a_standard_library_cut_that_breaks_an_import(tmp_path, monkeypatch):
    """statistics is in the closure only through random's self-test and needs decimal, which
    is cut: without statistics on the cut list, the build's import check must refuse."""
    from k8saudit_ovh_release import stdlib
    monkeypatch.setattr(stdlib, "NEVER", stdlib.NEVER - {"statistics", "fractions"})
    with pytest.raises(artifact.ArtifactError, match=r"do not import:[\s\S]*statistics"):
        artifact.build(tmp_path)
    assert not list(tmp_path.iterdir())


def test_build_says_which_cpython_it_embeds_and_when_it_is_not_the_release_one(
        tmp_path, monkeypatch):
    monkeypatch.setattr(artifact, "RELEASE_PYTHON", "3.99")
    log = io.StringIO()
    art = artifact.build(tmp_path, log=log)
    text = log.getvalue()
    version = "%d.%d.%d" % sys.version_info[:3]
    assert f"embedding CPython {version} from {sysconfig.get_config_var('LIBDIR')}" in text
    assert f"note: releases embed CPython 3.99; this build embeds {version}" in text
    assert f"{art.tarball}: {art.layer_size} bytes compressed" in text
