"""The LDP source's configuration error (an open error, like a file source's)."""
from __future__ import annotations

from ..errors import OpenError


class LdpError(OpenError):
    """An LDP address or setting the plugin cannot use; the message says why (token redacted)."""
