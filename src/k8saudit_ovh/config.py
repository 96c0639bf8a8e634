"""Init config: parse and validate the JSON that Falco passes to plugin_init.

Runs when the state's Python side is built, at its first open or extraction (CPython starts
lazily, see docs/DESIGN.md "Lazy start"); plugin_init itself only checks, in C, that the text is
one JSON object, so the keys and their rules are defined here and in the schema only.

The same rules are published as a JSON schema by the entry library
(include/k8saudit_config_schema.h); Falco checks that first, this module checks again so that
any host gets an error naming the key.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

DEFAULT_MAX_EVENT_SIZE = 262144            # k8saudit's default (sdk.DefaultEvtSize)
DEFAULT_WEBHOOK_MAX_BATCH_SIZE = 12582912   # k8saudit's default: ~1.2 x the apiserver batch


class ConfigError(ValueError):
    """An init config the plugin cannot run with; the message names the key."""


# key -> (JSON type, minimum, maximum); one row per accepted key.
KEYS = {
    "maxEventSize": ("integer", 1, 64 * 1024 * 1024),
    "webhookMaxBatchSize": ("integer", 1, 1024 * 1024 * 1024),
    "useAsync": ("boolean", None, None),
    "sslCertificate": ("string", None, None),
    # LDP WebSocket live tail (times in seconds)
    "ldpPingInterval": ("number", 0.05, 3600),
    "ldpPingTimeout": ("number", 0.05, 3600),
    "ldpConnectTimeout": ("number", 0.1, 600),
    "ldpMinBackoff": ("number", 0.01, 3600),
    "ldpMaxBackoff": ("number", 0.01, 3600),
    "ldpReplayOnReconnect": ("boolean", None, None),
    "ldpReplayMaxWindow": ("integer", 1, 7 * 86400),
    "ldpReplayIdleTimeout": ("number", 0.1, 3600),
    "ldpDedupeCapacity": ("integer", 1, 4 * 1024 * 1024),
    "ldpCAFile": ("string", None, None),
    "ldpStatsInterval": ("number", 0, 86400),
}

# LDP defaults
DEFAULT_LDP_PING_INTERVAL = 20.0
DEFAULT_LDP_PING_TIMEOUT = 20.0
DEFAULT_LDP_CONNECT_TIMEOUT = 15.0
DEFAULT_LDP_MIN_BACKOFF = 1.0
DEFAULT_LDP_MAX_BACKOFF = 60.0
DEFAULT_LDP_REPLAY_MAX_WINDOW = 3600
DEFAULT_LDP_REPLAY_IDLE_TIMEOUT = 10.0
DEFAULT_LDP_DEDUPE_CAPACITY = 65536
DEFAULT_LDP_STATS_INTERVAL = 60.0


@dataclass(frozen=True)
class Config:
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    webhook_max_batch_size: int = DEFAULT_WEBHOOK_MAX_BATCH_SIZE
    use_async: bool = True
    ssl_certificate: str = "/etc/falco/falco.pem"
    ldp_ping_interval: float = DEFAULT_LDP_PING_INTERVAL
    ldp_ping_timeout: float = DEFAULT_LDP_PING_TIMEOUT
    ldp_connect_timeout: float = DEFAULT_LDP_CONNECT_TIMEOUT
    ldp_min_backoff: float = DEFAULT_LDP_MIN_BACKOFF
    ldp_max_backoff: float = DEFAULT_LDP_MAX_BACKOFF
    ldp_replay: bool = False
    ldp_replay_max_window: int = DEFAULT_LDP_REPLAY_MAX_WINDOW
    ldp_replay_idle_timeout: float = DEFAULT_LDP_REPLAY_IDLE_TIMEOUT
    ldp_dedupe_capacity: int = DEFAULT_LDP_DEDUPE_CAPACITY
    ldp_ca_file: str = ""
    ldp_stats_interval: float = DEFAULT_LDP_STATS_INTERVAL
    extra: tuple = ()

    @property
    def max_line_size(self) -> int:
        """A line (or message) may be an EventList: bounded by the larger of the two sizes."""
        return max(self.max_event_size, self.webhook_max_batch_size)


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


def parse(text: str) -> Config:
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
    known = {k: _check(k, v) for k, v in data.items() if k in KEYS}
    extra = tuple(sorted(k for k in data if k not in KEYS))
    cfg = Config(
        max_event_size=known.get("maxEventSize", DEFAULT_MAX_EVENT_SIZE),
        webhook_max_batch_size=known.get("webhookMaxBatchSize", DEFAULT_WEBHOOK_MAX_BATCH_SIZE),
        use_async=known.get("useAsync", True),
        ssl_certificate=known.get("sslCertificate", "/etc/falco/falco.pem"),
        ldp_ping_interval=known.get("ldpPingInterval", DEFAULT_LDP_PING_INTERVAL),
        ldp_ping_timeout=known.get("ldpPingTimeout", DEFAULT_LDP_PING_TIMEOUT),
        ldp_connect_timeout=known.get("ldpConnectTimeout", DEFAULT_LDP_CONNECT_TIMEOUT),
        ldp_min_backoff=known.get("ldpMinBackoff", DEFAULT_LDP_MIN_BACKOFF),
        ldp_max_backoff=known.get("ldpMaxBackoff", DEFAULT_LDP_MAX_BACKOFF),
        ldp_replay=known.get("ldpReplayOnReconnect", False),
        ldp_replay_max_window=known.get("ldpReplayMaxWindow", DEFAULT_LDP_REPLAY_MAX_WINDOW),
        ldp_replay_idle_timeout=known.get("ldpReplayIdleTimeout", DEFAULT_LDP_REPLAY_IDLE_TIMEOUT),
        ldp_dedupe_capacity=known.get("ldpDedupeCapacity", DEFAULT_LDP_DEDUPE_CAPACITY),
        ldp_ca_file=known.get("ldpCAFile", ""),
        ldp_stats_interval=known.get("ldpStatsInterval", DEFAULT_LDP_STATS_INTERVAL),
        extra=extra,
    )
    if cfg.ldp_min_backoff > cfg.ldp_max_backoff:
        raise ConfigError("k8saudit-ovh: init config key 'ldpMinBackoff' "
                          f"({cfg.ldp_min_backoff:g}) must not exceed 'ldpMaxBackoff' "
                          f"({cfg.ldp_max_backoff:g})")
    return cfg
