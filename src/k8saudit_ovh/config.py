"""Init config: parse and validate the JSON that Falco passes to plugin_init.

The same rules are published as a JSON schema by the entry library
(include/k8saudit_config_schema.h); Falco checks that first, this module checks again so that
any host gets an error naming the key.
"""
from __future__ import annotations

import json
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
}


@dataclass(frozen=True)
class Config:
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    webhook_max_batch_size: int = DEFAULT_WEBHOOK_MAX_BATCH_SIZE
    use_async: bool = True
    ssl_certificate: str = "/etc/falco/falco.pem"
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
    return Config(
        max_event_size=known.get("maxEventSize", DEFAULT_MAX_EVENT_SIZE),
        webhook_max_batch_size=known.get("webhookMaxBatchSize", DEFAULT_WEBHOOK_MAX_BATCH_SIZE),
        use_async=known.get("useAsync", True),
        ssl_certificate=known.get("sslCertificate", "/etc/falco/falco.pem"),
        extra=extra,
    )
