"""Init config: parse and validate the JSON that Falco passes to plugin_init.

Runs when the state's Python side is built, at its first open or extraction (CPython starts
lazily, see docs/DESIGN.md "Lazy start"); plugin_init itself only checks, in C, that the text is
one JSON object, so the keys and their rules are defined here only.

`TABLE` is the one place where a key is defined (type, bounds, default, description): the
Config fields, the checks below and the JSON schema the entry library publishes
(include/k8saudit_config_schema.h, written by scripts/gen-config-schema.py; tests/abi/test_config_table.py
fails when the header differs from what the table produces) all come from it. Falco checks the
schema first; this module checks again so that any host gets an error naming the key.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, NamedTuple, Optional


class ConfigError(ValueError):
    """An init config the plugin cannot run with; the message names the key."""


class Key(NamedTuple):
    name: str                  # the JSON key
    attr: str                  # the Config attribute
    kind: str                  # JSON schema type: integer, number, boolean, string
    default: Any
    lo: Optional[float]
    hi: Optional[float]
    description: str           # without the default: the schema adds it


_LDP = "LDP live tail: "

TABLE = (
    Key("maxEventSize", "max_event_size", "integer", 262144, 1, 64 * 1024 * 1024,
        "Maximum size in bytes of one audit event (compact JSON); larger events are dropped "
        "and counted"),
    Key("webhookMaxBatchSize", "webhook_max_batch_size", "integer", 12582912, 1,
        1024 * 1024 * 1024,
        "Maximum size in bytes of one line or message that may hold an EventList"),
    Key("useAsync", "use_async", "boolean", True, None, None,
        "Accepted for compatibility with k8saudit; extraction never blocks here"),
    Key("sslCertificate", "ssl_certificate", "string", "/etc/falco/falco.pem", None, None,
        "Accepted for compatibility with k8saudit (webhook TLS); unused"),
    Key("ldpPingInterval", "ldp_ping_interval", "number", 20.0, 0.05, 3600,
        _LDP + "seconds without any frame before a WebSocket ping is sent"),
    Key("ldpPingTimeout", "ldp_ping_timeout", "number", 20.0, 0.05, 3600,
        _LDP + "seconds to wait for the pong (or any frame) before the connection is declared "
               "dead and re-opened"),
    Key("ldpConnectTimeout", "ldp_connect_timeout", "number", 15.0, 0.1, 600,
        _LDP + "seconds allowed for TCP connect, proxy, TLS and WebSocket handshakes"),
    Key("ldpMinBackoff", "ldp_min_backoff", "number", 1.0, 0.01, 3600,
        _LDP + "first reconnect delay in seconds, doubled at each failure, with jitter"),
    Key("ldpMaxBackoff", "ldp_max_backoff", "number", 60.0, 0.01, 3600,
        _LDP + "longest reconnect delay in seconds"),
    Key("ldpReplayOnReconnect", "ldp_replay", "boolean", True, None, None,
        _LDP + "after a reconnect, replay the missed window with LDP's begin/end parameters "
               "and drop duplicates by auditID and stage (false: the seconds around each "
               "reconnect are lost)"),
    Key("ldpReplayMaxWindow", "ldp_replay_max_window", "integer", 3600, 1, 7 * 86400,
        _LDP + "longest gap in seconds that a replay covers (the most recent part is "
               "replayed)"),
    Key("ldpReplayMargin", "ldp_replay_margin", "number", 60.0, 1, 3600,
        _LDP + "how far (seconds) events may come out of order in LDP's clock (frame "
               "timestamp); replays after a reconnect or a restart start this much earlier, so "
               "late events are never lost"),
    Key("ldpReplayIdleTimeout", "ldp_replay_idle_timeout", "number", 10.0, 0.1, 3600,
        _LDP + "a replay is complete when the server closes it or sends nothing for this "
               "many seconds"),
    Key("ldpDedupeCapacity", "ldp_dedupe_capacity", "integer", 65536, 1, 4 * 1024 * 1024,
        _LDP + "number of recent events per stream remembered for duplicate detection when "
               "replay is on (16 bytes each, x2)"),
    Key("ldpCAFile", "ldp_ca_file", "string", "", None, None,
        _LDP + "PEM file of the CA(s) that sign the server certificate, instead of the "
               "system CAs. TLS is always verified"),
    Key("ldpStatsInterval", "ldp_stats_interval", "number", 60.0, 0, 86400,
        _LDP + "seconds between two statistics log lines, 0 for none"),
    Key("ldpStateDir", "ldp_state_dir", "string", "", None, None,
        _LDP + "folder where each stream's resume state is kept (what Falco has finished, in "
               "LDP's clock), so that after a restart the missed window is replayed without "
               "losing or repeating events (empty: no resume)"),
    Key("ldpStateInterval", "ldp_state_interval", "number", 2.0, 0.05, 3600,
        _LDP + "seconds between two fsyncs of the resume state (every finished batch reaches "
               "it at once; it is also written at close)"),
    Key("ldpWindowChunk", "ldp_window_chunk", "integer", 3600, 1, 7 * 86400,
        "LDP past window (an address with begin= and end=): seconds of LDP's clock fetched "
        "per request"),
)

# key -> (JSON type, minimum, maximum)
KEYS = {k.name: (k.kind, k.lo, k.hi) for k in TABLE}
_BY_NAME = {k.name: k for k in TABLE}
_PY_TYPES = {"integer": int, "number": float, "boolean": bool, "string": str}


def _max_line_size(self) -> int:
    """A line (or message) may be an EventList: bounded by the larger of the two sizes."""
    return max(self.max_event_size, self.webhook_max_batch_size)


Config = dataclasses.make_dataclass(
    "Config",
    [(k.attr, _PY_TYPES[k.kind], dataclasses.field(default=k.default)) for k in TABLE]
    + [("extra", tuple, dataclasses.field(default=()))],
    frozen=True, namespace={"max_line_size": property(_max_line_size),
                            "__module__": __name__})


def _check(key: str, value):
    kind, lo, hi = KEYS[key]
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ConfigError(
                f"k8saudit-ovh: init config key '{key}' must be an integer between {lo} and {hi}, "
                f"got {json.dumps(value)}")
    elif kind == "number":
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not lo <= value <= hi):
            raise ConfigError(
                f"k8saudit-ovh: init config key '{key}' must be a number between {lo} and {hi}, "
                f"got {json.dumps(value)}")
        value = float(value)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ConfigError(f"k8saudit-ovh: init config key '{key}' must be true or false, "
                              f"got {json.dumps(value)}")
    elif kind == "string":
        if not isinstance(value, str):
            raise ConfigError(f"k8saudit-ovh: init config key '{key}' must be a string, "
                              f"got {json.dumps(value)}")
    return value


def parse(text: str) -> "Config":
    text = (text or "").strip()
    if not text:
        return Config()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"k8saudit-ovh: init config is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("k8saudit-ovh: init config must be a JSON object, "
                          f"got {type(data).__name__}")
    known = {_BY_NAME[k].attr: _check(k, v) for k, v in data.items() if k in KEYS}
    extra = tuple(sorted(k for k in data if k not in KEYS))
    cfg = Config(**known, extra=extra)
    if cfg.ldp_min_backoff > cfg.ldp_max_backoff:
        raise ConfigError("k8saudit-ovh: init config key 'ldpMinBackoff' "
                          f"({cfg.ldp_min_backoff:g}) must not exceed 'ldpMaxBackoff' "
                          f"({cfg.ldp_max_backoff:g})")
    return cfg


# ---- the JSON schema published by plugin_get_init_schema

def _default_text(k: Key) -> str:
    if k.kind == "string":
        return f"default '{k.default}'" if k.default else "default empty"
    if k.kind == "boolean":
        return "default " + ("true" if k.default else "false")
    return f"default {k.default:g}" if isinstance(k.default, float) else f"default {k.default}"


def schema() -> dict:
    props = {}
    for k in TABLE:
        p: dict = {"type": k.kind}
        if k.lo is not None:
            p["minimum"], p["maximum"] = k.lo, k.hi
        p["description"] = f"{k.description} ({_default_text(k)})"
        props[k.name] = p
    return {"$schema": "http://json-schema.org/draft-04/schema#",
            "title": "k8saudit-ovh init config", "type": "object",
            "additionalProperties": True, "properties": props}


def schema_header() -> str:
    """The C header that holds schema() as a string literal, one property per line."""
    body = json.dumps(schema(), separators=(",", ":"), ensure_ascii=True)
    head, _, rest = body.partition('"properties":{')
    lines = [head + '"properties":{']
    props = schema()["properties"]
    for i, (name, p) in enumerate(props.items()):
        item = json.dumps({name: p}, separators=(",", ":"), ensure_ascii=True)[1:-1]
        lines.append(item + ("," if i + 1 < len(props) else ""))
    lines.append("}}")
    literal = "\n".join('"' + ln.replace("\\", "\\\\").replace('"', '\\"') + '"' for ln in lines)
    return ("/* k8saudit-ovh: the init-config JSON schema returned by plugin_get_init_schema.\n"
            " * Generated from src/k8saudit_ovh/config.py (TABLE) by scripts/gen-config-schema.py:\n"
            " * do not edit; tests/abi/test_config_table.py fails when it is out of date. */\n"
            "#ifndef K8SAUDIT_OVH_CONFIG_SCHEMA_H\n#define K8SAUDIT_OVH_CONFIG_SCHEMA_H\n\n"
            "static const char K8S_INIT_SCHEMA[] =\n" + literal + ";\n\n#endif\n")
