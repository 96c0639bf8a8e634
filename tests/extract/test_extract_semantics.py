"""Edge cases of ka.* extraction (k8saudit 0.18.0 semantics, as _extract.pyx states them) that the
conformance events do not cover: JSON rendering, the auditID gate, wrong types, index and key
arguments, Go's URL query parsing."""
import itertools
import json

import pytest

from k8saudit_ovh_testing.hooks import Extractor, parse_spec, FIELD_NAMES, UINT64_MAX

_evtnum = itertools.count(1)


def extract(event, *specs, extractor=None, **kw):
    """{spec: values} for one event (a dict, a JSON text or raw bytes); a new event number
    every time, like Falco."""
    if isinstance(event, dict):
        payload = json.dumps(event, separators=(",", ":")).encode()
    elif isinstance(event, str):
        payload = event.encode()
    else:
        payload = event
    x = extractor or Extractor()
    return x.extract(payload, next(_evtnum), list(specs), **kw)


def one(event, spec, **kw):
    """The values of one spec, or None for no value."""
    return extract(event, spec, **kw).get(spec)


def ev(**fields):
    base = {"kind": "Event", "auditID": "a-1", "stage": "ResponseComplete"}
    base.update(fields)
    return base


def pod(spec, **fields):
    return ev(objectRef={"resource": "pods", "namespace": "ns"},
              requestObject={"kind": "Pod", "spec": spec}, **fields)


# ---- rendering of values ------------------------------------------------------------------

def test_null_is_rendered_as_null_not_missing():
    assert one(ev(verb=None), "ka.verb") == ["null"]
    assert one(ev(), "ka.verb") is None


@pytest.mark.parametrize("raw", ["1.0", "1e3", "-0", "1E+2", "123456789012345678901234567890", "0.5e-7"])
def test_numbers_keep_their_raw_text(raw):
    payload = '{"auditID":"a","responseStatus":{"code":%s}}' % raw
    assert one(payload, "ka.response.code") == [raw]


def test_booleans():
    assert one(pod({"hostNetwork": True, "hostPID": False}), "ka.req.pod.host_network") == ["true"]
    assert one(pod({"hostNetwork": True, "hostPID": False}), "ka.req.pod.host_pid") == ["false"]


def test_objects_are_compact_json_in_source_order():
    payload = ('{ "auditID" : "a" ,\n "requestObject" : { "data" : { "z" : [ 1 , 2.50 ,"x y" ],\n'
               '  "a" : { } , "m": null } } }')
    assert one(payload, "ka.req.configmap.obj") == ['{"z":[1,2.50,"x y"],"a":{},"m":null}']


def test_strings_inside_objects_keep_their_escapes():
    payload = r'{"auditID":"a","requestObject":{"data":{"k":"\u003cb\u003e \"q\" \/"}}}'
    assert one(payload, "ka.req.configmap.obj") == [r'{"k":"\u003cb\u003e \"q\" \/"}']


@pytest.mark.parametrize("raw, text", [
    (r"\u003cscript\u003e", "<script>"),
    (r"a\nb\tc\\d\/e\"f", 'a\nb\tc\\d/e"f'),
    (r"\ud83d\ude00", "\U0001F600"),
    (r"caf\u00e9", "café"),
    ("café", "café"),                       # raw UTF-8 passes through
    (r"\ud800x", r"\ud800x"),               # lone surrogate: kept as written (fastjson)
    (r"\ud800\u0041", "\ufffd"),            # surrogate + non-surrogate: U+FFFD for the pair
    (r"\q", r"\q"),                         # unknown escape: kept as written
    (r"\u12", r"\u12"),                     # short \u escape: kept
])
def test_string_unescaping(raw, text):
    payload = '{"auditID":"a","user":{"username":"%s"}}' % raw
    assert one(payload.encode(), "ka.user.name") == [text]


def test_nul_in_a_value_truncates_it_for_the_host():
    # The host reads values with strlen, like libsinsp.
    assert one(r'{"auditID":"a","verb":"ab\u0000cd"}', "ka.verb") == ["ab"]


# ---- keys -----------------------------------------------------------------------------------

def test_duplicate_keys_first_wins():
    payload = '{"auditID":"a","verb":"first","verb":"second","objectRef":{"name":"n1","name":"n2"}}'
    got = extract(payload, "ka.verb", "ka.target.name")
    assert got == {"ka.verb": ["first"], "ka.target.name": ["n1"]}


def test_escaped_keys_are_found():
    assert one(r'{"auditID":"a","ver\u0062":"x"}', "ka.verb") == ["x"]
    assert one(r'{"auditI\u0044":"a","verb":"x"}', "ka.verb") == ["x"]       # the gate too
    assert one(r'{"auditID":"a","annotations":{"authorization.k8s.io\/decision":"allow"}}',
               "ka.auth.decision") == ["allow"]


def test_a_key_written_plainly_wins_over_an_escaped_one():
    # fastjson compares the raw key text first.
    assert one(r'{"auditID":"a","ver\u0062":"escaped","verb":"plain"}', "ka.verb") == ["plain"]


def test_keys_with_dots_and_slashes_are_single_keys():
    event = ev(annotations={"authorization.k8s.io/decision": "allow",
                            "authorization.k8s.io/reason": "RBAC: ok",
                            "pod-security.kubernetes.io/audit-violations": "v",
                            "validation.policy.admission.k8s.io/validation_failure": "f",
                            "authentication.openshift.io/decision": "d",
                            "authentication.openshift.io/username": "u",
                            "cluster_name": "c"})
    got = extract(event, "ka.auth.decision", "ka.auth.reason", "ka.security.pod.violations",
                  "ka.validations.admission.policy.failure", "ka.auth.openshift.decision",
                  "ka.auth.openshift.username", "ka.cluster.name")
    assert got == {"ka.auth.decision": ["allow"], "ka.auth.reason": ["RBAC: ok"],
                   "ka.security.pod.violations": ["v"], "ka.validations.admission.policy.failure": ["f"],
                   "ka.auth.openshift.decision": ["d"], "ka.auth.openshift.username": ["u"],
                   "ka.cluster.name": ["c"]}
    assert one(ev(annotations={"authorization": {"k8s": {"io/decision": "x"}}}), "ka.auth.decision") is None


# ---- the gate, broken payloads ---------------------------------------------------------------

ALL_SPECS = [n + ("[x]" if n in ("ka.uri.param", "ka.req.binding.subject.has_name", "ka.req.volume.hostpath")
                  else "") for n in FIELD_NAMES]


def test_no_audit_id_no_value_at_all():
    event = pod({"containers": [{"name": "c", "image": "i"}]}, verb="create", requestURI="/x?x=1",
                user={"username": "u", "groups": ["g"]}, sourceIPs=["1.2.3.4"])
    assert len(extract(event, *ALL_SPECS)) > 5
    del event["auditID"]
    assert extract(event, *ALL_SPECS) == {}


def test_audit_id_null_or_any_type_passes_the_gate():
    assert one('{"auditID":null,"verb":"get"}', "ka.verb") == ["get"]
    assert one('{"auditID":{},"verb":"get"}', "ka.verb") == ["get"]
    assert one('{"auditID":null}', "ka.auditid") == ["null"]


def test_nested_audit_id_does_not_pass_the_gate():
    assert one('{"x":{"auditID":"a"},"verb":"get"}', "ka.verb") is None


@pytest.mark.parametrize("payload", [
    b"", b" ", b'  {"auditID":"a","verb":"get"}', b'{"auditID":"a","verb":"get"',
    b'{"auditID":"a","verb":"get"}x', b'{"auditID":"a","verb":get}', b'[{"auditID":"a","verb":"get"}]',
    b'{"auditID":"a","verb":"\xff\xfe"}', b"\x00", b"null", b'"auditID"',
])
def test_broken_or_foreign_payloads_have_no_value(payload):
    x = Extractor()
    assert extract(payload, *ALL_SPECS, extractor=x) == {}


def test_broken_json_is_a_failure_not_just_no_value():
    x = Extractor()
    assert extract(b'{"auditID":"a",', "ka.verb", extractor=x) == {}
    assert x.last_failed == ["ka.verb"]
    assert extract(b'{"verb":"get"}', "ka.verb", extractor=x) == {}
    assert x.last_failed == []                          # the gate: no value, no failure


def test_trailing_whitespace_is_fine():
    assert one(b'{"auditID":"a","verb":"get"}\n \t', "ka.verb") == ["get"]


# ---- wrong types -----------------------------------------------------------------------------

@pytest.mark.parametrize("event, spec", [
    (ev(user={"username": "u", "groups": "system:masters"}), "ka.user.groups"),
    (ev(requestObject={"subjects": {"kind": "User", "name": "u"}}), "ka.req.binding.subjects"),
    (ev(requestObject={"subjects": {"kind": "User", "name": "u"}}), "ka.req.binding.subjects.user_names"),
    (ev(requestObject={"rules": {"verbs": ["get"]}}), "ka.req.role.rules"),
    (pod({"containers": [{"name": "c", "command": "sh"}]}), "ka.req.pod.containers.command"),
    (pod({"containers": [{"name": "c", "args": ["a", 1]}]}), "ka.req.pod.containers.args"),
    (pod({"containers": [{"name": "c", "ports": {"hostPort": 1}}]}), "ka.req.pod.containers.host_port"),
    (pod({"securityContext": {"supplementalGroups": 5}}), "ka.req.pod.supplemental_groups"),
    (ev(sourceIPs="1.2.3.4"), "ka.sourceips"),
])
def test_wrong_types_give_no_value(event, spec):
    x = Extractor()
    assert extract(event, spec, extractor=x) == {}
    assert x.last_failed == [spec]


def test_wrong_types_elsewhere_do_not_matter():
    event = ev(user="just a string", objectRef=["a"], requestObject=5, verb="get")
    got = extract(event, *ALL_SPECS)
    assert got == {"ka.auditid": ["a-1"], "ka.stage": ["ResponseComplete"], "ka.verb": ["get"],
                   "ka.req.binding.subject.has_name[x]": ["true"]}


# ---- list fields, index arguments ------------------------------------------------------------

CONTAINERS = [
    {"name": "a", "image": "reg.io/team/app:1.2", "command": ["sh", "-c", "echo hi"],
     "ports": [{"containerPort": 80}, {"containerPort": 443, "hostPort": 8443}],
     "securityContext": {"privileged": True, "runAsUser": 1000, "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"]}}},
    {"name": "b", "image": "busybox@sha256:abc", "args": [],
     "securityContext": {"privileged": False, "procMount": "Default"}},
    {"name": "c", "image": "reg:5000/x/y:3", "ports": [{"name": "noport"}]},
]


@pytest.mark.parametrize("spec, values", [
    ("ka.req.pod.containers.name", ["a", "b", "c"]),
    ("ka.req.pod.containers.name[0]", ["a"]),
    ("ka.req.pod.containers.name[2]", ["c"]),
    ("ka.req.pod.containers.name[3]", None),
    ("ka.req.pod.containers.image.repository", ["reg.io/team/app", "busybox", "reg"]),
    ("ka.req.container.image", ["reg.io/team/app:1.2"]),
    ("ka.req.container.image.repository", ["reg.io/team/app"]),
    ("ka.req.pod.containers.command", ["sh -c echo hi"]),
    ("ka.req.pod.containers.command[1]", None),
    ("ka.req.pod.containers.args", [""]),
    ("ka.req.pod.containers.host_port", ["80", "8443"]),
    ("ka.req.pod.containers.host_port[0]", ["80", "8443"]),     # ports is the final array
    ("ka.req.pod.containers.host_port[1]", None),
    ("ka.req.pod.containers.privileged", ["true", "false"]),
    ("ka.req.pod.containers.privileged[1]", ["false"]),
    ("ka.req.pod.containers.privileged[2]", None),
    ("ka.req.container.privileged", ["true"]),
    ("ka.req.pod.containers.run_as_user", ["1000"]),
    ("ka.req.pod.containers.proc_mount", ["Default"]),
    ("ka.req.pod.containers.add_capabilities", ['["NET_ADMIN","SYS_TIME"]']),
    ("ka.req.pod.containers.add_capabilities[1]", None),
])
def test_container_fields(spec, values):
    assert one(pod({"containers": CONTAINERS}), spec) == values


def test_a_container_without_the_key_makes_name_and_image_fail():
    containers = [{"name": "a", "image": "i"}, {"image": "j"}]
    assert one(pod({"containers": containers}), "ka.req.pod.containers.name") is None
    assert one(pod({"containers": containers}), "ka.req.pod.containers.name[0]") == ["a"]
    assert one(pod({"containers": containers}), "ka.req.pod.containers.image") == ["i", "j"]


def test_container_privileged_any_true():
    assert one(pod({"containers": [{"name": "a"}]}), "ka.req.container.privileged") == ["false"]
    assert one(pod({"containers": [{"securityContext": {"privileged": "true"}}]}),
               "ka.req.container.privileged") == ["false"]
    assert one(pod({}), "ka.req.container.privileged") is None


def test_init_and_ephemeral_containers_are_separate_lists():
    spec = {"containers": [{"name": "main", "image": "m"}],
            "initContainers": [{"name": "init", "image": "i:1", "securityContext": {"privileged": True},
                                "ports": [{"containerPort": 9}]}],
            "ephemeralContainers": [{"name": "dbg", "image": "busybox", "command": ["sh"]}]}
    got = extract(pod(spec), "ka.req.pod.initContainers.name", "ka.req.pod.initContainers.image.repository",
                  "ka.req.pod.initContainers.privileged", "ka.req.pod.initContainers.host_port",
                  "ka.req.pod.ephemeralContainers.name", "ka.req.pod.ephemeralContainers.command",
                  "ka.req.pod.ephemeralContainers.image[0]", "ka.req.pod.containers.name")
    assert got == {"ka.req.pod.initContainers.name": ["init"],
                   "ka.req.pod.initContainers.image.repository": ["i"],
                   "ka.req.pod.initContainers.privileged": ["true"],
                   "ka.req.pod.initContainers.host_port": ["9"],
                   "ka.req.pod.ephemeralContainers.name": ["dbg"],
                   "ka.req.pod.ephemeralContainers.command": ["sh"],
                   "ka.req.pod.ephemeralContainers.image[0]": ["busybox"],
                   "ka.req.pod.containers.name": ["main"]}


RULES = [{"apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["get", "list"]},
         {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
         {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}]


@pytest.mark.parametrize("spec, values", [
    ("ka.req.role.rules", [json.dumps(r, separators=(",", ":")) for r in RULES]),
    ("ka.req.role.rules.verbs", ["get", "list", "get", "*"]),
    ("ka.req.role.rules.verbs[0]", ["get", "list"]),
    ("ka.req.role.rules.verbs[2]", ["*"]),
    ("ka.req.role.rules.verbs[3]", None),
    ("ka.req.role.rules.resources", ["pods", "pods/exec", "*"]),
    ("ka.req.role.rules.resources[1]", None),
    ("ka.req.role.rules.apiGroups", ["", "apps"]),
    ("ka.req.role.rules.nonResourceURLs", ["/healthz"]),
])
def test_role_rules(spec, values):
    assert one(ev(requestObject={"rules": RULES}), spec) == values


def test_service_ports_is_one_json_value_whatever_the_index():
    ports = [{"port": 80, "nodePort": 30080}, {"port": 443}]
    event = ev(requestObject={"spec": {"type": "NodePort", "ports": ports}})
    text = json.dumps(ports, separators=(",", ":"))
    for spec in ("ka.req.service.ports", "ka.req.service.ports[0]", "ka.req.service.ports[1]",
                 "ka.req.service.ports[7]"):
        assert one(event, spec) == [text]
    assert one(event, "ka.req.service.type") == ["NodePort"]


def test_index_applies_to_every_array_on_the_path():
    # containers is an array of arrays: the same index selects at both levels.
    nested = [[{"name": "a"}, {"name": "b"}], [{"name": "c"}, {"name": "d"}]]
    assert one(pod({"containers": nested}), "ka.req.pod.containers.name") == ["a", "b", "c", "d"]
    assert one(pod({"containers": nested}), "ka.req.pod.containers.name[1]") == ["d"]
    assert one(pod({"containers": nested}), "ka.req.pod.containers.name[0]") == ["a"]


def test_list_fields_without_index():
    event = ev(user={"username": "u", "groups": ["g1", 2, None, {"a": 1}]},
               requestObject={"spec": {"securityContext": {"supplementalGroups": [10, 20], "fsGroup": 7,
                                                           "runAsUser": 0, "runAsGroup": 3}}})
    got = extract(event, "ka.user.groups", "ka.req.pod.supplemental_groups", "ka.req.pod.fs_group",
                  "ka.req.pod.run_as_user", "ka.req.pod.run_as_group")
    assert got == {"ka.user.groups": ["g1", "2", "null", '{"a":1}'],
                   "ka.req.pod.supplemental_groups": ["10", "20"], "ka.req.pod.fs_group": ["7"],
                   "ka.req.pod.run_as_user": ["0"], "ka.req.pod.run_as_group": ["3"]}
    assert one(ev(user={"groups": []}), "ka.user.groups") is None


VOLUMES = [{"name": "cfg", "configMap": {"name": "x"}},
           {"name": "sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}},
           {"hostPath": {"path": "/etc/kubernetes"}, "name": "etc", "emptyDir": {}},
           {"name": "flex", "flexVolume": {"driver": "acme/fs"}}]


@pytest.mark.parametrize("spec, values", [
    ("ka.req.pod.volumes.hostpath", ["/var/run/docker.sock", "/etc/kubernetes"]),
    ("ka.req.pod.volumes.hostpath[1]", ["/var/run/docker.sock"]),
    ("ka.req.pod.volumes.hostpath[0]", None),
    ("ka.req.pod.volumes.flexvolume_driver", ["acme/fs"]),
    ("ka.req.pod.volumes.volume_type", ["configMap", "hostPath", "hostPath", "emptyDir", "flexVolume"]),
    ("ka.req.pod.volumes.volume_type[2]", ["hostPath", "emptyDir"]),
    ("ka.req.pod.volumes.volume_type[9]", None),
    ("ka.req.volume.hostpath[/var/run/docker.sock]", ["true"]),
    ("ka.req.volume.hostpath[/var/run]", ["false"]),
    ("ka.req.volume.hostpath[/var/run*]", ["true"]),
    ("ka.req.volume.hostpath[/etc*]", ["true"]),
    ("ka.req.volume.hostpath[/etc/kubernetes*]", ["true"]),       # prefix may be the whole path
    ("ka.req.volume.hostpath[*]", ["true"]),
    ("ka.req.volume.hostpath[/proc]", ["false"]),
])
def test_volumes(spec, values):
    assert one(pod({"volumes": VOLUMES}), spec) == values


def test_volume_hostpath_without_volumes_has_no_value():
    assert one(pod({"containers": []}), "ka.req.volume.hostpath[/]") is None
    assert one(pod({"volumes": []}), "ka.req.volume.hostpath[/]") == ["false"]


def test_key_argument_index_default_falco_044_vs_older():
    """For key arguments libsinsp leaves arg_index at its default: UINT64_MAX in Falco 0.44
    (k8saudit then looks at every volume), 0 before (only volume 0)."""
    event = pod({"volumes": VOLUMES})
    spec = "ka.req.volume.hostpath[/var/run/docker.sock]"
    assert one(event, spec, arg_default_max=True) == ["true"]
    # volume 0 has no hostPath: the path breaks outside any fan-out, so no value (not "false")
    assert one(event, spec, arg_default_max=False) is None
    assert one(event, "ka.req.volume.hostpath[/etc/x]", arg_default_max=False) is None
    event = pod({"volumes": VOLUMES[1:]})
    assert one(event, spec, arg_default_max=False) == ["true"]
    assert one(event, "ka.req.volume.hostpath[/etc/kubernetes]", arg_default_max=False) == ["false"]
    assert parse_spec(spec, True)[1:] == (True, UINT64_MAX, b"/var/run/docker.sock")
    assert parse_spec(spec, False)[1:] == (True, 0, b"/var/run/docker.sock")


def test_index_fields_use_arg_present_not_arg_index():
    """With no [N], arg_index is 0 on older Falco: that must not select element 0."""
    event = pod({"containers": CONTAINERS})
    assert one(event, "ka.req.pod.containers.name", arg_default_max=False) == ["a", "b", "c"]
    assert one(event, "ka.req.pod.containers.name", arg_default_max=True) == ["a", "b", "c"]
    assert parse_spec("ka.req.pod.containers.name", False) == (30, False, 0, None)
    assert parse_spec("ka.req.pod.containers.name[0]", True) == (30, True, 0, None)


@pytest.mark.parametrize("spec", ["ka.req.pod.containers.name[01]", "ka.req.pod.containers.name[-1]",
                                  "ka.req.pod.containers.name[]", "ka.req.pod.containers.name[x]",
                                  "ka.uri.param", "ka.verb[0]", "ka.nope", "ka.verb[0",
                                  "ka.uri.param[a]b", "ka.sourceips[18446744073709551616]"])
def test_invalid_specs(spec):
    with pytest.raises(ValueError):
        parse_spec(spec)


def test_huge_index():
    event = pod({"containers": CONTAINERS})
    assert one(event, "ka.req.pod.containers.name[18446744073709551614]") is None


# ---- binding subjects, pod name, misc --------------------------------------------------------

SUBJECTS = [{"kind": "User", "name": "alice"},
            {"kind": "ServiceAccount", "name": "sa1", "namespace": "kube-system"},
            {"kind": "ServiceAccount", "name": "sa2"},
            {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "User"}, {"name": "nokind"}, {"kind": "User", "name": 5}, "junk"]


@pytest.mark.parametrize("spec, values", [
    ("ka.req.binding.subjects.user_names", ["alice"]),
    ("ka.req.binding.subjects.serviceaccount_names", ["sa1", "sa2"]),
    ("ka.req.binding.subjects.serviceaccount_ns_names", ["kube-system:sa1"]),
    ("ka.req.binding.subjects.group_names", ["devs"]),
    ("ka.req.binding.subjects", [json.dumps(s, separators=(",", ":")) if not isinstance(s, str) else s
                                 for s in SUBJECTS]),
    ("ka.req.binding.role", ["admin"]),
    ("ka.req.binding.subject.has_name[alice]", ["true"]),
    ("ka.req.binding.subject.has_name[nobody]", ["true"]),
])
def test_binding(spec, values):
    event = ev(requestObject={"roleRef": {"kind": "ClusterRole", "name": "admin"}, "subjects": SUBJECTS})
    assert one(event, spec) == values


def test_subject_names_without_subjects():
    assert one(ev(requestObject={}), "ka.req.binding.subjects.user_names") is None
    assert one(ev(requestObject={"subjects": []}), "ka.req.binding.subjects.user_names") is None


@pytest.mark.parametrize("object_ref, values", [
    ({"resource": "pods"}, ["web-1"]),
    ({"resource": "pods", "subresource": ""}, ["web-1"]),
    ({"resource": "pods", "subresource": "exec"}, None),
    ({"resource": "deployments"}, None),
    ({}, None),
])
def test_target_pod_name(object_ref, values):
    event = ev(objectRef=object_ref, responseObject={"metadata": {"name": "web-1"}})
    assert one(event, "ka.target.pod.name") == values


def test_simple_paths():
    event = ev(verb="create", requestURI="/api/v1/namespaces/ns/pods", userAgent="kubectl/v1.30",
               user={"username": "alice"}, impersonatedUser={"username": "bob"},
               objectRef={"resource": "pods", "subresource": "exec", "name": "p", "namespace": "ns"},
               responseStatus={"code": 201, "reason": "Created"},
               responseObject={"metadata": {"name": "p"}})
    got = extract(event, "ka.verb", "ka.uri", "ka.useragent", "ka.user.name", "ka.impuser.name",
                  "ka.target.resource", "ka.target.subresource", "ka.target.name", "ka.target.namespace",
                  "ka.req.configmap.name", "ka.response.code", "ka.response.reason", "ka.resp.name",
                  "ka.stage", "ka.auditid")
    assert got == {"ka.verb": ["create"], "ka.uri": ["/api/v1/namespaces/ns/pods"],
                   "ka.useragent": ["kubectl/v1.30"], "ka.user.name": ["alice"], "ka.impuser.name": ["bob"],
                   "ka.target.resource": ["pods"], "ka.target.subresource": ["exec"], "ka.target.name": ["p"],
                   "ka.target.namespace": ["ns"], "ka.req.configmap.name": ["p"], "ka.response.code": ["201"],
                   "ka.response.reason": ["Created"], "ka.resp.name": ["p"], "ka.stage": ["ResponseComplete"],
                   "ka.auditid": ["a-1"]}


# ---- ka.uri.param: Go's url.Parse + url.ParseQuery -------------------------------------------

@pytest.mark.parametrize("uri, key, values", [
    ("/api/v1/namespaces/d/pods/p/exec?command=sh&command=-c&stdin=true", "command", ["sh"]),
    ("/x?a=b+c", "a", ["b c"]),
    ("/x?a=%2Fvar%2Frun&b=1", "a", ["/var/run"]),
    ("/x?a=%2fvar", "a", ["/var"]),
    ("/x?a", "a", [""]),
    ("/x?a=", "a", [""]),
    ("/x?a=1&a=2", "a", ["1"]),
    ("/x?&&a=1&", "a", ["1"]),
    ("/x?a=1=2", "a", ["1=2"]),
    ("/x?%61=1", "a", ["1"]),
    ("/x?a+b=1", "a b", ["1"]),
    ("/x?a%20b=1", "a b", ["1"]),
    ("/x?b=1", "a", None),
    ("/x", "a", None),
    ("/x?", "a", None),
    ("/x?a=1#frag", "a", ["1"]),
    ("/x#frag?a=1", "a", None),
    ("/x?a=%zz", "a", None),                 # bad escape: failure
    ("/x?b=%zz&a=1", "a", None),             # any bad pair fails the whole query
    ("/x?a=1;b=2", "a", None),               # ';' separator: failure (Go >= 1.17)
    ("/x?a=1&b=2;", "a", None),
    ("/x%zz?a=1", "a", None),                # bad escape in the path
    ("/x?a=1#%zz", "a", None),               # ... or in the fragment
    ("/x\u0001?a=1", "a", None),             # control character
    ("/x?a=\u007f", "a", None),
    ("http://host:8080/p?a=1", "a", ["1"]),
    ("http://user:pw@host/p?a=1", "a", ["1"]),
    ("http://host:port/p?a=1", "a", None),   # invalid port
    ("http://ho st/p?a=1", "a", None),       # invalid host character
    ("http://[::1]:6443/p?a=1", "a", ["1"]),
    ("http://[::1/p?a=1", "a", None),        # missing ']'
    ("//host/p?a=1", "a", ["1"]),
    ("mailto:x?a=1", "a", ["1"]),            # opaque URL
    ("a:b?c=1", "c", ["1"]),
    ("1a:b?c=1", "c", None),                 # first path segment cannot contain a colon
    (":x?a=1", "a", None),                   # missing protocol scheme
    ("*", "a", None),
    ("/x?a=caf%C3%A9", "a", ["café"]),
    ("/x?a=%00b", "a", [""]),                # NUL: the host sees an empty string
])
def test_uri_param(uri, key, values):
    assert one(ev(requestURI=uri), "ka.uri.param[%s]" % key) == values


def test_uri_param_needs_a_string():
    assert one(ev(requestURI=5), "ka.uri.param[a]") is None
    assert one(ev(), "ka.uri.param[a]") is None


# ---- extractor behaviour ---------------------------------------------------------------------

def test_one_parse_per_event_number():
    x = Extractor()
    a = json.dumps(ev(verb="get")).encode()
    b = json.dumps(ev(verb="put")).encode()
    assert len(a) == len(b)
    assert x.extract(a, 7, ["ka.verb"]) == {"ka.verb": ["get"]}
    # Same event number: the cached parse answers (what k8saudit does too).
    assert x.extract(b, 7, ["ka.verb"]) == {"ka.verb": ["get"]}
    assert x.extract(b, 8, ["ka.verb"]) == {"ka.verb": ["put"]}
    # A payload of another length under the same number is parsed again.
    c = json.dumps(ev(verb="delete")).encode()
    assert x.extract(c, 8, ["ka.verb"]) == {"ka.verb": ["delete"]}


def test_results_do_not_depend_on_the_order_of_requests():
    event = pod({"containers": CONTAINERS, "volumes": VOLUMES}, verb="create",
                requestURI="/api/v1/namespaces/ns/pods?fieldManager=kubectl",
                user={"username": "u\u003c", "groups": ["a", "b"]})
    specs = ALL_SPECS + ["ka.req.pod.containers.name[1]", "ka.uri.param[fieldManager]"]
    forward = extract(event, *specs)
    backward = extract(event, *reversed(specs))
    assert forward == backward
    assert extract(event, *specs, batch=True) == forward


def test_batch_requests_keep_every_value_alive():
    """Several fields in one call: the arena may grow many times, every pointer must stay valid."""
    big = ["c%04d" % i + "x" * 200 for i in range(300)]
    event = ev(user={"username": "u", "groups": big}, verb="get")
    specs = ["ka.user.groups", "ka.verb", "ka.user.groups", "ka.user.name"]
    got = extract(event, *specs, batch=True)
    assert got == {"ka.user.groups": big, "ka.verb": ["get"], "ka.user.name": ["u"]}


def test_deep_nesting():
    deep = '{"auditID":"a","verb":"get","x":' + "[" * 1000 + "]" * 1000 + "}"
    assert one(deep, "ka.verb") == ["get"]
    too_deep = '{"auditID":"a","verb":"get","x":' + "[" * 5000 + "]" * 5000 + "}"
    assert one(too_deep, "ka.verb") is None
    nested_containers = pod({"containers": json.loads("[" * 500 + '{"name":"n"}' + "]" * 500)})
    assert one(nested_containers, "ka.req.pod.containers.name") == ["n"]


# ---- null, absent, [], wrong type: every field that walks a list or a nested object ----------
#
# k8saudit walks these paths with getValuesRecursive: before each key an array is fanned out (or
# indexed), then the key is looked up with fastjson's Get, which finds nothing in a non-object
# (null included). A path that breaks OUTSIDE any fan-out makes the whole field "not available"
# (no value, even for the fields that otherwise answer "false"); one that breaks inside the
# fan-out gives a nil entry, skipped by most fields and a wrong-type failure for name/image.
# An object where a list is expected is walked like a single element (no fan-out needed).

NA = None
SHAPES = {
    "absent": None, "null": "null", "empty": [], "object": {}, "string": "x", "number": 3,
    "null element": [None], "empty element": [{}],
}
NOT_A_LIST = ("absent", "null", "object", "string", "number")


def _shape_event(path, shape):
    """An audit event whose value at path (keys below the root) is the given shape."""
    event = ev(objectRef={"resource": "pods", "namespace": "ns"})
    node = event
    for k in path[:-1]:
        node = node.setdefault(k, {})
    value = SHAPES[shape]
    if shape != "absent":
        node[path[-1]] = None if value == "null" else value
    return event


def _expect(field_kind, shape):
    """k8saudit 0.18.0's answer for a list shape, by the kind of walk the field does."""
    if field_kind == "any_true":          # ka.req.container.privileged, ka.req.volume.hostpath[k]
        return NA if shape in NOT_A_LIST else ["false"]
    if field_kind == "keys":              # ka.req.pod.volumes.volume_type
        return NA
    if field_kind == "eff":               # *.eff_run_as_user/group: a nil entry gets the default
        return ["0"] if shape in ("null element", "empty element") else NA
    return NA                             # everything else: nothing to show


LIST_FIELDS = []
for lst in ("containers", "initContainers", "ephemeralContainers"):
    for suffix in ("name", "image", "image.repository", "command", "args", "host_port", "privileged",
                   "allow_privilege_escalation", "read_only_fs", "run_as_user", "run_as_group",
                   "proc_mount", "add_capabilities"):
        if f"ka.req.pod.{lst}.{suffix}" in FIELD_NAMES:
            LIST_FIELDS.append((f"ka.req.pod.{lst}.{suffix}", ("requestObject", "spec", lst), "values"))
    for suffix in ("eff_run_as_user", "eff_run_as_group"):
        LIST_FIELDS.append((f"ka.req.pod.{lst}.{suffix}", ("requestObject", "spec", lst), "eff"))
LIST_FIELDS += [
    ("ka.req.container.privileged", ("requestObject", "spec", "containers"), "any_true"),
    ("ka.req.container.image", ("requestObject", "spec", "containers"), "values"),
    ("ka.req.container.image.repository", ("requestObject", "spec", "containers"), "values"),
    ("ka.req.volume.hostpath[/var/run/docker.sock]", ("requestObject", "spec", "volumes"), "any_true"),
    ("ka.req.pod.volumes.hostpath", ("requestObject", "spec", "volumes"), "values"),
    ("ka.req.pod.volumes.flexvolume_driver", ("requestObject", "spec", "volumes"), "values"),
    ("ka.req.pod.volumes.volume_type", ("requestObject", "spec", "volumes"), "keys"),
    ("ka.req.role.rules.apiGroups", ("requestObject", "rules"), "values"),
    ("ka.req.role.rules.nonResourceURLs", ("requestObject", "rules"), "values"),
    ("ka.req.role.rules.verbs", ("requestObject", "rules"), "values"),
    ("ka.req.role.rules.resources", ("requestObject", "rules"), "values"),
    ("ka.req.binding.subjects.user_names", ("requestObject", "subjects"), "values"),
    ("ka.req.binding.subjects.serviceaccount_names", ("requestObject", "subjects"), "values"),
    ("ka.req.binding.subjects.serviceaccount_ns_names", ("requestObject", "subjects"), "values"),
    ("ka.req.binding.subjects.group_names", ("requestObject", "subjects"), "values"),
]


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("spec, path, kind", LIST_FIELDS, ids=[f[0] for f in LIST_FIELDS])
def test_list_shapes(spec, path, kind, shape):
    assert one(_shape_event(path, shape), spec) == _expect(kind, shape)


def _takes_an_index(spec):
    try:
        return parse_spec(spec + "[0]")[1]
    except ValueError:
        return False


INDEXED = [f for f in LIST_FIELDS if _takes_an_index(f[0])]


@pytest.mark.parametrize("spec, path, kind", INDEXED, ids=[f[0] for f in INDEXED])
def test_list_shapes_with_an_index(spec, path, kind):
    """[0] on a list that is not there, not a list, or too short: no value, never "false"."""
    for shape in ("absent", "null", "empty", "string"):
        assert one(_shape_event(path, shape), spec + "[0]") is None, shape


@pytest.mark.parametrize("shape", ["null", "object", "string"])
def test_the_whole_list_values_are_typed_like_extract_from_keys(shape):
    """The fields that return the list itself (k8saudit's extractFromKeys) fail on anything but
    an array, null included (fastjson finds a null value: it is present, of the wrong type)."""
    for spec, path in (("ka.user.groups", ("user", "groups")),
                       ("ka.req.binding.subjects", ("requestObject", "subjects")),
                       ("ka.req.role.rules", ("requestObject", "rules")),
                       ("ka.req.pod.supplemental_groups", ("requestObject", "spec", "securityContext",
                                                           "supplementalGroups")),
                       ("ka.sourceips", ("sourceIPs",))):
        x = Extractor()
        assert extract(_shape_event(path, shape), spec, extractor=x) == {}, spec
        assert x.last_failed == [spec], spec


def test_the_whole_list_values_with_empty_and_null_elements():
    for spec, path in (("ka.user.groups", ("user", "groups")),
                       ("ka.req.role.rules", ("requestObject", "rules"))):
        assert one(_shape_event(path, "empty"), spec) is None
        assert one(_shape_event(path, "null element"), spec) == ["null"]
        assert one(_shape_event(path, "empty element"), spec) == ["{}"]


def test_service_ports_renders_whatever_is_there():
    for shape, text in (("null", "null"), ("empty", "[]"), ("object", "{}"), ("string", "x")):
        assert one(_shape_event(("requestObject", "spec", "ports"), shape), "ka.req.service.ports") == [text]
    assert one(_shape_event(("requestObject", "spec", "ports"), "absent"), "ka.req.service.ports") is None


def test_container_privileged_is_false_only_for_a_list():
    spec = "ka.req.container.privileged"
    assert one(pod({"containers": None}), spec) is None
    assert one(pod({"containers": [{"name": "a"}]}), spec) == ["false"]
    assert one(pod({"containers": [None, {"securityContext": {"privileged": True}}]}), spec) == ["true"]
    assert one(pod({"containers": [{"securityContext": None}]}), spec) == ["false"]
    assert one(pod({"containers": [{"securityContext": {"privileged": "true"}}]}), spec) == ["false"]
    # not a list but an object: walked as the only container
    assert one(pod({"containers": {"securityContext": {"privileged": True}}}), spec) == ["true"]
    assert one(pod({"containers": {"securityContext": {"privileged": False}}}), spec) == ["false"]
    assert one(pod({"containers": {"name": "a"}}), spec) is None
    # spec itself null or a list
    assert one(ev(requestObject={"spec": None}), spec) is None
    assert one(ev(requestObject={"spec": [{"containers": [{"securityContext": {"privileged": True}}]}]}),
               spec) == ["true"]
    assert one(pod({}), spec) is None


def test_an_object_where_a_list_is_expected_is_one_element():
    assert one(pod({"containers": {"name": "c", "image": "r/i:1"}}), "ka.req.pod.containers.name") == ["c"]
    assert one(pod({"containers": {"name": "c", "image": "r/i:1"}}), "ka.req.container.image") == ["r/i:1"]
    assert one(pod({"containers": {"name": "c", "image": "r/i:1"}}),
               "ka.req.container.image.repository") == ["r/i"]
    assert one(pod({"volumes": {"name": "v", "hostPath": {"path": "/x"}}}),
               "ka.req.pod.volumes.volume_type") == ["hostPath"]
    assert one(pod({"volumes": {"name": "v", "hostPath": {"path": "/x"}}}),
               "ka.req.volume.hostpath[/x]") == ["true"]
    assert one(ev(requestObject={"rules": {"verbs": ["get"]}}), "ka.req.role.rules.verbs") == ["get"]


def test_a_nil_entry_fails_the_name_and_image_lists_but_is_skipped_elsewhere():
    x = Extractor()
    event = pod({"containers": [{"name": "a", "image": "i"}, {"securityContext": {"privileged": True}}]})
    assert extract(event, "ka.req.pod.containers.name", extractor=x) == {}
    assert x.last_failed == ["ka.req.pod.containers.name"]
    assert one(event, "ka.req.pod.containers.privileged") == ["true"]
    assert one(event, "ka.req.container.image") == ["i"]


def test_rules_values_that_are_not_lists_are_skipped():
    x = Extractor()
    event = ev(requestObject={"rules": [{"verbs": "get"}, {"verbs": ["list", "watch"]}, {"verbs": None}]})
    assert extract(event, "ka.req.role.rules.verbs", extractor=x) == {
        "ka.req.role.rules.verbs": ["list", "watch"]}
    assert x.last_failed == []
    assert one(ev(requestObject={"rules": [{"verbs": "get"}]}), "ka.req.role.rules.verbs") is None


def test_volume_type_walks_nested_lists_and_skips_what_is_not_an_object():
    volumes = [[{"name": "a", "emptyDir": {}}], None, "x", {"name": "b", "secret": {}}]
    assert one(pod({"volumes": volumes}), "ka.req.pod.volumes.volume_type") == ["emptyDir", "secret"]
    assert one(pod({"volumes": volumes}), "ka.req.pod.volumes.volume_type[3]") == ["secret"]
    assert one(pod({"volumes": volumes}), "ka.req.pod.volumes.volume_type[1]") is None
    assert one(pod({"volumes": volumes}), "ka.req.pod.volumes.volume_type[9]") is None
