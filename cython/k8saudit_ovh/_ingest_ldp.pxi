# LDP frames: {"message": "<GELF JSON>"} -> GELF short_message (or full_message) -> payload.
# (included by _ingest.pyx; declared in _ingest.pxd)


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
