# Keys and key paths (included by _extract.pyx): how a table path is stored and followed in
# the JSON index.
#
# Keys are interned in one small pool so that a table row stays within a few cache lines.

cdef enum:
    MAXK = 8           # keys in one path
    MAXKEYS = 255      # distinct keys of all paths (indices are uint8_t)

cdef struct kkey:
    uint64_t pre[2]     # the first 16 bytes of the key (zero padded) ...
    uint64_t mask[2]    # ... and which of them count: keys are compared without memcmp calls
    const char* s       # the key (a static literal, not NUL-terminated at n)
    uint32_t n

cdef kkey KEYS[MAXKEYS]
cdef uint32_t NKEYS = 0

cdef struct kpath:
    uint8_t n
    uint8_t anchor      # the longest anchor (_extract_anchors.pxi) that is a prefix of the path
    uint8_t skip        # number of keys that anchor covers
    uint8_t key[MAXK]   # indices into KEYS


cdef inline const jnode* _nd(const extractor* x, uint32_t n) noexcept nogil:
    return &x.doc.nodes[n]

cdef inline uint8_t _kind(const extractor* x, uint32_t n) noexcept nogil:
    return x.doc.nodes[n].kind if n else J_NONE


cdef inline bint _key_is(const char* buf, const jnode* nd, const kkey* key) noexcept nogil:
    """Is key node nd (written without escapes) the key? Reads 16 bytes at once: the index
    buffer is padded, so this never reads past it."""
    cdef uint32_t kl = key.n
    cdef uint64_t v[2]
    if nd.end - nd.start - 2 != kl:
        return False
    memcpy(v, buf + nd.start + 1, 16)
    if ((v[0] & key.mask[0]) ^ key.pre[0]) | ((v[1] & key.mask[1]) ^ key.pre[1]):
        return False
    return kl <= 16 or memcmp(buf + nd.start + 17, key.s + 16, kl - 16) == 0


cdef inline const kkey* _pkey(const kpath* p, uint32_t i) noexcept nogil:
    return &KEYS[p.key[i]]


cdef uint32_t _getk(extractor* x, uint32_t obj, const kkey* key) noexcept nogil:
    """jget(&x.doc, obj, key.s, key.n, JU_FASTJSON) for an interned key, 16 bytes at a time."""
    cdef const jnode* nodes = x.doc.nodes
    cdef const char* buf = x.doc.buf
    cdef uint32_t k = jfirst_key(&x.doc, obj)
    cdef bint esc = False
    while k:
        if nodes[k].esc:
            esc = True
        elif _key_is(buf, &nodes[k], key):
            return k + 1
        k = nodes[k].next
    # Keys written with escapes are rare: jget's fastjson order compares their text.
    return jget(&x.doc, obj, key.s, key.n, JU_FASTJSON) if esc else 0


cdef uint32_t _nth(const extractor* x, uint32_t arr, uint64_t i) noexcept nogil:
    """Element i of array node arr, or 0."""
    cdef uint32_t c
    if i >= x.doc.nodes[arr].count:
        return 0
    c = arr + 1
    while i:
        c = jnext(&x.doc, c)
        i -= 1
    return c


cdef uint32_t _walk(extractor* x, uint32_t node, const kpath* p, uint32_t ki) noexcept nogil:
    """Follow keys p[ki:] from node like fastjson's Get(keys...): object members by key, array
    elements by a decimal key. 0 when a step is missing."""
    cdef uint32_t i, j
    cdef uint64_t v
    cdef const kkey* k
    for i in range(ki, p.n):
        if node == 0:
            return 0
        k = _pkey(p, i)
        if x.doc.nodes[node].kind == J_ARR:
            if k.n == 0 or k.n > 9:
                return 0
            v = 0
            for j in range(k.n):
                if not (b'0' <= k.s[j] <= b'9'):
                    return 0
                v = v * 10 + <uint64_t>(k.s[j] - 48)
            node = _nth(x, node, v)
        else:
            node = _getk(x, node, k)
    return node


cdef int _path(kpath* p, const char* path) except -1:
    """Split a '|'-separated key path (a static literal) into p: indices of interned keys."""
    cdef const char* s = path
    cdef const char* e
    p.n = 0
    if path == NULL:
        return 0
    while True:
        if p.n >= MAXK:
            raise SystemError("k8saudit_ovh._extract: key path longer than MAXK")
        e = strchr(s, b'|')
        p.key[p.n] = _intern(s, <uint32_t>((e - s) if e != NULL else strlen(s)))
        p.n += 1
        if e == NULL:
            break
        s = e + 1
    _match_anchor(p)
    return 0


cdef uint8_t _intern(const char* s, uint32_t n) except? 255:
    """Index of key s[0:n] in KEYS, added if new."""
    global NKEYS
    cdef uint32_t i
    cdef kkey* k
    for i in range(NKEYS):
        if KEYS[i].n == n and memcmp(KEYS[i].s, s, n) == 0:
            return <uint8_t>i
    if NKEYS >= MAXKEYS:
        raise SystemError("k8saudit_ovh._extract: too many distinct keys")
    k = &KEYS[NKEYS]
    memset(k, 0, sizeof(kkey))
    k.s = s
    k.n = n
    memcpy(k.pre, s, min(n, 16))
    memset(k.mask, 0xFF, min(n, 16))
    NKEYS += 1
    return <uint8_t>(NKEYS - 1)
