"""k8saudit-ovh: a Falco plugin for Kubernetes audit events of OVHcloud MKS clusters.

The plugin Falco loads is the shared library returned by `library_path()`.
"""
from __future__ import annotations

import os

# The one place the version is written: pyproject.toml reads it (scikit-build-core regex
# provider) and CMake compiles it into the library Falco loads. Keep this exact line format.
__version__ = "0.7.0"

PLUGIN_NAME = "k8saudit-ovh"
LIBRARY_NAME = "libk8saudit-ovh.so"


def library_path() -> str:
    """Absolute path of the installed plugin library (libk8saudit-ovh.so)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{LIBRARY_NAME} is not installed next to {__file__}: "
                                "reinstall the package with `pip install .`")
    return path
