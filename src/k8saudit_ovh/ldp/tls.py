"""The TLS context of every LDP connection: verified, TLS 1.2 at least, trusting the CAs that
k8saudit_ovh.trust picks (ldpCAFile, else SSL_CERT_FILE/SSL_CERT_DIR from the environment,
else the host's CA bundle, else the bundled certifi one; logged once)."""
from __future__ import annotations

import re
import ssl
from typing import Optional

from .. import trust
from .errors import LdpError

PREFIX = "k8saudit-ovh: "


def choose(ca_file: Optional[str]) -> trust.CaChoice:
    """The CAs to trust; LdpError (an open error) when the chosen setting cannot be used."""
    try:
        return trust.choose(ca_file or "")
    except trust.TrustError as exc:
        raise LdpError(PREFIX + str(exc)) from None


def make_ssl_context(ca_file: Optional[str]) -> ssl.SSLContext:
    """A verifying client context. LdpError when ldpCAFile, SSL_CERT_FILE or SSL_CERT_DIR (or
    the chosen bundle) cannot be used; the sentence is logged once and is the error's text."""
    try:
        choice = trust.choose(ca_file or "")
        try:
            # Explicit locations: the bundled OpenSSL reads neither openssl.cnf nor (here,
            # with a cafile/capath given) its own default paths.
            ctx = ssl.create_default_context(cafile=choice.cafile, capath=choice.capath)
        except (OSError, ssl.SSLError) as exc:
            why = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", str(exc))     # CPython's source line
            raise trust.TrustError(f"cannot load the CA certificates of {choice.describe()}: "
                                   f"{why}") from None
    except trust.TrustError as exc:
        trust.log_failure(str(exc))
        raise LdpError(PREFIX + str(exc)) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    trust.log_choice(choice)
    return ctx


def trust_description(ca_file: Optional[str]) -> str:
    """For the `check` command: which CAs verify the server (LdpError when unusable)."""
    return choose(ca_file).describe()
