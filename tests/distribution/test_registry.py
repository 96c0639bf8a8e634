"""Push and pull for real: Debian's docker-registry on loopback, the artifact pushed with
falcoctl's media types and tags, pulled back into an empty plugins directory the way
`falcoctl artifact install` does, and the extracted library driven by the C host with an
environment that holds nothing but PATH."""
from __future__ import annotations

import json
import socket
import subprocess
import sysconfig
import time
import urllib.request

import pytest

import dist_support as ds
from k8saudit_ovh import LIBRARY_NAME, PLUGIN_NAME, __version__
from k8saudit_ovh_release import artifact, oci

REPOSITORY = "k8saudit-ovh/plugin/k8saudit-ovh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A private docker-registry (distribution 2.x) on 127.0.0.1, storage in a temp dir."""
    exe = ds.require_tool("docker-registry", "docker-registry")
    d = tmp_path_factory.mktemp("registry")
    port = _free_port()
    (d / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {d / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: k8saudit-ovh-test\n")
    log = open(d / "registry.log", "wb")
    proc = subprocess.Popen([exe, "serve", str(d / "config.yml")], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}/v2/", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail("docker-registry did not start:\n" + (d / "registry.log").read_text())
        time.sleep(0.1)
    try:
        yield host
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return ds.build_artifact(tmp_path_factory.mktemp("artifact"))


@pytest.fixture(scope="module")
def pushed(registry, built):
    return oci.push_plugin(f"{registry}/{REPOSITORY}", [built], plain_http=True)


def _get(url: str, accept: str = None):
    req = urllib.request.Request(url)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers.get("Content-Type", ""), r.read()


def test_push_tags_and_media_types_as_falcoctl_expects(registry, built, pushed):
    base = f"http://{registry}/v2/{REPOSITORY}"
    _, body = _get(f"{base}/tags/list")
    assert sorted(json.loads(body)["tags"]) == sorted(["0", "0.7", __version__, "latest"])
    assert pushed["tags"] == artifact.floating_tags(__version__)
    digests = set()
    for tag in artifact.floating_tags(__version__):
        ctype, body = _get(f"{base}/manifests/{tag}", oci.MEDIA_OCI_INDEX)
        assert ctype.startswith(oci.MEDIA_OCI_INDEX)
        digests.add(artifact.sha256_digest(body))
    assert digests == {pushed["index_digest"]}, "every tag points at the same index"
    index = json.loads(body)
    assert index["mediaType"] == oci.MEDIA_OCI_INDEX
    [entry] = index["manifests"]
    assert entry["platform"] == {"os": "linux", "architecture": built.platform.split("/")[1]}
    ctype, body = _get(f"{base}/manifests/{entry['digest']}", oci.MEDIA_OCI_MANIFEST)
    assert artifact.sha256_digest(body) == entry["digest"]
    manifest = json.loads(body)
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.falco.plugin.config.v1+json"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.cncf.falco.plugin.layer.v1+tar.gz"
    assert layer["annotations"]["org.opencontainers.image.title"] == built.tarball
    _, cfg = _get(f"{base}/blobs/{manifest['config']['digest']}")
    assert json.loads(cfg) == {"name": PLUGIN_NAME, "version": __version__,
                               "requirements": [{"name": "plugin_api_version",
                                                 "version": "3.0.0"}]}
    _, blob = _get(f"{base}/blobs/{layer['digest']}")
    assert blob == built.path(built.tarball).read_bytes()


def test_pushing_again_is_idempotent(registry, built, pushed):
    again = oci.push_plugin(f"{registry}/{REPOSITORY}", [built], plain_http=True)
    assert again["index_digest"] == pushed["index_digest"]


def test_pull_checks_type_platform_and_requirements(registry, pushed, tmp_path):
    ref = f"{registry}/{REPOSITORY}:0.7"
    with pytest.raises(artifact.ArtifactError, match="not allowed"):
        oci.pull(ref, tmp_path / "a", plain_http=True, allowed_types=("rulesfile",))
    with pytest.raises(artifact.ArtifactError, match="no artifact for platform"):
        oci.pull(ref, tmp_path / "b", plain_http=True, platform="linux/s390x")
    with pytest.raises(artifact.ArtifactError, match="requires plugin API"):
        oci.pull(ref, tmp_path / "c", plain_http=True, plugin_api_version="2.0.0")
    with pytest.raises(artifact.ArtifactError):
        oci.pull(f"{registry}/{REPOSITORY}:9.9", tmp_path / "d", plain_http=True)
    assert not any((tmp_path / n).exists() and any((tmp_path / n).iterdir()) for n in "abcd")


def test_pulled_plugin_runs_from_an_empty_plugins_dir_with_a_clean_environment(
        registry, built, pushed, tmp_path, c_host):
    events = ds.require_events()
    plugins = tmp_path / "usr" / "share" / "falco" / "plugins"
    plugins.mkdir(parents=True)
    # what falcoctl's follower checks against Falco 0.44 (plugin API 3.12.0)
    res = oci.pull(f"{registry}/{REPOSITORY}:0.7", plugins, plain_http=True,
                   allowed_types=("plugin",), plugin_api_version="3.12.0")
    assert res.artifact_type == "plugin" and res.config["version"] == __version__
    assert res.manifest_digest == pushed["manifests"][0]["digest"]
    assert sorted(p.name for p in plugins.iterdir()) == sorted([LIBRARY_NAME, artifact.RUNTIME_DIR])
    assert not [p for p in plugins.rglob("*") if p.is_symlink()]

    lib = plugins / LIBRARY_NAME
    rc, lines, err = ds.run_clean([c_host, lib, "replay", "--open", events, "--quiet"],
                                  extra_env={"LD_DEBUG": "files"})
    end = ds.replay_summary(lines, err, rc)
    assert end["end"] == "EOF" and end["events"] == ds.EVENTS_DELIVERED, end
    assert end["metrics"]["events_delivered"] == ds.EVENTS_DELIVERED
    # the runtime that served it: the pulled directory's own libpython, OpenSSL and extension
    # modules, not the build machine's CPython or a virtualenv
    loaded = [ln for ln in err.splitlines() if "calling init:" in ln]
    own = str(plugins / artifact.LIB_DIR / sysconfig.get_config_var("INSTSONAME"))
    assert any(ln.rstrip().endswith(own) for ln in loaded), loaded[:20]
    for name in ("k8saudit_ovh/_plugin.", "libssl.so", "_ssl."):
        hits = [ln for ln in loaded if name in ln]
        assert all(str(plugins) in ln for ln in hits), hits


def test_pulled_plugin_tails_a_tls_websocket_with_its_bundled_runtime(
        registry, built, pushed, tmp_path, c_host):
    """The LDP source from the pulled directory, clean environment: the bundled websockets,
    ssl module and OpenSSL, TLS verified against a test CA, events through next_batch."""
    plugins = tmp_path / "plugins"
    oci.pull(f"{registry}/{REPOSITORY}:{__version__}", plugins, plain_http=True)
    pkg = plugins / artifact.SITE_DIR / "k8saudit_ovh"
    if not ((pkg / "ldp.py").is_file() or (pkg / "ldp" / "__init__.py").is_file()):
        pytest.fail("the artifact has no k8saudit_ovh.ldp (the LDP source)")
    n = 5

    def start(url, ca):
        return subprocess.Popen(
            [str(c_host), str(plugins / LIBRARY_NAME), "replay", "--open", url,
             "--config", json.dumps({"ldpCAFile": ca}), "--max-events", str(n),
             "--max-seconds", "60", "--quiet"],
            env={"PATH": ds.CLEAN_PATH}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL)
    rc, lines, err = ds.tail_loopback_ldp(start, n, tmp_path)
    end = ds.replay_summary(lines, err, rc)
    assert end["end"] == "MAX" and end["events"] == n, end


def test_multi_platform_index_and_platform_selection(registry, built, tmp_path):
    """Releases carry one manifest per platform in one index; pull takes the one asked for.
    (The arm64 entry reuses this machine's files: only the index logic is under test.)"""
    import dataclasses
    arch, goarch = ("aarch64", "arm64") if built.platform != "linux/arm64" else ("x86_64", "amd64")
    other = dataclasses.replace(built, arch=arch, platform=f"linux/{goarch}",
                                annotations={**built.annotations, "io.k8saudit-ovh.test": arch})
    repo = f"{registry}/k8saudit-ovh/multi/k8saudit-ovh"
    res = oci.push_plugin(repo, [built, other], plain_http=True, tags=[__version__])
    assert sorted(m["platform"]["architecture"] for m in res["manifests"]) == ["amd64", "arm64"]
    got = oci.pull(f"{repo}:{__version__}", tmp_path / "other", plain_http=True,
                   platform=other.platform)
    want = next(m["digest"] for m in res["manifests"] if m["platform"]["architecture"] == goarch)
    assert got.manifest_digest == want
    mine = oci.pull(f"{repo}:{__version__}", tmp_path / "mine", plain_http=True)
    assert mine.manifest_digest != want
    with pytest.raises(artifact.ArtifactError, match="two artifacts for one platform"):
        oci.push_plugin(repo, [built, built], plain_http=True)
