"""The artifact alone is enough: extracted the way falcoctl does into the plugins folder of a
Debian 12 root that has no Python, no OpenSSL and no CA store (debootstrap minbase), the C
host (no Python) runs the plugin there, chrooted, with an empty environment:

- the conformance events, every field compared with expected.jsonl;
- the loopback wss server, verified once with ldpCAFile and once with the test CA at
  /etc/ssl/certs/ca-certificates.crt; with neither, the bundled certifi bundle is used;
- under strace: no file opened outside the plugins folder but glibc's and libstdc++'s own,
  the CA bundle and the inputs named on the command line.

The same in a root with Debian's python3.11 and libpython3.11 installed, and PYTHONHOME /
PYTHONPATH set to nonsense. Roots: tests/debootstrap_roots.py (cached tarballs).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import conformance
import debootstrap_roots as roots
import dist_support as ds
from k8saudit_ovh import LIBRARY_NAME
from k8saudit_ovh_release import layer, pyruntime

pytestmark = pytest.mark.slow

PLUGINS = "/usr/share/falco/plugins"
HOST = "/usr/local/bin/falco_host"
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"
NONSENSE = {"PYTHONHOME": "/nonsense/home", "PYTHONPATH": "/nonsense/path"}

# Files of glibc itself (name service, time zone, locale, iconv) a process may read whatever
# it runs: allowed besides the libraries HOST_LIBS names.
GLIBC_FILES = re.compile(r"^(/etc/(ld\.so\.cache|localtime|nsswitch\.conf|hosts|host\.conf|"
                         r"resolv\.conf|gai\.conf|services|protocols)|/usr/share/zoneinfo/.*|"
                         r"/usr/lib/locale/.*|/usr/lib/x86_64-linux-gnu/gconv/.*|/dev/(null|urandom))$")
LIB_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return ds.build_artifact(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module", params=["bare", "python"])
def root(request, built, c_host, tmp_path_factory):
    """(variant, root path, environment): a fresh root with the artifact in its plugins
    folder, the C host, and the conformance inputs in /tmp."""
    variant = request.param
    tarball = roots.bare_tarball() if variant == "bare" else roots.python_tarball()
    r = roots.unpack(tarball, tmp_path_factory.mktemp(variant) / "root")
    names = layer.extract_layer(built.path(built.tarball).read_bytes(), r / PLUGINS.lstrip("/"))
    assert names
    shutil.copyfile(c_host, r / HOST.lstrip("/"))
    (r / HOST.lstrip("/")).chmod(0o755)
    shutil.copyfile(ds.require_events(), r / "tmp" / "events.jsonl")
    (r / "tmp" / "fields.txt").write_text("\n".join(conformance.load_specs()) + "\n")
    env = {} if variant == "bare" else dict(NONSENSE)
    yield variant, r, env
    shutil.rmtree(r, ignore_errors=True)


def _in_root(r: Path, argv: List[str], env: Dict[str, str], tmp: Path, timeout=600,
             popen=False):
    """argv in the root with exactly env, under strace (opens and execs to a trace file)."""
    trace = tmp / "strace.txt"
    cmd = [ds.require_tool("strace", "strace"), "-f", "-qq", "-o", str(trace),
           "-e", "trace=execve,open,openat,openat2,creat",
           ds.require_tool("chroot", "coreutils"), str(r), "/usr/bin/env", "-i",
           *(f"{k}={v}" for k, v in env.items()), *argv]
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL), trace
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p, trace


def opened_files(trace: Path) -> List[str]:
    """Files the host opened successfully (after its own execve), as seen inside the root."""
    lines = trace.read_text().splitlines()
    start = next((i for i, ln in enumerate(lines) if "execve(\"" + HOST in ln and "= 0" in ln),
                 None)
    assert start is not None, "the trace has no execve of the host"
    out = []
    for ln in lines[start + 1:]:
        m = re.search(r'open(?:at2?)?\((?:AT_FDCWD, |\d+, )?"([^"]+)".*\)\s+=\s+(-?\d+)', ln) \
            or re.search(r'creat\("([^"]+)".*\)\s+=\s+(-?\d+)', ln)
        if m and int(m.group(2)) >= 0:
            out.append(m.group(1))
    return out


def outside(opened: List[str], allowed_inputs: Tuple[str, ...]) -> List[str]:
    bad = []
    for path in opened:
        if path.startswith(PLUGINS + "/") or path in allowed_inputs or GLIBC_FILES.match(path):
            continue
        if path.startswith(LIB_DIRS) and pyruntime.HOST_LIBS.match(path.rsplit("/", 1)[1]):
            continue
        bad.append(path)
    return sorted(set(bad))


def test_root_is_what_it_claims(root):
    variant, r, _ = root
    libs = [p.name for d in ("usr/lib", "lib") for p in (r / d).rglob("*.so*")]
    has = {"libpython": any(n.startswith("libpython") for n in libs),
           "libssl": any(n.startswith("libssl") for n in libs),
           "python": bool(list((r / "usr" / "bin").glob("python3*"))),
           "ca store": (r / SYSTEM_CA.lstrip("/")).exists()}
    if variant == "bare":
        assert not any(has.values()), f"the bare root is not bare: {has}"
    else:
        assert has["libpython"] and has["libssl"] and has["python"], has
        assert (r / "usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0").is_file() or \
            list((r / "usr" / "lib").rglob("libpython3.11.so.1.0"))
    assert (r / PLUGINS.lstrip("/") / LIBRARY_NAME).is_file()


def test_conformance_in_the_root(root, tmp_path):
    variant, r, env = root
    p, trace = _in_root(r, [HOST, f"{PLUGINS}/{LIBRARY_NAME}", "extract", "--events",
                            "/tmp/events.jsonl", "--fields-file", "/tmp/fields.txt"], env,
                        tmp_path)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, err[-3000:]
    recs = [json.loads(x) for x in p.stdout.decode().split("\n") if x.strip()]
    got = {rec["event"]: rec["values"] for rec in recs}
    assert sorted(got) == list(range(1, len(conformance.load_events()) + 1))
    specs = conformance.load_specs()
    mismatches = conformance.compare(lambda n, payload, s: got[n], specs=specs)
    assert not mismatches, conformance.report(mismatches)
    opened = opened_files(trace)
    assert any(f.endswith("/k8saudit-ovh-runtime/lib/libpython3.11.so.1.0") for f in opened)
    bad = outside(opened, ("/tmp/events.jsonl", "/tmp/fields.txt"))
    assert not bad, f"[{variant}] files opened outside the plugins folder: {bad}"


def _stream(r: Path, env, tmp: Path, config, n: int, expect_events: bool = True):
    """The C host in the root tails the loopback server; config(ca) gives its init config."""
    trace = {}

    def start(url, ca):
        proc, trace["path"] = _in_root(
            r, [HOST, f"{PLUGINS}/{LIBRARY_NAME}", "replay", "--open", url, "--config",
                json.dumps(config(ca)), "--max-events", str(n),
                "--max-seconds", "60" if expect_events else "8", "--quiet"],
            env, tmp, popen=True)
        return proc
    rc, lines, err = ds.tail_loopback_ldp(start, n, tmp, publish=expect_events)
    return rc, lines, err, trace["path"]


def test_wss_verified_with_ldpCAFile(root, tmp_path):
    variant, r, env = root

    def config(ca):
        shutil.copyfile(ca, r / "tmp" / "test-ca.pem")
        return {"ldpCAFile": "/tmp/test-ca.pem"}
    rc, lines, err, trace = _stream(r, env, tmp_path, config, 5)
    end = ds.replay_summary(lines, err, rc)
    assert end["end"] == "MAX" and end["events"] == 5, end
    assert "verified with ldpCAFile (/tmp/test-ca.pem)" in err, err[-2000:]
    bad = outside(opened_files(trace), ("/tmp/test-ca.pem",))
    assert not bad, f"[{variant}] files opened outside the plugins folder: {bad}"


def test_wss_verified_with_the_hosts_ca_bundle(root, tmp_path):
    variant, r, env = root
    bundle = r / SYSTEM_CA.lstrip("/")

    def config(ca):
        bundle.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca, bundle)
        return {}
    try:
        rc, lines, err, trace = _stream(r, env, tmp_path, config, 5)
    finally:
        bundle.unlink(missing_ok=True)
    end = ds.replay_summary(lines, err, rc)
    assert end["end"] == "MAX" and end["events"] == 5, end
    assert f"verified with the host's CA bundle ({SYSTEM_CA})" in err, err[-2000:]
    bad = outside(opened_files(trace), (SYSTEM_CA,))
    assert not bad, f"[{variant}] files opened outside the plugins folder: {bad}"


def test_without_a_host_ca_bundle_the_bundled_one_is_used(root, tmp_path):
    """No ldpCAFile and no CA store: certifi's bundle. It does not know the test CA, so the
    connection is refused for that reason, which proves which bundle verified it."""
    variant, r, env = root
    assert not (r / SYSTEM_CA.lstrip("/")).exists()
    rc, lines, err, trace = _stream(r, env, tmp_path, lambda ca: {}, 1, expect_events=False)
    assert re.search(r"verified with the CA bundle shipped with the plugin \(certifi\) "
                     rf"\({re.escape(PLUGINS)}/k8saudit-ovh-runtime/site-packages/certifi/"
                     r"cacert\.pem\)", err), err[-2000:]
    assert "certificate verif" in err.lower() or "CERTIFICATE_VERIFY_FAILED" in err, err[-2000:]
    assert not [x for x in lines if isinstance(x, dict) and x.get("events")], lines
