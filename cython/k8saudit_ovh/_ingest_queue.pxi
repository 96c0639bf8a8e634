# The bounded queue between producer threads and next_batch, and next_batch itself.
# (included by _ingest.pyx; declared in _ingest.pxd)


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
            _mark_end(&self.q, Q_FINISHED, NULL, 0)

    def fail(self, str message):
        """A fatal source error: delivered events stay, then next_batch returns FAILURE."""
        cdef bytes m = message.encode('utf-8', 'replace')[:511]
        cdef const char* p = m
        cdef size_t n = len(m)
        with nogil:
            _mark_end(&self.q, Q_FAILED, p, n)

    def stop(self):
        """The instance is closing: wake and release every blocked producer."""
        with nogil:
            _mark_end(&self.q, Q_STOPPING, NULL, 0)

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


cdef enum queue_end:
    Q_FINISHED = 0      # EOF once drained
    Q_FAILED = 1        # FAILURE once drained, with errmsg
    Q_STOPPING = 2      # the instance closes: producers give up


cdef void _mark_end(evqueue* q, int how, const char* msg, size_t n) noexcept nogil:
    """Set how the queue ends and wake everyone waiting on it (they re-check their condition)."""
    pthread_mutex_lock(&q.mu)
    if how == Q_FAILED:
        memcpy(q.errmsg, msg, n)
        q.errmsg[n] = 0
        q.failed = True
    elif how == Q_FINISHED:
        q.finished = True
    else:
        q.stopping = True
    pthread_cond_broadcast(&q.not_empty)
    pthread_cond_broadcast(&q.not_full)
    pthread_mutex_unlock(&q.mu)


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
                jrec_set(&recs[n], m[k].key, m[k].ldp_ns, JR_DELIVERED)
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
