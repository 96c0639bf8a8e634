"""Audit events from files (what k8saudit does with a path): read once, then EOF.

A file is JSON Lines (one Event, EventList or array per line), or one JSON document spread over
several lines (a pretty-printed EventList or array). A directory is read file by file in
modification-time order. Reading happens on a producer thread; the C side parses and queues.
"""
from __future__ import annotations

import os
import threading

from .errors import OpenError
from .log import get_logger

# A whole multi-line document is read into memory: bounded.
MAX_DOCUMENT_SIZE = 1024 * 1024 * 1024


class SourceError(OpenError):
    """A file path in open_params that cannot be opened."""


def resolve_paths(params: str) -> list[str]:
    path = params[len("file://"):] if params.startswith("file://") else params
    if not path:
        raise SourceError("k8saudit-ovh: empty file path in open_params")
    if os.path.isdir(path):
        try:
            entries = [os.path.join(path, n) for n in os.listdir(path)]
        except OSError as exc:
            raise SourceError(f"k8saudit-ovh: cannot list audit log directory '{path}': "
                              f"{exc.strerror}") from None
        files = [p for p in entries if os.path.isfile(p)]
        return sorted(files, key=lambda p: (os.stat(p).st_mtime_ns, p))
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise SourceError(f"k8saudit-ovh: cannot open audit log '{path}': {exc.strerror}") from None
    return [path]


class FileSource:
    """One producer thread reading files into a Feeder; finishes the queue at the end."""

    def __init__(self, paths, queue, feeder, config):
        self.paths = paths
        self.queue = queue
        self.feeder = feeder
        self.config = config
        self.log = get_logger()
        self.thread = threading.Thread(target=self._run, name="k8saudit-ovh-file", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        self.queue.stop()
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self):
        try:
            for path in self.paths:
                with open(path, "rb") as f:
                    if not self._read(f):
                        return
        except OSError as exc:
            self.queue.fail(f"k8saudit-ovh: error reading audit log '{exc.filename}': {exc.strerror}")
        except Exception as exc:  # never let a reader bug kill Falco silently
            self.log.exception("file reader failed")
            self.queue.fail(f"k8saudit-ovh: file reader failed: {exc}")
        finally:
            self.queue.finish()

    def _read(self, f) -> bool:
        """Feed one file; False when the instance is stopping."""
        limit = self.config.max_line_size
        first = True
        while True:
            line = f.readline(limit + 1)
            if not line:
                return True
            if len(line) > limit and not line.endswith(b"\n"):
                self._skip_rest_of_line(f)
                self.feeder.count_drop("oversize")
                first = False
                continue
            payload = line.strip()
            if not payload:
                continue
            if first:
                first = False
                if payload[:1] in (b"{", b"[") and not self.feeder.is_json(payload):
                    return self._feed_document(payload, f)
            if self.feeder.feed(payload) < 0:
                return False

    def _feed_document(self, head: bytes, f) -> bool:
        """The first line is not a whole JSON value: the file is one multi-line document."""
        rest = f.read(MAX_DOCUMENT_SIZE - len(head) + 1)
        if len(head) + len(rest) > MAX_DOCUMENT_SIZE:
            self.log.error("audit log document larger than %d bytes: dropped", MAX_DOCUMENT_SIZE)
            self.feeder.count_drop("oversize")
            return True
        return self.feeder.feed(head + b"\n" + rest) >= 0

    @staticmethod
    def _skip_rest_of_line(f):
        while True:
            chunk = f.readline(1 << 20)
            if not chunk or chunk.endswith(b"\n"):
                return
