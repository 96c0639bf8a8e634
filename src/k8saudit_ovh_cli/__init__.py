"""Operator tools for k8saudit-ovh: the `k8saudit-ovh` command (demo, check, tail, path) and the
ctypes host it drives the plugin library through. Never shipped in the plugin artifact."""
