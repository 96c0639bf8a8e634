"""Token hygiene: the LDP token (``tk=``) and proxy credentials never reach a log line, an
error, a state file or a metric. Every text that may hold an address goes through redact()."""
from __future__ import annotations

import logging
import re
import threading
import urllib.parse

from ..log import get_logger

WS_LOGGER_NAME = "k8saudit-ovh.websockets"

# tk=<value>: the value ends at a URL/text delimiter, or at a ':' that ends a phrase.
_TOKEN_RE = re.compile(r"(?i)((?:^|[?&#;\s\"'(/])tk=)([^&#\s\"'<>)]+?)(?=[&#\s\"'<>)]|:(?:\s|$)|$)")
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_known_tokens: set = set()
_tokens_lock = threading.Lock()


def remember_token(token: str) -> None:
    """Redact this token (and its URL-encoded forms) wherever it appears from now on."""
    forms = {token, urllib.parse.unquote(token), urllib.parse.quote(token, safe="")}
    with _tokens_lock:
        _known_tokens.update(t for t in forms if len(t) >= 4)


def redact(text, tokens=()) -> str:
    """`text` with every ``tk=<value>`` replaced by ``tk=***``, every known token of 4
    characters or more (those of the URLs parsed in this process, and `tokens`) by ``***``, and
    the credentials of URLs (``http://user:pw@proxy``) by ``***``."""
    text = str(text)
    text = _TOKEN_RE.sub(lambda m: m.group(1) + "***", text)
    text = _USERINFO_RE.sub(r"\1***@", text)          # proxy credentials
    with _tokens_lock:
        known = sorted(_known_tokens | {t for t in tokens if t and len(t) >= 4}, key=len,
                       reverse=True)
    for t in known:
        if t in text:
            text = text.replace(t, "***")
    return text


class RedactFilter(logging.Filter):
    """A logging filter that redacts tokens from the message and the traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string: leave the record alone
            return True
        red = redact(msg)
        if red != msg:
            record.msg = red
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_REDACT_FILTER = RedactFilter()


def loggers():
    """(the plugin's logger, the websockets library's logger), both redacting."""
    log = get_logger()
    if _REDACT_FILTER not in log.filters:
        log.addFilter(_REDACT_FILTER)
    wslog = logging.getLogger(WS_LOGGER_NAME)
    if _REDACT_FILTER not in wslog.filters:
        wslog.addFilter(_REDACT_FILTER)
        wslog.setLevel(logging.WARNING)
    return log, wslog
