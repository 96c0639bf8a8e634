"""Init config: the JSON schema the library publishes and config.py's own checks agree."""
import ctypes
import json

import pytest

from k8saudit_ovh import config, library_path


def _schema():
    lib = ctypes.CDLL(library_path())
    fn = lib.plugin_get_init_schema
    fn.restype = ctypes.c_char_p
    fn.argtypes = [ctypes.POINTER(ctypes.c_int)]
    kind = ctypes.c_int(0)
    text = fn(ctypes.byref(kind))
    assert kind.value == 1  # SS_PLUGIN_SCHEMA_JSON
    return json.loads(text)


def test_schema_and_config_accept_the_same_keys():
    props = _schema()["properties"]
    assert set(props) == set(config.KEYS)
    for key, (kind, lo, hi) in config.KEYS.items():
        assert props[key]["type"] == kind, key
        assert props[key].get("description"), key
        if kind == "integer":
            assert (props[key]["minimum"], props[key]["maximum"]) == (lo, hi), key


def test_schema_allows_additional_properties_like_k8saudit():
    s = _schema()
    assert s["type"] == "object" and s["additionalProperties"] is True


def test_defaults():
    c = config.parse("")
    assert c.max_event_size == 262144
    assert c.webhook_max_batch_size == 12582912
    assert config.parse("{}") == c


@pytest.mark.parametrize("text,key", [
    ('{"maxEventSize":"big"}', "maxEventSize"),
    ('{"maxEventSize":-1}', "maxEventSize"),
    ('{"maxEventSize":0}', "maxEventSize"),
    ('{"maxEventSize":true}', "maxEventSize"),
    ('{"maxEventSize":1.5}', "maxEventSize"),
    ('{"webhookMaxBatchSize":null}', "webhookMaxBatchSize"),
    ('{"useAsync":"yes"}', "useAsync"),
    ('{"sslCertificate":5}', "sslCertificate"),
])
def test_bad_values_name_the_key(text, key):
    with pytest.raises(config.ConfigError) as e:
        config.parse(text)
    assert f"'{key}'" in str(e.value)


@pytest.mark.parametrize("text", ["[1]", '"x"', "{", "nope"])
def test_not_an_object(text):
    with pytest.raises(config.ConfigError, match="init config"):
        config.parse(text)


def test_unknown_keys_are_accepted_and_reported():
    c = config.parse('{"maxEventBytes": 5, "maxEventSize": 1000}')
    assert c.max_event_size == 1000
    assert c.extra == ("maxEventBytes",)
