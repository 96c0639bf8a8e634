"""Audit events from the OVHcloud Logs Data Platform (LDP) WebSocket live tail.

Each frame is ``{"message": "<GELF JSON>"}``; the audit payload is the GELF ``short_message``
(``full_message`` when it is empty or not JSON). Frames are handed as bytes to a Feeder, whose
C code unwraps, parses, checks and queues the events without the GIL.

One module per concern, no import cycle: docs/DESIGN.md lists what each module imports (a
test keeps that list true). contract.py states the rules between a stream and the rest.

The token (``tk=``) never appears in a log line, an error, a state file or a metric: every text
goes through :func:`redact`. See contract.py for backpressure and keepalive.
"""
from __future__ import annotations

from .address import (SEPARATOR, LdpUrl, is_ldp_params, is_loopback, parse_params, parse_url,
                      split_params)
from .backoff import Backoff
from .errors import LdpError
from .redact import redact
from .source import LdpSource

__all__ = ["SEPARATOR", "LdpUrl", "is_ldp_params", "is_loopback", "parse_params", "parse_url",
           "split_params", "Backoff", "LdpError", "redact", "LdpSource"]
