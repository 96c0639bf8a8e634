# A growable byte buffer for results and event payloads (amortised: it only grows).
#
# A pinned buffer never moves what was written in it: growing copies the content into a new block
# and keeps the old block alive (in `old`) until sbuf_drop_old. The extractor pins its value
# buffers because the host holds pointers into them until it moves to another event.
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy

cdef struct sbuf_old:
    sbuf_old* next
    char* p

cdef struct sbuf:
    char* p
    size_t len
    size_t cap
    sbuf_old* old       # blocks left behind by growth of a pinned buffer
    bint pinned

cdef inline int _sbuf_move_pinned(sbuf* b, size_t ncap) noexcept nogil:
    cdef sbuf_old* o = <sbuf_old*>malloc(sizeof(sbuf_old))
    cdef char* np = <char*>malloc(ncap)
    if o == NULL or np == NULL:
        free(o)
        free(np)
        return -1
    memcpy(np, b.p, b.len)
    o.p = b.p
    o.next = b.old
    b.old = o
    b.p = np
    b.cap = ncap
    return 0

cdef inline int sbuf_reserve(sbuf* b, size_t extra) noexcept nogil:
    cdef size_t need = b.len + extra
    cdef size_t ncap
    cdef char* np
    if need <= b.cap:
        return 0
    ncap = b.cap * 2 if b.cap else 256
    while ncap < need:
        ncap *= 2
    if b.pinned and b.p != NULL:
        return _sbuf_move_pinned(b, ncap)
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

cdef inline void sbuf_drop_old(sbuf* b) noexcept nogil:
    """Free the blocks a pinned buffer left behind: pointers into them become invalid."""
    cdef sbuf_old* o = b.old
    cdef sbuf_old* nxt
    while o != NULL:
        nxt = o.next
        free(o.p)
        free(o)
        o = nxt
    b.old = NULL

cdef inline void sbuf_free(sbuf* b) noexcept nogil:
    sbuf_drop_old(b)
    free(b.p)
    b.p = NULL
    b.len = 0
    b.cap = 0
