# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
from libc.stdint cimport uint32_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memcmp, memchr, memset
from k8saudit_ovh._simdjson cimport (k8s_stage1_new, k8s_stage1_free, k8s_stage1_reserve, k8s_stage1_run,
                            k8s_unescape, k8s_minify, K8S_JSON_PADDING)
from k8saudit_ovh._sbuf cimport sbuf, sbuf_reserve, sbuf_append, sbuf_free
from k8saudit_ovh._chars cimport hexval

cdef enum:
    MAX_DEPTH = 1024
    # Spans are 32-bit offsets; simdjson's own limit is 4 GiB, audit events are far below.
    MAX_DOC = 0x7fffff00

cdef inline bint _ws(char c) noexcept nogil:
    return c == b' ' or c == b'\n' or c == b'\r' or c == b'\t'


cdef int jdoc_init(jdoc* d) noexcept nogil:
    memset(d, 0, sizeof(jdoc))
    d.stack = <uint32_t*>malloc(MAX_DEPTH * sizeof(uint32_t) * 2)
    d.stage1 = k8s_stage1_new(4096)
    if d.stack == NULL or d.stage1 == NULL:
        jdoc_free(d)
        return JERR_NOMEM
    return JERR_OK


cdef void jdoc_free(jdoc* d) noexcept nogil:
    free(d.buf)
    free(d.nodes)
    free(d.stack)
    sbuf_free(&d.scratch)
    if d.stage1 != NULL:
        k8s_stage1_free(d.stage1)
    memset(d, 0, sizeof(jdoc))


cdef inline int _reserve_nodes(jdoc* d, uint32_t n) noexcept nogil:
    cdef jnode* p
    if n <= d.nodes_cap:
        return 0
    p = <jnode*>realloc(d.nodes, n * sizeof(jnode))
    if p == NULL:
        return JERR_NOMEM
    d.nodes = p
    d.nodes_cap = n
    return 0


cdef inline bint _valid_number(const char* s, size_t n) noexcept nogil:
    cdef size_t i = 0
    if i < n and s[i] == b'-':
        i += 1
    if i >= n:
        return False
    if s[i] == b'0':
        i += 1
    elif b'1' <= s[i] <= b'9':
        while i < n and b'0' <= s[i] <= b'9':
            i += 1
    else:
        return False
    if i < n and s[i] == b'.':
        i += 1
        if i >= n or not (b'0' <= s[i] <= b'9'):
            return False
        while i < n and b'0' <= s[i] <= b'9':
            i += 1
    if i < n and (s[i] == b'e' or s[i] == b'E'):
        i += 1
        if i < n and (s[i] == b'+' or s[i] == b'-'):
            i += 1
        if i >= n or not (b'0' <= s[i] <= b'9'):
            return False
        while i < n and b'0' <= s[i] <= b'9':
            i += 1
    return i == n


cdef int jdoc_parse(jdoc* d, const char* data, size_t n) noexcept nogil:
    """Index `data`; 0 on success, a negative jerr otherwise (the index is then empty)."""
    cdef uint32_t ns = 0, i = 0, k = 1, top = 0, last = 0, pos, nxt, e
    cdef const uint32_t* p = NULL
    cdef int depth = 0
    cdef char c
    cdef char* np
    cdef char* buf
    cdef jnode* nd
    cdef jnode* nodes
    cdef uint32_t* stack = d.stack        # per open container: its parent container, parent's last child
    cdef const char* bs
    cdef uint32_t next_bs
    cdef bint compact = True, top_arr = False, want_key = False
    d.nnodes = 0
    d.len = 0
    if n > MAX_DOC:
        return JERR_TOO_BIG
    if n + K8S_JSON_PADDING > d.cap:
        np = <char*>realloc(d.buf, n + K8S_JSON_PADDING)
        if np == NULL:
            return JERR_NOMEM
        d.buf = np
        d.cap = n + K8S_JSON_PADDING
    buf = d.buf
    memcpy(buf, data, n)
    memset(buf + n, 0, K8S_JSON_PADDING)
    if k8s_stage1_reserve(d.stage1, n + 1) != 0:
        return JERR_NOMEM
    if k8s_stage1_run(d.stage1, buf, n, &ns, &p) != 0:
        return JERR_STAGE1
    if ns == 0:
        return JERR_SYNTAX
    # Every node starts at a structural index, so ns + 1 nodes always suffice.
    if _reserve_nodes(d, ns + 2) != 0:
        return JERR_NOMEM
    nodes = d.nodes       # locals only below: byte stores into nodes may alias any memory
    # Backslashes are rare: find them in one pass and give each string its `esc` flag by
    # walking that list alongside the strings (they come in document order).
    bs = <const char*>memchr(buf, b'\\', n)
    next_bs = <uint32_t>(bs - buf) if bs != NULL else <uint32_t>n
    nodes[0].kind = J_NONE
    nodes[0].count = 0
    nodes[0].next = 0

    while True:
        if want_key:
            # --- an object member's key and its colon
            if buf[p[i]] != b'"':
                return JERR_SYNTAX
            pos = p[i]
            e = _string_end(buf, p, i, &compact)
            if e == 0:
                return JERR_SYNTAX
            nd = &nodes[k]
            nd.kind = J_KEY
            nd.start = pos
            nd.end = e
            nd.next = 0
            nd.count = 0
            nd.esc = _escaped(buf, n, pos, e, &next_bs)
            if last:
                nodes[last].next = k
            last = k
            nodes[top].count += 1
            k += 1
            i += 1
            if buf[p[i]] != b':':
                return JERR_SYNTAX
            if p[i + 1] != p[i] + 1:
                compact = False
            i += 1
            want_key = False

        # --- a value starts at structural i (past the end: the NUL sentinel, no valid token)
        pos = p[i]
        c = buf[pos]
        nd = &nodes[k]
        nd.start = pos
        nd.next = 0
        nd.count = 0
        nd.esc = 0
        if top_arr:
            if last:
                nodes[last].next = k
            last = k
            nodes[top].count += 1
        if c == b'{' or c == b'[':
            nd.kind = J_OBJ if c == b'{' else J_ARR
            k += 1
            i += 1
            if p[i] != pos + 1:
                compact = False
            if buf[p[i]] == (c'}' if c == c'{' else c']'):
                nd.end = p[i] + 1
                i += 1
                # an empty container is a complete value: fall through to "value done"
            else:
                if depth >= MAX_DEPTH:
                    return JERR_DEPTH
                stack[2 * depth] = top
                stack[2 * depth + 1] = last
                depth += 1
                top = k - 1
                last = 0
                top_arr = c == b'['
                want_key = not top_arr
                continue
        elif c == b'"':
            nd.kind = J_STR
            e = _string_end(buf, p, i, &compact)
            if e == 0:
                return JERR_SYNTAX
            nd.end = e
            nd.esc = _escaped(buf, n, pos, e, &next_bs)
            k += 1
            i += 1
        else:
            nxt = p[i + 1]
            e = nxt
            while e > pos and _ws(buf[e - 1]):
                e -= 1
            if e != nxt:
                compact = False
            nd.end = e
            if c == b't' and e - pos == 4 and memcmp(buf + pos, b"true", 4) == 0:
                nd.kind = J_TRUE
            elif c == b'f' and e - pos == 5 and memcmp(buf + pos, b"false", 5) == 0:
                nd.kind = J_FALSE
            elif c == b'n' and e - pos == 4 and memcmp(buf + pos, b"null", 4) == 0:
                nd.kind = J_NULL
            elif _valid_number(buf + pos, e - pos):
                nd.kind = J_NUM
            else:
                return JERR_SYNTAX
            k += 1
            i += 1

        # --- value done: a comma, or close containers
        while True:
            if depth == 0:
                if i != ns:
                    return JERR_SYNTAX
                d.len = n
                d.compact = compact
                d.nnodes = k
                return JERR_OK
            c = buf[p[i]]
            if p[i + 1] != p[i] + 1:
                compact = False
            if c == b',':
                i += 1
                want_key = not top_arr
                break
            if c != (c']' if top_arr else c'}'):
                return JERR_SYNTAX
            nodes[top].end = p[i] + 1
            i += 1
            depth -= 1
            top = stack[2 * depth]
            last = stack[2 * depth + 1]
            top_arr = nodes[top].kind == J_ARR


cdef inline uint32_t _string_end(const char* buf, const uint32_t* p, uint32_t i,
                                 bint* compact) noexcept nogil:
    """End (past the closing quote) of the string opened at structural i, or 0 if malformed:
    only whitespace may separate it from the next structural (or the end sentinel)."""
    cdef uint32_t pos = p[i]
    cdef uint32_t nxt = p[i + 1]
    cdef uint32_t e = nxt
    while e > pos + 1 and _ws(buf[e - 1]):
        e -= 1
    if e != nxt:
        compact[0] = False
    if e <= pos + 1 or buf[e - 1] != b'"':
        return 0
    return e


cdef inline bint _escaped(const char* buf, size_t n, uint32_t start, uint32_t end,
                          uint32_t* next_bs) noexcept nogil:
    """Whether buf[start:end] holds a backslash; *next_bs is the first one at or after the
    previous string, and only moves forward."""
    cdef const char* b
    while next_bs[0] < start:
        b = <const char*>memchr(buf + next_bs[0] + 1, b'\\', n - next_bs[0] - 1)
        next_bs[0] = <uint32_t>(b - buf) if b != NULL else <uint32_t>n
    return next_bs[0] < end


# The one-letter escapes of JSON and the character each one stands for (same position).
cdef const char* _SHORT_ESC = b"\"\\/bfnrt"
cdef const char* _SHORT_ESC_TEXT = b"\"\\/\b\f\n\r\t"


cdef inline int _hex4(const char* s) noexcept nogil:
    cdef int i, h, v = 0
    for i in range(4):
        h = hexval(s[i])
        if h < 0:
            return -1
        v = v * 16 + h
    return v


cdef inline size_t _put_utf8(char* o, uint32_t r) noexcept nogil:
    """Go's string(rune): UTF-8, with U+FFFD for surrogates and out-of-range values."""
    if r < 0x80:
        o[0] = <char>r
        return 1
    if r < 0x800:
        o[0] = <char>(0xC0 | (r >> 6))
        o[1] = <char>(0x80 | (r & 0x3F))
        return 2
    if (0xD800 <= r <= 0xDFFF) or r > 0x10FFFF:
        r = 0xFFFD
    if r < 0x10000:
        o[0] = <char>(0xE0 | (r >> 12))
        o[1] = <char>(0x80 | ((r >> 6) & 0x3F))
        o[2] = <char>(0x80 | (r & 0x3F))
        return 3
    o[0] = <char>(0xF0 | (r >> 18))
    o[1] = <char>(0x80 | ((r >> 12) & 0x3F))
    o[2] = <char>(0x80 | ((r >> 6) & 0x3F))
    o[3] = <char>(0x80 | (r & 0x3F))
    return 4


cdef int _unescape_fastjson(const char* s, size_t n, sbuf* out) noexcept nogil:
    """Append the text of raw JSON string content s[0:n] unescaped like fastjson (JU_FASTJSON).
    The output is never longer than n. -1 when out of memory."""
    cdef size_t i = 0, k
    cdef char c
    cdef char* o
    cdef const char* e
    cdef int u, u2
    cdef uint32_t r
    if sbuf_reserve(out, n) != 0:
        return -1
    o = out.p + out.len
    k = 0
    while i < n:
        c = s[i]
        if c != b'\\':
            o[k] = c
            k += 1
            i += 1
            continue
        i += 1
        if i >= n:
            break
        c = s[i]
        i += 1
        e = <const char*>memchr(_SHORT_ESC, c, 8)
        if e != NULL:
            o[k] = _SHORT_ESC_TEXT[e - _SHORT_ESC]
            k += 1
        elif c == b'u':
            u = _hex4(s + i) if n - i >= 4 else -1
            if u < 0:
                o[k] = b'\\'
                o[k + 1] = b'u'
                k += 2
                continue
            i += 4
            if u < 0xD800 or u > 0xDFFF:
                k += _put_utf8(o + k, <uint32_t>u)
                continue
            u2 = _hex4(s + i + 2) if n - i >= 6 and s[i] == b'\\' and s[i + 1] == b'u' else -1
            if u2 < 0:
                memcpy(o + k, s + i - 6, 6)
                k += 6
                continue
            if 0xD800 <= u < 0xDC00 and 0xDC00 <= u2 < 0xE000:
                r = 0x10000 + ((<uint32_t>u - 0xD800) << 10) + (<uint32_t>u2 - 0xDC00)
            else:
                r = 0xFFFD
            k += _put_utf8(o + k, r)
            i += 6
        else:
            o[k] = b'\\'
            o[k + 1] = c
            k += 2
    out.len += k
    return 0


cdef int jappend_str(jdoc* d, uint32_t node, sbuf* out, junesc mode) noexcept nogil:
    """Append the unescaped text of a string/key node; -1 on a malformed escape (JU_STRICT
    only) or when out of memory."""
    cdef jnode* nd = &d.nodes[node]
    cdef size_t raw = nd.end - nd.start - 2
    cdef long m
    if not nd.esc:
        return sbuf_append(out, d.buf + nd.start + 1, raw)
    if mode == JU_FASTJSON:
        return _unescape_fastjson(d.buf + nd.start + 1, raw, out)
    if sbuf_reserve(out, raw + K8S_JSON_PADDING) != 0:
        return -1
    m = k8s_unescape(d.stage1, d.buf + nd.start + 1, out.p + out.len)
    if m < 0:
        return -1
    out.len += <size_t>m
    return 0


cdef const char* jstr(jdoc* d, uint32_t node, size_t* n, junesc mode) noexcept nogil:
    """Unescaped text of a string or key node, or NULL (see jappend_str). An escaped string
    is decoded into d.scratch: the pointer is valid until the next jstr on d."""
    cdef jnode* nd = &d.nodes[node]
    if not nd.esc:
        n[0] = nd.end - nd.start - 2
        return d.buf + nd.start + 1
    d.scratch.len = 0
    if jappend_str(d, node, &d.scratch, mode) != 0:
        return NULL
    n[0] = d.scratch.len
    return d.scratch.p


cdef bint jstr_eq(jdoc* d, uint32_t node, const char* s, size_t n, junesc mode) noexcept nogil:
    """Is node a string or key whose text is s[0:n]?"""
    cdef jnode* nd
    cdef size_t m = 0
    cdef const char* t
    if node == 0:
        return False
    nd = &d.nodes[node]
    if nd.kind != J_STR and nd.kind != J_KEY:
        return False
    if not nd.esc:
        return nd.end - nd.start - 2 == n and memcmp(d.buf + nd.start + 1, s, n) == 0
    t = jstr(d, node, &m, mode)
    return t != NULL and m == n and memcmp(t, s, n) == 0


cdef uint32_t jget(jdoc* d, uint32_t obj, const char* key, size_t klen, junesc mode) noexcept nogil:
    """Value node of member `key` of object `obj`, or 0 (absent, or obj is not an object).
    JU_STRICT: the first member whose key text is `key`. JU_FASTJSON: the first key written
    exactly as `key` wins; only when there is none are keys written with escapes compared by
    their unescaped text (fastjson's order)."""
    cdef const jnode* nodes = d.nodes
    cdef uint32_t k = jfirst_key(d, obj)
    cdef bint esc = False
    while k:
        if nodes[k].esc:
            if mode == JU_STRICT and jstr_eq(d, k, key, klen, mode):
                return k + 1
            esc = True
        elif nodes[k].end - nodes[k].start - 2 == klen and memcmp(d.buf + nodes[k].start + 1, key, klen) == 0:
            return k + 1
        k = nodes[k].next
    if esc and mode == JU_FASTJSON:
        k = jfirst_key(d, obj)
        while k:
            if nodes[k].esc and jstr_eq(d, k, key, klen, mode):
                return k + 1
            k = nodes[k].next
    return 0


cdef int jappend_raw(jdoc* d, uint32_t node, sbuf* out) noexcept nogil:
    """Append the compact JSON text of any node (raw source text, whitespace removed)."""
    cdef jnode* nd = &d.nodes[node]
    cdef size_t n = nd.end - nd.start
    cdef long m
    if d.compact or nd.kind != J_OBJ and nd.kind != J_ARR:
        return sbuf_append(out, d.buf + nd.start, n)
    if sbuf_reserve(out, n + K8S_JSON_PADDING) != 0:
        return -1
    m = k8s_minify(d.buf + nd.start, n, out.p + out.len)
    if m < 0:
        return -1
    out.len += <size_t>m
    return 0
