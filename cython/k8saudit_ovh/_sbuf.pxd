# A growable byte buffer for results and event payloads (amortised: it only grows).
from libc.stdlib cimport realloc, free
from libc.string cimport memcpy

cdef struct sbuf:
    char* p
    size_t len
    size_t cap

cdef inline int sbuf_reserve(sbuf* b, size_t extra) noexcept nogil:
    cdef size_t need = b.len + extra
    cdef size_t ncap
    cdef char* np
    if need <= b.cap:
        return 0
    ncap = b.cap * 2 if b.cap else 256
    while ncap < need:
        ncap *= 2
    np = <char*>realloc(b.p, ncap)
    if np == NULL:
        return -1
    b.p = np
    b.cap = ncap
    return 0

cdef inline int sbuf_append(sbuf* b, const char* s, size_t n) noexcept nogil:
    if sbuf_reserve(b, n) != 0:
        return -1
    memcpy(b.p + b.len, s, n)
    b.len += n
    return 0

cdef inline void sbuf_free(sbuf* b) noexcept nogil:
    free(b.p)
    b.p = NULL
    b.len = 0
    b.cap = 0
