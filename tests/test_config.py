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
        if kind in ("integer", "number"):
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
    ('{"ldpPingInterval":0}', "ldpPingInterval"),
    ('{"ldpPingInterval":"20s"}', "ldpPingInterval"),
    ('{"ldpPingTimeout":true}', "ldpPingTimeout"),
    ('{"ldpMaxBackoff":-1}', "ldpMaxBackoff"),
    ('{"ldpReplayOnReconnect":1}', "ldpReplayOnReconnect"),
    ('{"ldpReplayMaxWindow":1.5}', "ldpReplayMaxWindow"),
    ('{"ldpDedupeCapacity":0}', "ldpDedupeCapacity"),
    ('{"ldpCAFile":["a"]}', "ldpCAFile"),
    ('{"ldpStatsInterval":-1}', "ldpStatsInterval"),
    ('{"ldpMinBackoff":5,"ldpMaxBackoff":2}', "ldpMinBackoff"),
    # not finite (Python's json reads NaN and Infinity; 1e999 is a JSON number that overflows)
    ('{"ldpPingInterval":NaN}', "ldpPingInterval"),
    ('{"ldpPingTimeout":Infinity}', "ldpPingTimeout"),
    ('{"ldpMinBackoff":-Infinity}', "ldpMinBackoff"),
    ('{"ldpStatsInterval":1e999}', "ldpStatsInterval"),
    ('{"maxEventSize":NaN}', "maxEventSize"),
    ('{"maxEventSize":1e400}', "maxEventSize"),
    # above the maximum
    ('{"maxEventSize":67108865}', "maxEventSize"),
    ('{"maxEventSize":100000000000000000000000000000}', "maxEventSize"),
    ('{"webhookMaxBatchSize":1073741825}', "webhookMaxBatchSize"),
    ('{"ldpPingInterval":3600.001}', "ldpPingInterval"),
    ('{"ldpConnectTimeout":601}', "ldpConnectTimeout"),
    ('{"ldpReplayMaxWindow":604801}', "ldpReplayMaxWindow"),
    ('{"ldpDedupeCapacity":4194305}', "ldpDedupeCapacity"),
    ('{"ldpStatsInterval":86400.5}', "ldpStatsInterval"),
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


def test_ldp_defaults_and_numbers():
    c = config.parse("{}")
    assert (c.ldp_ping_interval, c.ldp_ping_timeout, c.ldp_min_backoff, c.ldp_max_backoff) == \
        (20.0, 20.0, 1.0, 60.0)
    assert c.ldp_replay is True and c.ldp_ca_file == "" and c.ldp_dedupe_capacity == 65536
    c = config.parse('{"ldpPingInterval": 2, "ldpPingTimeout": 0.5, "ldpReplayOnReconnect": true,'
                     ' "ldpCAFile": "/etc/ca.pem", "ldpStatsInterval": 0}')
    assert c.ldp_ping_interval == 2.0 and isinstance(c.ldp_ping_interval, float)
    assert c.ldp_ping_timeout == 0.5 and c.ldp_replay and c.ldp_ca_file == "/etc/ca.pem"
    assert c.ldp_stats_interval == 0.0


def test_upper_bounds_are_accepted():
    hi = {k: v[2] for k, v in config.KEYS.items() if v[0] in ("integer", "number")}
    c = config.parse(json.dumps(dict(hi, ldpMinBackoff=hi["ldpMaxBackoff"])))
    assert c.max_event_size == 64 * 1024 * 1024 and c.webhook_max_batch_size == 1024 ** 3
    assert c.ldp_dedupe_capacity == 4 * 1024 * 1024 and c.ldp_stats_interval == 86400.0
