# Answers (included by _extract.pyx): the entry points. An event is indexed once, at its first
# field; each field spec is answered once per event and asked-again specs get the same
# pointers, because libsinsp reads returned values again after extracting other fields.

cdef int extractor_init(extractor* x) noexcept nogil:
    memset(x, 0, sizeof(extractor))
    x.arena.pinned = True
    x.results.pinned = True
    if jdoc_init(&x.doc) != 0:
        return -1
    return 0


cdef void extractor_free(extractor* x) noexcept nogil:
    jdoc_free(&x.doc)
    sbuf_free(&x.arena)
    sbuf_free(&x.results)
    free(x.offs)
    free(x.answers)
    free(x.nodes)
    memset(x, 0, sizeof(extractor))


cdef inline int _load(extractor* x, const ss_plugin_event_input* evt) noexcept nogil:
    """Index the payload of evt unless it is the cached one; 0 when it is usable JSON."""
    cdef const ss_plugin_event* e = evt.evt
    if e != NULL and x.cached and x.evtnum == evt.evtnum:
        if x.evtlen == k8s_event_u32(e, K8S_EVT_PARAM1_LEN_OFFSET):
            if x.parse_rc == 0:
                return 0
            x.last_error = b"event payload is not valid JSON"
            return -1
    return _reload(x, evt)


cdef int _reload(extractor* x, const ss_plugin_event_input* evt) noexcept nogil:
    cdef const char* payload
    cdef uint32_t plen = 0
    if evt.evt == NULL:
        x.last_error = b"no event"
        return -1
    payload = k8s_event_payload(evt.evt, &plen)
    if payload == NULL:
        x.last_error = b"malformed plugin event (payload length)"
        return -1
    x.cached = True
    x.evtnum = evt.evtnum
    x.evtlen = plen
    x.root = 0
    _forget_answers(x)
    # k8saudit only decodes payloads starting with '{' or '['.
    if plen == 0 or (payload[0] != b'{' and payload[0] != b'['):
        x.doc.nnodes = 0
        x.parse_rc = -100
    else:
        x.parse_rc = jdoc_parse(&x.doc, payload, plen)
    if x.parse_rc == 0:
        _scan_root(x)
    if x.parse_rc != 0:
        x.last_error = b"event payload is not valid JSON"
        return -1
    return 0


cdef inline void _forget_answers(extractor* x) noexcept nogil:
    """A new event: every pointer handed out so far may be reused."""
    if x.nanswers:
        memset(x.first_answer, 0, sizeof(x.first_answer))
        x.nanswers = 0
    x.arena.len = 0
    x.results.len = 0
    if x.arena.old != NULL:
        sbuf_drop_old(&x.arena)
    if x.results.old != NULL:
        sbuf_drop_old(&x.results)


cdef inline bint _same_request(const answer* a, const ss_plugin_extract_field* f) noexcept nogil:
    if a.arg_present != (f.arg_present != 0) or a.arg_index != f.arg_index:
        return False
    if a.arg_key == NULL or f.arg_key == NULL:
        return a.arg_key == f.arg_key
    return strcmp(a.arg_key, f.arg_key) == 0


cdef int _remember(extractor* x, ss_plugin_extract_field* f) noexcept nogil:
    """Hand the field's values (just built in the arena) to the host and record the answer.
    0, or -1 when out of memory."""
    cdef uint32_t i, n = x.nvals
    cdef size_t key_at = 0
    cdef const char** res
    cdef answer* a
    if x.nanswers == x.answers_cap and _grow(&x.answers, &x.answers_cap, sizeof(answer)) != 0:
        return -1
    if f.arg_key != NULL:
        key_at = x.arena.len
        if sbuf_append(&x.arena, f.arg_key, strlen(f.arg_key) + 1) != 0:
            return -1
    if sbuf_reserve(&x.results, n * sizeof(const char*)) != 0:
        return -1
    # only now, the arena having stopped growing for this field, are its pointers final
    res = <const char**>(x.results.p + x.results.len)
    x.results.len += n * sizeof(const char*)
    for i in range(n):
        res[i] = x.arena.p + x.offs[i]
    a = &x.answers[x.nanswers]
    a.arg_present = f.arg_present != 0
    a.arg_index = f.arg_index
    a.arg_key = x.arena.p + key_at if f.arg_key != NULL else NULL
    a.res = res
    a.res_len = n
    a.next = x.first_answer[f.field_id]
    x.nanswers += 1
    x.first_answer[f.field_id] = x.nanswers
    f.res.str = res
    f.res_len = n
    return 0


cdef ss_plugin_rc _answer(extractor* x, ss_plugin_extract_field* f) noexcept nogil:
    """The values of one field of the loaded event: the earlier answer to the same request, or a
    new one that stays valid for the rest of the event. Fields without a value and failures are
    not recorded: they hold no memory, asking again recomputes them."""
    cdef uint32_t k
    cdef const answer* a
    cdef const frow* r
    cdef size_t a0 = x.arena.len
    cdef int hr
    f.res_len = 0
    if x.root == 0:
        return SS_PLUGIN_SUCCESS        # the auditID gate
    if f.field_id >= K8S_NUM_FIELDS:
        x.last_error = b"unknown field id"
        return SS_PLUGIN_FAILURE
    k = x.first_answer[f.field_id]
    while k:
        a = &x.answers[k - 1]
        if _same_request(a, f):
            f.res_len = a.res_len
            f.res.str = a.res
            return SS_PLUGIN_SUCCESS
        k = a.next
    r = &TABLE[f.field_id]
    x.nvals = 0
    hr = r.fn(x, r, f, f.arg_index if f.arg_present else NOIDX)
    if hr != H_OK:
        x.arena.len = a0
        x.last_error = b"wrong JSON type for the field" if hr == H_FAIL else b"out of memory"
        return SS_PLUGIN_FAILURE
    if x.nvals == 0:
        return SS_PLUGIN_SUCCESS
    if _remember(x, f) != 0:
        x.arena.len = a0
        f.res_len = 0
        x.last_error = b"out of memory"
        return SS_PLUGIN_FAILURE
    return SS_PLUGIN_SUCCESS


cdef ss_plugin_rc extract_fields(extractor* x, const ss_plugin_event_input* evt,
                                 const ss_plugin_field_extract_input* req) noexcept nogil:
    cdef uint32_t i
    cdef ss_plugin_rc rc = SS_PLUGIN_SUCCESS
    if _load(x, evt) != 0:
        for i in range(req.num_fields):
            req.fields[i].res_len = 0
        return SS_PLUGIN_FAILURE
    for i in range(req.num_fields):
        if _answer(x, &req.fields[i]) != SS_PLUGIN_SUCCESS:
            rc = SS_PLUGIN_FAILURE
    return rc
