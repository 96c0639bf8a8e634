"""The two fields where this project deliberately fixes k8saudit 0.18.0 (so they are not in
expected.jsonl):
- ka.sourceips reads the top-level `sourceIPs` array (upstream reads requestObject.rules[*]);
- ka.req.pod.<list>.eff_run_as_user/group give, per container, its securityContext.runAsUser /
  runAsGroup, else the pod's spec.securityContext value, else 0 (upstream reads keys that do not
  exist and answers 0 for every container).
"""
import itertools
import json

import pytest

import conformance
from k8saudit_ovh_testing.hooks import Extractor

_evtnum = itertools.count(1)
LISTS = ("containers", "initContainers", "ephemeralContainers")


def extract(event, *specs, **kw):
    payload = event if isinstance(event, bytes) else json.dumps(event, separators=(",", ":")).encode()
    return Extractor().extract(payload, next(_evtnum), list(specs), **kw)


def one(event, spec, **kw):
    return extract(event, spec, **kw).get(spec)


def pod(spec):
    return {"kind": "Event", "auditID": "x", "objectRef": {"resource": "pods"},
            "requestObject": {"kind": "Pod", "spec": spec}}


# ---- ka.sourceips -----------------------------------------------------------------------------

@pytest.mark.parametrize("spec, values", [
    ("ka.sourceips", ["10.0.0.1", "2001:db8::1", "192.168.1.7"]),
    ("ka.sourceips[0]", ["10.0.0.1"]),
    ("ka.sourceips[2]", ["192.168.1.7"]),
    ("ka.sourceips[3]", None),
    ("ka.sourceips[7]", None),
])
def test_sourceips(spec, values):
    event = {"auditID": "x", "sourceIPs": ["10.0.0.1", "2001:db8::1", "192.168.1.7"],
             "requestObject": {"rules": [{"sourceIPs": ["6.6.6.6"]}]}}
    assert one(event, spec) == values


def test_sourceips_missing_empty_or_wrong_type():
    assert one({"auditID": "x"}, "ka.sourceips") is None
    assert one({"auditID": "x", "sourceIPs": []}, "ka.sourceips") is None
    assert one({"auditID": "x", "sourceIPs": None}, "ka.sourceips") is None      # not an array
    assert one({"auditID": "x", "sourceIPs": "1.2.3.4"}, "ka.sourceips") is None
    assert one({"sourceIPs": ["1.2.3.4"]}, "ka.sourceips") is None                # the gate


def test_sourceips_elements_are_rendered_like_every_value():
    assert one({"auditID": "x", "sourceIPs": ["1.2.3.4", 5, None]}, "ka.sourceips") == ["1.2.3.4", "5", "null"]


def _conformance_data():
    return conformance.load_events()


def test_sourceips_on_the_conformance_events():
    x = Extractor()
    seen = 0
    for n, payload in enumerate(_conformance_data(), 1):
        event = json.loads(payload)
        got = x.extract(payload, n, ["ka.sourceips", "ka.sourceips[0]", "ka.sourceips[1]", "ka.sourceips[7]"])
        ips = event.get("sourceIPs") if "auditID" in event else None
        if not ips:
            assert got == {}, n
            continue
        seen += 1
        assert got.get("ka.sourceips") == ips, n
        assert got.get("ka.sourceips[0]") == ips[:1], n
        assert got.get("ka.sourceips[1]") == (ips[1:2] or None), n
        assert got.get("ka.sourceips[7]") == (ips[7:8] or None), n
    assert seen > 800


# ---- eff_run_as_user / eff_run_as_group -------------------------------------------------------

@pytest.mark.parametrize("lst", LISTS)
def test_eff_run_as_container_then_pod_then_zero(lst):
    spec = {"securityContext": {"runAsUser": 1000, "runAsGroup": 3000},
            lst: [{"name": "own", "securityContext": {"runAsUser": 0, "runAsGroup": 7}},
                  {"name": "inherits"},
                  {"name": "partial", "securityContext": {"runAsGroup": 8}}]}
    f = "ka.req.pod.%s.eff_run_as_" % lst
    got = extract(pod(spec), f + "user", f + "group", f + "user[1]", f + "group[2]", f + "user[3]")
    assert got == {f + "user": ["0", "1000", "1000"], f + "group": ["7", "3000", "8"],
                   f + "user[1]": ["1000"], f + "group[2]": ["8"]}


@pytest.mark.parametrize("lst", LISTS)
def test_eff_run_as_defaults_to_zero(lst):
    spec = {lst: [{"name": "a"}, {"name": "b", "securityContext": {"privileged": True}}]}
    f = "ka.req.pod.%s.eff_run_as_" % lst
    assert extract(pod(spec), f + "user", f + "group") == {f + "user": ["0", "0"], f + "group": ["0", "0"]}


def test_eff_run_as_does_not_read_the_upstream_keys():
    # upstream read <container>.runAsUser and spec.runAsUser: those are not Kubernetes fields.
    spec = {"runAsUser": 5, "containers": [{"name": "a", "runAsUser": 6}]}
    assert one(pod(spec), "ka.req.pod.containers.eff_run_as_user") == ["0"]


def test_eff_run_as_keeps_the_raw_value_text():
    spec = {"securityContext": {"runAsUser": 1.0e3}, "containers": [{"securityContext": {"runAsUser": None}}, {}]}
    payload = json.dumps(pod(spec), separators=(",", ":")).replace("1000.0", "1e3").encode()
    assert one(payload, "ka.req.pod.containers.eff_run_as_user") == ["null", "1e3"]


def test_eff_run_as_without_containers_has_no_value():
    assert one(pod({}), "ka.req.pod.containers.eff_run_as_user") is None
    assert one(pod({"containers": []}), "ka.req.pod.containers.eff_run_as_user") is None
    assert one({"auditID": "x"}, "ka.req.pod.initContainers.eff_run_as_group") is None
    assert one(pod({"containers": {"name": "a"}}), "ka.req.pod.containers.eff_run_as_user") is None


def _model_eff(event, lst, key, index=None):
    """What the fixed fields must answer, computed with json.loads."""
    spec = (event.get("requestObject") or {}).get("spec") if isinstance(event.get("requestObject"), dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get(lst), list) or "auditID" not in event:
        return None
    containers = spec[lst] if index is None else spec[lst][index:index + 1]
    psc = spec.get("securityContext")
    default = psc.get(key, 0) if isinstance(psc, dict) else 0
    out = []
    for c in containers:
        sc = c.get("securityContext") if isinstance(c, dict) else None
        v = sc[key] if isinstance(sc, dict) and key in sc else default
        out.append(json.dumps(v))
    return out or None


def test_eff_run_as_on_the_conformance_events():
    x = Extractor()
    specs = ["ka.req.pod.%s.eff_run_as_%s%s" % (lst, kind, idx)
             for lst in LISTS for kind in ("user", "group") for idx in ("", "[0]", "[1]")]
    pods = 0
    for n, payload in enumerate(_conformance_data(), 1):
        event = json.loads(payload)
        got = x.extract(payload, n, specs)
        for spec in specs:
            lst = spec.split(".")[3]
            key = "runAsUser" if "user" in spec else "runAsGroup"
            index = int(spec[-2]) if spec.endswith("]") else None
            assert got.get(spec) == _model_eff(event, lst, key, index), (n, spec)
        pods += "ka.req.pod.containers.eff_run_as_user" in got
    assert pods >= 40
