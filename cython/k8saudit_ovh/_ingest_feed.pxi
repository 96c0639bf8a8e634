# Payloads to events: Event / EventList / array, checks, identity, cluster name injection.
# (included by _ingest.pyx; declared in _ingest.pxd)


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
