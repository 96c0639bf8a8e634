"""Fuzzing of the extractor: whatever the payload (random JSON shaped like audit events, mutated
real events, deep nesting, invalid UTF-8, empty), every field extracts without crashing and the
results are lists of strings. Bounded to a few seconds; run it longer with
`--hypothesis-seed=...` and a higher FUZZ_EXAMPLES environment variable."""
import itertools
import json
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import conformance
from k8saudit_ovh._extract import Extractor, FIELD_NAMES

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
# no example database: nothing written into the work tree
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

KEY_FIELDS = ["ka.uri.param[command]", "ka.uri.param[a]", "ka.uri.param[]", "ka.req.volume.hostpath[/etc*]",
              "ka.req.volume.hostpath[*]", "ka.req.volume.hostpath[/]", "ka.req.binding.subject.has_name[x]"]
if conformance.available():
    SPECS = conformance.load_specs(include_fixed=True) + KEY_FIELDS
    EVENTS = conformance.load_events()
else:
    SPECS = [n for n in FIELD_NAMES if n not in ("ka.uri.param", "ka.req.volume.hostpath",
                                                 "ka.req.binding.subject.has_name")] + KEY_FIELDS
    EVENTS = [b'{"kind":"Event","auditID":"a","verb":"get","requestURI":"/x?command=sh",'
              b'"requestObject":{"spec":{"containers":[{"name":"c","image":"i:1"}]}}}']

_evtnum = itertools.count(1)
_x = Extractor()
UNKNOWN = object()


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def reference(payload: bytes):
    """Python's reading of the payload: ("obj", [(key, value), ...]) for objects (duplicate
    keys kept, in order), plain values otherwise; None when it is not JSON (RFC 8259: UTF-8,
    no NaN), UNKNOWN when the two readings may rightly differ: nesting deeper than Python's
    recursion limit, and invalid escapes, which k8saudit's fastjson (and the plugin) only see
    in the strings they read."""
    try:
        return json.loads(payload.decode("utf-8"), object_pairs_hook=lambda pairs: ("obj", pairs),
                          parse_constant=_reject_constant)
    except RecursionError:
        return UNKNOWN
    except json.JSONDecodeError as exc:
        return UNKNOWN if "escape" in exc.msg else None
    except ValueError:              # not UTF-8, NaN
        return None


def _only(node, key):
    """The value of the one member `key` of an object node; UNKNOWN if absent or repeated."""
    if not (isinstance(node, tuple) and node[0] == "obj"):
        return UNKNOWN
    found = [v for k, v in node[1] if k == key]
    return found[0] if len(found) == 1 else UNKNOWN


def _text(value):
    """What k8saudit gives for a scalar JSON value; UNKNOWN for what the oracle leaves alone
    (numbers keep their raw text, containers their raw compact text, lone surrogates stay
    escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str) and not any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return value
    return UNKNOWN


def expect(payload: bytes, got: dict):
    """The extractor against Python's json: invalid JSON, payloads not starting with '{' and
    events without a top-level auditID give no value at all; auditID, verb and user.name give
    their scalar values."""
    doc = reference(payload)
    if doc is UNKNOWN:
        return
    # like k8saudit, only payloads that start with '{' or '[' are decoded (no leading space)
    if doc is None or payload[:1] != b"{" or not (isinstance(doc, tuple) and doc[0] == "obj"):
        assert got == {}, (payload[:200], got)
        return
    if not any(k == "auditID" for k, _ in doc[1]):
        assert got == {}, (payload[:200], got)
        return
    assert "ka.auditid" in got, (payload[:200], got)
    for spec, value in (("ka.auditid", _only(doc, "auditID")), ("ka.verb", _only(doc, "verb")),
                        ("ka.user.name", _only(_only(doc, "user"), "username"))):
        want = _text(value) if value is not UNKNOWN else UNKNOWN
        if want is not UNKNOWN:
            assert got.get(spec) == [want], (spec, payload[:200], got)


def check(payload: bytes):
    n = next(_evtnum)
    # one field per call (what Falco does); every other payload also all fields in one call
    for batch in ((False, True) if n % 2 else (False,)):
        got = _x.extract(payload, n, SPECS, batch=batch)
        assert isinstance(got, dict)
        for spec, values in got.items():
            assert spec in SPECS
            assert isinstance(values, list) and values
            assert all(isinstance(v, str) for v in values)
        expect(payload, got)
    # Falco <= 0.43 argument defaults too
    got = _x.extract(payload, next(_evtnum), KEY_FIELDS + ["ka.req.pod.containers.name"], arg_default_max=False)
    assert all(isinstance(v, str) for vs in got.values() for v in vs)


# ---- random JSON with the vocabulary of audit events ------------------------------------------

WORDS = ["auditID", "stage", "verb", "requestURI", "user", "username", "groups", "objectRef", "resource",
         "subresource", "name", "namespace", "requestObject", "spec", "containers", "initContainers",
         "ephemeralContainers", "securityContext", "privileged", "runAsUser", "runAsGroup", "image", "command",
         "args", "ports", "hostPort", "containerPort", "volumes", "hostPath", "path", "flexVolume", "driver",
         "rules", "verbs", "resources", "apiGroups", "nonResourceURLs", "subjects", "kind", "roleRef", "data",
         "annotations", "responseObject", "metadata", "responseStatus", "code", "reason", "sourceIPs",
         "capabilities", "add", "procMount", "type", "supplementalGroups", "fsGroup", "impersonatedUser",
         "userAgent", "cluster_name", "authorization.k8s.io/decision", "hostNetwork", "readOnlyRootFilesystem"]
VALUES = ["pods", "exec", "User", "ServiceAccount", "Group", "/etc", "/etc/x", "a:b@c", "/x?command=sh&a=%zz",
          "/x?a=1;b", "http://[::1]:80/?a=1", "", "\u003c", "\ud83d\ude00"]

keys = st.sampled_from(WORDS) | st.text(max_size=6)
scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12) | st.sampled_from(VALUES))
# Objects are lists of pairs so that duplicate keys happen.
trees = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4).map(lambda v: ("arr", v))
                     | st.lists(st.tuples(keys, inner), max_size=6).map(lambda v: ("obj", v)), max_leaves=40)


def render(tree, rnd: random.Random) -> str:
    ws = lambda: rnd.choice(["", "", "", " ", "\n  ", "\t"])   # noqa: E731

    def s(text):
        out = json.dumps(text, ensure_ascii=rnd.random() < 0.5)
        if rnd.random() < 0.1 and len(out) > 2 and out[1] not in '"\\' and ord(out[1]) < 0x10000:
            out = '"\\u%04x' % ord(out[1]) + out[2:]              # gratuitous escape of a char
        return out

    if isinstance(tree, tuple) and tree[0] == "arr":
        return "[" + ws() + ("," + ws()).join(render(v, rnd) for v in tree[1]) + ws() + "]"
    if isinstance(tree, tuple) and tree[0] == "obj":
        return "{" + ws() + ",".join(ws() + s(k) + ws() + ":" + ws() + render(v, rnd) for k, v in tree[1]) + ws() + "}"
    if isinstance(tree, str):
        return s(tree)
    return json.dumps(tree)


@SETTINGS
@given(st.lists(st.tuples(keys, trees), max_size=10), st.booleans(), st.integers(0, 2**32))
def test_random_audit_like_json(members, with_audit_id, seed):
    rnd = random.Random(seed)
    if with_audit_id:
        members = [("auditID", "x")] + members
    check(render(("obj", members), rnd).encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check(data)
    check(b'{"auditID":"a","verb":' + data + b"}")


# ---- mutated real events ----------------------------------------------------------------------

@SETTINGS
@given(st.sampled_from(EVENTS), st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "delete", "dup"]),
                                                   st.floats(0, 1), st.binary(min_size=1, max_size=4)),
                                         min_size=1, max_size=4))
def test_mutated_events(event, mutations):
    data = bytearray(event)
    for op, where, blob in mutations:
        i = int(where * len(data)) if data else 0
        if op == "flip" and data:
            data[min(i, len(data) - 1)] ^= blob[0] or 1
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = blob
        elif op == "delete":
            del data[i:i + len(blob) * 8]
        elif op == "dup":
            data[i:i] = data[max(0, i - 16):i]
    check(bytes(data))


# ---- fixed nasty payloads ---------------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    b"", b"{", b"[", b"}", b"{}", b"[]", b'{"auditID":"a"}', b'{"auditID":"a"', b"\xff" * 64,
    b"[" * 100000, b"{" * 100000, b'{"a":' * 100000, b"[" * 100000 + b"]" * 100000,
    b'{"auditID":"a","x":' + b"[" * 1023 + b"]" * 1023 + b"}",
    b'{"auditID":"a","x":' + b"[" * 1030 + b"]" * 1030 + b"}",
    b'{"auditID":"a","requestObject":{"spec":{"containers":' + b"[" * 1000 + b"]" * 1000 + b"}}}",
    b'{"auditID":"a","requestObject":{"spec":{"containers":' + b"[" * 1000 + b'{"name":"n","image":"i"}'
    + b"]" * 1000 + b"}}}",
    b'{"auditID":"a","verb":"\xc3\x28","user":{"username":"\xed\xa0\x80"}}',      # invalid UTF-8
    b'{"auditID":"a","verb":"ok\x00still"}',
    b'{"auditID":"a","requestURI":"' + b"/x?" + b"&".join(b"a%d=%d" % (i, i) for i in range(20000)) + b'"}',
    b'{"auditID":"a","user":{"groups":[' + b",".join(b'"g%d"' % i for i in range(50000)) + b"]}}",
    b'{"auditID":"a","requestObject":{"spec":{"containers":[' + b",".join(
        b'{"name":"c%d","image":"i@x:%d","command":["a","b"],"ports":[{"hostPort":%d}]}' % (i, i, i)
        for i in range(5000)) + b"]}}}",
    b'{"auditID":"a","verb":"' + b"\\\\" * 5000 + b'"}',
    b'{"auditID":"a","verb":"' + b"\\u00e9" * 5000 + b'"}',
    b" " * 1000,
], ids=lambda p: "%d bytes %r" % (len(p), p[:24]))
def test_nasty_payloads(payload):
    check(payload)


def test_values_survive_a_huge_event_then_a_small_one():
    big = b'{"auditID":"a","user":{"groups":[' + b",".join(b'"%s"' % (b"g" * 1000) for _ in range(2000)) + b"]}}"
    x = Extractor()
    assert len(x.extract(big, 1, ["ka.user.groups"])["ka.user.groups"]) == 2000
    assert x.extract(b'{"auditID":"b","verb":"get"}', 2, ["ka.verb", "ka.auditid"]) == {
        "ka.verb": ["get"], "ka.auditid": ["b"]}
