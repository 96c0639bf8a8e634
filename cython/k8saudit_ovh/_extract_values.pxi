# The value arena (included by _extract.pyx): each value of the current event is appended to
# x.arena and closed with a NUL; x.offs records where it starts. Pointers are only made once a
# field is complete (_remember), because the arena may move while it grows.

cdef inline int _vopen(extractor* x) noexcept nogil:
    if x.nvals == x.vals_cap and _grow(&x.offs, &x.vals_cap, sizeof(size_t)) != 0:
        return H_NOMEM
    x.offs[x.nvals] = x.arena.len
    return H_OK


cdef inline int _vclose(extractor* x) noexcept nogil:
    if sbuf_reserve(&x.arena, 1) != 0:
        return H_NOMEM
    x.arena.p[x.arena.len] = 0
    x.arena.len += 1
    x.nvals += 1
    return H_OK


cdef int _append_text(extractor* x, uint32_t node) noexcept nogil:
    """k8saudit's value-as-string of node, appended to the arena."""
    cdef const jnode* nd = _nd(x, node)
    if nd.kind == J_STR or nd.kind == J_KEY:
        return H_OK if jappend_str(&x.doc, node, &x.arena, JU_FASTJSON) == 0 else H_NOMEM
    return H_OK if jappend_raw(&x.doc, node, &x.arena) == 0 else H_NOMEM


cdef int _vtext(extractor* x, uint32_t node) noexcept nogil:
    cdef const jnode* nd = _nd(x, node)
    cdef size_t n
    if _vopen(x) != 0:
        return H_NOMEM
    if nd.kind == J_STR and not nd.esc:
        # the common case in one step: raw string content plus its NUL
        n = nd.end - nd.start - 2
        if sbuf_reserve(&x.arena, n + 16) != 0:
            return H_NOMEM
        if n <= 16:
            # short values (most of them): one fixed-size copy; the index buffer is padded
            memcpy(x.arena.p + x.arena.len, x.doc.buf + nd.start + 1, 16)
        else:
            memcpy(x.arena.p + x.arena.len, x.doc.buf + nd.start + 1, n)
        x.arena.p[x.arena.len + n] = 0
        x.arena.len += n + 1
        x.nvals += 1
        return H_OK
    if _append_text(x, node) != 0:
        return H_NOMEM
    return _vclose(x)


cdef int _vbytes(extractor* x, const char* s, size_t n) noexcept nogil:
    if _vopen(x) != 0 or sbuf_append(&x.arena, s, n) != 0:
        return H_NOMEM
    return _vclose(x)


cdef int _vrepo(extractor* x, uint32_t node) noexcept nogil:
    """Repository of an image reference: cut at the first ':', then at the first '@'."""
    cdef size_t start, n
    cdef const char* cut
    if _vopen(x) != 0 or _append_text(x, node) != 0:
        return H_NOMEM
    start = x.offs[x.nvals]
    n = x.arena.len - start
    cut = <const char*>memchr(x.arena.p + start, b':', n)
    if cut != NULL:
        n = cut - (x.arena.p + start)
    cut = <const char*>memchr(x.arena.p + start, b'@', n)
    if cut != NULL:
        n = cut - (x.arena.p + start)
    x.arena.len = start + n
    return _vclose(x)
