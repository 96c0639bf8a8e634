"""Reconnect delays."""
from __future__ import annotations

import random

# A connection that stayed up this long resets the reconnect backoff.
HEALTHY_SECONDS = 10.0


class Backoff:
    """Exponential reconnect delays with +-20% jitter, kept within [lo, hi] seconds."""

    def __init__(self, lo: float, hi: float, rng=random.random):
        self.lo, self.hi, self.rng = lo, hi, rng
        self.failures = 0

    def next(self) -> float:
        base = min(self.hi, self.lo * (2 ** min(self.failures, 40)))
        self.failures += 1
        return max(self.lo, min(self.hi, base * (0.8 + 0.4 * self.rng())))

    def reset(self):
        self.failures = 0

    def after_connection(self, up_seconds: float):
        """A connection that stayed up HEALTHY_SECONDS proves the settings work: the next
        failure starts again from the shortest delay."""
        if up_seconds >= HEALTHY_SECONDS:
            self.reset()
