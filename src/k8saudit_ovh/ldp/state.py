"""Resume state: per stream, the stageTimestamp of the newest event delivered to Falco, kept in
a folder (ldpStateDir) so that a restarted plugin replays what LDP received while it was down.

One small JSON file per stream, named by LdpUrl.stream_id (a hash of the address without its
token); the token is never written. Files are replaced atomically (temporary file, fsync,
rename, fsync of the folder), so a crash leaves the old state or the new one, never a mix. A
missing file means "start live"; an unreadable or corrupt one is reported once and also means
"start live": the state never stops the source.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Optional

from .address import LdpUrl
from .redact import redact

VERSION = 1
SUFFIX = ".json"
# A state older than this is from another era (a typo'd clock, a restored backup): ignored.
MAX_AGE_SECONDS = 30 * 86400


def _rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)


class StateStore:
    def __init__(self, directory: str, log):
        self.directory = directory
        self.log = log
        self._failing: set = set()     # streams whose last write failed (warned once)

    def path(self, target: LdpUrl) -> str:
        return os.path.join(self.directory, f"ldp-{target.stream_id}{SUFFIX}")

    def prepare(self) -> Optional[str]:
        """Create the folder if needed; the reason when it cannot be used (then resume is off
        for this run, and the source still starts)."""
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            return f"cannot create ldpStateDir '{self.directory}': {exc.strerror or exc}"
        if not os.access(self.directory, os.W_OK | os.X_OK):
            return f"ldpStateDir '{self.directory}' is not writable"
        return None

    def load(self, target: LdpUrl) -> Optional[int]:
        """The newest delivered stageTimestamp (ns) of the previous run, or None (with one
        warning when the file exists but cannot be used)."""
        path = self.path(target)
        try:
            with open(path, "rb") as f:
                raw = f.read(65536)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._unusable(target, path, f"cannot read it: {exc.strerror or exc}")
        try:
            doc = json.loads(raw)
            ns = doc["newest_event_ns"]
            if doc.get("version") != VERSION or doc.get("stream") != target.stream_id:
                return self._unusable(target, path, "it belongs to another version or stream")
            if isinstance(ns, bool) or not isinstance(ns, int) or ns <= 0:
                raise ValueError("newest_event_ns is not a positive integer")
        except (ValueError, KeyError, TypeError) as exc:
            return self._unusable(target, path, f"it is corrupt ({exc})")
        if ns / 1e9 < time.time() - MAX_AGE_SECONDS:
            return self._unusable(target, path, f"it is older than {MAX_AGE_SECONDS // 86400} days")
        return ns

    def _unusable(self, target: LdpUrl, path: str, why: str) -> None:
        self.log.warning("LDP %s: resume state %s not used, %s; starting live (events received "
                         "by LDP while the plugin was down are not replayed)", target.display,
                         path, redact(why, (target.token,)))
        return None

    def save(self, target: LdpUrl, newest_ns: int) -> bool:
        """Replace the stream's state atomically; False (and a warning) on failure."""
        doc = {"version": VERSION, "stream": target.stream_id, "host": target.netloc,
               "newest_event_ns": int(newest_ns), "newest_event": _rfc3339(int(newest_ns)),
               "written": _rfc3339(time.time_ns())}
        data = (json.dumps(doc, indent=1) + "\n").encode()
        path = self.path(target)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".ldp-", suffix=".tmp", dir=self.directory)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            tmp = None
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            if target.stream_id in self._failing:
                self._failing.discard(target.stream_id)
                self.log.info("LDP %s: the resume state is written again", target.display)
            return True
        except OSError as exc:
            if target.stream_id not in self._failing:      # once, not every few seconds
                self._failing.add(target.stream_id)
                self.log.warning("LDP %s: cannot write the resume state %s: %s (retrying; "
                                 "a restart meanwhile resumes from the last state written)",
                                 target.display, path, exc.strerror or exc)
            return False
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
