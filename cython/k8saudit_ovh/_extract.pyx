# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""ka.* field extraction (k8saudit 0.18.0 semantics) over the JSON index, without the GIL.

One parse per event: the first field asked about an event number indexes its payload
(`jdoc_parse`); every field of that event is then served from the index. Values stay where they
were written until another event arrives (pinned buffers, `_sbuf.pxd`): libsinsp reads returned
pointers again after later extractions of the same event. A field spec asked again about the
same event gets the pointers of its first answer.

Dispatch: `TABLE[field_id]` holds, for each of the 100 fields, its handler and the handler's
parameters (JSON paths, a constant); `_build_table()` below is the one place that says what
each field reads, keyed by field name (include/k8saudit_fields.h gives the ids). The semantics,
those of k8saudit 0.18.0's Go code:
- gate: no top-level `auditID` -> no field has a value;
- value-as-string: a string gives its unescaped text (fastjson's best-effort unescaping: every
  string is read with JU_FASTJSON, see _jsonidx.pxd), any other value its compact JSON text as
  found in the payload (numbers keep their raw token, `null` gives "null"); duplicate keys: the
  first one wins;
- paths fan out over every array met before a key is applied; an index argument selects the
  same element of every such array; an array that is the final value is not fanned out;
- no value = res_len 0, never "<NA>"; a wrong JSON type gives SS_PLUGIN_FAILURE (no value).
Two deliberate fixes of upstream bugs: `ka.sourceips` reads the top-level `sourceIPs`, and the
`*.eff_run_as_user/group` fields read `securityContext.runAsUser/runAsGroup` of the container,
then of the pod, then default to 0.

Speed: Falco asks one field per call, so the per-call path is short: a cached-event check, one
indirect call through TABLE, no allocation once buffers have grown. Anchors (below) cache, per
event, the nodes most paths go through; keys are compared 16 bytes at a time.

Known differences from k8saudit's fastjson, all on payloads no Kubernetes API server writes:
JSON that simdjson rejects (invalid UTF-8, numbers like `01` or `NaN`) has no value here;
nesting deeper than fastjson's 300 levels (up to the index's 1024) still has values here;
fastjson re-quotes a string inside an object rendered as JSON once that string was read by
another field of the same event, here objects are always their source text (no dependence on
the order fields are asked in); Go's host validation of bracketed IPv6 literals in
requestURI is approximated.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memcmp, memset, memchr, strchr, strcmp, strlen
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from k8saudit_ovh._abi cimport (ss_plugin_rc, SS_PLUGIN_SUCCESS, SS_PLUGIN_FAILURE, ss_plugin_event,
                                ss_plugin_event_input, ss_plugin_field_extract_input,
                                ss_plugin_extract_field)
from k8saudit_ovh._jsonidx cimport (jdoc, jnode, jdoc_init, jdoc_free, jdoc_parse, jget, jstr, jstr_eq,
                                    jappend_str, jappend_raw, J_NONE, J_OBJ, J_ARR, J_STR, J_TRUE,
                                    J_KEY, JU_FASTJSON, jfirst, jfirst_key, jnext)
from k8saudit_ovh._gourl cimport go_query_value, go_query_unescape
from k8saudit_ovh._sbuf cimport sbuf, sbuf_reserve, sbuf_append, sbuf_free, sbuf_drop_old
from k8saudit_ovh._fields cimport K8S_FIELDS, K8S_NUM_FIELDS
from k8saudit_ovh._event cimport K8S_EVT_PARAM1_LEN_OFFSET, k8s_event_u32, k8s_event_payload


cdef extern from *:
    # "no index": the argument is absent, or Falco >= 0.44's default arg_index for key arguments
    const uint64_t NOIDX "((uint64_t)-1)"

cdef enum:
    MAXK = 8           # keys in one path
    MAXKEYS = 255      # distinct keys of all paths (indices are uint8_t)

cdef enum:
    H_OK = 0
    H_FAIL = -1        # wrong type / unparsable value: SS_PLUGIN_FAILURE, no value
    H_NOMEM = -2
    H_NA = 1           # _collect: the path broke outside any fan-out (k8saudit: not available)

# ---------------------------------------------------------------------------------------------
# The field table

# Keys are interned in one small pool (the table stays within a few cache lines per row).
cdef struct kkey:
    uint64_t pre[2]     # the first 16 bytes of the key (zero padded) ...
    uint64_t mask[2]    # ... and which of them count: keys are compared without memcmp calls
    const char* s       # the key (a static literal, not NUL-terminated at n)
    uint32_t n

cdef kkey KEYS[MAXKEYS]
cdef uint32_t NKEYS = 0

cdef struct kpath:
    uint8_t n
    uint8_t anchor      # the longest anchor (see below) that is a prefix of the path
    uint8_t skip        # number of keys that anchor covers
    uint8_t key[MAXK]   # indices into KEYS

cdef struct frow

ctypedef int (*handler_t)(extractor* x, const frow* r, const ss_plugin_extract_field* f,
                          uint64_t idx) noexcept nogil

cdef struct frow:
    handler_t fn
    kpath p1            # main path (from the event root unless the handler says otherwise)
    kpath p2            # second path (handler specific)
    const char* s       # constant (subject kind, securityContext key)
    uint32_t sl
    int flag

cdef frow TABLE[K8S_NUM_FIELDS]

# Anchors: nodes many paths go through (top-level members, requestObject.spec, ...), found once
# per event: the top-level ones by one scan of the root object when the event is parsed, the
# deeper ones on first use. Table paths are matched against them when the table is built.
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

# ---------------------------------------------------------------------------------------------
# Small helpers over the index

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


cdef int _push_node(extractor* x, uint32_t node) noexcept nogil:
    cdef uint32_t* p
    cdef uint32_t cap
    if x.nnodes == x.nodes_cap:
        cap = x.nodes_cap * 2 if x.nodes_cap else 64
        p = <uint32_t*>realloc(x.nodes, cap * sizeof(uint32_t))
        if p == NULL:
            return H_NOMEM
        x.nodes = p
        x.nodes_cap = cap
    x.nodes[x.nnodes] = node
    x.nnodes += 1
    return H_OK


cdef int _collect(extractor* x, uint32_t node, const kpath* p, uint32_t ki, uint64_t idx) noexcept nogil:
    """k8saudit's getValuesRecursive: append to x.nodes the values at keys p[ki:] from node.
    Before each key, an array is fanned out (idx == NOIDX: every element follows the rest of the
    path; an element where it breaks gives a 0 entry) or replaced by its element idx (nested
    arrays too: the reference's "the same N for every array met"). An empty key keeps the node
    (Go's Get()).
    A final array is kept whole. H_NA when the path breaks outside any fan-out: a missing key, a
    key applied to a non-object (null included), an index out of range."""
    cdef uint32_t c
    cdef int rc
    cdef const kkey* k
    while ki < p.n:
        if node and x.doc.nodes[node].kind == J_ARR:
            if idx == NOIDX:
                c = jfirst(&x.doc, node)
                while c:
                    rc = _collect(x, c, p, ki, idx)
                    if rc == H_NA:
                        rc = _push_node(x, 0)
                    if rc != 0:
                        return rc
                    c = jnext(&x.doc, c)
                return H_OK
            node = _nth(x, node, idx)
            if node == 0:
                return H_NA
            continue
        k = _pkey(p, ki)
        if k.n:
            node = _getk(x, node, k)
            if node == 0:
                return H_NA
        ki += 1
    return _push_node(x, node)


cdef inline int _collect_at(extractor* x, const kpath* p, uint64_t idx) noexcept nogil:
    """x.nodes = the nodes _collect finds from the event root along p (H_NA: none)."""
    cdef uint32_t ki
    cdef uint32_t n = _from(x, p, &ki)
    x.nnodes = 0
    if n == 0:
        return H_NA
    return _collect(x, n, p, ki, idx)


cdef int _elements(extractor* x, uint32_t arr, uint64_t idx) noexcept nogil:
    """Append to x.nodes the elements of array arr (only element idx when idx != NOIDX).
    H_FAIL if arr is not an array."""
    cdef uint32_t c
    if _kind(x, arr) != J_ARR:
        return H_FAIL
    if idx != NOIDX:
        c = _nth(x, arr, idx)
        return _push_node(x, c) if c else H_OK
    c = jfirst(&x.doc, arr)
    while c:
        if _push_node(x, c) != 0:
            return H_NOMEM
        c = jnext(&x.doc, c)
    return H_OK

# ---------------------------------------------------------------------------------------------
# Values: each value is appended to the arena and closed with a NUL

cdef inline int _vopen(extractor* x) noexcept nogil:
    if x.nvals == x.vals_cap and _grow_vals(x) != 0:
        return H_NOMEM
    x.offs[x.nvals] = x.arena.len
    return H_OK


cdef int _grow_vals(extractor* x) noexcept nogil:
    cdef uint32_t cap = x.vals_cap * 2 if x.vals_cap else 64
    cdef size_t* po = <size_t*>realloc(x.offs, cap * sizeof(size_t))
    if po == NULL:
        return H_NOMEM
    x.offs = po
    x.vals_cap = cap
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

# ---------------------------------------------------------------------------------------------
# Handlers. Each appends the values of one field (none = no value) and returns H_OK, H_FAIL
# (wrong type: the caller drops what was appended and reports failure) or H_NOMEM.

cdef int h_text(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """The value at p1 (array elements addressed by decimal keys); flag 1: its repository."""
    cdef uint32_t v = _at(x, &r.p1)
    if v == 0:
        return H_OK
    return _vrepo(x, v) if r.flag else _vtext(x, v)


cdef int h_list(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """The array at p1, one value per element; flag 1: the index argument selects one element.
    Not an array: failure."""
    cdef uint32_t v = _at(x, &r.p1)
    cdef uint32_t i
    cdef int rc
    if v == 0:
        return H_OK
    x.nnodes = 0
    rc = _elements(x, v, idx if r.flag else NOIDX)
    if rc != 0:
        return rc
    for i in range(x.nnodes):
        if _vtext(x, x.nodes[i]) != 0:
            return H_NOMEM
    return H_OK


cdef int h_fanout(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """Values at p1, fanned out over arrays (index applied); missing ones skipped."""
    cdef uint32_t i
    cdef int rc
    rc = _collect_at(x, &r.p1, idx)
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
    cdef int rc
    rc = _collect_at(x, &r.p1, 0 if r.flag & 2 else idx)
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
    cdef int rc
    rc = _collect_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if x.nodes[i] == 0:
            continue
        if _kind(x, x.nodes[i]) != J_ARR:
            return H_FAIL
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


cdef int h_flatten(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """Arrays at p1 (fanned out, index applied), flattened into one value per element;
    elements lacking the array, or whose value is not an array, are skipped."""
    cdef uint32_t i, c
    cdef int rc
    rc = _collect_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if _kind(x, x.nodes[i]) != J_ARR:
            continue
        c = jfirst(&x.doc, x.nodes[i])
        while c:
            if _vtext(x, c) != 0:
                return H_NOMEM
            c = jnext(&x.doc, c)
    return H_OK


cdef int h_host_port(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """For every port of the `ports` arrays at p1 (fanned out over containers, index applied):
    hostPort if present, else containerPort; ports without either are skipped."""
    cdef uint32_t i, c, v
    cdef int rc
    rc = _collect_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if x.nodes[i] == 0:
            continue
        if _kind(x, x.nodes[i]) != J_ARR:
            return H_FAIL
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
    cdef int rc
    rc = _collect_at(x, &r.p1, NOIDX)
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


cdef int h_keys_except(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """For each object at p1 (whose last key is empty, so the array at its end is fanned out
    too; index: one element), its keys other than s, in source order
    (ka.req.pod.volumes.volume_type). Anything but an object is skipped."""
    cdef uint32_t i, k
    cdef int rc
    rc = _collect_at(x, &r.p1, idx)
    if rc != 0:
        return H_OK if rc == H_NA else rc
    for i in range(x.nnodes):
        if _kind(x, x.nodes[i]) != J_OBJ:
            continue
        k = jfirst(&x.doc, x.nodes[i])
        while k:
            if not jstr_eq(&x.doc, k, r.s, r.sl, JU_FASTJSON) and _vtext(x, k) != 0:
                return H_NOMEM
            k = jnext(&x.doc, k)
    return H_OK


cdef int h_subject_names(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """Names of the subjects (array at p1) whose string `kind` is s; subjects without a string
    `name` are skipped. flag 1: "<namespace>:<name>", skipping subjects without a namespace."""
    cdef uint32_t i, e, name, ns, v = _at(x, &r.p1)
    cdef int rc
    if v == 0:
        return H_OK
    x.nnodes = 0
    rc = _elements(x, v, NOIDX)
    if rc != 0:
        return rc
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
    cdef uint32_t i, v, pod, lst = _at(x, &r.p1)
    cdef int rc
    if lst == 0:
        return H_OK
    x.nnodes = 0
    rc = _elements(x, lst, idx)
    if rc != 0:
        return rc
    pod = _at(x, &r.p2)
    for i in range(x.nnodes):
        v = jget(&x.doc, jget(&x.doc, x.nodes[i], b"securityContext", 15, JU_FASTJSON), r.s, r.sl, JU_FASTJSON)
        if v == 0:
            v = pod
        rc = _vtext(x, v) if v else _vbytes(x, b"0", 1)
        if rc != 0:
            return rc
    return H_OK

# ---------------------------------------------------------------------------------------------
# ka.uri.param: Go's url.Parse(requestURI) then url.ParseQuery(RawQuery) (_gourl.pxd).

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

# ---------------------------------------------------------------------------------------------
# The table: one row per field (index = field_id), handler and parameters.

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


cdef int _field_id(const char* name) except -1:
    """The id of field `name` in include/k8saudit_fields.h (the one list of fields)."""
    cdef int i
    for i in range(K8S_NUM_FIELDS):
        if strcmp(K8S_FIELDS[i].name, name) == 0:
            return i
    raise ImportError("k8saudit_ovh._extract: a table row names %r, which is not a field" % name)


cdef int _row(const char* name, handler_t fn, const char* p1, const char* p2=NULL, const char* s=NULL,
              int flag=0) except -1:
    """The semantics of field `name`: its handler and the handler's parameters."""
    cdef frow* r = &TABLE[_field_id(name)]
    if r.fn != NULL:
        raise ImportError("k8saudit_ovh._extract: two table rows for %r" % name)
    r.fn = fn
    _path(&r.p1, p1)
    _path(&r.p2, p2)
    r.s = s
    r.sl = <uint32_t>(strlen(s) if s != NULL else 0)
    r.flag = flag
    return 0


# Paths and names built at import (the container rows below): interned keys point into them,
# so they stay referenced for the life of the module.
cdef list _ROW_TEXT = []


cdef const char* _keep(str text) except NULL:
    cdef bytes b = text.encode()
    _ROW_TEXT.append(b)
    return b


cdef int _container_rows(str kind) except -1:
    """The fields each container list of a pod spec has (containers, initContainers,
    ephemeralContainers): the same semantics under requestObject.spec.<kind>."""
    field = "ka.req.pod." + kind + "."
    lst = "requestObject|spec|" + kind
    _row(_keep(field + "name"), h_strings, _keep(lst + "|name"))
    _row(_keep(field + "image"), h_strings, _keep(lst + "|image"))
    _row(_keep(field + "image.repository"), h_strings, _keep(lst + "|image"), NULL, NULL, 1)
    _row(_keep(field + "command"), h_join, _keep(lst + "|command"))
    _row(_keep(field + "args"), h_join, _keep(lst + "|args"))
    for name, key in (("privileged", "privileged"), ("allow_privilege_escalation", "allowPrivilegeEscalation"),
                      ("read_only_fs", "readOnlyRootFilesystem"), ("run_as_user", "runAsUser"),
                      ("run_as_group", "runAsGroup"), ("proc_mount", "procMount"),
                      ("add_capabilities", "capabilities|add")):
        _row(_keep(field + name), h_fanout, _keep(lst + "|securityContext|" + key))
    # fixed on purpose: the container's securityContext, else the pod's, else 0
    _row(_keep(field + "eff_run_as_user"), h_eff_run_as, _keep(lst),
         b"requestObject|spec|securityContext|runAsUser", b"runAsUser")
    _row(_keep(field + "eff_run_as_group"), h_eff_run_as, _keep(lst),
         b"requestObject|spec|securityContext|runAsGroup", b"runAsGroup")
    return 0


cdef int _build_table() except -1:
    memset(TABLE, 0, sizeof(TABLE))
    _row(b"ka.auditid", h_text, b"auditID")
    _row(b"ka.stage", h_text, b"stage")
    _row(b"ka.auth.decision", h_text, b"annotations|authorization.k8s.io/decision")
    _row(b"ka.auth.reason", h_text, b"annotations|authorization.k8s.io/reason")
    _row(b"ka.auth.openshift.decision", h_text, b"annotations|authentication.openshift.io/decision")
    _row(b"ka.validations.admission.policy.failure", h_text,
         b"annotations|validation.policy.admission.k8s.io/validation_failure")
    _row(b"ka.security.pod.violations", h_text, b"annotations|pod-security.kubernetes.io/audit-violations")
    _row(b"ka.auth.openshift.username", h_text, b"annotations|authentication.openshift.io/username")
    _row(b"ka.user.name", h_text, b"user|username")
    _row(b"ka.user.groups", h_list, b"user|groups")
    _row(b"ka.impuser.name", h_text, b"impersonatedUser|username")
    _row(b"ka.verb", h_text, b"verb")
    _row(b"ka.uri", h_text, b"requestURI")
    _row(b"ka.uri.param", h_uri_param, b"requestURI")
    _row(b"ka.target.name", h_text, b"objectRef|name")
    _row(b"ka.target.namespace", h_text, b"objectRef|namespace")
    _row(b"ka.target.resource", h_text, b"objectRef|resource")
    _row(b"ka.target.subresource", h_text, b"objectRef|subresource")
    _row(b"ka.target.pod.name", h_pod_name, b"objectRef", b"responseObject|metadata|name")
    _row(b"ka.req.binding.subjects", h_list, b"requestObject|subjects")
    _row(b"ka.req.binding.subjects.user_names", h_subject_names, b"requestObject|subjects", NULL, b"User")
    _row(b"ka.req.binding.subjects.serviceaccount_names", h_subject_names, b"requestObject|subjects", NULL,
         b"ServiceAccount")
    _row(b"ka.req.binding.subjects.serviceaccount_ns_names", h_subject_names, b"requestObject|subjects", NULL,
         b"ServiceAccount", 1)
    _row(b"ka.req.binding.subjects.group_names", h_subject_names, b"requestObject|subjects", NULL, b"Group")
    _row(b"ka.req.binding.role", h_text, b"requestObject|roleRef|name")
    _row(b"ka.req.binding.subject.has_name", h_true, NULL)
    _row(b"ka.req.configmap.name", h_text, b"objectRef|name")
    _row(b"ka.req.configmap.obj", h_text, b"requestObject|data")
    _row(b"ka.req.container.image", h_strings, b"requestObject|spec|containers|image", NULL, NULL, 2)
    _row(b"ka.req.container.image.repository", h_strings, b"requestObject|spec|containers|image", NULL,
         NULL, 3)
    _row(b"ka.req.pod.host_ipc", h_text, b"requestObject|spec|hostIPC")
    _row(b"ka.req.pod.host_network", h_text, b"requestObject|spec|hostNetwork")
    _row(b"ka.req.container.host_network", h_text, b"requestObject|spec|hostNetwork")
    _row(b"ka.req.pod.host_pid", h_text, b"requestObject|spec|hostPID")
    _row(b"ka.req.pod.containers.host_port", h_host_port, b"requestObject|spec|containers|ports")
    _row(b"ka.req.container.privileged", h_any_true,
         b"requestObject|spec|containers|securityContext|privileged")
    _row(b"ka.req.pod.run_as_user", h_text, b"requestObject|spec|securityContext|runAsUser")
    _row(b"ka.req.pod.run_as_group", h_text, b"requestObject|spec|securityContext|runAsGroup")
    _row(b"ka.req.role.rules", h_list, b"requestObject|rules")
    _row(b"ka.req.role.rules.apiGroups", h_flatten, b"requestObject|rules|apiGroups")
    _row(b"ka.req.role.rules.nonResourceURLs", h_flatten, b"requestObject|rules|nonResourceURLs")
    _row(b"ka.req.role.rules.verbs", h_flatten, b"requestObject|rules|verbs")
    _row(b"ka.req.role.rules.resources", h_flatten, b"requestObject|rules|resources")
    _row(b"ka.req.pod.fs_group", h_text, b"requestObject|spec|securityContext|fsGroup")
    _row(b"ka.req.pod.supplemental_groups", h_list, b"requestObject|spec|securityContext|supplementalGroups")
    _row(b"ka.req.service.type", h_text, b"requestObject|spec|type")
    _row(b"ka.req.service.ports", h_fanout, b"requestObject|spec|ports")
    _row(b"ka.req.pod.volumes.hostpath", h_fanout, b"requestObject|spec|volumes|hostPath|path")
    _row(b"ka.req.volume.hostpath", h_path_match, b"requestObject|spec|volumes|hostPath|path")
    _row(b"ka.req.pod.volumes.flexvolume_driver", h_fanout, b"requestObject|spec|volumes|flexVolume|driver")
    _row(b"ka.req.pod.volumes.volume_type", h_keys_except, b"requestObject|spec|volumes|", NULL, b"name")
    _row(b"ka.resp.name", h_text, b"responseObject|metadata|name")
    _row(b"ka.response.code", h_text, b"responseStatus|code")
    _row(b"ka.response.reason", h_text, b"responseStatus|reason")
    _row(b"ka.useragent", h_text, b"userAgent")
    _row(b"ka.sourceips", h_list, b"sourceIPs", NULL, NULL, 1)
    _row(b"ka.cluster.name", h_text, b"annotations|cluster_name")
    _row(b"ka.req.pod.initContainers.host_port", h_host_port, b"requestObject|spec|initContainers|ports")
    for kind in ("containers", "initContainers", "ephemeralContainers"):
        _container_rows(kind)
    return 0


if NANCH > sizeof((<extractor*>NULL).anch) // sizeof(uint32_t):
    raise ImportError("k8saudit_ovh._extract: extractor.anch is too small")
_build_anchors()
_build_table()
if K8S_NUM_FIELDS > MAX_FIELD_IDS:
    raise ImportError("k8saudit_ovh._extract: %d fields, at most %d" % (K8S_NUM_FIELDS, MAX_FIELD_IDS))
for _i in range(K8S_NUM_FIELDS):
    if TABLE[_i].fn == NULL:
        raise ImportError("k8saudit_ovh._extract: no handler for field %s"
                          % K8S_FIELDS[_i].name.decode())

# ---------------------------------------------------------------------------------------------
# The extractor

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
    cdef answer* grown
    cdef uint32_t cap
    if x.nanswers == x.answers_cap:
        cap = x.answers_cap * 2 if x.answers_cap else 64
        grown = <answer*>realloc(x.answers, cap * sizeof(answer))
        if grown == NULL:
            return -1
        x.answers = grown
        x.answers_cap = cap
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
