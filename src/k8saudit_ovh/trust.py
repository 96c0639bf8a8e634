"""Which CA certificates verify the LDP server.

The falcoctl artifact brings its own OpenSSL, whose compiled-in default locations
(OPENSSLDIR) are the build machine's and mean nothing on the host. So the bundle is chosen
here, explicitly: ``ldpCAFile`` if set; else the host's CA bundle at the place its
distribution keeps it; else the ``certifi`` bundle that travels with the plugin. Which one was
used is logged once per process.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from typing import Optional, Tuple

from .log import get_logger

# The host's CA bundle, where each family of distributions keeps it (first hit wins).
SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",                   # Debian, Ubuntu, Wolfi, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",                     # RHEL, Fedora, CentOS, Amazon Linux
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",    # RHEL 7+ (the file behind the above)
    "/etc/ssl/ca-bundle.pem",                               # openSUSE, SLES
    "/etc/ssl/cert.pem",                                    # Alpine, some minimal images
)

_logged = set()
_lock = threading.Lock()


def system_ca_bundle(candidates=SYSTEM_CA_BUNDLES) -> Optional[str]:
    """The first non-empty regular file among the usual CA bundle places, or None."""
    for path in candidates:
        try:
            if os.path.isfile(path) and os.path.getsize(path) > 0:
                return path
        except OSError:
            continue
    return None


def bundled_ca_bundle() -> Optional[str]:
    """certifi's cacert.pem, located without importing certifi (its ``where()`` pulls in
    importlib.resources, which the runtime does not otherwise need)."""
    spec = importlib.util.find_spec("certifi")
    if spec is None or not spec.origin:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "cacert.pem")
    return path if os.path.isfile(path) else None


def choose_ca_bundle(ca_file: str = "", candidates=SYSTEM_CA_BUNDLES) -> Tuple[Optional[str], str]:
    """(path, where it comes from). ``path`` None means OpenSSL's own default locations
    (neither a host bundle nor certifi: only in a development install without certifi)."""
    if ca_file:
        return ca_file, "ldpCAFile"
    path = system_ca_bundle(candidates)
    if path:
        return path, "the host's CA bundle"
    path = bundled_ca_bundle()
    if path:
        return path, "the CA bundle shipped with the plugin (certifi)"
    return None, "OpenSSL's default CA locations"


def log_choice(path: Optional[str], origin: str) -> None:
    key = (path, origin)
    with _lock:
        if key in _logged:
            return
        _logged.add(key)
    get_logger().info("TLS: server certificates verified with %s%s", origin,
                      f" ({path})" if path else "")
