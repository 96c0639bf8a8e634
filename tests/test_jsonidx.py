"""The JSON index under every field: spans, raw text, first-wins keys, strict syntax."""
import json
from pathlib import Path

import pytest

from k8saudit_ovh._jsonidx import Index
from k8saudit_ovh._source import rfc3339_ns

SHARED = Path(__file__).resolve().parents[2] / "shared"


def test_values_are_rendered_like_k8saudit():
    i = Index(b'{"a":1.0,"b":{"c":"x\\u003cy","d":[1,1e3,{"e":null}]},"a":2,"t":true}')
    assert i.ok
    assert i.text("a") == "1.0"                     # first of duplicate keys, raw number text
    assert i.text("b.c") == "x<y"                   # strings are unescaped
    assert i.text("b.d") == '[1,1e3,{"e":null}]'    # containers: raw compact JSON
    assert i.text("b") == '{"c":"x\\u003cy","d":[1,1e3,{"e":null}]}'  # escapes kept raw
    assert i.text("t") == "true"
    assert i.text("missing") is None
    assert i.text("a.b") is None


def test_whitespace_is_removed_from_containers_only():
    i = Index(b' { "a" : [ 1 , "x y" ] } ')
    assert i.ok and not i.compact
    assert i.text("a") == '[1,"x y"]'
    assert i.text("") == '{"a":[1,"x y"]}'


@pytest.mark.parametrize("doc", [b"", b" ", b"[1,2", b"{\"a\":}", b"{\"a\" 1}", b"tru", b"01",
                                 b"1.", b"-", b"{\"a\":1}}", b"[1 2]", b"{1:2}", b"\"abc",
                                 b"[" * 5000 + b"]" * 5000, b"{\"a\":\"\xff\"}", b"nul", b"[,]"])
def test_invalid_documents_are_rejected(doc):
    assert not Index(doc).ok


def test_every_conformance_event_indexes_to_itself():
    for line in (SHARED / "conformance" / "events.jsonl").read_bytes().splitlines():
        i = Index(line)
        assert i.ok and i.compact
        assert i.text("").encode() == line
        assert i.text("auditID") == json.loads(line).get("auditID")


@pytest.mark.parametrize("text,ns", [
    ("1970-01-01T00:00:00Z", 0),
    ("2018-10-25T13:58:49.736141Z", 1540475929736141000),
    ("2018-10-25T15:58:49.736141+02:00", 1540475929736141000),
    ("2018-10-25T11:58:49.1-02:00", 1540475929100000000),
    ("2024-02-29T23:59:59.1234567891Z", 1709251199123456789),   # digits past 9 ignored, as Go
    ("2554-07-21T23:34:33.709551615Z", 2**64 - 1),               # the last uint64 ns
])
def test_rfc3339(text, ns):
    assert rfc3339_ns(text) == ns


@pytest.mark.parametrize("text", ["2018-10-25 13:58:49Z", "2018-10-25T13:58:49", "2018-13-25T13:58:49Z",
                                  "2023-02-29T00:00:00Z", "2018-10-25T24:00:00Z", "2018-10-25T13:58:60Z",
                                  "2018-10-25T13:58:49.Z", "2018-10-25T13:58:49+0200", "1969-12-31T23:59:59Z",
                                  "2018-10-25t13:58:49Z", "", "2018-10-25T13:58:49Zjunk",
                                  "2554-07-21T23:34:33.709551616Z", "9999-12-31T23:59:59Z"])
def test_not_rfc3339(text):
    assert rfc3339_ns(text) is None
