"""The TLS context of every LDP connection: verified, TLS 1.2 at least.

Which CAs: ldpCAFile when set; else the host's CA bundle at the usual places (a distroless or
minimal image may have none, and then OpenSSL's default paths find nothing either); else the
bundle of the certifi package when it is installed. The log says once which one is used.
"""
from __future__ import annotations

import os
import ssl
import threading
from typing import Optional, Tuple

from .errors import LdpError

# Debian/Ubuntu/Alpine, RHEL/Fedora, SUSE, older RHEL, macOS/BSD/LibreSSL
CA_BUNDLE_CANDIDATES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/ssl/cert.pem",
)

_announced: set = set()
_announce_lock = threading.Lock()


def find_ca_bundle(candidates=CA_BUNDLE_CANDIDATES) -> Tuple[Optional[str], str]:
    """(path, where it comes from) of the CA bundle to trust without ldpCAFile;
    (None, why) when there is none."""
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.R_OK):
            return path, "the host's CA bundle"
    try:
        import certifi
        path = certifi.where()
        if os.path.isfile(path):
            return path, "the CA bundle of the certifi package"
    except ImportError:
        pass
    return None, "OpenSSL's default CA paths (no CA bundle found on this host)"


def make_ssl_context(ca_file: Optional[str], log=None) -> ssl.SSLContext:
    """A verifying client context trusting `ca_file` (ldpCAFile) or the CAs find_ca_bundle()
    picks. LdpError when ldpCAFile cannot be used."""
    if ca_file:
        if not os.path.isfile(ca_file):
            raise LdpError(f"k8saudit-ovh: ldpCAFile '{ca_file}' is not a readable file")
        path, origin = ca_file, "ldpCAFile"
    else:
        path, origin = find_ca_bundle()
    try:
        ctx = ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        if ca_file:
            raise LdpError(f"k8saudit-ovh: cannot load ldpCAFile '{ca_file}': {exc}") from None
        ctx = ssl.create_default_context()
        path, origin = None, f"OpenSSL's default CA paths ({path} could not be loaded: {exc})"
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if log is not None:
        text = f"{origin} ({path})" if path else origin
        with _announce_lock:
            if text not in _announced:
                _announced.add(text)
                log.info("LDP TLS: trusting %s", text)
    return ctx


def trust_description(ca_file: Optional[str]) -> str:
    """For the `check` command: which CAs verify the server."""
    if ca_file:
        return f"the CA file {ca_file} (ldpCAFile)"
    path, origin = find_ca_bundle()
    return f"{origin} ({path})" if path else origin
