"""Which CA certificates verify the LDP server.

The falcoctl artifact brings its own OpenSSL, whose compiled-in default locations
(OPENSSLDIR) are the build machine's and mean nothing on the host, and which is started
without reading the host's openssl.cnf. So the CAs are chosen here, explicitly, in this order:

1. ``ldpCAFile`` (init config), if set;
2. else ``SSL_CERT_FILE`` and/or ``SSL_CERT_DIR`` from the environment (what every TLS client
   in a container honours: a corporate CA, a TLS-inspecting proxy). When both are set both
   are used, as OpenSSL does; the directory is a hashed one (``openssl rehash``), possibly
   several joined with ``:``, and is loaded explicitly (``capath``);
3. else the host's CA bundle at the place its distribution keeps it;
4. else the ``certifi`` bundle that travels with the plugin.

A file or directory named by ``ldpCAFile`` or by one of the variables that cannot be read is an
error (a sentence naming the setting and the path), never a silent fall-through to the next
source. Which source was used is logged once per process.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from .log import get_logger

# The host's CA bundle, where each family of distributions keeps it (first hit wins).
SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",                   # Debian, Ubuntu, Wolfi, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",                     # RHEL, Fedora, CentOS, Amazon Linux
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",    # RHEL 7+ (the file behind the above)
    "/etc/ssl/ca-bundle.pem",                               # openSUSE, SLES
    "/etc/ssl/cert.pem",                                    # Alpine, some minimal images
)

# The variables OpenSSL's own default paths honour (X509_get_default_cert_{file,dir}_env).
ENV_FILE = "SSL_CERT_FILE"
ENV_DIR = "SSL_CERT_DIR"

LDP_CA_FILE = "ldpCAFile"
FROM_ENV = "the environment"
HOST = "the host's CA bundle"
CERTIFI = "the CA bundle shipped with the plugin (certifi)"
OPENSSL_DEFAULT = "OpenSSL's default CA locations"

_logged = set()
_lock = threading.Lock()


class TrustError(ValueError):
    """A CA file or directory named by ldpCAFile or by SSL_CERT_FILE/SSL_CERT_DIR that cannot
    be used. The text is one sentence that names the setting and the path."""


@dataclass(frozen=True)
class CaChoice:
    """The CAs that verify the server: ``cafile`` (a PEM bundle) and/or ``capath`` (hashed
    directories, ``:``-separated), and where they come from (one of the origins above).
    ``ignored`` names the variables that were set but not used (ldpCAFile wins)."""
    origin: str
    cafile: Optional[str] = None
    capath: Optional[str] = None
    ignored: Tuple[str, ...] = ()

    def describe(self) -> str:
        """E.g. ``SSL_CERT_FILE (/etc/corp/ca.pem) from the environment``,
        ``ldpCAFile (/etc/ca.pem)``, ``the host's CA bundle (/etc/ssl/certs/ca-certificates.crt)``."""
        if self.origin == FROM_ENV:
            parts = ([f"{ENV_FILE} ({self.cafile})"] if self.cafile else []) + (
                [f"{ENV_DIR} ({self.capath})"] if self.capath else [])
            text = " and ".join(parts) + " from the environment"
        else:
            text = f"{self.origin} ({self.cafile})" if self.cafile else self.origin
        if self.ignored:
            text += f"; {' and '.join(self.ignored)} ignored ({LDP_CA_FILE} is set)"
        return text


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


def _why_not_a_readable_file(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except IsADirectoryError:
        return "it is a directory"
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()
    return None


def _why_not_a_readable_dir(path: str) -> Optional[str]:
    if not os.path.exists(path):
        return "no such file or directory"
    if not os.path.isdir(path):
        return "it is not a directory"
    try:
        with os.scandir(path) as it:
            next(it, None)
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()
    return None


def _env_value(environ: Mapping[str, str], name: str) -> str:
    """The variable's value, "" when unset or blank; for SSL_CERT_DIR without empty
    elements (OpenSSL skips them too)."""
    value = (environ.get(name) or "").strip()
    if name == ENV_DIR:
        value = ":".join(d for d in value.split(":") if d)
    return value


def choose(ca_file: str = "", environ: Optional[Mapping[str, str]] = None,
           candidates=SYSTEM_CA_BUNDLES) -> CaChoice:
    """The CAs to trust, in the order of the module's docstring; TrustError when ldpCAFile or
    a variable names something that cannot be read. ``environ`` defaults to the process
    environment (the embedded CPython's os.environ is Falco's environment: isolation only
    ignores PYTHON* variables). A CaChoice without cafile nor capath means OpenSSL's own
    default locations (only in a development install without certifi)."""
    env = os.environ if environ is None else environ
    env_file, env_dir = _env_value(env, ENV_FILE), _env_value(env, ENV_DIR)
    if ca_file:
        why = _why_not_a_readable_file(ca_file)
        if why:
            raise TrustError(f"{LDP_CA_FILE} '{ca_file}' is not a readable file ({why}): "
                             f"check the path in the init config")
        ignored = tuple(n for n, v in ((ENV_FILE, env_file), (ENV_DIR, env_dir)) if v)
        return CaChoice(LDP_CA_FILE, cafile=ca_file, ignored=ignored)
    if env_file or env_dir:
        if env_file:
            why = _why_not_a_readable_file(env_file)
            if why:
                raise TrustError(
                    f"{ENV_FILE} '{env_file}' (from the environment) is not a readable file "
                    f"({why}): point {ENV_FILE} to a PEM file of CA certificates, unset it, "
                    f"or set {LDP_CA_FILE}")
        if env_dir:
            for d in env_dir.split(":"):
                why = _why_not_a_readable_dir(d)
                if why:
                    raise TrustError(
                        f"{ENV_DIR} '{d}' (from the environment) is not a readable directory "
                        f"({why}): point {ENV_DIR} to a hashed directory of CA certificates "
                        f"(openssl rehash), unset it, or set {LDP_CA_FILE}")
        return CaChoice(FROM_ENV, cafile=env_file or None, capath=env_dir or None)
    path = system_ca_bundle(candidates)
    if path:
        return CaChoice(HOST, cafile=path)
    path = bundled_ca_bundle()
    if path:
        return CaChoice(CERTIFI, cafile=path)
    return CaChoice(OPENSSL_DEFAULT)


def log_choice(choice: CaChoice) -> None:
    """``TLS: server certificates verified with <choice>``, once per process and choice."""
    text = choice.describe()
    with _lock:
        if ("ok", text) in _logged:
            return
        _logged.add(("ok", text))
    get_logger().info("TLS: server certificates verified with %s", text)


def log_failure(message: str) -> None:
    """The error sentence of an unusable CA setting, once per process and sentence."""
    with _lock:
        if ("error", message) in _logged:
            return
        _logged.add(("error", message))
    get_logger().error("%s", message)
