"""LDP ingest benchmark: events/s and CPU-seconds per 10^5 events from a loopback LDP-like
WebSocket server (tests/ldp_server.py, another process) through next_batch in the Falco-like C
host (tests/host/falco_host.c), without and with extracting the 33 fields of the official rules
(benchmarks/rule_fields.txt, one extract_fields call per field like libsinsp).

The server encodes its frames once and writes them straight to the socket, so the numbers are
the plugin's (the host process: the WebSocket thread, the C parsing, next_batch and, in the
second case, extraction). Each case runs twice, with few and with many events; the difference
removes start-up (Python, connection) from the steady-state figures.

Guards: each case is compared with a baseline measured in the same run against the same
server, that this project does not control: a plain `websockets` client that only drains the
frames (benchmarks/ldp_baseline_client.py). The plugin's events per CPU-second must stay above
about 0.6x of the ratio to that baseline measured on the development machine, so a 2x slowdown
of the plugin fails, whatever the machine's speed or load. The design target (>= 50k events/s
ingest on one core) is still asserted with K8SAUDIT_OVH_BENCH_STRICT=1.
K8SAUDIT_OVH_IDLE_SECONDS=600 runs the 10-minute idle test.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path.insert(0, str(TESTS))

from host_tools import CFLAGS, HOST_SRC, LIBS, compile_c, host_env  # noqa: E402

TOKEN = "bench-token-0123"
N_BIG = int(os.environ.get("K8SAUDIT_OVH_BENCH_EVENTS", "200000"))
N_SMALL = 2000
STRICT = os.environ.get("K8SAUDIT_OVH_BENCH_STRICT") == "1"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_host") / "falco_host"
    return str(compile_c([HOST_SRC], out, CFLAGS, LIBS))


@pytest.fixture(scope="module")
def lib():
    import k8saudit_ovh
    return k8saudit_ovh.library_path()


def _serve(extra=()):
    proc = subprocess.Popen([sys.executable, str(TESTS / "ldp_server.py"), "--count", str(N_BIG),
                             "--token", TOKEN, *extra], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    return proc, int(line.split()[1])


def _stop(proc):
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server():
    """One server process; every connection gets the same N_BIG frames as fast as possible."""
    proc, port = _serve()
    yield f"ws://127.0.0.1:{port}/tail/?tk={TOKEN}"
    _stop(proc)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The same over TLS, with a CA made here: (url, CA file)."""
    from ldp_server import make_tls
    d = tmp_path_factory.mktemp("bench_tls")
    ca, _ = make_tls(d)
    proc, port = _serve(["--certfile", str(d / "server.pem"), "--keyfile", str(d / "server.key")])
    yield f"wss://localhost:{port}/tail/?tk={TOKEN}", ca
    _stop(proc)


def _run(host, lib, url, n, fields: bool, config=None) -> dict:
    config = {"ldpStatsInterval": 0, **(config or {})}
    args = [host, lib, "replay", "--config", json.dumps(config), "--open", url,
            "--max-events", str(n), "--max-seconds", "300", "--quiet"]
    if fields:
        args += ["--fields-file", str(HERE / "rule_fields.txt")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(args, env=host_env(), capture_output=True, timeout=600,
                       stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    summary = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert summary["end"] == "MAX" and summary["events"] == n, summary
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert TOKEN not in r.stderr.decode(errors="replace")
    return {"events": n, "wall_s": wall, "cpu_s": cpu}


def _run_baseline(url, n, ca=None) -> dict:
    args = [sys.executable, str(HERE / "ldp_baseline_client.py"), url, str(n)] + ([ca] if ca else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(args, capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"events": n, "wall_s": wall, "cpu_s": cpu}


def _steady(small, big) -> dict:
    d_events = big["events"] - small["events"]
    d_wall = max(big["wall_s"] - small["wall_s"], 1e-9)
    d_cpu = max(big["cpu_s"] - small["cpu_s"], 1e-9)
    return {"steady_events_per_s": round(d_events / d_wall),
            "steady_events_per_cpu_s": round(d_events / d_cpu)}


def _measure_baseline(url, ca=None) -> dict:
    return _steady(_run_baseline(url, N_SMALL, ca), _run_baseline(url, N_BIG, ca))


# Measured on the 2-core development machine (plugin / plain websockets drain, steady state,
# two runs): events per CPU-second 0.41-0.42 without extraction, 0.34-0.35 with the 33 rule
# fields, 0.52-0.60 over wss://; events per second (wall, noisier) 0.45-0.71, 0.46-0.50 and
# 0.58-1.2. The guards are 0.6x the lower figure: (CPU ratio, wall ratio). The wall ratio
# catches what costs time without CPU (a sleep, a lock wait), the CPU ratio the rest.
GUARD_INGEST = (0.25, 0.27)
GUARD_RULE_FIELDS = (0.21, 0.27)
GUARD_WSS = (0.31, 0.35)
ROUNDS = 2


def _compare(host, lib, url, fields, config=None, ca=None) -> dict:
    """Interleaved rounds of the plugin and the baseline; the best of each (least disturbed
    by the other processes of the machine)."""
    plugin = base = None
    for _ in range(ROUNDS):
        b = _measure_baseline(url, ca)
        p = _measure(host, lib, url, fields, config)
        if base is None or b["steady_events_per_cpu_s"] > base["steady_events_per_cpu_s"]:
            base = b
        if plugin is None or p["steady_events_per_cpu_s"] > plugin["steady_events_per_cpu_s"]:
            plugin = p
    plugin["baseline_events_per_cpu_s"] = base["steady_events_per_cpu_s"]
    plugin["baseline_events_per_s"] = base["steady_events_per_s"]
    plugin["ratio_cpu"] = round(plugin["steady_events_per_cpu_s"] / base["steady_events_per_cpu_s"], 3)
    plugin["ratio_wall"] = round(plugin["steady_events_per_s"] / base["steady_events_per_s"], 3)
    return plugin


def _guard(res, guard):
    cpu, wall = guard
    assert res["ratio_cpu"] >= cpu and res["ratio_wall"] >= wall, (
        f"LDP ingest regressed against the plain websockets client measured in this run: "
        f"CPU ratio {res['ratio_cpu']} (guard {cpu}), wall ratio {res['ratio_wall']} "
        f"(guard {wall}): {res}")


def _measure(host, lib, url, fields: bool, config=None) -> dict:
    small = _run(host, lib, url, N_SMALL, fields, config)
    big = _run(host, lib, url, N_BIG, fields, config)
    d_events = big["events"] - small["events"]
    d_wall = max(big["wall_s"] - small["wall_s"], 1e-9)
    d_cpu = max(big["cpu_s"] - small["cpu_s"], 1e-9)
    return {
        "events": big["events"],
        "events_per_s": round(big["events"] / big["wall_s"]),
        "cpu_s_per_1e5": round(big["cpu_s"] / big["events"] * 1e5, 3),
        "steady_events_per_s": round(d_events / d_wall),
        "steady_cpu_s_per_1e5": round(d_cpu / d_events * 1e5, 3),
        "steady_events_per_cpu_s": round(d_events / d_cpu),
        "startup_wall_s": round(small["wall_s"], 3),
    }


def _report(benchmark, name, res):
    print(f"\nLDP {name}: " + ", ".join(f"{k}={v}" for k, v in res.items()))
    if benchmark is not None:
        benchmark.extra_info.update(res)


def test_ldp_ingest(benchmark, host, lib, server):
    res = benchmark.pedantic(_compare, args=(host, lib, server, False), rounds=1, iterations=1)
    _report(benchmark, "ingest (no extraction)", res)
    _guard(res, GUARD_INGEST)
    if STRICT:
        assert res["steady_events_per_cpu_s"] >= 50000, res


def test_ldp_ingest_with_rule_fields(benchmark, host, lib, server):
    fields = [ln for ln in (HERE / "rule_fields.txt").read_text().splitlines() if ln.strip()]
    assert len(fields) == 33
    res = benchmark.pedantic(_compare, args=(host, lib, server, True), rounds=1, iterations=1)
    _report(benchmark, "ingest + 33 rule fields", res)
    _guard(res, GUARD_RULE_FIELDS)
    if STRICT:
        assert res["steady_events_per_s"] >= 25000, res


def test_ldp_ingest_wss(benchmark, host, lib, tls_server):
    url, ca = tls_server
    res = benchmark.pedantic(_compare, args=(host, lib, url, False, {"ldpCAFile": ca}, ca),
                             rounds=1, iterations=1)
    _report(benchmark, "ingest over wss:// (no extraction)", res)
    _guard(res, GUARD_WSS)
    if STRICT:
        assert res["steady_events_per_cpu_s"] >= 40000, res


@pytest.mark.skipif(not os.environ.get("K8SAUDIT_OVH_IDLE_SECONDS"),
                    reason="set K8SAUDIT_OVH_IDLE_SECONDS (e.g. 600) to run the idle soak")
def test_idle_connection_stays_up_for_minutes(host, lib):
    """A real idle connection with the default keepalive (ping after 20 s of silence, 20 s pong
    timeout): it stays up, no reconnect, and the next event still arrives."""
    from ldp_server import LdpServer, synthetic_events
    seconds = float(os.environ["K8SAUDIT_OVH_IDLE_SECONDS"])
    with LdpServer(token=TOKEN) as srv:
        proc = subprocess.Popen([host, lib, "replay", "--open", srv.url(), "--max-events", "1",
                                 "--max-seconds", str(seconds + 120), "--quiet"],
                                env=host_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        assert srv.wait_clients(1, timeout=30)
        time.sleep(seconds)
        assert srv.handshakes == 1 and srv.live_clients == 1
        srv.publish(synthetic_events(1, prefix="idle"))
        out, err = proc.communicate(timeout=120)
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert proc.returncode == 0 and summary["end"] == "MAX", err
    assert summary["metrics"]["reconnects"] == 0
