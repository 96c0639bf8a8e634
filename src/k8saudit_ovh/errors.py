"""The error every event source raises for open_params it cannot open (file or LDP alike)."""
from __future__ import annotations


class OpenError(Exception):
    """open_params that cannot be opened; the message says what and why."""
