"""Field extraction through the Falco-like C host: a process without Python loads the library
with dlopen(RTLD_LOCAL|RTLD_NOW) and asks one field per extract_fields call, as Falco does.

`--hold` reads results the way libsinsp's extraction cache does: every field of an event is
extracted (each field twice, other fields in between) before any result is read through the
pointers the plugin returned; the host dies if a value changed meanwhile."""
import json
import os
import subprocess

import pytest

import conformance

ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=86",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


def _extract_all(run_host, host, lib, tmp_path, specs, *extra, env=None):
    fields = tmp_path / "fields.txt"
    fields.write_text("\n".join(specs) + "\n")
    rc, out, err = run_host([host, lib, "extract", "--events",
                             str(conformance.path("events.jsonl")),
                             "--fields-file", str(fields), *extra], env=env, timeout=900)
    assert rc == 0, err[-3000:]
    by_event = {rec["event"]: rec["values"] for rec in out}
    assert sorted(by_event) == list(range(1, len(conformance.load_events()) + 1))
    return by_event


def test_conformance_through_c_host(run_host, c_host, plugin_lib, tmp_path):
    specs = conformance.load_specs()
    got = _extract_all(run_host, c_host, plugin_lib, tmp_path, specs)
    mismatches = conformance.compare(lambda n, payload, s: got[n], specs=specs)
    assert not mismatches, conformance.report(mismatches)


def test_conformance_holding_every_pointer_until_the_event_is_done(run_host, c_host, plugin_lib,
                                                                   tmp_path):
    specs = conformance.load_specs()
    got = _extract_all(run_host, c_host, plugin_lib, tmp_path, specs, "--hold")
    mismatches = conformance.compare(lambda n, payload, s: got[n], specs=specs)
    assert not mismatches, conformance.report(mismatches)


def test_conformance_holding_every_pointer_under_asan(run_host, c_host_asan, plugin_lib, tmp_path):
    specs = conformance.load_specs(include_fixed=True)
    got = _extract_all(run_host, c_host_asan, plugin_lib, tmp_path, specs, "--hold", env=ASAN_ENV)
    mismatches = conformance.compare(lambda n, payload, s: got[n],
                                     specs=[s for s in specs if not conformance.is_fixed_spec(s)])
    assert not mismatches, conformance.report(mismatches)


def test_conformance_with_four_threads_on_four_states(run_host, c_host, plugin_lib, tmp_path):
    # The host checks that every thread (its own plugin state) produced identical values.
    specs = conformance.load_specs()
    got = _extract_all(run_host, c_host, plugin_lib, tmp_path, specs, "--threads", "4")
    assert not conformance.compare(lambda n, payload, s: got[n], specs=specs)


def test_conformance_under_asan(run_host, c_host_asan, plugin_lib, tmp_path):
    specs = conformance.load_specs(include_fixed=True)
    got = _extract_all(run_host, c_host_asan, plugin_lib, tmp_path, specs, env=ASAN_ENV)
    fixed_out = [s for s in specs if conformance.is_fixed_spec(s)]
    mismatches = conformance.compare(lambda n, payload, s: got[n],
                                     specs=[s for s in specs if s not in fixed_out])
    assert not mismatches, conformance.report(mismatches)


@pytest.mark.parametrize("hold", [False, True], ids=["read-at-once", "hold"])
def test_fixed_fields_through_c_host(run_host, c_host, plugin_lib, tmp_path, hold):
    pod = {"kind": "Event", "auditID": "a1", "sourceIPs": ["10.0.0.1", "2001:db8::1"],
           "requestObject": {"spec": {
               "securityContext": {"runAsUser": 1000, "runAsGroup": 3000},
               "containers": [{"name": "a", "securityContext": {"runAsUser": 0}},
                              {"name": "b"},
                              {"name": "c", "securityContext": {"runAsGroup": 7}}],
               "initContainers": [{"name": "i"}]}}}
    bare = {"kind": "Event", "auditID": "a2", "requestObject": {"spec": {"containers": [{"name": "x"}]}}}
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(pod) + "\n" + json.dumps(bare) + "\n")
    specs = ["ka.sourceips", "ka.sourceips[1]", "ka.req.pod.containers.eff_run_as_user",
             "ka.req.pod.containers.eff_run_as_group", "ka.req.pod.containers.eff_run_as_user[2]",
             "ka.req.pod.initContainers.eff_run_as_user", "ka.req.pod.ephemeralContainers.eff_run_as_user"]
    rc, out, err = run_host([c_host, plugin_lib, "extract", "--events", str(events),
                             *sum((["--field", s] for s in specs), []), *(["--hold"] if hold else [])])
    assert rc == 0, err
    first, second = out[0]["values"], out[1]["values"]
    assert first["ka.sourceips"] == ["10.0.0.1", "2001:db8::1"]
    assert first["ka.sourceips[1]"] == ["2001:db8::1"]
    assert first["ka.req.pod.containers.eff_run_as_user"] == ["0", "1000", "1000"]
    assert first["ka.req.pod.containers.eff_run_as_group"] == ["3000", "3000", "7"]
    assert first["ka.req.pod.containers.eff_run_as_user[2]"] == ["1000"]
    assert first["ka.req.pod.initContainers.eff_run_as_user"] == ["1000"]
    assert "ka.req.pod.ephemeralContainers.eff_run_as_user" not in first
    assert second["ka.req.pod.containers.eff_run_as_user"] == ["0"]
    assert "ka.sourceips" not in second


PARAMS_EVENT = {"kind": "Event", "auditID": "p1", "verb": "get", "stage": "ResponseComplete",
                "requestURI": "/api/v1/pods?a=first&b=second&a=again&c=" + "x" * 3000,
                "user": {"username": "alice", "groups": ["g1", "g2", "g3"]}}


def test_keyed_arguments_keep_their_own_values(run_host, c_host, plugin_lib, tmp_path):
    """ka.uri.param[a], then [b], then [a] again (and lists, and a long value that makes the
    plugin's buffers grow between two answers): each result read at the end through the pointers
    of its own call."""
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(PARAMS_EVENT) + "\n" + json.dumps(dict(PARAMS_EVENT, auditID="p2",
                      requestURI="/api/v1/pods?a=other&b=")) + "\n")
    specs = ["ka.uri.param[a]", "ka.user.groups", "ka.uri.param[b]", "ka.uri.param[c]",
             "ka.verb", "ka.uri.param[zz]", "ka.uri"]
    args = [c_host, plugin_lib, "extract", "--events", str(events), "--hold", "--repeat", "3"]
    for spec in specs:
        args += ["--field", spec]
    rc, out, err = run_host(args)
    assert rc == 0, err
    first, second = out[0]["values"], out[1]["values"]
    assert first["ka.uri.param[a]"] == ["first"]
    assert first["ka.uri.param[b]"] == ["second"]
    assert first["ka.uri.param[c]"] == ["x" * 3000]
    assert first["ka.user.groups"] == ["g1", "g2", "g3"]
    assert first["ka.verb"] == ["get"]
    assert "ka.uri.param[zz]" not in first
    assert second["ka.uri.param[a]"] == ["other"]
    assert second["ka.uri.param[b]"] == [""]
    assert "ka.uri.param[c]" not in second


def _peak_rss_kb(args):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    assert os.waitstatus_to_exitcode(status) == 0, err
    return usage.ru_maxrss


def test_asking_the_same_fields_of_one_event_again_and_again_takes_no_more_memory(
        c_host, plugin_lib, tmp_path):
    """Values live as long as their event, so memory could grow with every call about the same
    event; it must not: a field spec asked again is answered with the values of its first answer.
    With one event, every --repeat pass asks about the same event number again."""
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(PARAMS_EVENT) + "\n")
    base = [c_host, plugin_lib, "extract", "--events", str(events), "--field", "ka.uri.param[c]",
            "--field", "ka.user.groups", "--field", "ka.uri"]
    once = _peak_rss_kb(base + ["--repeat", "1"])
    many = _peak_rss_kb(base + ["--repeat", "20000"])
    # 20000 x 3 answers of ~6 KB each would be ~360 MB if every call kept its own copy
    assert many - once < 8 * 1024, (once, many)


def test_replayed_events_hold_their_values_like_extracted_ones(run_host, c_host, plugin_lib):
    """The same holding order on events the plugin itself delivered through next_batch."""
    specs = conformance.load_specs()
    args = [c_host, plugin_lib, "replay", "--open", str(conformance.path("events.jsonl"))]
    for spec in specs:
        args += ["--field", spec]
    rc_plain, plain, err = run_host(args, timeout=600)
    assert rc_plain == 0, err[-3000:]
    rc, held, err = run_host(args + ["--hold"], timeout=600)
    assert rc == 0, err[-3000:]
    values = [r["values"] for r in held if "values" in r]
    assert len(values) >= 90 and any(values)
    assert values == [r["values"] for r in plain if "values" in r]
