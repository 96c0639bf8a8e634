# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, calloc, realloc, free, strtod
from libc.string cimport memcpy, memset
from libc.errno cimport errno, EINTR
from posix.unistd cimport write, close
from k8saudit_ovh._abi cimport (ss_plugin_event, ss_plugin_rc, SS_PLUGIN_SUCCESS, SS_PLUGIN_FAILURE,
                                SS_PLUGIN_TIMEOUT, SS_PLUGIN_EOF)
from k8saudit_ovh._jsonidx cimport (jdoc, jdoc_init, jdoc_free, jdoc_parse, jget, jstr, jfirst, jnext,
                                    jappend_str, J_OBJ, J_ARR, J_STR, J_NUM, JERR_OK, jstr_eq,
                                    JU_STRICT)
from k8saudit_ovh._event cimport (K8S_EVT_PLUGIN_ID_OFFSET, K8S_PLUGIN_EVENT_PAYLOAD_OFFSET,
                                  k8s_event_write_header, k8s_event_set_u32)
from k8saudit_ovh._sbuf cimport sbuf, sbuf_reserve, sbuf_append, sbuf_free
from k8saudit_ovh._simdjson cimport k8s_minify, K8S_JSON_PADDING
from k8saudit_ovh._sync cimport (pthread_mutex_init, pthread_mutex_destroy, pthread_mutex_lock,
                                 pthread_mutex_unlock, pthread_cond_destroy, pthread_cond_signal,
                                 pthread_cond_broadcast, k8s_add, k8s_set, k8s_get, k8s_cond_init,
                                 k8s_cond_wait_ms, k8s_now_ns)

import json

cdef const char* _EMPTY = ""

cdef enum:
    BATCH_MAX = 256
    WAIT_MS = 50             # next_batch blocks at most this long (Falco re-polls at once)
    PRODUCER_WAIT_MS = 100   # producers re-check `stopping` this often while backpressured
    LINGER_MS = 1            # next_batch: after a wake-up with few events, wait this much more
    LINGER_MIN = 32          # ... unless this many events are already there
    MAX_NESTING = 64         # arrays of arrays of events

# ---- counters: name and kind of each metric, by counter_id
cdef const char* _NAMES[<int>C_COUNT]
cdef bint _MONO[<int>C_COUNT]
_NAMES[<int>C_EVENTS_INGESTED] = b"events_ingested";               _MONO[<int>C_EVENTS_INGESTED] = True
_NAMES[<int>C_BYTES_INGESTED] = b"bytes_ingested";                 _MONO[<int>C_BYTES_INGESTED] = True
_NAMES[<int>C_EVENTS_DELIVERED] = b"events_delivered";             _MONO[<int>C_EVENTS_DELIVERED] = True
_NAMES[<int>C_DROPPED_INVALID_JSON] = b"dropped_invalid_json";     _MONO[<int>C_DROPPED_INVALID_JSON] = True
_NAMES[<int>C_DROPPED_NOT_AUDIT_EVENT] = b"dropped_not_audit_event"; _MONO[<int>C_DROPPED_NOT_AUDIT_EVENT] = True
_NAMES[<int>C_DROPPED_BAD_TIMESTAMP] = b"dropped_bad_timestamp";   _MONO[<int>C_DROPPED_BAD_TIMESTAMP] = True
_NAMES[<int>C_DROPPED_OVERSIZE] = b"dropped_oversize";             _MONO[<int>C_DROPPED_OVERSIZE] = True
_NAMES[<int>C_DROPPED_OUT_OF_MEMORY] = b"dropped_out_of_memory";   _MONO[<int>C_DROPPED_OUT_OF_MEMORY] = True
_NAMES[<int>C_DROPPED_BAD_FRAME] = b"dropped_bad_frame";           _MONO[<int>C_DROPPED_BAD_FRAME] = True
_NAMES[<int>C_DUPLICATES_DROPPED] = b"duplicates_dropped";         _MONO[<int>C_DUPLICATES_DROPPED] = True
_NAMES[<int>C_FRAMES_RECEIVED] = b"frames_received";               _MONO[<int>C_FRAMES_RECEIVED] = True
_NAMES[<int>C_RECONNECTS] = b"reconnects";                         _MONO[<int>C_RECONNECTS] = True
_NAMES[<int>C_CONNECTED] = b"connected";                           _MONO[<int>C_CONNECTED] = False
_NAMES[<int>C_LAG_MS] = b"lag_ms";                                 _MONO[<int>C_LAG_MS] = False
_NAMES[<int>C_QUEUE_DEPTH] = b"queue_depth";                       _MONO[<int>C_QUEUE_DEPTH] = False
_NAMES[<int>C_REPLAYED_EVENTS] = b"replayed_events";               _MONO[<int>C_REPLAYED_EVENTS] = True
_NAMES[<int>C_REPLAYS_FAILED] = b"replays_failed";                 _MONO[<int>C_REPLAYS_FAILED] = True

cdef const char* counter_name(int i) noexcept nogil:
    return _NAMES[i]

cdef bint counter_monotonic(int i) noexcept nogil:
    return _MONO[i]


cdef class Counters:
    """The plugin state's counters (shared by its instances' queues and producers)."""

    def __cinit__(self):
        memset(&self.c, 0, sizeof(counters))

    def add(self, str name, uint64_t n=1):
        k8s_add(&self.c.v[_counter_index(name)], n)

    def set(self, str name, uint64_t value):
        k8s_set(&self.c.v[_counter_index(name)], value)

    def snapshot(self):
        return {_NAMES[i].decode(): k8s_get(&self.c.v[i]) for i in range(<int>C_COUNT)}


cdef int _counter_index(str name) except -1:
    cdef bytes b = name.encode()
    for i in range(<int>C_COUNT):
        if _NAMES[i] == b:
            return i
    raise KeyError(name)


# ---- the bounded queue

cdef class EventQueue:
    """Events waiting for next_batch, bounded by count and bytes: producers block (backpressure)."""

    def __cinit__(self, Counters counters not None, size_t max_events=16384,
                  size_t max_bytes=256 * 1024 * 1024):
        memset(&self.q, 0, sizeof(evqueue))
        self.counters = counters
        self.q.ctr = &counters.c
        self.q.ring = <ss_plugin_event**>malloc(max_events * sizeof(ss_plugin_event*))
        self.q.meta = <evmeta*>malloc(max_events * sizeof(evmeta))
        self.q.batch = <ss_plugin_event**>malloc(BATCH_MAX * sizeof(ss_plugin_event*))
        self.q.batch_meta = <evmeta*>malloc(BATCH_MAX * sizeof(evmeta))
        if (self.q.ring == NULL or self.q.meta == NULL or self.q.batch == NULL
                or self.q.batch_meta == NULL):
            free(self.q.ring)
            free(self.q.meta)
            free(self.q.batch)
            free(self.q.batch_meta)
            self.q.ring = NULL
            raise MemoryError()
        self.q.ring_cap = max_events
        self.q.max_bytes = max_bytes
        pthread_mutex_init(&self.q.mu, NULL)
        k8s_cond_init(&self.q.not_empty)
        k8s_cond_init(&self.q.not_full)

    def __dealloc__(self):
        cdef size_t i
        if self.q.ring == NULL:
            return
        _free_batch(&self.q)      # handed out, never finished: not journaled
        for i in range(self.q.count):
            free(self.q.ring[(self.q.head + i) % self.q.ring_cap])
        free(self.q.ring)
        free(self.q.meta)
        free(self.q.batch)
        free(self.q.batch_meta)
        pthread_mutex_destroy(&self.q.mu)
        pthread_cond_destroy(&self.q.not_empty)
        pthread_cond_destroy(&self.q.not_full)

    def finish(self):
        """No more events will come: next_batch returns EOF once the queue is drained."""
        with nogil:
            pthread_mutex_lock(&self.q.mu)
            self.q.finished = True
            pthread_cond_broadcast(&self.q.not_empty)
            pthread_mutex_unlock(&self.q.mu)

    def fail(self, str message):
        """A fatal source error: delivered events stay, then next_batch returns FAILURE."""
        cdef bytes m = message.encode('utf-8', 'replace')[:511]
        with nogil:
            pthread_mutex_lock(&self.q.mu)
        memcpy(self.q.errmsg, <const char*>m, len(m))
        self.q.errmsg[len(m)] = 0
        with nogil:
            self.q.failed = True
            pthread_cond_broadcast(&self.q.not_empty)
            pthread_mutex_unlock(&self.q.mu)

    def stop(self):
        """The instance is closing: wake and release every blocked producer."""
        with nogil:
            pthread_mutex_lock(&self.q.mu)
            self.q.stopping = True
            pthread_cond_broadcast(&self.q.not_full)
            pthread_cond_broadcast(&self.q.not_empty)
            pthread_mutex_unlock(&self.q.mu)

    @property
    def stopping(self):
        return bool(self.q.stopping)

    def __len__(self):
        return self.q.count

    def next_batch(self):
        """next_batch for Python callers: (rc, [(ts, payload bytes)]). The `check` command drains
        its private queue with it (tests read events through it too)."""
        cdef uint32_t n = 0
        cdef ss_plugin_event** evts = NULL
        cdef ss_plugin_rc rc
        with nogil:
            rc = queue_next_batch(&self.q, &n, &evts)
        out = []
        for i in range(n):
            out.append((evts[i].ts, (<char*>evts[i])[K8S_PLUGIN_EVENT_PAYLOAD_OFFSET:evts[i].len]))
        return int(rc), out


cdef inline void _free_batch(evqueue* q) noexcept nogil:
    cdef uint32_t i
    for i in range(q.batch_n):
        free(q.batch[i])
    q.batch_n = 0


cdef void _journal_batch(evqueue* q) noexcept nogil:
    """Journal the finished batch: one append per stream journal met in it (usually one)."""
    cdef jrec recs[BATCH_MAX]
    cdef uint32_t i, k, n
    cdef journal* j
    cdef evmeta* m = q.batch_meta
    for i in range(q.batch_n):
        j = m[i].j
        if j == NULL:
            continue
        n = 0
        for k in range(i, q.batch_n):
            if m[k].j == j:
                recs[n].key = m[k].key
                recs[n].ns = m[k].ldp_ns
                recs[n].kind = JR_DELIVERED
                recs[n].check = jrec_check(m[k].key, m[k].ldp_ns, JR_DELIVERED)
                n += 1
                m[k].j = NULL
        journal_append(j, recs, n)


cdef ss_plugin_rc queue_next_batch(evqueue* q, uint32_t* nevts, ss_plugin_event*** evts) noexcept nogil:
    """Up to BATCH_MAX events, waiting at most WAIT_MS for the first; never SUCCESS with 0."""
    cdef uint32_t n = 0
    cdef ss_plugin_event* e
    cdef bint failed, finished
    # The host asks for the next batch once it is done with the previous one: that batch is
    # finished. It reaches its journal (the page cache: a killed process keeps it) before any
    # more is handed out, so a restart never delivers a finished event again.
    _journal_batch(q)
    _free_batch(q)
    pthread_mutex_lock(&q.mu)
    if q.count == 0 and not q.finished and not q.failed and not q.stopping:
        k8s_cond_wait_ms(&q.not_empty, &q.mu, WAIT_MS)
        # Woken by the first event of a burst: let a few more arrive (LINGER_MS) rather than
        # wake up once per event when the producer is only a little slower than the host.
        if 0 < q.count < LINGER_MIN and not q.finished and not q.failed and not q.stopping:
            k8s_cond_wait_ms(&q.not_empty, &q.mu, LINGER_MS)
    while q.count > 0 and n < BATCH_MAX:
        e = q.ring[q.head]
        q.batch_meta[n] = q.meta[q.head]
        q.head = (q.head + 1) % q.ring_cap
        q.count -= 1
        q.bytes -= e.len
        q.batch[n] = e
        n += 1
    if n:
        pthread_cond_broadcast(&q.not_full)
    k8s_set(&q.ctr.v[<int>C_QUEUE_DEPTH], q.count)
    failed = q.failed
    finished = q.finished and q.count == 0
    pthread_mutex_unlock(&q.mu)
    q.batch_n = n
    nevts[0] = n
    evts[0] = q.batch
    if n:
        k8s_add(&q.ctr.v[<int>C_EVENTS_DELIVERED], n)
        # The header is rebuilt for every delivery: the host writes ts/tid/ID in place.
        for i in range(n):
            q.batch[i].tid = <uint64_t>-1
            k8s_event_set_u32(q.batch[i], K8S_EVT_PLUGIN_ID_OFFSET, 0)
        return SS_PLUGIN_SUCCESS
    if failed:
        return SS_PLUGIN_FAILURE
    if finished:
        return SS_PLUGIN_EOF
    return SS_PLUGIN_TIMEOUT


cdef int _push(evqueue* q, ss_plugin_event* e, const evmeta* meta) noexcept nogil:
    """Blocks while the queue is full; -1 (and frees e) when the instance is stopping."""
    pthread_mutex_lock(&q.mu)
    while not q.stopping and (q.count == q.ring_cap or (q.count > 0 and q.bytes + e.len > q.max_bytes)):
        k8s_cond_wait_ms(&q.not_full, &q.mu, PRODUCER_WAIT_MS)
    if q.stopping:
        pthread_mutex_unlock(&q.mu)
        free(e)
        return -1
    q.ring[(q.head + q.count) % q.ring_cap] = e
    q.meta[(q.head + q.count) % q.ring_cap] = meta[0]
    q.count += 1
    q.bytes += e.len
    k8s_set(&q.ctr.v[<int>C_QUEUE_DEPTH], q.count)
    if q.count == 1:        # only an empty queue can have a waiting consumer
        pthread_cond_signal(&q.not_empty)
    pthread_mutex_unlock(&q.mu)
    return 0


# ---- RFC 3339 timestamps (Go's time.RFC3339Nano parsing)

cdef inline int _digits(const char* s, int n) noexcept nogil:
    cdef int v = 0, i
    for i in range(n):
        if s[i] < c'0' or s[i] > c'9':
            return -1
        v = v * 10 + (s[i] - c'0')
    return v


cdef inline int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    # Days since 1970-01-01 of a proleptic Gregorian date.
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef bint parse_rfc3339_ns(const char* s, size_t n, uint64_t* out) noexcept nogil:
    """YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) -> ns since the epoch (>= 1970)."""
    cdef int year, month, day, hour, minute, sec, oh, om, nd = 0, mdays
    cdef int64_t frac = 0, secs
    cdef size_t i = 19
    if n < 20:
        return False
    year = _digits(s, 4)
    month = _digits(s + 5, 2)
    day = _digits(s + 8, 2)
    hour = _digits(s + 11, 2)
    minute = _digits(s + 14, 2)
    sec = _digits(s + 17, 2)
    if (s[4] != c'-' or s[7] != c'-' or s[10] != c'T' or s[13] != c':' or s[16] != c':'
            or year < 0 or month < 1 or month > 12 or day < 1 or hour < 0 or hour > 23
            or minute < 0 or minute > 59 or sec < 0 or sec > 59):
        return False
    mdays = 31
    if month == 4 or month == 6 or month == 9 or month == 11:
        mdays = 30
    elif month == 2:
        mdays = 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    if day > mdays:
        return False
    if s[i] == c'.':
        i += 1
        while i < n and c'0' <= s[i] <= c'9':
            if nd < 9:
                frac = frac * 10 + (s[i] - c'0')
            nd += 1
            i += 1
        if nd == 0:
            return False
        while nd < 9:
            frac *= 10
            nd += 1
    if i >= n:
        return False
    secs = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec
    if s[i] == c'Z':
        if i + 1 != n:
            return False
    elif s[i] == c'+' or s[i] == c'-':
        if i + 6 != n or s[i + 3] != c':':
            return False
        oh = _digits(s + i + 1, 2)
        om = _digits(s + i + 4, 2)
        if oh < 0 or oh > 23 or om < 0 or om > 59:
            return False
        if s[i] == c'+':
            secs -= oh * 3600 + om * 60
        else:
            secs += oh * 3600 + om * 60
    else:
        return False
    # Falco's event time is uint64 ns: from 1970 to 2554-07-21T23:34:33.709551615Z. Later
    # times would wrap around to wrong ones.
    if secs < 0 or secs > 18446744073LL or (secs == 18446744073LL and frac > 709551615):
        return False
    out[0] = <uint64_t>secs * 1000000000ull + <uint64_t>frac
    return True


# ---- ingestion

cdef enum feed_status:
    FEED_OK = 0
    FEED_STOPPED = 1


cdef class Feeder:
    """One producer's parser: payload bytes -> audit events in the queue (one per producer thread)."""

    def __cinit__(self, EventQueue queue not None, uint64_t max_event_size):
        memset(&self.gelf, 0, sizeof(sbuf))
        memset(&self.payload, 0, sizeof(sbuf))
        memset(&self.payload2, 0, sizeof(sbuf))
        memset(&self.scratch, 0, sizeof(sbuf))
        memset(&self.cluster, 0, sizeof(sbuf))
        memset(self.fdrops, 0, sizeof(self.fdrops))
        memset(&self.st, 0, sizeof(feedstats))
        if jdoc_init(&self.doc) != 0:
            raise MemoryError()
        self.queue = queue
        self.max_event_size = max_event_size
        self.dedupe = None
        self.journal = None
        self.last_ts = 0
        self.win_lo = self.win_hi = 0
        self.late_margin = 0

    def __dealloc__(self):
        jdoc_free(&self.doc)
        sbuf_free(&self.gelf)
        sbuf_free(&self.payload)
        sbuf_free(&self.payload2)
        sbuf_free(&self.scratch)
        sbuf_free(&self.cluster)

    def feed(self, const unsigned char[::1] payload):
        """Ingest one payload (an Event, an EventList or an array of them).
        Returns the number of events queued, or -1 when the instance is stopping."""
        cdef int rc
        cdef size_t n = payload.shape[0]
        cdef const char* p = <const char*>&payload[0] if n else _EMPTY
        cdef uint32_t queued = 0
        cdef feedctx ctx
        _make_ctx(self, &ctx)
        with nogil:
            rc = _feed(&ctx, p, n, &queued)
        return -1 if rc == FEED_STOPPED else queued

    def feed_ldp_frame(self, const unsigned char[::1] frame):
        """Ingest one LDP WebSocket tail frame: {"message": "<GELF JSON>"}, whose GELF
        short_message (else full_message) is the audit payload (Event, EventList or array).
        The GELF `timestamp` is the events' position in LDP's clock (what begin/end select
        on); a frame without one is placed at its receive time. Everything runs in C without
        the GIL. Frames that are not that shape are counted (dropped_bad_frame, and by reason
        in frame_drops()). Returns the number of events queued, or -1 when the instance is
        stopping."""
        cdef int rc
        cdef size_t n = frame.shape[0]
        cdef const char* p = <const char*>&frame[0] if n else _EMPTY
        cdef uint32_t queued = 0
        cdef feedctx ctx
        cdef uint64_t now
        _make_ctx(self, &ctx)
        with nogil:
            rc = _feed_ldp(&ctx, &self.gelf, &self.payload, &self.payload2, self.fdrops,
                           p, n, &queued)
            if queued:
                now = k8s_now_ns()
                k8s_set(&ctx.q.ctr.v[<int>C_LAG_MS],
                        (now - self.last_ts) // 1000000 if now > self.last_ts else 0)
        return -1 if rc == FEED_STOPPED else queued

    def set_cluster_name(self, name):
        """Events without annotations.cluster_name get this one (None: leave events as they are).
        The payload then differs from the source by that one member."""
        cdef bytes lit
        self.cluster.len = 0
        if name is None or name == "":
            return
        lit = json.dumps(str(name), ensure_ascii=False).encode("utf-8")
        if sbuf_append(&self.cluster, <const char*>lit, len(lit)) != 0:
            raise MemoryError()

    def set_dedupe(self, Dedupe dedupe):
        """Drop events whose (auditID, stage) this Dedupe has already seen (None: no dedupe)."""
        self.dedupe = dedupe

    def set_journal(self, Journal journal):
        """Journal every event this Feeder queues once Falco has finished it (None: don't)."""
        self.journal = journal

    def set_frame_window(self, int64_t lo_ns, int64_t hi_ns):
        """Skip frames whose own timestamp is before lo_ns or not before hi_ns (0: no bound):
        they belong to a neighbouring chunk of a window read in chunks. Frames without a
        timestamp are never skipped (the Dedupe drops what comes twice)."""
        self.win_lo = lo_ns
        self.win_hi = hi_ns

    def set_late_margin(self, int64_t ns):
        """Count frames older than the newest frame seen by more than `ns` (0: off)."""
        self.late_margin = ns

    def stats(self):
        """This Feeder's own counts: frames, events queued, duplicates dropped, frames
        skipped as outside the window, late frames, newest frame timestamp (ns)."""
        return {"frames": self.st.frames, "events": self.st.events,
                "duplicates": self.st.duplicates, "outside": self.st.outside,
                "late": self.st.late, "newest_frame_ns": self.st.newest_frame_ns}

    def frame_drops(self):
        """LDP frames dropped by this Feeder, by reason."""
        return {"not_json": self.fdrops[<int>FD_NOT_JSON],
                "no_message": self.fdrops[<int>FD_NO_MESSAGE],
                "gelf_not_json": self.fdrops[<int>FD_GELF_NOT_JSON],
                "no_payload": self.fdrops[<int>FD_NO_PAYLOAD]}

    def is_json(self, const unsigned char[::1] payload):
        """True when the bytes are one complete JSON value (nothing is queued or counted)."""
        cdef size_t n = payload.shape[0]
        cdef const char* p = <const char*>&payload[0] if n else _EMPTY
        cdef int rc
        with nogil:
            rc = jdoc_parse(&self.doc, p, n)
        return rc == JERR_OK

    def count_drop(self, str reason):
        """Count an event dropped before parsing (e.g. a line over the size limit)."""
        k8s_add(&self.queue.q.ctr.v[_counter_index("dropped_" + reason)], 1)


cdef inline void _make_ctx(Feeder self, feedctx* ctx):
    ctx.d = &self.doc
    ctx.q = &self.queue.q
    ctx.max_event_size = self.max_event_size
    ctx.dd = &self.dedupe.s if self.dedupe is not None else NULL
    ctx.j = &self.journal.j if self.journal is not None else NULL
    ctx.cluster = self.cluster.p
    ctx.cluster_len = self.cluster.len
    ctx.scratch = &self.scratch
    ctx.last_ts = &self.last_ts
    ctx.st = &self.st
    ctx.frame_ns = 0
    ctx.win_lo = self.win_lo
    ctx.win_hi = self.win_hi
    ctx.late_margin = self.late_margin


cdef struct feedctx:
    jdoc* d
    evqueue* q
    uint64_t max_event_size
    dedupe_set* dd              # NULL: no dedupe
    journal* j                  # NULL: deliveries are not journaled
    const char* cluster         # JSON string literal of the cluster name to inject, or NULL
    size_t cluster_len
    sbuf* scratch               # event text with the injected cluster name
    uint64_t* last_ts
    feedstats* st
    int64_t frame_ns            # LDP clock of the frame being fed (0: a file line)
    int64_t win_lo              # see Feeder.set_frame_window
    int64_t win_hi
    int64_t late_margin


cdef int _feed(feedctx* f, const char* p, size_t n, uint32_t* queued) noexcept nogil:
    cdef counters* ctr = f.q.ctr
    if jdoc_parse(f.d, p, n) != JERR_OK:
        k8s_add(&ctr.v[<int>C_DROPPED_INVALID_JSON], 1)
        return FEED_OK
    return _feed_value(f, 1, 0, queued)


cdef int _feed_value(feedctx* f, uint32_t node, int nesting, uint32_t* queued) noexcept nogil:
    cdef jdoc* d = f.d
    cdef counters* ctr = f.q.ctr
    cdef uint32_t kind_node, items, e
    cdef int rc
    if d.nodes[node].kind == J_ARR and nesting < MAX_NESTING:
        e = jfirst(d, node)
        while e:
            rc = _feed_value(f, e, nesting + 1, queued)
            if rc != FEED_OK:
                return rc
            e = jnext(d, e)
        return FEED_OK
    kind_node = jget(d, node, b"kind", 4, JU_STRICT)
    if kind_node and d.nodes[kind_node].kind == J_STR:
        if jstr_eq(d, kind_node, b"Event", 5, JU_STRICT):
            return _feed_event(f, node, queued)
        if jstr_eq(d, kind_node, b"EventList", 9, JU_STRICT):
            items = jget(d, node, b"items", 5, JU_STRICT)
            if items and d.nodes[items].kind == J_ARR:
                e = jfirst(d, items)
                while e:
                    rc = _feed_event(f, e, queued)
                    if rc != FEED_OK:
                        return rc
                    e = jnext(d, e)
                return FEED_OK
    k8s_add(&ctr.v[<int>C_DROPPED_NOT_AUDIT_EVENT], 1)
    return FEED_OK


cdef int _feed_event(feedctx* f, uint32_t node, uint32_t* queued) noexcept nogil:
    cdef jdoc* d = f.d
    cdef counters* ctr = f.q.ctr
    cdef uint32_t tsn
    cdef uint64_t ts = 0
    cdef size_t m = 0, span
    cdef long size
    cdef const char* t
    cdef const char* src
    cdef ss_plugin_event* e
    cdef char* body
    cdef evmeta meta
    if d.nodes[node].kind != J_OBJ:
        k8s_add(&ctr.v[<int>C_DROPPED_NOT_AUDIT_EVENT], 1)
        return FEED_OK
    tsn = jget(d, node, b"stageTimestamp", 14, JU_STRICT)
    t = jstr(d, tsn, &m, JU_STRICT) if tsn and d.nodes[tsn].kind == J_STR else NULL
    if t == NULL or not parse_rfc3339_ns(t, m, &ts):
        k8s_add(&ctr.v[<int>C_DROPPED_BAD_TIMESTAMP], 1)
        return FEED_OK
    src = d.buf + d.nodes[node].start
    span = d.nodes[node].end - d.nodes[node].start
    if f.cluster != NULL and f.cluster_len:
        size = _with_cluster_name(f, node)
        if size < 0:
            k8s_add(&ctr.v[<int>C_DROPPED_OUT_OF_MEMORY], 1)
            return FEED_OK
        if size > 0:
            src = f.scratch.p
            span = <size_t>size
    if d.compact and span > f.max_event_size:
        k8s_add(&ctr.v[<int>C_DROPPED_OVERSIZE], 1)
        return FEED_OK
    meta.key = _identity(d, node) if f.dd != NULL or f.j != NULL else 0
    meta.ldp_ns = f.frame_ns
    meta.j = f.j
    if f.dd != NULL and meta.key != 0 and dedupe_check_insert(f.dd, meta.key):
        k8s_add(&ctr.v[<int>C_DUPLICATES_DROPPED], 1)
        f.st.duplicates += 1
        return FEED_OK
    e = <ss_plugin_event*>malloc(K8S_PLUGIN_EVENT_PAYLOAD_OFFSET + span + K8S_JSON_PADDING)
    if e == NULL:
        k8s_add(&ctr.v[<int>C_DROPPED_OUT_OF_MEMORY], 1)
        return FEED_OK
    body = (<char*>e) + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET
    if d.compact:
        memcpy(body, src, span)
        size = <long>span
    else:
        size = k8s_minify(src, span, body)
    if size < 0 or <uint64_t>size > f.max_event_size:
        free(e)
        k8s_add(&ctr.v[<int>C_DROPPED_OVERSIZE], 1)
        return FEED_OK
    k8s_event_write_header(e, ts, <uint32_t>size)
    if _push(f.q, e, &meta) != 0:
        return FEED_STOPPED
    f.st.events += 1
    k8s_add(&ctr.v[<int>C_EVENTS_INGESTED], 1)
    k8s_add(&ctr.v[<int>C_BYTES_INGESTED], <uint64_t>size)
    if f.last_ts != NULL and ts > f.last_ts[0]:
        f.last_ts[0] = ts
    queued[0] += 1
    return FEED_OK


# ---- cluster name injection

cdef long _with_cluster_name(feedctx* f, uint32_t node) noexcept nogil:
    """The event's text with annotations.cluster_name added, in f.scratch: its length, 0 when
    the event already names a cluster (or its annotations are not an object), -1 on OOM.
    The new member goes first, in compact form; the rest of the text is untouched."""
    cdef jdoc* d = f.d
    cdef uint32_t ann = jget(d, node, b"annotations", 11, JU_STRICT)
    cdef size_t start = d.nodes[node].start, end = d.nodes[node].end, ins
    cdef sbuf* out = f.scratch
    cdef bint more
    if ann:
        if d.nodes[ann].kind != J_OBJ or jget(d, ann, b"cluster_name", 12, JU_STRICT):
            return 0
        ins = d.nodes[ann].start + 1
        more = d.nodes[ann].count != 0
    else:
        ins = start + 1
        more = d.nodes[node].count != 0
    out.len = 0
    if (sbuf_reserve(out, end - start + f.cluster_len + 48 + K8S_JSON_PADDING) != 0
            or sbuf_append(out, d.buf + start, ins - start) != 0):
        return -1
    if not ann and sbuf_append(out, b'"annotations":{', 15) != 0:
        return -1
    if (sbuf_append(out, b'"cluster_name":', 15) != 0
            or sbuf_append(out, f.cluster, f.cluster_len) != 0):
        return -1
    if not ann and sbuf_append(out, b"}", 1) != 0:
        return -1
    if more and sbuf_append(out, b",", 1) != 0:
        return -1
    if sbuf_append(out, d.buf + ins, end - ins) != 0:
        return -1
    memset(out.p + out.len, 0, K8S_JSON_PADDING)    # reserved above
    return <long>out.len


# ---- LDP frames: {"message": "<GELF JSON>"} -> GELF short_message (or full_message) -> payload

cdef int _feed_ldp(feedctx* f, sbuf* gelf, sbuf* payload, sbuf* payload2, uint64_t* drops,
                   const char* p, size_t n, uint32_t* queued) noexcept nogil:
    cdef jdoc* d = f.d
    cdef counters* ctr = f.q.ctr
    cdef uint32_t node
    cdef bint own
    k8s_add(&ctr.v[<int>C_FRAMES_RECEIVED], 1)
    if jdoc_parse(d, p, n) != JERR_OK or d.nodes[1].kind != J_OBJ:
        return _bad_frame(ctr, drops, FD_NOT_JSON)
    node = jget(d, 1, b"message", 7, JU_STRICT)
    if node == 0 or d.nodes[node].kind != J_STR:
        return _bad_frame(ctr, drops, FD_NO_MESSAGE)
    gelf.len = 0
    if jappend_str(d, node, gelf, JU_STRICT) != 0:
        return _bad_frame(ctr, drops, FD_NO_MESSAGE)
    if gelf.len == 0 or jdoc_parse(d, gelf.p, gelf.len) != JERR_OK or d.nodes[1].kind != J_OBJ:
        return _bad_frame(ctr, drops, FD_GELF_NOT_JSON)
    f.st.frames += 1
    own = _gelf_timestamp(d, jget(d, 1, b"timestamp", 9, JU_STRICT), &f.frame_ns)
    if not own:
        f.frame_ns = <int64_t>k8s_now_ns()
    elif (f.win_lo and f.frame_ns < f.win_lo) or (f.win_hi and f.frame_ns >= f.win_hi):
        f.st.outside += 1
        return FEED_OK
    if f.late_margin and f.frame_ns < f.st.newest_frame_ns - f.late_margin:
        f.st.late += 1
    if f.frame_ns > f.st.newest_frame_ns:
        f.st.newest_frame_ns = f.frame_ns
    payload.len = 0
    payload2.len = 0
    node = jget(d, 1, b"short_message", 13, JU_STRICT)
    if node and d.nodes[node].kind == J_STR and jappend_str(d, node, payload, JU_STRICT) != 0:
        payload.len = 0
    node = jget(d, 1, b"full_message", 12, JU_STRICT)
    if node and d.nodes[node].kind == J_STR and jappend_str(d, node, payload2, JU_STRICT) != 0:
        payload2.len = 0
    if payload.len == 0 and payload2.len == 0:
        return _bad_frame(ctr, drops, FD_NO_PAYLOAD)
    # short_message first; full_message when it is empty or not JSON
    if payload.len and jdoc_parse(d, payload.p, payload.len) == JERR_OK:
        return _feed_value(f, 1, 0, queued)
    if payload2.len and jdoc_parse(d, payload2.p, payload2.len) == JERR_OK:
        return _feed_value(f, 1, 0, queued)
    k8s_add(&ctr.v[<int>C_DROPPED_INVALID_JSON], 1)
    return FEED_OK


cdef inline int _bad_frame(counters* ctr, uint64_t* drops, int reason) noexcept nogil:
    k8s_add(&ctr.v[<int>C_DROPPED_BAD_FRAME], 1)
    drops[reason] += 1
    return FEED_OK


cdef bint _gelf_timestamp(jdoc* d, uint32_t node, int64_t* out) noexcept nogil:
    """GELF `timestamp` (seconds since the epoch, a number; as a string: the same digits or
    RFC 3339) -> ns. False when absent or not a time after 1970."""
    cdef const char* t
    cdef size_t n = 0
    cdef uint64_t ns = 0
    if node == 0:
        return False
    if d.nodes[node].kind == J_NUM:
        t = d.buf + d.nodes[node].start
        n = d.nodes[node].end - d.nodes[node].start
    elif d.nodes[node].kind == J_STR:
        t = jstr(d, node, &n, JU_STRICT)
        if t == NULL:
            return False
        if parse_rfc3339_ns(t, n, &ns):
            out[0] = <int64_t>ns
            return ns > 0
    else:
        return False
    return parse_epoch_seconds(t, n, out)


cdef bint parse_epoch_seconds(const char* s, size_t n, int64_t* out) noexcept nogil:
    """Decimal seconds since the epoch ("1722841200", "1722841200.123456", "1.7e9") -> ns,
    for times after 1970 and before 2262 (int64 ns)."""
    cdef char tmp[64]
    cdef char* endp
    cdef double v
    cdef int64_t secs = 0, frac = 0
    cdef size_t i = 0
    cdef int nd = 0
    if n == 0 or n >= 64:
        return False
    while i < n and c'0' <= s[i] <= c'9':
        if secs > 9223372035LL:
            return False
        secs = secs * 10 + (s[i] - c'0')
        i += 1
    if i == 0:
        return False
    if i < n and s[i] == c'.':
        i += 1
        if i == n or not (c'0' <= s[i] <= c'9'):
            return False
        while i < n and c'0' <= s[i] <= c'9':
            if nd < 9:
                frac = frac * 10 + (s[i] - c'0')
                nd += 1
            i += 1
        while nd < 9:
            frac *= 10
            nd += 1
    if i < n and (s[i] == c'e' or s[i] == c'E'):
        memcpy(tmp, s, n)           # exponent form: rare, let the C library round it
        tmp[n] = 0
        v = strtod(tmp, &endp)
        if endp != tmp + n or not (v > 0 and v < 9223372035.0):
            return False
        out[0] = <int64_t>(v * 1e9)
        return True
    if i != n or secs > 9223372035LL or (secs == 0 and frac == 0):
        return False
    out[0] = secs * 1000000000 + frac
    return True


# ---- bounded dedupe of (auditID, stage)

cdef inline uint64_t _mix(uint64_t h) noexcept nogil:
    h ^= h >> 33
    h *= 0xff51afd7ed558ccdULL
    h ^= h >> 33
    h *= 0xc4ceb9fe1a85ec53ULL
    h ^= h >> 33
    return h


cdef inline uint64_t _fnv(uint64_t h, const char* s, size_t n) noexcept nogil:
    cdef size_t i
    for i in range(n):
        h ^= <uint8_t>s[i]
        h *= 0x100000001b3ULL
    return h


cdef uint64_t _identity(jdoc* d, uint32_t node) noexcept nogil:
    """The event's identity: a hash of (auditID, stage); 0 for an event without an auditID
    (never taken for a duplicate, never journaled as delivered)."""
    cdef uint32_t idn = jget(d, node, b"auditID", 7, JU_STRICT)
    cdef uint32_t stn
    cdef size_t m = 0
    cdef const char* t
    cdef uint64_t h
    if idn == 0 or d.nodes[idn].kind != J_STR:
        return 0
    t = jstr(d, idn, &m, JU_STRICT)
    if t == NULL or m == 0:
        return 0
    h = dedupe_hash_start(t, m)
    stn = jget(d, node, b"stage", 5, JU_STRICT)
    if stn and d.nodes[stn].kind == J_STR:
        t = jstr(d, stn, &m, JU_STRICT)
        if t != NULL:
            h = _fnv(h, t, m)
    h = _mix(h)
    return h if h != 0 else 1


cdef uint64_t dedupe_hash_start(const char* audit_id, size_t n) noexcept nogil:
    """The dedupe hash state after the auditID and its separator (the stage comes next)."""
    return _fnv(_fnv(0xcbf29ce484222325ULL, audit_id, n), b"\0", 1)


cdef uint64_t dedupe_key(const char* audit_id, size_t an, const char* stage, size_t sn) noexcept nogil:
    cdef uint64_t h = _mix(_fnv(dedupe_hash_start(audit_id, an), stage, sn))
    return h if h != 0 else 1


cdef inline bint _probe(uint64_t* tab, uint64_t mask, uint64_t key, bint insert) noexcept nogil:
    cdef uint64_t i = key & mask
    while tab[i] != 0:
        if tab[i] == key:
            return True
        i = (i + 1) & mask
    if insert:
        tab[i] = key
    return False


cdef bint dedupe_check_insert(dedupe_set* dd, uint64_t key) noexcept nogil:
    cdef bint seen
    if key == 0:
        key = 1
    pthread_mutex_lock(&dd.mu)
    seen = (_probe(dd.tab[dd.cur], dd.mask, key, False) or _probe(dd.tab[1 - dd.cur], dd.mask, key, False)
            or (dd.pre != NULL and _probe(dd.pre, dd.pre_mask, key, False)))
    if not seen:
        _probe(dd.tab[dd.cur], dd.mask, key, True)
        dd.used[dd.cur] += 1
        if dd.used[dd.cur] >= dd.limit:
            dd.cur = 1 - dd.cur
            memset(dd.tab[dd.cur], 0, (dd.mask + 1) * sizeof(uint64_t))
            dd.used[dd.cur] = 0
    pthread_mutex_unlock(&dd.mu)
    return seen


cdef class Dedupe:
    """Remembers the (auditID, stage) of at least `capacity` recent events (at most twice that),
    in 2 x 16 x capacity bytes (rounded up to a power of two). Thread-safe: the Feeders of one
    LDP stream (live and replay connections) share one."""

    def __cinit__(self, uint32_t capacity=65536):
        cdef uint64_t size = 16
        memset(&self.s, 0, sizeof(dedupe_set))
        if capacity < 1 or capacity > (1u << 28):
            raise ValueError("dedupe capacity must be between 1 and 2^28")
        while size < 2 * <uint64_t>capacity:
            size *= 2
        self.s.tab[0] = <uint64_t*>calloc(size, sizeof(uint64_t))
        self.s.tab[1] = <uint64_t*>calloc(size, sizeof(uint64_t))
        if self.s.tab[0] == NULL or self.s.tab[1] == NULL:
            free(self.s.tab[0])
            free(self.s.tab[1])
            self.s.tab[0] = self.s.tab[1] = NULL
            raise MemoryError()
        self.s.mask = size - 1
        self.s.limit = capacity
        pthread_mutex_init(&self.s.mu, NULL)

    def __dealloc__(self):
        if self.s.tab[0] != NULL:
            free(self.s.tab[0])
            free(self.s.tab[1])
            free(self.s.pre)
            pthread_mutex_destroy(&self.s.mu)

    @property
    def capacity(self):
        return self.s.limit

    def preload(self, Journal jr not None, int64_t since_ns):
        """Remember for good the identities the journal holds as delivered at or after
        since_ns (what the previous process delivered within the resume window): the rolling
        generations may forget them during a long replay, this set does not."""
        cdef size_t i, n = 0
        cdef uint64_t size = 16, key
        cdef uint64_t* tab
        cdef journal* j = &jr.j
        for i in range(j.nbase):
            if j.base[i].ns >= since_ns:
                n += 1
        while size < 2 * n + 2:
            size *= 2
        tab = <uint64_t*>calloc(size, sizeof(uint64_t))
        if tab == NULL:
            raise MemoryError()
        for i in range(j.nbase):
            if j.base[i].ns >= since_ns:
                key = j.base[i].key if j.base[i].key != 0 else 1
                _probe(tab, size - 1, key, True)
        pthread_mutex_lock(&self.s.mu)
        free(self.s.pre)
        self.s.pre = tab
        self.s.pre_mask = size - 1
        pthread_mutex_unlock(&self.s.mu)
        return n


include "_journal.pxi"
