"""The C-host benchmark's two programs and one interleaved measurement of them (shared by
test_bench_c_host.py and check_ratio.py): tests/host/falco_host.c `bench` drives the library in
a process without Python, one extract_fields call per field with a new event number per event
as Falco does; parse_baseline.cpp is simdjson's DOM parse of the same payloads (the baseline)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import bench_common
from host_tools import host_env

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _cc(args, out: Path) -> str:
    r = subprocess.run(args + ["-o", str(out)], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("compilation failed: %s\n%s" % (" ".join(args), r.stderr))
    return str(out)


def build(outdir: Path) -> tuple[str, str]:
    """(falco_host, parse_baseline) compiled into outdir."""
    import simdjson
    sj = Path(simdjson.__file__).parent
    host = _cc(["cc", "-O2", "-std=c11", "-Iinclude", "tests/host/falco_host.c", "-ldl", "-lpthread"],
               outdir / "falco_host")
    base = _cc(["c++", "-O3", "-std=c++17", f"-I{sj}", str(HERE / "parse_baseline.cpp"),
                str(sj / "simdjson.cpp")], outdir / "parse_baseline")
    return host, base


def _run(cmd) -> dict:
    # the host must bring up its own Python, like Falco: none of ours leaks into it
    r = subprocess.run(cmd, capture_output=True, text=True, env=host_env(), timeout=600)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], r.returncode, r.stderr[-2000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def events_path() -> str:
    return str(bench_common.conformance.path("events.jsonl"))


def _pass_ns_per_event(r: dict, iterations: int) -> float:
    return r["best_pass_seconds"] * 1e9 * iterations / r["events"]


def dom_parse_ns(base: str, iterations: int = 20) -> float:
    """ns per event of simdjson's DOM parse over the conformance events (one run of
    parse_baseline, its undisturbed pass)."""
    return _pass_ns_per_event(_run([base, events_path(), str(iterations)]), iterations)


def measure(host: str, base: str, lib: str, workdir: Path, rounds: int = 5,
            iterations: int = 20) -> dict:
    """Interleaved rounds of the three programs; each reports its undisturbed pass (fastest
    time of every 32-event chunk, summed) and the fastest of the rounds counts. Returns
    {loop: {"ns_per_event", "run"}} for dom_parse, rule_fields and all_specs."""
    events = events_path()
    rule = workdir / "rule.txt"
    rule.write_text("\n".join(bench_common.load_rule_specs()) + "\n")
    every = workdir / "all.txt"
    every.write_text("\n".join(bench_common.load_all_specs()) + "\n")
    cmds = {
        "dom_parse": [base, events, str(iterations)],
        "rule_fields": [host, lib, "bench", "--events", events, "--fields-file", str(rule),
                        "--iterations", str(iterations)],
        "all_specs": [host, lib, "bench", "--events", events, "--fields-file", str(every),
                      "--iterations", str(iterations)],
    }
    best: dict[str, dict] = {}
    with bench_common.one_cpu():
        for _ in range(rounds):
            for name, cmd in cmds.items():
                r = _run(cmd)
                if name not in best or r["best_pass_seconds"] < best[name]["best_pass_seconds"]:
                    best[name] = r
    return {name: {"ns_per_event": _pass_ns_per_event(r, iterations), "run": r}
            for name, r in best.items()}


def ns_per_event(m: dict) -> dict:
    return {name: v["ns_per_event"] for name, v in m.items()}
