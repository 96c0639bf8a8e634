"""A fresh clone in an empty folder (no ../shared beside it) passes its tests: the tests that
need the shared corpus are skipped with one line saying what is missing and where, nothing
fails or errors. (CI has ../shared and sets K8SAUDIT_OVH_REQUIRE_SHARED=1, so there they run.)

Running the whole suite again from inside the suite would double `make test`; this runs the
clone's full collection, then every test file that reads the corpus, against the package
installed in this Python."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import conformance

REPO = Path(__file__).resolve().parents[2]
# Files that read the corpus but also need infrastructure of their own (a local registry,
# debootstrap): the files run here already cover the same skip path (conformance.require).
INFRA = {"test_registry.py", "test_image_debootstrap.py"}
CORPUS_USE = re.compile(r"conformance\.(path|load_|require)|shared_dir|require_events")


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if os.environ.get("K8SAUDIT_OVH_IN_FRESH_CLONE"):
        pytest.skip("already running inside the fresh clone")
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    empty = tmp_path_factory.mktemp("empty")
    dest = empty / "k8saudit-ovh"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(dest)], check=True, timeout=120)
    assert not (empty / "shared").exists()
    return dest


def _pytest(clone: Path, *args: str, timeout: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("K8SAUDIT_OVH_SHARED", conformance.REQUIRE_ENV)}
    env["K8SAUDIT_OVH_IN_FRESH_CLONE"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "--rootdir", str(clone), *args], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_fresh_clone_collects_every_test_file_without_shared(clone):
    r = _pytest(clone, "--collect-only", "tests", "benchmarks", timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    collected = {ln.split("::", 1)[0] for ln in r.stdout.splitlines() if "::" in ln}
    # every test file is collected: none sits in a folder pytest skips (e.g. "dist", "build")
    files = {str(p.relative_to(clone)) for d in ("tests", "benchmarks")
             for p in (clone / d).rglob("test_*.py")}
    assert collected == files, (sorted(files - collected), sorted(collected - files))


def test_fresh_clone_skips_corpus_tests_with_one_line(clone):
    files = sorted(str(p.relative_to(clone)) for d in ("tests", "benchmarks")
                   for p in (clone / d).rglob("test_*.py")
                   if p.name not in INFRA and CORPUS_USE.search(p.read_text()))
    assert any("conformance" in f for f in files) and len(files) >= 5, files
    r = _pytest(clone, *files, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if conformance.SKIP_PREFIX in ln]
    assert len(lines) == 1, "\n".join(lines[:5])
    assert str(clone.parent / "shared") in lines[0] and "events.jsonl" in lines[0], lines[0]
    skipped = int(re.search(r"SKIPPED \[(\d+)\]", lines[0]).group(1))
    assert skipped >= 20, lines[0]                     # the corpus tests really are the ones skipped
    summary = r.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "error" not in summary, summary
