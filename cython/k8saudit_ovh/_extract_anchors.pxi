# Anchors (included by _extract.pyx): nodes many paths go through (top-level members,
# requestObject.spec, ...), found once per event, so that a field does not walk again from the
# root what the previous field walked. The top-level ones come from one scan of the root object
# when the event is parsed (_scan_root, which also applies the auditID gate), the deeper ones on
# first use. Each table path is matched to its longest anchor when the table is built.

cdef enum:
    A_ROOT = 0
    A_AUDITID
    A_STAGE
    A_VERB
    A_REQUEST_URI
    A_USER_AGENT
    A_SOURCE_IPS
    A_ANNOTATIONS
    A_OBJECT_REF
    A_USER
    A_IMP_USER
    A_REQ_OBJ
    A_RESP_OBJ
    A_RESP_STATUS
    A_SPEC
    A_POD_SECCTX
    NANCH

cdef enum:
    ANCH_UNSET = 0xFFFFFFFF      # not looked up yet for this event
    ANCH_FANOUT = 0xFFFFFFFE     # an array is met on the way: use the full path from the root

cdef struct anchor_def:
    uint32_t parent
    kpath path                   # full path from the root
    uint32_t next_in_bucket      # top-level anchors: next one in the same ROOT_PICK bucket

cdef anchor_def ANCHORS[NANCH]
# Top-level anchors by (key length, first byte & 31): the first candidate (0 = none).
cdef uint8_t ROOT_PICK[64 * 32]


cdef inline uint32_t _anchor(extractor* x, uint32_t a) noexcept nogil:
    """Node of anchor a for the current event (0 if absent, ANCH_FANOUT if an array is met)."""
    cdef uint32_t v = x.anch[a]
    return v if v != ANCH_UNSET else _anchor_lookup(x, a)


cdef uint32_t _anchor_lookup(extractor* x, uint32_t a) noexcept nogil:
    cdef uint32_t v, parent
    cdef const anchor_def* d = &ANCHORS[a]
    parent = _anchor(x, d.parent)
    if parent == 0 or parent == ANCH_FANOUT:
        v = parent
    elif x.doc.nodes[parent].kind == J_ARR:
        v = ANCH_FANOUT
    else:
        v = _getk(x, parent, _pkey(&d.path, d.path.n - 1))
    x.anch[a] = v
    return v


cdef inline uint32_t _from(extractor* x, const kpath* p, uint32_t* ki) noexcept nogil:
    """Where to start following p: its anchor's node and the keys left, or the root."""
    cdef uint32_t a = _anchor(x, p.anchor)
    if a == ANCH_FANOUT:
        ki[0] = 0
        return x.root
    ki[0] = p.skip
    return a


cdef inline uint32_t _at(extractor* x, const kpath* p) noexcept nogil:
    """The node at path p from the event root (fastjson Get semantics), or 0."""
    cdef uint32_t ki
    cdef uint32_t n = _from(x, p, &ki)
    if n == 0 or ki == p.n:
        return n
    if ki + 1 == p.n and x.doc.nodes[n].kind == J_OBJ:
        return _getk(x, n, _pkey(p, ki))
    return _walk(x, n, p, ki)


cdef void _match_anchor(kpath* p) noexcept:
    """Set p.anchor/p.skip to the longest anchor whose path is a prefix of p (else the root)."""
    cdef uint32_t a, i
    cdef const kpath* q
    p.anchor = A_ROOT
    p.skip = 0
    for a in range(1, NANCH):
        q = &ANCHORS[a].path
        if q.n == 0 or q.n > p.n or q.n <= p.skip:
            continue
        for i in range(q.n):
            if q.key[i] != p.key[i]:
                break
        else:
            p.anchor = a
            p.skip = q.n


cdef int _anchor_def(uint32_t a, uint32_t parent, const char* path) except -1:
    cdef anchor_def* d = &ANCHORS[a]
    cdef uint32_t kl, b
    d.parent = parent
    _path(&d.path, path)
    if d.path.n != ANCHORS[parent].path.n + 1:
        raise SystemError("k8saudit_ovh._extract: anchor %d is not one key below its parent" % a)
    if parent == A_ROOT:
        kl = _pkey(&d.path, 0).n
        if kl >= 64 or kl == 0:
            raise SystemError("k8saudit_ovh._extract: bad top-level anchor key")
        b = kl * 32 + (_pkey(&d.path, 0).s[0] & 31)
        d.next_in_bucket = ROOT_PICK[b]
        ROOT_PICK[b] = a
    return 0


cdef int _build_anchors() except -1:
    memset(ANCHORS, 0, sizeof(ANCHORS))
    memset(ROOT_PICK, 0, sizeof(ROOT_PICK))
    _anchor_def(A_AUDITID, A_ROOT, b"auditID")
    _anchor_def(A_STAGE, A_ROOT, b"stage")
    _anchor_def(A_VERB, A_ROOT, b"verb")
    _anchor_def(A_REQUEST_URI, A_ROOT, b"requestURI")
    _anchor_def(A_USER_AGENT, A_ROOT, b"userAgent")
    _anchor_def(A_SOURCE_IPS, A_ROOT, b"sourceIPs")
    _anchor_def(A_ANNOTATIONS, A_ROOT, b"annotations")
    _anchor_def(A_OBJECT_REF, A_ROOT, b"objectRef")
    _anchor_def(A_USER, A_ROOT, b"user")
    _anchor_def(A_IMP_USER, A_ROOT, b"impersonatedUser")
    _anchor_def(A_REQ_OBJ, A_ROOT, b"requestObject")
    _anchor_def(A_RESP_OBJ, A_ROOT, b"responseObject")
    _anchor_def(A_RESP_STATUS, A_ROOT, b"responseStatus")
    _anchor_def(A_SPEC, A_REQ_OBJ, b"requestObject|spec")
    _anchor_def(A_POD_SECCTX, A_SPEC, b"requestObject|spec|securityContext")
    return 0


cdef void _scan_root(extractor* x) noexcept nogil:
    """Reset the anchors for a new event and find the top-level ones in one scan of the root
    object (first key written exactly wins; escaped keys are left to _getk's slow path). Then
    the gate: without a top-level auditID no field has a value."""
    cdef const jnode* nodes = x.doc.nodes
    cdef const char* buf = x.doc.buf
    cdef uint32_t a, k, kl
    cdef bint esc = False
    for a in range(NANCH):
        x.anch[a] = ANCH_UNSET
    x.anch[A_ROOT] = 1
    if nodes[1].kind != J_OBJ:
        for a in range(1, NANCH):
            x.anch[a] = 0
        return
    k = 2 if nodes[1].count else 0
    while k:
        if nodes[k].esc:
            esc = True
        else:
            kl = nodes[k].end - nodes[k].start - 2
            a = ROOT_PICK[kl * 32 + (buf[nodes[k].start + 1] & 31)] if 0 < kl < 64 else 0
            while a:
                if x.anch[a] == ANCH_UNSET and _key_is(buf, &nodes[k], _pkey(&ANCHORS[a].path, 0)):
                    x.anch[a] = k + 1
                    break
                a = ANCHORS[a].next_in_bucket
        k = nodes[k].next
    for a in range(1, NANCH):
        if ANCHORS[a].parent == A_ROOT and x.anch[a] == ANCH_UNSET:
            x.anch[a] = _getk(x, 1, _pkey(&ANCHORS[a].path, 0)) if esc else 0
    if x.anch[A_AUDITID]:
        x.root = 1
