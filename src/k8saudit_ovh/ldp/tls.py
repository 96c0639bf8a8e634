"""The TLS context of every LDP connection: verified, TLS 1.2 at least, trusting the CAs that
k8saudit_ovh.trust picks (ldpCAFile, else the host's CA bundle, else the bundled certifi one;
logged once)."""
from __future__ import annotations

import os
import ssl
from typing import Optional

from .. import trust
from .errors import LdpError


def make_ssl_context(ca_file: Optional[str]) -> ssl.SSLContext:
    """A verifying client context. LdpError when ldpCAFile (or the chosen bundle) cannot be
    used."""
    path, origin = trust.choose_ca_bundle(ca_file or "")
    if ca_file and not os.path.isfile(ca_file):
        raise LdpError(f"k8saudit-ovh: ldpCAFile '{ca_file}' is not a readable file")
    try:
        ctx = ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise LdpError(f"k8saudit-ovh: cannot load {origin} '{path}': {exc}") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    trust.log_choice(path, origin)
    return ctx


def trust_description(ca_file: Optional[str]) -> str:
    """For the `check` command: which CAs verify the server."""
    path, origin = trust.choose_ca_bundle(ca_file or "")
    return f"{origin} ({path})" if path else origin
