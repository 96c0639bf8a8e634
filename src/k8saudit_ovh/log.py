"""The plugin's logger: stderr lines prefixed like Falco's own plugin logs."""
from __future__ import annotations

import logging
import sys

LOGGER_NAME = "k8saudit-ovh"


def get_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[k8saudit-ovh] %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
