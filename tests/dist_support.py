"""Shared by the distribution tests (artifact, registry, image): building the artifact, running
the C host with a clean environment, and what the official rules need from the plugin."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EVENTS = SHARED / "conformance" / "events.jsonl"
# events.jsonl: 985 events, 91 of them with a stageTimestamp (the others are dropped and counted)
EVENTS_DELIVERED = 91

# The environment of a host with no Python set up: only PATH (what `env -i PATH=...` gives).
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The official k8s_audit_rules.yaml (k8saudit-rules) by major.minor: the versions its
# required_plugin_versions ask for (../shared/spec/k8saudit-reference.md §3). Alternatives of
# k8saudit are listed under their own names; only the ones this project cares about are kept.
RULES_REQUIREMENTS: Dict[str, Dict[str, str]] = {
    "0.18": {"k8saudit-ovh": "0.6.0", "json": "0.7.0"},
}
for _minor in range(12, 18):
    # 0.12 to 0.17 accepted k8saudit-ovh >= 0.1.0 (json's minimum was not recorded: unknown)
    RULES_REQUIREMENTS[f"0.{_minor}"] = {"k8saudit-ovh": "0.1.0"}

# ka.* fields used by k8s_audit_rules.yaml 0.18 (reference §3): the plugin must define them all.
RULES_KA_FIELDS = (
    "ka.target.resource", "ka.user.name", "ka.target.name", "ka.target.namespace",
    "ka.response.code", "ka.auth.reason", "ka.auth.decision", "ka.verb", "ka.uri",
    "ka.req.pod.containers.image.repository", "ka.target.subresource", "ka.resp.name",
    "ka.req.pod.containers.image", "ka.req.configmap.obj", "ka.req.role.rules",
    "ka.req.binding.subjects", "ka.req.binding.role", "ka.req.role.rules.verbs",
    "ka.req.role.rules.resources", "ka.uri.param", "ka.response.reason", "ka.req.service.type",
    "ka.req.service.ports", "ka.req.pod.volumes.hostpath", "ka.req.pod.host_pid",
    "ka.req.pod.host_network", "ka.req.pod.host_ipc", "ka.req.pod.containers.privileged",
    "ka.req.pod.initContainers.privileged", "ka.req.pod.ephemeralContainers.privileged",
    "ka.req.pod.initContainers.image", "ka.req.pod.ephemeralContainers.image",
    "ka.req.configmap.name",
)


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)),
        None)
    if not path:
        pytest.fail(f"{name} is not installed: apt-get install {package} (CI: .ci/run installs it)")
    return path


def require_yaml():
    try:
        import yaml  # noqa: F401
    except ImportError:
        pytest.fail("PyYAML is missing: pip install pyyaml (it belongs to the test extras)")
    import yaml
    return yaml


def require_events() -> Path:
    if not EVENTS.is_file():
        pytest.fail(f"conformance events not found at {EVENTS} (../shared next to the repo)")
    return EVENTS


_BUILT: Dict[str, Path] = {}


def build_artifact(out: Path):
    """The artifact built from the k8saudit-ovh installed in this Python (embedding this
    CPython). Built once per test session; later callers get a copy of its files in ``out``."""
    from k8saudit_ovh_release import artifact

    first = _BUILT.get("descriptor")
    if first is None:
        try:
            art = artifact.build(out)
        except artifact.ArtifactError as e:
            pytest.fail(f"artifact build failed: {e}")
        _BUILT["descriptor"] = art.path(art.tarball.replace(".tar.gz", ".artifact.json"))
        return art
    out.mkdir(parents=True, exist_ok=True)
    for f in first.parent.iterdir():
        shutil.copyfile(f, out / f.name)
    return artifact.Artifact.load(out / first.name)


def run_clean(args: Sequence[object], *, extra_env: Dict[str, str] = None, timeout: float = 120,
              chroot: Path = None) -> Tuple[int, List[dict], str]:
    """Runs a command with only PATH in its environment (optionally chrooted) and returns
    (returncode, stdout lines parsed as JSON, stderr)."""
    env = {"PATH": CLEAN_PATH, **(extra_env or {})}
    cmd = [str(a) for a in args]
    if chroot is not None:
        cmd = [require_tool("chroot", "coreutils"), str(chroot), "/usr/bin/env", "-i",
               *(f"{k}={v}" for k, v in env.items()), *cmd]
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    lines = []
    for line in out.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError:
                raise AssertionError(
                    f"host stdout is not JSON lines: {line[:300]!r}\n{err[-3000:]}") from None
    return r.returncode, lines, err


def replay_summary(lines: List[dict], err: str, rc: int) -> dict:
    assert rc == 0, f"host exited {rc}\nstderr:\n{err[-4000:]}"
    ends = [x for x in lines if isinstance(x, dict) and "end" in x]
    assert ends, f"no end-of-cycle line from the host\nstderr:\n{err[-4000:]}"
    return ends[-1]


def this_python_version() -> str:
    return "%d.%d" % sys.version_info[:2]


def tail_loopback_ldp(start, n: int, tmp: Path, *, publish: bool = True,
                      timeout: float = 90) -> Tuple[int, List[dict], str]:
    """A TLS loopback LDP server (tests/ldp_server.py, a fresh test CA in tmp) and a host
    process tailing it: ``start(url, ca_pem_path)`` returns that process (a Popen with piped
    stdout/stderr). Once it connects, ``n`` synthetic events are published (unless ``publish``
    is false). Returns (returncode, stdout JSON lines, stderr); fails if the token shows."""
    try:
        import ldp_server
    except ImportError as e:
        pytest.fail(f"tests/ldp_server.py (the loopback LDP server) cannot be imported: {e}")
    ca, ctx = ldp_server.make_tls(tmp)
    with ldp_server.LdpServer(ssl_context=ctx) as srv:
        proc = start(srv.url(host="127.0.0.1"), ca)
        try:
            if publish:
                assert srv.wait_clients(1, timeout=30), "the plugin did not connect"
                srv.publish(ldp_server.synthetic_events(n))
            out, err = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        token = srv.token
    text = out.decode("utf-8", "replace") + err.decode("utf-8", "replace")
    assert token not in text, "the token leaked"
    lines = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
    return proc.returncode, lines, err.decode("utf-8", "replace")
