"""Field extraction through the Falco-like C host: a process without Python loads the library
with dlopen(RTLD_LOCAL|RTLD_NOW) and asks one field per extract_fields call, as Falco does."""
import json

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


def test_fixed_fields_through_c_host(run_host, c_host, plugin_lib, tmp_path):
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
                             *sum((["--field", s] for s in specs), [])])
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
