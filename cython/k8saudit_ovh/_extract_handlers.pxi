# The handlers (included by _extract.pyx): one per kind of field semantics, 14 for the 100
# fields; the table says which field uses which, with what paths. Each appends the values of one
# field (none = no value) and returns H_OK, H_FAIL (wrong type: the caller drops what was
# appended and reports failure) or H_NOMEM.

cdef int h_text(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """The value at p1 (array elements addressed by decimal keys); flag 1: its repository."""
    cdef uint32_t v = _at(x, &r.p1)
    if v == 0:
        return H_OK
    return _vrepo(x, v) if r.flag else _vtext(x, v)


cdef int h_list(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """The array at p1, one value per element; flag 1: the index argument selects one element.
    Not an array: failure."""
    cdef uint32_t i
    cdef int rc = _elements_at(x, &r.p1, idx if r.flag else NOIDX)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if _vtext(x, x.nodes[i]) != 0:
            return H_NOMEM
    return H_OK


cdef int h_fanout(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """Values at p1, fanned out over arrays (index applied); missing ones skipped."""
    cdef uint32_t i
    cdef int rc = _collect_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if x.nodes[i] and _vtext(x, x.nodes[i]) != 0:
            return H_NOMEM
    return H_OK


cdef int h_strings(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """Values at p1, fanned out; if any element lacks the value, failure (k8saudit: wrong type).
    flag 1: the repository part of each value; flag 2: element 0 only (ka.req.container.*)."""
    cdef uint32_t i
    cdef int rc = _collect_at(x, &r.p1, 0 if r.flag & 2 else idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if x.nodes[i] == 0:
            return H_FAIL
    for i in range(x.nnodes):
        rc = _vrepo(x, x.nodes[i]) if r.flag & 1 else _vtext(x, x.nodes[i])
        if rc != 0:
            return rc
    return H_OK


cdef int h_join(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """Arrays of strings at p1 (fanned out), each joined with single spaces; elements lacking
    the array are skipped; a non-array or a non-string element: failure."""
    cdef uint32_t i, c
    cdef int rc = _arrays_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if _vopen(x) != 0:
            return H_NOMEM
        c = jfirst(&x.doc, x.nodes[i])
        while c:
            if x.doc.nodes[c].kind != J_STR:
                return H_FAIL
            if c != x.nodes[i] + 1 and sbuf_append(&x.arena, b" ", 1) != 0:
                return H_NOMEM
            if _append_text(x, c) != 0:
                return H_NOMEM
            c = jnext(&x.doc, c)
        if _vclose(x) != 0:
            return H_NOMEM
    return H_OK


cdef int h_members(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """The members of the containers of kind flag (J_ARR or J_OBJ) at p1 (fanned out, index
    applied), one value each: the elements of arrays (ka.req.role.rules.*, flattened), or the
    keys of objects other than s, in source order (ka.req.pod.volumes.volume_type, whose path
    ends with an empty key so that the volumes array is fanned out too). Values of another kind,
    and elements lacking the value, are skipped."""
    cdef uint32_t i, c
    cdef int rc = _collect_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if _kind(x, x.nodes[i]) != r.flag:
            continue
        c = jfirst(&x.doc, x.nodes[i])
        while c:
            if (r.s == NULL or not jstr_eq(&x.doc, c, r.s, r.sl, JU_FASTJSON)) and _vtext(x, c) != 0:
                return H_NOMEM
            c = jnext(&x.doc, c)
    return H_OK


cdef int h_host_port(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """For every port of the `ports` arrays at p1 (fanned out over containers, index applied):
    hostPort if present, else containerPort; ports without either are skipped."""
    cdef uint32_t i, c, v
    cdef int rc = _arrays_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        c = jfirst(&x.doc, x.nodes[i])
        while c:
            v = jget(&x.doc, c, b"hostPort", 8, JU_FASTJSON)
            if v == 0:
                v = jget(&x.doc, c, b"containerPort", 13, JU_FASTJSON)
            if v and _vtext(x, v) != 0:
                return H_NOMEM
            c = jnext(&x.doc, c)
    return H_OK


cdef int h_any_true(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """"true" if any value at p1 (fanned out) is JSON true, else "false" (an empty array
    included); no value when the path breaks outside the fan-out (e.g. `containers: null`)."""
    cdef uint32_t i
    cdef int rc = _collect_at(x, &r.p1, NOIDX)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if _kind(x, x.nodes[i]) == J_TRUE:
            return _vbytes(x, b"true", 4)
    return _vbytes(x, b"false", 5)


cdef int h_path_match(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """ka.req.volume.hostpath[k]: "true" if a value at p2 under the array at p1 (fanned out,
    index applied: Falco <= 0.43 passes index 0 for key arguments, 0.44 UINT64_MAX = all) equals
    k, or starts with k minus its trailing '*'; else "false". No value when the path breaks
    outside the fan-out (no volumes, `volumes: null`, an index out of range)."""
    cdef uint32_t i
    cdef const char* key = f.arg_key
    cdef const char* t
    cdef size_t kl, n = 0
    cdef bint prefix
    cdef int rc
    if key == NULL:
        return H_OK
    kl = strlen(key)
    prefix = kl > 0 and key[kl - 1] == b'*'
    if prefix:
        kl -= 1
    rc = _collect_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if x.nodes[i] == 0 or _kind(x, x.nodes[i]) != J_STR:
            continue
        t = jstr(&x.doc, x.nodes[i], &n, JU_FASTJSON)
        if t == NULL:
            return H_NOMEM
        if (n == kl or prefix and n > kl) and memcmp(t, key, kl) == 0:
            return _vbytes(x, b"true", 4)
    return _vbytes(x, b"false", 5)


cdef int h_subject_names(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """Names of the subjects (array at p1) whose string `kind` is s; subjects without a string
    `name` are skipped. flag 1: "<namespace>:<name>", skipping subjects without a namespace."""
    cdef uint32_t i, e, name, ns
    cdef int rc = _elements_at(x, &r.p1, NOIDX)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        e = x.nodes[i]
        if not jstr_eq(&x.doc, jget(&x.doc, e, b"kind", 4, JU_FASTJSON), r.s, r.sl, JU_FASTJSON):
            continue
        name = jget(&x.doc, e, b"name", 4, JU_FASTJSON)
        if _kind(x, name) != J_STR:
            continue
        if r.flag:
            ns = jget(&x.doc, e, b"namespace", 9, JU_FASTJSON)
            if _kind(x, ns) != J_STR:
                continue
            if (_vopen(x) != 0 or _append_text(x, ns) != 0 or sbuf_append(&x.arena, b":", 1) != 0
                    or _append_text(x, name) != 0 or _vclose(x) != 0):
                return H_NOMEM
        elif _vtext(x, name) != 0:
            return H_NOMEM
    return H_OK


cdef int h_pod_name(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """p2 (responseObject.metadata.name) when objectRef.resource is "pods" and its subresource
    is absent or empty (p1 = objectRef)."""
    cdef uint32_t ref = _at(x, &r.p1), sub, v
    if not jstr_eq(&x.doc, jget(&x.doc, ref, b"resource", 8, JU_FASTJSON), b"pods", 4, JU_FASTJSON):
        return H_OK
    sub = jget(&x.doc, ref, b"subresource", 11, JU_FASTJSON)
    if _kind(x, sub) == J_STR and x.doc.nodes[sub].end - x.doc.nodes[sub].start > 2:
        return H_OK
    v = _at(x, &r.p2)
    return _vtext(x, v) if v else H_OK


cdef int h_true(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """Always "true" (ka.req.binding.subject.has_name, kept for compatibility)."""
    return _vbytes(x, b"true", 4)


cdef int h_eff_run_as(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """For each container of the array at p1 (index: one of them): its securityContext.<s>,
    else the pod's value at p2, else 0. (Fixed: k8saudit reads keys that do not exist.)"""
    cdef uint32_t i, v, pod
    cdef int rc = _elements_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    pod = _at(x, &r.p2)
    for i in range(x.nnodes):
        v = jget(&x.doc, jget(&x.doc, x.nodes[i], b"securityContext", 15, JU_FASTJSON), r.s, r.sl, JU_FASTJSON)
        if v == 0:
            v = pod
        rc = _vtext(x, v) if v else _vbytes(x, b"0", 1)
        if rc != 0:
            return rc
    return H_OK


# ka.uri.param: Go's url.Parse(requestURI) then url.ParseQuery(RawQuery) (_extract_gourl.pxi).

cdef int h_uri_param(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """First value of query parameter arg_key in the string at p1 (requestURI). A URL or query
    that Go rejects (bad %-escape, ';' separator, ...) is a failure; a missing key no value."""
    cdef uint32_t v = _at(x, &r.p1)
    cdef const char* key = f.arg_key
    cdef const char* s
    cdef const char* found = NULL
    cdef size_t n = 0, found_n = 0
    cdef int rc
    if _kind(x, v) != J_STR or key == NULL:
        return H_OK
    s = jstr(&x.doc, v, &n, JU_FASTJSON)
    if s == NULL:
        return H_NOMEM
    rc = go_query_value(s, n, key, strlen(key), &found, &found_n)
    if rc <= 0:
        return H_FAIL if rc < 0 else H_OK
    if _vopen(x) != 0 or go_query_unescape(&x.arena, found, found_n) != 0:
        return H_NOMEM
    return _vclose(x)
