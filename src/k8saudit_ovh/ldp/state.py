"""Resume state (ldpStateDir): per stream, what Falco has finished, in LDP's clock, so that a
restarted plugin replays what it missed and drops exactly what it had delivered.

Per stream (files: statefile.py): a snapshot, and a journal of what was finished since: the
records next_batch appends once per finished batch (_journal.pxi), and replay holds. A finished
batch is on record before more is handed out, for one write() per batch and no fsync: a killed
process keeps its page cache; a node crash is covered by the fsync every ldpStateInterval s and
the snapshot at close. Snapshots are replaced atomically: a crash leaves the old one and every
journal since, or the new one.

The position is LDP's clock (the frame timestamp replays are selected by), never the audit
event's time. A restart replays from `min(newest finished - ldpReplayMargin, unfinished replay
windows)` and drops the identities (auditID + stage) finished since: events out of order by up
to the margin are neither lost nor delivered twice. A missing state means "start live"; an
unreadable, corrupt or foreign one is reported once and also means "start live".
"""

from __future__ import annotations

import os
import threading
import time
from typing import Dict, NamedTuple, Optional

from . import statefile
from .address import LdpUrl
from .redact import redact
from .statefile import KEPT_RECORD, Files, Unusable, rfc3339

NS = 1_000_000_000
# A state older than this is from another era (a typo'd clock, a restored backup): ignored.
MAX_AGE_SECONDS = 30 * 86400
# A new snapshot once the journal is larger than this and JOURNAL_GROWTH x the snapshot: its fsync
# commits the filesystem's journal, stalling next_batch's appends on ext4 (at 85k events/s: 16 %
# of ingest at 1x, 7 % at 4x). A restart reads at most that much more.
COMPACT_MIN_BYTES = 1 << 20
JOURNAL_GROWTH = 4


class ResumePoint(NamedTuple):
    begin_ns: int     # replay from here (LDP's clock)
    newest_ns: int    # the newest event delivered before the restart (0: none)
    kept: int         # identities delivered since begin_ns: dropped when they come again
    why: str          # what the position comes from, for the log


class StateStore:
    def __init__(self, directory: str, log, margin_s: float = 60.0):
        self.directory = directory
        self.log = log
        self.margin_ns = int(margin_s * NS)

    def files(self, target: LdpUrl) -> Files:
        return Files(self.directory, target.stream_id)

    def path(self, target: LdpUrl) -> str:
        """The stream's snapshot file."""
        return self.files(target).snapshot

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

    def open(self, target: LdpUrl, journal) -> "StreamState":
        """Load the stream's state into `journal` (a k8saudit_ovh._ingest.Journal), then start
        this run's journal. `.resume` says where to replay from (None: start live)."""
        st = StreamState(self, target, journal)
        try:
            st.resume = st.load()
        except Unusable as exc:
            self.log.warning("LDP %s: resume state %s not used, %s; starting live (events "
                             "received by LDP while the plugin was down are not replayed)",
                             target.display, self.path(target), redact(str(exc), (target.token,)))
            st.discard()
        st.start()
        return st


class StreamState:
    """One stream's resume state. Threads: next_batch appends (C, its own mutex); the stream's
    loop holds and releases replay windows; the keeper thread flushes; close comes last."""

    def __init__(self, store: StateStore, target: LdpUrl, journal):
        self.store = store
        self.target = target
        self.files = store.files(target)
        self.journal = journal
        self.resume: Optional[ResumePoint] = None
        self.holds: Dict[int, int] = {}     # hold id -> window begin (ns)
        self.inherited: set = set()         # holds of the previous run (its pending replays)
        self.next_hold = 1
        self.origin_ns = 0                  # when the stream's first run started reading
        self.keep_from_ns = 0               # kept records start here (older ones are gone)
        self.legacy_ns = 0
        self.gen = 0                        # the journal generation appended to now
        self.durable_gen = 0                # the generation the snapshot on disk starts at
        self._fd = -1
        self._errors_seen = 0
        self._write_failing = False
        self._lock = threading.Lock()
        self._closed = False

    def load(self) -> Optional[ResumePoint]:
        snap = statefile.read_snapshot(self.files)
        gens = self.files.journal_gens()
        first = 0
        if snap is not None:
            h = snap.head
            self.journal.load_kept(snap.body)
            self.holds, self.next_hold = h["holds"], h["next_hold"]
            self.origin_ns, self.keep_from_ns, first = h["origin_ns"], h["keep_from_ns"], h["generation"]
        else:
            self.legacy_ns = statefile.read_legacy(self.files)
            if not self.legacy_ns and not gens:
                return None
        torn = []
        for g in gens:
            if g < first:
                continue
            n, marks, cut = self.journal.load_journal(statefile.read_journal(self.files, g))
            for hold_id, ns in marks:
                if ns is None:
                    self.holds.pop(hold_id, None)
                else:
                    self.holds[hold_id] = ns
                self.next_hold = max(self.next_hold, hold_id + 1)
            if cut:
                torn.append(g)
        self.gen = self.durable_gen = max(gens + [first])
        if torn:
            self.store.log.warning("LDP %s: resume journal(s) %s end with a record cut short "
                                   "(a write interrupted by a crash or a full disk): the "
                                   "records before it are used", self.target.display, torn)
        return self._resume_point()

    def _resume_point(self) -> ResumePoint:
        newest = self.journal.newest
        base = newest or self.legacy_ns or self.origin_ns
        if not base:
            raise Unusable("it holds no position")
        if base / NS < time.time() - MAX_AGE_SECONDS:
            raise Unusable(f"it is older than {MAX_AGE_SECONDS // 86400} days")
        begin = self.replay_from_ns()
        why = ("a replay the previous run had not finished" if begin in self.holds.values()
               else "the newest event delivered" if newest else
               "a version 1 state (events of its last margin may come again once)"
               if self.legacy_ns else "the start of the previous run (nothing delivered)")
        self.inherited = set(self.holds)
        return ResumePoint(begin, newest, self.journal.kept_count, why)

    def discard(self):
        """Forget a state that cannot be used (its files are replaced at start)."""
        self.journal = type(self.journal)()     # a fresh Journal: nothing loaded
        self.holds, self.inherited = {}, set()
        self.origin_ns = self.keep_from_ns = self.legacy_ns = 0
        self.gen = self.durable_gen = max(self.files.journal_gens() + [0])

    # -- this run
    def start(self):
        """Begin this run's journal; the snapshot written now holds what was loaded."""
        if not self.origin_ns:
            self.origin_ns = time.time_ns()
        with self._lock:
            self._compact()
        if self.legacy_ns and self.durable_gen == self.gen:
            statefile.unlink(self.files.legacy)

    def hold(self, begin_ns: int) -> int:
        """A replay of a window from begin_ns starts: until it is released, a restart replays
        from there at the latest (and the identities since are kept)."""
        with self._lock:
            hold_id = self.next_hold
            self.next_hold += 1
            self.holds[hold_id] = int(begin_ns)
            self.journal.hold(hold_id, int(begin_ns))
        return hold_id

    def release(self, hold_id: Optional[int], inherited: bool = False):
        """The replay is over (done or given up); `inherited`: also the previous run's."""
        with self._lock:
            ids = ([hold_id] if hold_id is not None else []) + \
                (sorted(self.inherited) if inherited else [])
            for h in ids:
                if self.holds.pop(h, None) is not None:
                    self.journal.release(h)
            if inherited:
                self.inherited = set()

    def replay_from_ns(self) -> int:
        """Where a restart now would replay from (LDP's clock, ns). It may reach before the
        kept records (a hold, a larger margin than the last run's): events delivered there may
        then come again, none is lost."""
        base = self.journal.newest or self.legacy_ns or self.origin_ns
        return min([base - self.store.margin_ns] + list(self.holds.values()))

    def flush(self, final: bool = False):
        """Fold what next_batch journaled; make it durable (fsync of the journal, or a new
        snapshot once the journal outgrew the old one). Every ldpStateInterval s, and at close."""
        with self._lock:
            if self._closed:
                return
            j = self.journal
            j.fold()
            self._prune()
            errors, err_no = j.errors
            damaged = errors != self._errors_seen
            if damaged:
                self._errors_seen = errors
                self.store.log.warning("LDP %s: appending to the resume journal failed (%s): "
                                       "writing a new snapshot", self.target.display,
                                       os.strerror(err_no) if err_no else "unknown error")
            if final or damaged or self._fd < 0 or self.gen != self.durable_gen \
                    or j.file_bytes > max(COMPACT_MIN_BYTES,
                                          JOURNAL_GROWTH * KEPT_RECORD * j.kept_count):
                self._compact()
            else:
                try:
                    os.fdatasync(self._fd)
                except OSError as exc:
                    self._warn_write(f"fsync of its journal failed: {exc.strerror or exc}")

    def close(self):
        """Final snapshot (what Falco finished), then the empty journal goes."""
        self.flush(final=True)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.journal.close()
            if self.durable_gen == self.gen:
                statefile.unlink(self.files.journal(self.gen))

    # -- internals (under self._lock)
    def _prune(self):
        # Only delivered records move it: before the first one, LDP's clock is unknown (it may
        # be far behind ours), so the start time must not discard anything.
        if not self.journal.newest:
            return
        keep_from = (self.replay_from_ns() // NS - 1) * NS
        if keep_from > self.keep_from_ns:
            self.journal.prune(keep_from)
            self.keep_from_ns = keep_from

    def _compact(self):
        new_gen = self.gen + 1
        try:
            fd = statefile.open_journal(self.files, new_gen)
        except OSError as exc:
            fd = -1
            self._warn_write(f"cannot create its journal: {exc.strerror or exc}")
        old = self.journal.attach(fd)
        self._fd = fd
        self.gen = new_gen if fd >= 0 else self.gen
        self.journal.fold()
        self._prune()
        try:
            self._write_snapshot(self.gen)
        except OSError as exc:
            self._warn_write(f"cannot write its snapshot: {exc.strerror or exc}")
            if old >= 0:
                os.close(old)          # its records stay on disk: the old snapshot reads them
            return
        if old >= 0:
            os.close(old)
        for g in self.files.journal_gens():
            if g < self.gen:
                statefile.unlink(self.files.journal(g))
        self.durable_gen = self.gen
        if self._write_failing:
            self._write_failing = False
            self.store.log.info("LDP %s: the resume state is written again", self.target.display)

    def _write_snapshot(self, gen: int):
        newest, begin = self.journal.newest, self.replay_from_ns()
        statefile.write_snapshot(self.files, {
            "host": self.target.netloc, "generation": gen, "origin_ns": self.origin_ns,
            "newest_ns": newest, "newest": rfc3339(newest) if newest else None,
            "replay_from_ns": begin, "replay_from": rfc3339(max(begin, 0)),
            "keep_from_ns": self.keep_from_ns,
            "holds": sorted([h, ns] for h, ns in self.holds.items()),
            "next_hold": self.next_hold, "written": rfc3339(time.time_ns())},
            self.journal.kept())

    def _warn_write(self, why: str):
        if not self._write_failing:                 # once, not every few seconds
            self._write_failing = True
            self.store.log.warning("LDP %s: resume state in %s: %s (retrying; a restart "
                                   "meanwhile may deliver events again, none is lost)",
                                   self.target.display, self.store.directory, why)

