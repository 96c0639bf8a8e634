"""The falcoctl artifact: its compressed size (and what takes the room), and the time from
plugin_init to the first event delivered in a fresh process without Python
(benchmarks/first_event.c), for the artifact's bundled CPython against the pip-installed
library (the build machine's CPython) measured in the same run. Printed; the check is a ratio
and the size budget, never a time."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import dist_support as ds  # noqa: E402
from host_tools import INCLUDE, compile_c  # noqa: E402

RUNS = 5
# Start-up of the bundled runtime (stdlib from a zip, its own OpenSSL) against the installed
# one: a bound that only catches a gross regression (e.g. a start-up that scans a directory).
STARTUP_BOUND = 3.0


def _first_event(exe: str, lib: Path, events: Path) -> dict:
    r = subprocess.run([exe, str(lib), str(events)], env={}, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_artifact_size_and_time_to_first_event(tmp_path_factory):
    import k8saudit_ovh
    from k8saudit_ovh_release import artifact, layer

    events = ds.require_events()
    art = ds.build_artifact(tmp_path_factory.mktemp("dist"))
    plugins = tmp_path_factory.mktemp("plugins")
    layer.extract_layer(art.path(art.tarball).read_bytes(), plugins)
    info = json.loads((plugins / artifact.BUILD_INFO).read_text())
    exe = str(compile_c([HERE / "first_event.c"], tmp_path_factory.mktemp("fe") / "first_event",
                        ["-O2", "-std=c11", "-I", str(INCLUDE)], ["-ldl"]))
    bundled_lib = plugins / k8saudit_ovh.LIBRARY_NAME
    installed_lib = Path(k8saudit_ovh.library_path())
    bundled, installed = [], []
    for _ in range(RUNS):                 # interleaved: both see the same machine load
        bundled.append(_first_event(exe, bundled_lib, events))
        installed.append(_first_event(exe, installed_lib, events))
    med = {name: {k: statistics.median(r[k] for r in runs) / 1000 for k in runs[0]}
           for name, runs in (("bundled", bundled), ("installed", installed))}
    ratio = med["bundled"]["first_event_us"] / med["installed"]["first_event_us"]

    print(f"\nartifact {art.tarball}: {art.layer_size} bytes compressed "
          f"({art.layer_size / 2**20:.2f} MiB, budget {artifact.SIZE_BUDGET / 2**20:.0f} MiB, "
          f"{art.layer_size / artifact.SIZE_BUDGET:.0%} of it); CPython {info['python_version']}")
    for r in info["sizes"]:
        print(f"  {r['what']:<45} {int(r['bytes']) / 2**20:6.2f} MiB on disk "
              f"{int(r['gzip_bytes']) / 2**20:6.2f} MiB gzip  {r['files']} files")
    for name in ("bundled", "installed"):
        m = med[name]
        print(f"  {name:<9} plugin_init {m['init_us']:.1f} ms, open {m['open_us']:.1f} ms, "
              f"first event {m['first_event_us']:.1f} ms after plugin_init (median of {RUNS})")
    print(f"  ratio bundled / installed (time to first event): {ratio:.2f}")

    if art.platform == "linux/amd64":
        assert art.layer_size <= artifact.SIZE_BUDGET
    assert ratio <= STARTUP_BOUND, f"the bundled runtime starts {ratio:.1f}x slower"
