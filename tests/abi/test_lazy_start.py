"""CPython starts at the first call that needs the Python side (open, extraction), not at
plugin_init: `falco --list`, `--list-plugins` and inspectors that init the plugin but never open
it run without it. Driven through the C host (a process without Python), whose `lifecycle`
command reports after each step whether a libpython is mapped (/proc/self/maps). The artifact
layout (bundled runtime) is covered in test_shim_errors.py."""
from __future__ import annotations

import pytest

import conformance
from conftest import CFLAGS, REPO, compile_c


def _events() -> str:
    """The corpus events (the calling test is skipped without ../shared: see conformance.py)."""
    return str(conformance.path("events.jsonl"))


def _lifecycle(run_host, c_host, plugin_lib, *args):
    rc, out, err = run_host([c_host, plugin_lib, "lifecycle", *args])
    assert rc == 0, err
    assert len(out) == 1, out
    return out[0]


def test_init_and_destroy_without_open_start_no_python(run_host, c_host, plugin_lib):
    rec = _lifecycle(run_host, c_host, plugin_lib)
    assert "init_error" not in rec, rec
    assert rec["libpython_after_load"] is None
    assert rec["libpython_after_init"] is None, rec
    assert rec["libpython_at_end"] is None, rec
    # no counters exist before the Python side: zero metrics, which the ABI allows
    assert rec["metrics_after_init"] == {}, rec


def test_open_starts_python(run_host, c_host, plugin_lib):
    """The check above is not blind: the same host sees libpython once the plugin is opened."""
    rec = _lifecycle(run_host, c_host, plugin_lib, "--open", _events())
    assert rec["libpython_after_init"] is None, rec
    assert "open_error" not in rec, rec
    assert "libpython" in (rec["libpython_after_open"] or ""), rec
    assert "events_ingested" in rec["metrics_after_open"], rec


@pytest.mark.parametrize(
    "config,key",
    [
        ('{"ldpMinBackoff":5,"ldpMaxBackoff":2}', "ldpMinBackoff"),  # cross-key: Python only
        ('{"maxEventSize":"big"}', "maxEventSize"),  # Falco's schema check catches it earlier
    ],
)
def test_config_rejected_by_python_fails_first_open_naming_the_key(run_host, c_host, plugin_lib,
                                                                   config, key):
    rec = _lifecycle(run_host, c_host, plugin_lib, "--config", config)
    assert "init_error" not in rec and rec["libpython_at_end"] is None, rec
    rec = _lifecycle(run_host, c_host, plugin_lib, "--config", config, "--open", _events())
    assert "init_error" not in rec, rec
    assert f"init config key '{key}'" in rec.get("open_error", ""), rec


def test_extraction_without_open(run_host, c_host, plugin_lib):
    """Capture-file mode: init, then extract_fields, never open. Four states on four threads
    reach the one-time start together."""
    rc, out, err = run_host([c_host, plugin_lib, "extract", "--events", _events(),
                             "--field", "ka.verb", "--threads", "4"])
    assert rc == 0, err
    payloads = conformance.load_events()
    assert len(out) == len(payloads)
    verbs = [rec["values"].get("ka.verb") for rec in out]
    assert sum(1 for v in verbs if v) >= 91, verbs[:5]  # every audit Event has a verb
    assert "field extraction is off" not in err, err


def test_metrics_polled_while_the_first_extraction_builds(run_host, c_host_asan, plugin_lib):
    """Falco's webserver thread may call get_metrics on a state at any time, also while its
    first extraction starts CPython and builds it: no metrics before, the counters after, and no
    memory error (ASan host)."""
    env = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=86",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    rc, out, err = run_host([c_host_asan, plugin_lib, "extract", "--events", _events(), "--field",
                             "ka.verb", "--threads", "2", "--metrics-thread"], env=env,
                            timeout=600)
    assert rc == 0, err[-3000:]
    assert "AddressSanitizer" not in err and "runtime error" not in err, err[-3000:]
    metrics = [rec for rec in out if "metrics" in rec]
    assert len(metrics) == 2, metrics
    for rec in metrics:
        assert rec["metric_polls"] >= 1 and "events_ingested" in rec["metrics"], rec
    assert sum(1 for rec in out if rec.get("values", {}).get("ka.verb")) >= 91


def test_extraction_with_a_config_python_rejects(run_host, c_host, plugin_lib):
    """No values (Falco reads a failed extraction as "no value"), no crash, and one line per
    state on stderr that names the key: Falco logs nothing for a failed extraction."""
    rc, out, err = run_host([c_host, plugin_lib, "extract", "--events", _events(), "--field",
                             "ka.verb", "--threads", "2", "--config",
                             '{"ldpMinBackoff":5,"ldpMaxBackoff":2}'])
    assert rc == 0, err
    assert out and all(rec["values"] == {} for rec in out), out[:3]
    said = [ln for ln in err.splitlines() if "field extraction is off" in ln]
    assert len(said) == 2 and all("'ldpMinBackoff'" in ln for ln in said), err


def test_event_to_string_as_the_first_call(run_host, c_host, plugin_lib):
    """evt.plugininfo in capture-file mode can come before any extraction: it builds the state
    too (the payload as the string), and with a rejected config it gives "" (the host then
    prints its own summary) and the same single stderr line."""
    rc, out, err = run_host([c_host, plugin_lib, "extract", "--events", _events(), "--to-string",
                             "--field", "ka.verb"])
    assert rc == 0, err
    payloads = conformance.load_events()
    assert [rec["string"].encode() for rec in out] == payloads
    rc, out, err = run_host([c_host, plugin_lib, "extract", "--events", _events(), "--to-string",
                             "--field", "ka.verb", "--config", '{"ldpMaxBackoff":0}'])
    assert rc == 0, err
    assert all(rec["string"] == "" and rec["values"] == {} for rec in out), out[:3]
    said = [ln for ln in err.splitlines() if "field extraction is off" in ln]
    assert len(said) == 1 and "'ldpMaxBackoff'" in said[0], err


# --------------------------------------------------------------------------------------
# the config syntax check of plugin_init (src/shim/config_check.c), on its own

DRIVER = r'''
#include <stdio.h>
#include "config_check.h"
int main(int argc, char** argv) {
    char err[256] = "";
    for (int i = 1; i < argc; i++) {
        int rc = k8s_config_check(argv[i], err, sizeof err);
        printf("%d\t%s\n", rc, rc ? err : "");
    }
    return 0;
}
'''


@pytest.fixture(scope="module")
def config_check(tmp_path_factory):
    d = tmp_path_factory.mktemp("config_check")
    (d / "driver.c").write_text(DRIVER)
    return str(compile_c([d / "driver.c", REPO / "src" / "shim" / "config_check.c"], d / "check",
                         CFLAGS + ["-I", str(REPO / "src" / "shim")]))


GOOD = ["", "  \n", "{}", ' { "a" : [1, -2.5e+3, 0, true, false, null, "x\\"\\u00e9\\n"] } ',
        '{"maxEventSize":"big"}', '{"a":{"b":{"c":[[],{}]}}}', '{"k":"\u00e9"}']
BAD = [
    ("[]", "must be a JSON object, got an array"),
    ('"x"', "must be a JSON object, got a string"),
    ("-1", "must be a JSON object, got a number"),
    ("true", "must be a JSON object, got a boolean"),
    ("{", "not valid JSON: unexpected end at byte 1"),
    ('{"a":1,}', "not valid JSON: expected a key (a string) at byte 7"),
    ('{"a" 1}', "not valid JSON: expected ':' at byte 5"),
    ('{"a":01}', "not valid JSON: expected ',' or a closing bracket at byte 6"),
    ('{"a":1.}', "not valid JSON: bad number at byte 7"),
    ('{"a":"\\x"}', "not valid JSON: bad escape in a string"),
    ('{"a":"\\u12"}', "not valid JSON: bad \\u escape in a string"),
    ('{"a":"b', "not valid JSON: unterminated string"),
    ('{"a":"\t"}', "not valid JSON: control character in a string"),
    ("{} {}", "not valid JSON: text after the JSON value at byte 3"),
    ("{'a':1}", "not valid JSON: expected a key (a string) at byte 1"),
    ('{"a":NaN}', "not valid JSON: unexpected character at byte 5"),
    ('{"a":tru}', "not valid JSON: unexpected character"),
    ('{"a":' + "[" * 600 + "]" * 600 + "}", "not valid JSON: nested too deeply"),
]


def test_config_syntax_check(config_check, run_host):
    import subprocess

    args = GOOD + [b for b, _ in BAD]
    r = subprocess.run([config_check, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [ln.split("\t", 1) for ln in r.stdout.split("\n")[:-1]]
    assert len(rows) == len(args)
    for text, (rc, _) in zip(GOOD, rows):
        assert rc == "0", (text, rows)
    for (text, why), (rc, msg) in zip(BAD, rows[len(GOOD):]):
        assert rc == "-1" and msg.startswith("k8saudit-ovh: init config "), (text, msg)
        assert why in msg, (text, msg)
