# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset, strncpy
from k8saudit_ovh._abi cimport (ss_plugin_event, ss_plugin_rc, SS_PLUGIN_SUCCESS, SS_PLUGIN_FAILURE,
                                SS_PLUGIN_TIMEOUT, SS_PLUGIN_EOF)
from k8saudit_ovh._jsonidx cimport (jdoc, jdoc_init, jdoc_free, jdoc_parse, jget, jstr, jfirst, jnext,
                                    J_OBJ, J_ARR, J_STR, J_KEY, JERR_OK)
from k8saudit_ovh._simdjson cimport k8s_minify, K8S_JSON_PADDING
from k8saudit_ovh._sync cimport (pthread_mutex_init, pthread_mutex_destroy, pthread_mutex_lock,
                                 pthread_mutex_unlock, pthread_cond_destroy, pthread_cond_signal,
                                 pthread_cond_broadcast, k8s_add, k8s_set, k8s_get, k8s_cond_init,
                                 k8s_cond_wait_ms)

cdef const char* _EMPTY = ""

DEF HEADER = 38
DEF BATCH_MAX = 256
DEF WAIT_MS = 50             # next_batch blocks at most this long (Falco re-polls at once)
DEF PRODUCER_WAIT_MS = 100   # producers re-check `stopping` this often while backpressured
DEF MAX_NESTING = 64         # arrays of arrays of events

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
_NAMES[<int>C_DROPPED_BAD_FRAME] = b"dropped_bad_frame";           _MONO[<int>C_DROPPED_BAD_FRAME] = True
_NAMES[<int>C_DUPLICATES_DROPPED] = b"duplicates_dropped";         _MONO[<int>C_DUPLICATES_DROPPED] = True
_NAMES[<int>C_FRAMES_RECEIVED] = b"frames_received";               _MONO[<int>C_FRAMES_RECEIVED] = True
_NAMES[<int>C_RECONNECTS] = b"reconnects";                         _MONO[<int>C_RECONNECTS] = True
_NAMES[<int>C_CONNECTED] = b"connected";                           _MONO[<int>C_CONNECTED] = False
_NAMES[<int>C_LAG_MS] = b"lag_ms";                                 _MONO[<int>C_LAG_MS] = False
_NAMES[<int>C_QUEUE_DEPTH] = b"queue_depth";                       _MONO[<int>C_QUEUE_DEPTH] = False

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
        self.q.batch = <ss_plugin_event**>malloc(BATCH_MAX * sizeof(ss_plugin_event*))
        if self.q.ring == NULL or self.q.batch == NULL:
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
        _free_batch(&self.q)
        for i in range(self.q.count):
            free(self.q.ring[(self.q.head + i) % self.q.ring_cap])
        free(self.q.ring)
        free(self.q.batch)
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
        """Python view of next_batch for tests: (rc, [(ts, payload bytes)])."""
        cdef uint32_t n = 0
        cdef ss_plugin_event** evts = NULL
        cdef ss_plugin_rc rc
        with nogil:
            rc = queue_next_batch(&self.q, &n, &evts)
        out = []
        for i in range(n):
            out.append((evts[i].ts, (<char*>evts[i])[HEADER:evts[i].len]))
        return int(rc), out


cdef inline void _free_batch(evqueue* q) noexcept nogil:
    cdef uint32_t i
    for i in range(q.batch_n):
        free(q.batch[i])
    q.batch_n = 0


cdef ss_plugin_rc queue_next_batch(evqueue* q, uint32_t* nevts, ss_plugin_event*** evts) noexcept nogil:
    """Up to BATCH_MAX events, waiting at most WAIT_MS for the first; never SUCCESS with 0."""
    cdef uint32_t n = 0
    cdef ss_plugin_event* e
    cdef bint failed, finished
    _free_batch(q)      # the previous batch is consumed once the host asks for the next one
    pthread_mutex_lock(&q.mu)
    if q.count == 0 and not q.finished and not q.failed and not q.stopping:
        k8s_cond_wait_ms(&q.not_empty, &q.mu, WAIT_MS)
    while q.count > 0 and n < BATCH_MAX:
        e = q.ring[q.head]
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
            (<uint32_t*>((<char*>q.batch[i]) + 34))[0] = 0
        return SS_PLUGIN_SUCCESS
    if failed:
        return SS_PLUGIN_FAILURE
    if finished:
        return SS_PLUGIN_EOF
    return SS_PLUGIN_TIMEOUT


cdef int _push(evqueue* q, ss_plugin_event* e) noexcept nogil:
    """Blocks while the queue is full; -1 (and frees e) when the instance is stopping."""
    pthread_mutex_lock(&q.mu)
    while not q.stopping and (q.count == q.ring_cap or (q.count > 0 and q.bytes + e.len > q.max_bytes)):
        k8s_cond_wait_ms(&q.not_full, &q.mu, PRODUCER_WAIT_MS)
    if q.stopping:
        pthread_mutex_unlock(&q.mu)
        free(e)
        return -1
    q.ring[(q.head + q.count) % q.ring_cap] = e
    q.count += 1
    q.bytes += e.len
    k8s_set(&q.ctr.v[<int>C_QUEUE_DEPTH], q.count)
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
    if secs < 0:
        return False
    out[0] = <uint64_t>secs * 1000000000ull + <uint64_t>frac
    return True


def rfc3339_ns(str text):
    """Python view of the timestamp parser (tests): ns, or None when not RFC 3339."""
    cdef bytes b = text.encode()
    cdef uint64_t ns = 0
    if parse_rfc3339_ns(b, len(b), &ns):
        return ns
    return None


# ---- ingestion

cdef enum feed_status:
    FEED_OK = 0
    FEED_STOPPED = 1


cdef class Feeder:
    """One producer's parser: payload bytes -> audit events in the queue (one per producer thread)."""

    def __cinit__(self, EventQueue queue not None, uint64_t max_event_size):
        if jdoc_init(&self.doc) != 0:
            raise MemoryError()
        self.queue = queue
        self.max_event_size = max_event_size

    def __dealloc__(self):
        jdoc_free(&self.doc)

    def feed(self, const unsigned char[::1] payload):
        """Ingest one payload (an Event, an EventList or an array of them).
        Returns the number of events queued, or -1 when the instance is stopping."""
        cdef int rc
        cdef size_t n = payload.shape[0]
        cdef const char* p = <const char*>&payload[0] if n else _EMPTY
        cdef uint32_t queued = 0
        cdef feedctx ctx
        ctx.d = &self.doc
        ctx.q = &self.queue.q
        ctx.max_event_size = self.max_event_size
        with nogil:
            rc = _feed(&ctx, p, n, &queued)
        return -1 if rc == FEED_STOPPED else queued

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


cdef struct feedctx:
    jdoc* d
    evqueue* q
    uint64_t max_event_size


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
    kind_node = jget(d, node, b"kind", 4)
    if kind_node and d.nodes[kind_node].kind == J_STR:
        if _str_is(d, kind_node, b"Event", 5):
            return _feed_event(f, node, queued)
        if _str_is(d, kind_node, b"EventList", 9):
            items = jget(d, node, b"items", 5)
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


cdef inline bint _str_is(jdoc* d, uint32_t node, const char* s, size_t n) noexcept nogil:
    cdef size_t m = 0
    cdef const char* t = jstr(d, node, &m)
    return t != NULL and m == n and (n == 0 or memcmp_(t, s, n))


cdef inline bint memcmp_(const char* a, const char* b, size_t n) noexcept nogil:
    cdef size_t i
    for i in range(n):
        if a[i] != b[i]:
            return False
    return True


cdef int _feed_event(feedctx* f, uint32_t node, uint32_t* queued) noexcept nogil:
    cdef jdoc* d = f.d
    cdef counters* ctr = f.q.ctr
    cdef uint32_t tsn
    cdef uint64_t ts = 0
    cdef size_t m = 0, span
    cdef long size
    cdef const char* t
    cdef ss_plugin_event* e
    cdef char* body
    if d.nodes[node].kind != J_OBJ:
        k8s_add(&ctr.v[<int>C_DROPPED_NOT_AUDIT_EVENT], 1)
        return FEED_OK
    tsn = jget(d, node, b"stageTimestamp", 14)
    t = jstr(d, tsn, &m) if tsn and d.nodes[tsn].kind == J_STR else NULL
    if t == NULL or not parse_rfc3339_ns(t, m, &ts):
        k8s_add(&ctr.v[<int>C_DROPPED_BAD_TIMESTAMP], 1)
        return FEED_OK
    span = d.nodes[node].end - d.nodes[node].start
    if d.compact and span > f.max_event_size:
        k8s_add(&ctr.v[<int>C_DROPPED_OVERSIZE], 1)
        return FEED_OK
    e = <ss_plugin_event*>malloc(HEADER + span + K8S_JSON_PADDING)
    if e == NULL:
        k8s_add(&ctr.v[<int>C_DROPPED_OVERSIZE], 1)
        return FEED_OK
    body = (<char*>e) + HEADER
    if d.compact:
        memcpy(body, d.buf + d.nodes[node].start, span)
        size = <long>span
    else:
        size = k8s_minify(d.buf + d.nodes[node].start, span, body)
    if size < 0 or <uint64_t>size > f.max_event_size:
        free(e)
        k8s_add(&ctr.v[<int>C_DROPPED_OVERSIZE], 1)
        return FEED_OK
    e.ts = ts
    e.tid = <uint64_t>-1
    e.len = <uint32_t>(HEADER + size)
    e.type = 322
    e.nparams = 2
    (<uint32_t*>((<char*>e) + 26))[0] = 4
    (<uint32_t*>((<char*>e) + 30))[0] = <uint32_t>size
    (<uint32_t*>((<char*>e) + 34))[0] = 0
    if _push(f.q, e) != 0:
        return FEED_STOPPED
    k8s_add(&ctr.v[<int>C_EVENTS_INGESTED], 1)
    k8s_add(&ctr.v[<int>C_BYTES_INGESTED], <uint64_t>size)
    queued[0] += 1
    return FEED_OK
