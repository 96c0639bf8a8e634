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
DOCUMENT_CHUNK = 1024 * 1024


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
        os.close(_open_nonblocking(path))
    except OSError as exc:
        raise SourceError(f"k8saudit-ovh: cannot open audit log '{path}': {exc.strerror}") from None
    return [path]


def _open_nonblocking(path: str) -> int:
    """A read descriptor that a FIFO without a writer cannot block (a plain open() waits for
    one, and would hang plugin_open); reads block again as usual. Such a FIFO reads as empty."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    return fd


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
        path = None
        try:
            for path in self.paths:
                with os.fdopen(_open_nonblocking(path), "rb") as f:
                    if not self._read(f):
                        return
        except OSError as exc:
            # a read error (EIO) carries no file name: the path is the one being read
            self.queue.fail(f"k8saudit-ovh: error reading audit log '{exc.filename or path}': "
                            f"{exc.strerror or exc}")
        except Exception as exc:  # never let a reader bug kill Falco silently
            self.log.exception("file reader failed")
            # some exceptions have no text (MemoryError): the type names the cause
            cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.queue.fail(f"k8saudit-ovh: file reader failed on '{path}': {cause}")
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
        # Read in chunks: f.read(MAX_DOCUMENT_SIZE) would reserve the whole limit (1 GiB) up
        # front even for a small file, which fails under an address-space limit.
        parts, size = [head, b"\n"], len(head)
        while True:
            chunk = f.read(DOCUMENT_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_DOCUMENT_SIZE:
                self.log.error("audit log document larger than %d bytes: dropped", MAX_DOCUMENT_SIZE)
                self.feeder.count_drop("oversize")
                return True
            parts.append(chunk)
        return self.feeder.feed(b"".join(parts)) >= 0

    @staticmethod
    def _skip_rest_of_line(f):
        while True:
            chunk = f.readline(1 << 20)
            if not chunk or chunk.endswith(b"\n"):
                return
