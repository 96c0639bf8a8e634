"""The resume state's files (ldpStateDir): their names, the snapshot's format and its atomic
replacement. What they mean and when they are written: state.py.

    ldp-<id>.state          one JSON header line (position, holds, record count, CRC-32),
                            then the kept records: (identity u64, LDP time ns i64), native order
    ldp-<id>.<gen>.journal  24-byte checked records (_journal.pxi), appended since the
                            snapshot whose `generation` is <= gen
    ldp-<id>.json           version 1 (0.7.0 previews): the newest delivered stageTimestamp

<id> is LdpUrl.stream_id: a hash of the address without its token (never written).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
import zlib
from typing import List, NamedTuple, Optional

VERSION = 2
FORMAT = "k8saudit-ovh LDP resume state"
STATE_SUFFIX = ".state"
JOURNAL_SUFFIX = ".journal"
LEGACY_SUFFIX = ".json"
KEPT_RECORD = 16                 # (identity u64, ns i64): Journal.kept()
MAX_HEADER = 1 << 16
_COUNTS = ("records", "crc32", "generation", "origin_ns", "keep_from_ns")


def rfc3339(ns: int) -> str:
    """A time of the header, for the people who read it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)


class Unusable(Exception):
    """The stream's state cannot be used (the message says why); the stream starts live."""


class Snapshot(NamedTuple):
    head: dict
    body: bytes          # the kept records


class Files:
    """The file names of one stream's state."""

    def __init__(self, directory: str, stream_id: str):
        self.directory = directory
        self.stream_id = stream_id
        self.snapshot = os.path.join(directory, f"ldp-{stream_id}{STATE_SUFFIX}")
        self.legacy = os.path.join(directory, f"ldp-{stream_id}{LEGACY_SUFFIX}")

    def journal(self, gen: int) -> str:
        return os.path.join(self.directory, f"ldp-{self.stream_id}.{gen}{JOURNAL_SUFFIX}")

    def journal_gens(self) -> List[int]:
        prefix = f"ldp-{self.stream_id}."
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        return sorted(int(n[len(prefix):-len(JOURNAL_SUFFIX)]) for n in names
                      if n.startswith(prefix) and n.endswith(JOURNAL_SUFFIX)
                      and n[len(prefix):-len(JOURNAL_SUFFIX)].isdigit())


def read_snapshot(files: Files) -> Optional[Snapshot]:
    """The stream's snapshot, None when there is none; Unusable when it cannot be used."""
    try:
        with open(files.snapshot, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unusable(f"cannot read it: {exc.strerror or exc}") from None
    nl = data.find(b"\n", 0, MAX_HEADER)
    if nl < 0:
        raise Unusable("it is corrupt (no header line)")
    try:
        head = json.loads(data[:nl])
        if not isinstance(head, dict):
            raise ValueError("the header is not an object")
    except ValueError as exc:
        raise Unusable(f"it is corrupt ({exc})") from None
    if head.get("version") != VERSION or head.get("stream") != files.stream_id:
        raise Unusable("it belongs to another version or stream")
    body = data[nl + 1:]
    try:
        counts = [head[k] for k in _COUNTS]
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in counts):
            raise ValueError("a count or time is not a non-negative integer")
        if head["records"] * KEPT_RECORD != len(body) or zlib.crc32(body) != head["crc32"]:
            raise ValueError("its records do not match the header (size or CRC)")
        head["holds"] = {int(h): int(ns) for h, ns in head["holds"]}
        head["next_hold"] = int(head.get("next_hold", 1))
    except (KeyError, TypeError, ValueError) as exc:
        raise Unusable(f"it is corrupt ({exc})") from None
    return Snapshot(head, body)


def read_legacy(files: Files) -> int:
    """A version 1 state's newest delivered stageTimestamp (ns), 0 when there is none."""
    try:
        with open(files.legacy, "rb") as f:
            doc = json.loads(f.read(65536))
        ns = doc["newest_event_ns"]
        if doc.get("stream") != files.stream_id or isinstance(ns, bool) \
                or not isinstance(ns, int) or ns <= 0:
            raise ValueError
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError):
        raise Unusable("its version 1 file is corrupt") from None
    return ns


def read_journal(files: Files, gen: int) -> bytes:
    try:
        with open(files.journal(gen), "rb") as f:
            return f.read()
    except OSError as exc:
        raise Unusable(f"cannot read its journal {gen}: {exc.strerror or exc}") from None


def open_journal(files: Files, gen: int) -> int:
    """A new journal file, appended to by next_batch (OSError when it cannot be created)."""
    return os.open(files.journal(gen), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                   0o600)


def write_snapshot(files: Files, head: dict, body: bytes):
    """Replace the snapshot atomically: temporary file, fsync, rename, fsync of the folder."""
    head = dict(head, format=FORMAT, version=VERSION, stream=files.stream_id,
                records=len(body) // KEPT_RECORD, crc32=zlib.crc32(body))
    data = json.dumps(head).encode() + b"\n" + body
    fd, tmp = tempfile.mkstemp(prefix=".ldp-", suffix=".tmp", dir=files.directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, files.snapshot)
        tmp = None
        dfd = os.open(files.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        if tmp is not None:
            unlink(tmp)


def unlink(path: str):
    try:
        os.unlink(path)
    except OSError:
        pass
