"""Self-tests of the test hosts (tests/host/falco_host.c and k8saudit_ovh_cli.host) against a
fake plugin (tests/host/fake_plugin.c) that can be told to break each rule of the contract.

These need no k8saudit-ovh build: they check that the hosts catch what Falco would reject.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import CFLAGS, REPO, compile_c, host_env  # noqa: E402

FAKE_SRC = REPO / "tests" / "host" / "fake_plugin.c"
HOST_PY = REPO / "src" / "k8saudit_ovh_cli" / "host.py"

FAKE_FIELDS = ["fake.payload", "fake.parts", "fake.key", "fake.evtnum", "fake.len",
               "fake.empty", "fake.fail", "fake.flag", "fake.both"]


@pytest.fixture(scope="session")
def fake_build(tmp_path_factory):
    """build(**defines) -> path of a fake plugin .so compiled with those -D defines."""
    d = tmp_path_factory.mktemp("fake")
    cache = {}

    def build(**defines):
        key = tuple(sorted(defines.items()))
        if key not in cache:
            name = "fake" + "".join(f"_{k}" for k, _ in key) + f"_{len(cache)}.so"
            flags = list(CFLAGS)
            for k, v in key:
                flags.append(f"-D{k}" if v is True else f"-D{k}={v}")
            cache[key] = str(compile_c([FAKE_SRC], d / name, flags, shared=True))
        return cache[key]

    return build


@pytest.fixture(scope="session")
def fake(fake_build):
    return fake_build()


@pytest.fixture(scope="session")
def hostmod():
    """k8saudit_ovh_cli/host.py loaded by path (it is self-contained), so these tests do not
    need the rest of the package to be built."""
    name = "_k8saudit_ovh_host_selftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HOST_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


PAYLOADS = [
    "a,b,c",
    '{"x":"\\u00e9","y":[1,2]}',
    'quote " backslash \\ tab \t ctl \x01 \x1f del \x7f é ü 😀 <>& \u2028 end',
    "",
    "one,two,three,four,five,six,seven,eight,nine",
    "last",
]


@pytest.fixture()
def payload_file(tmp_path):
    p = tmp_path / "payloads.txt"
    p.write_bytes(("\n".join(PAYLOADS) + "\n").encode("utf-8"))
    return p


def canonical(line_obj) -> str:
    return json.dumps(line_obj, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------
# info


def test_info(c_host, fake, run_host):
    rc, out, err = run_host([c_host, fake, "info"])
    assert rc == 0, err
    (i,) = out
    assert i["name"] == "fake" and i["version"] == "0.1.0" and i["required_api_version"] == "3.0.0"
    assert i["id"] == 999 and i["event_source"] == "test"
    assert i["description"] and i["contact"] == "nobody"
    assert [f["name"] for f in i["fields"]] == FAKE_FIELDS
    assert i["fields"][1]["arg"] == {"isRequired": False, "isIndex": True, "isKey": False}
    assert i["init_schema"] == {"type": "object", "properties": {"mode": {"type": "string"}}}
    assert i["schema_type"] == 1
    assert i["extract_event_sources"] == ["test"]
    assert "plugin_next_batch" in i["exported"] and "plugin_parse_event" not in i["exported"]
    assert "plugin_get_metrics" in i["exported"] and "plugin_list_open_params" not in i["exported"]
    assert "fake: destroy" not in err  # info never initialises


@pytest.mark.parametrize(
    "defines,ok,msg",
    [
        ({"FAKE_REQUIRED_API": '"3.12.0"'}, True, None),
        ({"FAKE_REQUIRED_API": '"3.11.7"'}, True, None),
        ({"FAKE_REQUIRED_API": '"3.12.1"'}, False, "patch"),
        ({"FAKE_REQUIRED_API": '"3.13.0"'}, False, "minor"),
        ({"FAKE_REQUIRED_API": '"4.0.0"'}, False, "major"),
        ({"FAKE_REQUIRED_API": '"2.0.0"'}, False, "major"),
        ({"FAKE_REQUIRED_API": '"3.0"'}, False, "invalid required API version"),
        ({"FAKE_VERSION": '"1.0"'}, False, "invalid version string"),
        ({"FAKE_OMIT_NEXT_BATCH": True}, False, "plugin_next_batch"),
        ({"FAKE_UNSTABLE_NAME": True}, False, "not stable"),
        ({"FAKE_BAD_FIELDS": True}, False, "no desc"),
        ({"FAKE_EXPORT_PARSE": True}, True, None),
    ],
)
def test_info_checks(c_host, fake_build, run_host, defines, ok, msg):
    lib = fake_build(**defines)
    rc, out, err = run_host([c_host, lib, "info"])
    if ok:
        assert rc == 0, err
        if "FAKE_EXPORT_PARSE" in defines:
            assert "plugin_parse_event" in out[0]["exported"]
    else:
        assert rc == 1, (out, err)
        assert "falco_host: ERROR:" in err and msg in err, err


def test_python_host_load_checks(fake_build, hostmod):
    with pytest.raises(hostmod.ContractError, match="minor"):
        hostmod.PluginLibrary(fake_build(FAKE_REQUIRED_API='"3.13.0"'))
    with pytest.raises(hostmod.ContractError, match="not stable"):
        hostmod.PluginLibrary(fake_build(FAKE_UNSTABLE_NAME=True))
    with pytest.raises(hostmod.ContractError, match="no desc"):
        hostmod.PluginLibrary(fake_build(FAKE_BAD_FIELDS=True))


# --------------------------------------------------------------------------------------
# replay


def _cycles(out):
    cyc = {}
    for rec in out:
        c = cyc.setdefault(rec["cycle"], {"events": [], "end": None})
        if "end" in rec:
            c["end"] = rec
        else:
            c["events"].append(rec)
    return cyc


def test_replay(c_host, fake, run_host, payload_file):
    rc, out, err = run_host([c_host, fake, "replay", "--open", str(payload_file), "--to-string",
                             "--field", "fake.payload", "--field", "fake.parts[1]",
                             "--field", "fake.evtnum", "--field", "fake.empty"])
    assert rc == 0, err
    cyc = _cycles(out)
    evs, end = cyc[1]["events"], cyc[1]["end"]
    assert [e["payload"] for e in evs] == PAYLOADS
    assert [e["string"] for e in evs] == PAYLOADS
    assert [e["evtnum"] for e in evs] == list(range(1, len(PAYLOADS) + 1))
    for i, e in enumerate(evs):
        if i % 2 == 0:
            assert e["ts"] == 1000 + i
        else:  # UINT64_MAX: the host stamps the current time
            assert 1_500_000_000 * 10**9 < e["ts"] < 2**63
        assert e["values"]["fake.payload"] == [PAYLOADS[i]]
        assert e["values"]["fake.evtnum"] == [str(i + 1)]
        assert "fake.empty" not in e["values"]
        parts = PAYLOADS[i].split(",")
        if len(parts) > 1:
            assert e["values"]["fake.parts[1]"] == [parts[1]]
        else:
            assert "fake.parts[1]" not in e["values"]
    assert end["end"] == "EOF" and end["events"] == len(PAYLOADS)
    assert end["timeouts"] >= 1
    assert end["metrics"] == {"events_delivered": 6, "batches": end["metrics"]["batches"],
                              "ratio": 0.5, "negative": -5}
    assert "fake: destroy opens=1 closes=1" in err


def test_replay_output_is_canonical_json(c_host, fake, run_host, payload_file):
    import subprocess

    r = subprocess.run([c_host, fake, "replay", "--open", str(payload_file)],
                       capture_output=True, env=host_env())
    assert r.returncode == 0
    lines = r.stdout.decode("utf-8").split("\n")
    assert lines[-1] == ""                          # every line ends with a newline
    events = [json.loads(line) for line in lines[:-1]]
    assert [e.get("payload") for e in events[:-1]] == PAYLOADS
    assert events[-1]["end"] == "EOF"
    for line, obj in zip(lines, events[:-1]):
        assert line == canonical(obj)


def test_replay_cycles_reload_and_max(c_host, fake, run_host, payload_file):
    rc, out, err = run_host([c_host, fake, "replay", "--open", str(payload_file), "--cycles", "3",
                             "--reload", "--metrics-thread"])
    assert rc == 0, err
    cyc = _cycles(out)
    assert sorted(cyc) == [1, 2, 3]
    for c in cyc.values():
        assert [e["payload"] for e in c["events"]] == PAYLOADS
        assert c["end"]["end"] == "EOF" and c["end"]["metric_polls"] >= 1
    assert err.count("fake: destroy opens=1 closes=1") == 3

    rc, out, err = run_host([c_host, fake, "replay", "--open", str(payload_file),
                             "--max-events", "3", "--quiet"])
    assert rc == 0, err
    assert out == [{**out[0], "cycle": 1, "end": "MAX", "events": 3}]

    rc, out, err = run_host([c_host, fake, "replay", "--open", str(payload_file),
                             "--max-events", "0"])
    assert rc == 0 and out[0]["end"] == "MAX" and out[0]["events"] == 0


@pytest.mark.parametrize(
    "mode,rc_want,msg",
    [
        ("zero_success", 1, "SUCCESS with 0 events"),
        ("bad_len", 1, "len 44 != 38 + payload length 5"),
        ("bad_type", 1, "malformed plugin event"),
        ("bad_id", 1, "unexpected plugin ID"),
        ("bad_param0", 1, "param 0"),
        ("fail_batch", 1, "boom: the batch failed"),
        ("no_nevts", 1, "did not write *nevts"),
        ("bad_rc", 1, "returned 42"),
        ("init_fail", 2, "bad value for key 'maxEventSize'"),
        ("init_null", 1, "returned no state"),
        ("init_norc", 1, "did not write *rc"),
        ("open_fail", 3, "open_fail mode"),
        ("multi", 1, "2 values for a non-list field"),
        ("null_value", 1, "NULL string"),
        ("modify_input", 1, "modified the input"),
    ],
)
def test_replay_violations(c_host, fake, run_host, payload_file, mode, rc_want, msg):
    rc, out, err = run_host([c_host, fake, "replay", "--open", str(payload_file), "--quiet",
                             "--config", json.dumps({"mode": mode}), "--field", "fake.payload"])
    assert rc == rc_want, (out, err)
    assert msg in err, err
    if rc_want == 1:
        assert "falco_host: ERROR:" in err
    if mode == "open_fail":
        assert "fake: destroy opens=1 closes=1" in err  # closed after the failed open


def test_expected_failures(c_host, fake, run_host, payload_file, tmp_path):
    rc, out, err = run_host([c_host, fake, "replay", "--config", '{"mode":"init_fail"}',
                             "--expect-init-fail"])
    assert rc == 0 and out == [{"init_error": "bad value for key 'maxEventSize'"}]
    missing = tmp_path / "nope.txt"
    rc, out, err = run_host([c_host, fake, "replay", "--open", f"  {missing} ",
                             "--expect-open-fail"])
    assert rc == 0 and len(out) == 1
    assert out[0]["open_error"].startswith(f"cannot open '{missing}'")  # params are trimmed
    rc, out, err = run_host([c_host, fake, "replay", "--open", str(payload_file),
                             "--expect-open-fail"])
    assert rc == 1 and "open succeeded" in err
    rc, out, err = run_host([c_host, fake, "replay", "--config", "not json"])
    assert rc == 2 and "not valid JSON" in err


# --------------------------------------------------------------------------------------
# extract / bench


SPECS = ["fake.payload", "fake.parts", "fake.parts[0]", "fake.parts[7]", "fake.key[k]",
         "fake.both[3]", "fake.both[03]", "fake.both[x]", "fake.evtnum", "fake.len", "fake.empty",
         "fake.fail", "fake.flag"]


def expected_extract(arg_default="max"):
    idx = "max" if arg_default == "max" else "0"
    lines = []
    for n, p in enumerate(PAYLOADS, start=1):
        parts = p.split(",")
        v = {"fake.payload": [p], "fake.parts": parts, "fake.parts[0]": [parts[0]]}
        if len(parts) > 7:
            v["fake.parts[7]"] = [parts[7]]
        v["fake.key[k]"] = [f"key=k index={idx} present=1"]
        v["fake.both[3]"] = ["key=3 index=3 present=1"]
        v["fake.both[03]"] = [f"key=03 index={idx} present=1"]
        v["fake.both[x]"] = [f"key=x index={idx} present=1"]
        v["fake.evtnum"] = [str(n)]
        v["fake.len"] = [str(len(p.encode()))]
        v["fake.flag"] = ["true" if len(p.encode()) % 2 else "false"]
        lines.append(canonical({"event": n, "values": v}))
    return lines


@pytest.mark.parametrize("arg_default", ["max", "zero"])
def test_extract_exact_output(c_host, fake, payload_file, tmp_path, arg_default):
    import subprocess

    specs = tmp_path / "specs.txt"
    specs.write_text("\n".join(SPECS[:5]) + "\n\n")
    args = [c_host, fake, "extract", "--events", str(payload_file), "--fields-file", str(specs)]
    for s in SPECS[5:]:
        args += ["--field", s]
    args += ["--threads", "3", "--repeat", "2", "--arg-default", arg_default]
    r = subprocess.run(args, capture_output=True, env=host_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode("utf-8").split("\n") == expected_extract(arg_default) + [""]
    assert r.stderr.decode().count("fake: destroy opens=0 closes=0") == 3


def test_extract_invalid_utf8_stays_valid_json(c_host, fake, run_host, tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"ok\xff\xfeend\n")
    rc, out, err = run_host([c_host, fake, "extract", "--events", str(p), "--field",
                             "fake.payload"])
    assert rc == 0, err
    assert out == [{"event": 1, "values": {"fake.payload": ["ok\ufffd\ufffdend"]}}]


def test_extract_thread_divergence_detected(c_host, fake, run_host, payload_file):
    rc, out, err = run_host([c_host, fake, "extract", "--events", str(payload_file), "--field",
                             "fake.payload", "--config", '{"mode":"racy"}', "--threads", "2"])
    assert rc == 1 and "different output" in err, err


@pytest.mark.parametrize(
    "spec,msg",
    [
        ("fake.payload[1]", "does not accept an argument"),
        ("fake.key", "requires an argument"),
        ("fake.parts[01]", "numeric index"),
        ("fake.parts[x]", "numeric index"),
        ("fake.parts[1", "missing ']'"),
        ("fake.parts[1]x", "after ']'"),
        ("fake.nope", "no field named"),
    ],
)
def test_bad_specs(c_host, fake, run_host, payload_file, hostmod, spec, msg):
    rc, out, err = run_host([c_host, fake, "extract", "--events", str(payload_file),
                             "--field", spec])
    assert rc == 1 and msg in err, err
    lib = hostmod.PluginLibrary(fake)
    with pytest.raises(ValueError):
        lib.resolve_spec(spec)


def test_bench(c_host, fake, run_host, payload_file):
    rc, out, err = run_host([c_host, fake, "bench", "--events", str(payload_file),
                             "--field", "fake.payload", "--field", "fake.len",
                             "--iterations", "50"])
    assert rc == 0, err
    (b,) = out
    assert b["events"] == 50 * len(PAYLOADS) and b["field_calls"] == 2 * b["events"]
    assert b["seconds"] > 0 and b["events_per_s"] > 0 and b["ns_per_field_call"] > 0
    # the undisturbed pass sums, per 32-event chunk, the fastest of the 50 timings of that
    # chunk: never more than the average pass
    assert 0 < b["best_pass_seconds"] <= b["seconds"] / 50


# --------------------------------------------------------------------------------------
# sanitizers and valgrind on the host itself (the fake plugin leaks nothing)


def test_asan_host_clean(c_host_asan, fake, run_host, payload_file):
    env = {"ASAN_OPTIONS": "detect_leaks=1:exitcode=86", "UBSAN_OPTIONS": "halt_on_error=1"}
    for args in (
        ["info"],
        ["replay", "--open", str(payload_file), "--cycles", "2", "--reload", "--to-string",
         "--metrics-thread", "--field", "fake.parts", "--field", "fake.key[a]"],
        ["extract", "--events", str(payload_file), "--threads", "2", "--repeat", "2",
         *sum((["--field", s] for s in SPECS), [])],
        ["bench", "--events", str(payload_file), "--field", "fake.payload"],
        ["replay", "--config", '{"mode":"init_fail"}', "--expect-init-fail"],
        ["replay", "--config", '{"mode":"open_fail"}', "--expect-open-fail"],
    ):
        rc, out, err = run_host([c_host_asan, fake, *args], env=env)
        assert rc == 0, (args, err)
        assert "Sanitizer" not in err and "runtime error" not in err, err


def test_valgrind_host_clean(c_host, fake, run_host, payload_file):
    vg = shutil.which("valgrind")
    if not vg:
        pytest.skip("valgrind is not installed")
    prefix = [vg, "-q", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=all"]
    for args in (
        ["info"],
        ["replay", "--open", str(payload_file), "--cycles", "2", "--reload", "--field",
         "fake.parts"],
        ["extract", "--events", str(payload_file), "--threads", "2", "--field", "fake.payload"],
    ):
        rc, out, err = run_host([*prefix, c_host, fake, *args], timeout=300)
        assert rc == 0, (args, err)


# --------------------------------------------------------------------------------------
# the Python host


def test_python_host_matches_c_host(c_host, fake, run_host, payload_file, hostmod):
    lib = hostmod.PluginLibrary(fake)
    assert (lib.name, lib.version, lib.id, lib.event_source) == ("fake", "0.1.0", 999, "test")
    assert [f["name"] for f in lib.fields()] == FAKE_FIELDS
    assert lib.init_schema() == {"type": "object", "properties": {"mode": {"type": "string"}}}
    assert hostmod.parse_spec("a.b[c]") == ("a.b", "c")
    assert hostmod.parse_spec("a.b") == ("a.b", None)
    assert hostmod.parse_spec("a.b[]") == ("a.b", "")

    with lib.init("") as st:
        with st.open(str(payload_file)) as inst:
            events = list(inst.events())
            assert inst.eof and inst.timeouts >= 1
            assert inst.next_batch() == (hostmod.SS_PLUGIN_EOF, [])
        assert [e.payload.decode() for e in events] == PAYLOADS
        assert [e.evtnum for e in events] == list(range(1, len(PAYLOADS) + 1))
        assert [e.ts for e in events][::2] == [1000, 1002, 1004]
        assert st.metrics() == {"events_delivered": 6, "batches": st.metrics()["batches"],
                                "ratio": 0.5, "negative": -5}
        got = [canonical({"event": n, "values": st.extract(p.encode(), n, SPECS,
                                                          arg_default="zero")})
               for n, p in enumerate(PAYLOADS, start=1)]
        assert got == expected_extract("zero")
        assert st.event_to_string(PAYLOADS[2].encode()) == PAYLOADS[2]


def test_python_host_violations(fake, hostmod, payload_file, tmp_path):
    lib = hostmod.PluginLibrary(fake)
    with pytest.raises(hostmod.PluginError, match="maxEventSize"):
        lib.init('{"mode":"init_fail"}')
    with pytest.raises(hostmod.ContractError, match=r"did not write \*rc"):
        lib.init('{"mode":"init_norc"}')
    with pytest.raises(hostmod.PluginError, match="not valid JSON"):
        lib.init("nope")
    with lib.init("{}") as st:
        with pytest.raises(hostmod.PluginError, match="nope.txt"):
            st.open(str(tmp_path / "nope.txt"))
    for mode, exc, msg in (
        ("zero_success", hostmod.ContractError, "SUCCESS with 0 events"),
        ("bad_id", hostmod.ContractError, "unexpected plugin ID"),
        ("bad_len", hostmod.ContractError, "payload length"),
        ("fail_batch", hostmod.PluginError, "boom"),
    ):
        with lib.init(json.dumps({"mode": mode})) as st:
            with st.open(str(payload_file)) as inst:
                with pytest.raises(exc, match=msg):
                    list(inst.events())
    for mode, msg in (("multi", "non-list"), ("null_value", "NULL string"),
                      ("modify_input", "modified the input")):
        with lib.init(json.dumps({"mode": mode})) as st:
            with pytest.raises(hostmod.ContractError, match=msg):
                st.extract(b"x", 1, ["fake.payload"])


@pytest.mark.parametrize("required,outcome", [(True, "1 error"), (False, "1 skipped")])
def test_missing_asan_fails_in_ci(required, outcome, tmp_path):
    """A compiler without ASan (here: none at all) skips the ASan tests on a workstation, and
    fails them in CI, where a green run must mean that they ran."""
    import os
    import subprocess
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "K8SAUDIT_OVH_REQUIRE_ASAN")}
    env["CC"] = "false"
    if required:
        env["K8SAUDIT_OVH_REQUIRE_ASAN"] = "1"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--basetemp", str(tmp_path / "t"), "-rs",
                        f"{Path(__file__).resolve()}::test_asan_host_clean"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert outcome in r.stdout, r.stdout[-3000:]
    if required:
        assert r.returncode != 0 and "AddressSanitizer is required in CI" in r.stdout
    else:
        assert r.returncode == 0 and "no working AddressSanitizer" in r.stdout
