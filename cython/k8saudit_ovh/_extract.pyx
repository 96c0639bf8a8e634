# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""ka.* field extraction (k8saudit 0.18.0 semantics) over the JSON index, without the GIL.

One parse per event: the first field asked about an event number indexes its payload
(`jdoc_parse`); every field of that event is then served from the index. Values stay where they
were written until another event arrives (pinned buffers, `_sbuf.pxd`): libsinsp reads returned
pointers again after later extractions of the same event. A field spec asked again about the
same event gets the pointers of its first answer.

Dispatch: `TABLE[field_id]` holds, for each of the 100 fields, its handler and the handler's
parameters (JSON paths, a constant); `_build_table()` below is the one place that says what
each field reads. Semantics follow ../shared/spec/k8saudit-reference.md §1.3-1.4 (the spec):
- gate: no top-level `auditID` -> no field has a value;
- value-as-string: a string gives its unescaped text (fastjson's best-effort unescaping), any
  other value its compact JSON text as found in the payload (numbers keep their raw token,
  `null` gives "null"); duplicate keys: the first one wins;
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
from k8saudit_ovh._jsonidx cimport (jdoc, jnode, jdoc_init, jdoc_free, jdoc_parse, jappend_raw,
                                    J_NONE, J_OBJ, J_ARR, J_STR, J_TRUE, J_KEY, jfirst, jnext)
from k8saudit_ovh._sbuf cimport sbuf, sbuf_reserve, sbuf_append, sbuf_free, sbuf_drop_old
from k8saudit_ovh._fields cimport K8S_FIELDS, K8S_NUM_FIELDS


cdef extern from "k8saudit_fields.h" nogil:
    enum k8s_field_id:
        KA_AUDITID
        KA_STAGE
        KA_AUTH_DECISION
        KA_AUTH_REASON
        KA_AUTH_OPENSHIFT_DECISION
        KA_VALIDATIONS_ADMISSION_POLICY_FAILURE
        KA_SECURITY_POD_VIOLATIONS
        KA_AUTH_OPENSHIFT_USERNAME
        KA_USER_NAME
        KA_USER_GROUPS
        KA_IMPUSER_NAME
        KA_VERB
        KA_URI
        KA_URI_PARAM
        KA_TARGET_NAME
        KA_TARGET_NAMESPACE
        KA_TARGET_RESOURCE
        KA_TARGET_SUBRESOURCE
        KA_TARGET_POD_NAME
        KA_REQ_BINDING_SUBJECTS
        KA_REQ_BINDING_SUBJECTS_USER_NAMES
        KA_REQ_BINDING_SUBJECTS_SERVICEACCOUNT_NAMES
        KA_REQ_BINDING_SUBJECTS_SERVICEACCOUNT_NS_NAMES
        KA_REQ_BINDING_SUBJECTS_GROUP_NAMES
        KA_REQ_BINDING_ROLE
        KA_REQ_BINDING_SUBJECT_HAS_NAME
        KA_REQ_CONFIGMAP_NAME
        KA_REQ_CONFIGMAP_OBJ
        KA_REQ_POD_CONTAINERS_ARGS
        KA_REQ_POD_CONTAINERS_COMMAND
        KA_REQ_POD_CONTAINERS_NAME
        KA_REQ_POD_CONTAINERS_IMAGE
        KA_REQ_CONTAINER_IMAGE
        KA_REQ_POD_CONTAINERS_IMAGE_REPOSITORY
        KA_REQ_CONTAINER_IMAGE_REPOSITORY
        KA_REQ_POD_HOST_IPC
        KA_REQ_POD_HOST_NETWORK
        KA_REQ_CONTAINER_HOST_NETWORK
        KA_REQ_POD_HOST_PID
        KA_REQ_POD_CONTAINERS_HOST_PORT
        KA_REQ_POD_CONTAINERS_PRIVILEGED
        KA_REQ_CONTAINER_PRIVILEGED
        KA_REQ_POD_CONTAINERS_ALLOW_PRIVILEGE_ESCALATION
        KA_REQ_POD_CONTAINERS_READ_ONLY_FS
        KA_REQ_POD_RUN_AS_USER
        KA_REQ_POD_CONTAINERS_RUN_AS_USER
        KA_REQ_POD_CONTAINERS_EFF_RUN_AS_USER
        KA_REQ_POD_RUN_AS_GROUP
        KA_REQ_POD_CONTAINERS_RUN_AS_GROUP
        KA_REQ_POD_CONTAINERS_EFF_RUN_AS_GROUP
        KA_REQ_POD_CONTAINERS_PROC_MOUNT
        KA_REQ_ROLE_RULES
        KA_REQ_ROLE_RULES_APIGROUPS
        KA_REQ_ROLE_RULES_NONRESOURCEURLS
        KA_REQ_ROLE_RULES_VERBS
        KA_REQ_ROLE_RULES_RESOURCES
        KA_REQ_POD_FS_GROUP
        KA_REQ_POD_SUPPLEMENTAL_GROUPS
        KA_REQ_POD_CONTAINERS_ADD_CAPABILITIES
        KA_REQ_SERVICE_TYPE
        KA_REQ_SERVICE_PORTS
        KA_REQ_POD_VOLUMES_HOSTPATH
        KA_REQ_VOLUME_HOSTPATH
        KA_REQ_POD_VOLUMES_FLEXVOLUME_DRIVER
        KA_REQ_POD_VOLUMES_VOLUME_TYPE
        KA_RESP_NAME
        KA_RESPONSE_CODE
        KA_RESPONSE_REASON
        KA_USERAGENT
        KA_SOURCEIPS
        KA_CLUSTER_NAME
        KA_REQ_POD_INITCONTAINERS_NAME
        KA_REQ_POD_INITCONTAINERS_IMAGE
        KA_REQ_POD_INITCONTAINERS_IMAGE_REPOSITORY
        KA_REQ_POD_INITCONTAINERS_COMMAND
        KA_REQ_POD_INITCONTAINERS_ARGS
        KA_REQ_POD_INITCONTAINERS_PRIVILEGED
        KA_REQ_POD_INITCONTAINERS_ALLOW_PRIVILEGE_ESCALATION
        KA_REQ_POD_INITCONTAINERS_READ_ONLY_FS
        KA_REQ_POD_INITCONTAINERS_RUN_AS_USER
        KA_REQ_POD_INITCONTAINERS_EFF_RUN_AS_USER
        KA_REQ_POD_INITCONTAINERS_RUN_AS_GROUP
        KA_REQ_POD_INITCONTAINERS_EFF_RUN_AS_GROUP
        KA_REQ_POD_INITCONTAINERS_PROC_MOUNT
        KA_REQ_POD_INITCONTAINERS_ADD_CAPABILITIES
        KA_REQ_POD_INITCONTAINERS_HOST_PORT
        KA_REQ_POD_EPHEMERALCONTAINERS_NAME
        KA_REQ_POD_EPHEMERALCONTAINERS_IMAGE
        KA_REQ_POD_EPHEMERALCONTAINERS_IMAGE_REPOSITORY
        KA_REQ_POD_EPHEMERALCONTAINERS_COMMAND
        KA_REQ_POD_EPHEMERALCONTAINERS_ARGS
        KA_REQ_POD_EPHEMERALCONTAINERS_PRIVILEGED
        KA_REQ_POD_EPHEMERALCONTAINERS_ALLOW_PRIVILEGE_ESCALATION
        KA_REQ_POD_EPHEMERALCONTAINERS_READ_ONLY_FS
        KA_REQ_POD_EPHEMERALCONTAINERS_RUN_AS_USER
        KA_REQ_POD_EPHEMERALCONTAINERS_EFF_RUN_AS_USER
        KA_REQ_POD_EPHEMERALCONTAINERS_RUN_AS_GROUP
        KA_REQ_POD_EPHEMERALCONTAINERS_EFF_RUN_AS_GROUP
        KA_REQ_POD_EPHEMERALCONTAINERS_PROC_MOUNT
        KA_REQ_POD_EPHEMERALCONTAINERS_ADD_CAPABILITIES

cdef extern from *:
    # "no index": the argument is absent, or Falco >= 0.44's default arg_index for key arguments
    const uint64_t NOIDX "((uint64_t)-1)"

DEF MAXK = 8                       # keys in one path
DEF NFIELDS = 100
DEF PAYLOAD_OFFSET = 38
DEF PARAM1_LEN_OFFSET = 30

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

DEF MAXKEYS = 255
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

cdef frow TABLE[NFIELDS]

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


cdef inline int _hexval(char c) noexcept nogil:
    if b'0' <= c <= b'9':
        return c - 48
    if b'a' <= c <= b'f':
        return c - 87
    if b'A' <= c <= b'F':
        return c - 55
    return -1


cdef inline int _hex4(const char* s) noexcept nogil:
    cdef int i, h, v = 0
    for i in range(4):
        h = _hexval(s[i])
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


cdef int _unescape_append(const char* s, size_t n, sbuf* out) noexcept nogil:
    """Append the unescaped text of raw JSON string content s[0:n], best effort like fastjson:
    unknown or malformed escapes are kept as written, a lone surrogate keeps its \\uXXXX text,
    a surrogate pair that does not combine gives U+FFFD. The output is never longer than n."""
    cdef size_t i = 0, k
    cdef char c
    cdef char* o
    cdef int u, u2
    cdef uint32_t r
    if sbuf_reserve(out, n) != 0:
        return H_NOMEM
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
        if c == b'"' or c == b'\\' or c == b'/':
            o[k] = c
            k += 1
        elif c == b'b':
            o[k] = b'\b'
            k += 1
        elif c == b'f':
            o[k] = b'\f'
            k += 1
        elif c == b'n':
            o[k] = b'\n'
            k += 1
        elif c == b'r':
            o[k] = b'\r'
            k += 1
        elif c == b't':
            o[k] = b'\t'
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
    return H_OK


cdef const char* _strtext(extractor* x, uint32_t node, size_t* n) noexcept nogil:
    """Unescaped text of a string/key node. Escaped strings are decoded into x.scratch, so the
    pointer is valid until the next use of the scratch buffer."""
    cdef const jnode* nd = _nd(x, node)
    if not nd.esc:
        n[0] = nd.end - nd.start - 2
        return x.doc.buf + nd.start + 1
    x.scratch.len = 0
    if _unescape_append(x.doc.buf + nd.start + 1, nd.end - nd.start - 2, &x.scratch) != 0:
        return NULL
    n[0] = x.scratch.len
    return x.scratch.p


cdef inline bint _str_eq(extractor* x, uint32_t node, const char* s, size_t n) noexcept nogil:
    """Is node a string (or key) whose text is s[0:n]?"""
    cdef const jnode* nd
    cdef const char* t
    cdef size_t m = 0
    if node == 0:
        return False
    nd = _nd(x, node)
    if nd.kind != J_STR and nd.kind != J_KEY:
        return False
    if not nd.esc:
        return nd.end - nd.start - 2 == n and memcmp(x.doc.buf + nd.start + 1, s, n) == 0
    t = _strtext(x, node, &m)
    return t != NULL and m == n and memcmp(t, s, n) == 0


cdef uint32_t _get(extractor* x, uint32_t obj, const char* key, size_t klen) noexcept nogil:
    """Value node of member `key` of object `obj` (0 if absent or obj is not an object).
    Like fastjson: the first key written exactly as `key` wins; only if there is none, keys
    written with escapes are compared by their unescaped text."""
    cdef const jnode* nodes = x.doc.nodes
    cdef const char* buf = x.doc.buf
    cdef uint32_t k
    cdef bint esc = False
    if obj == 0 or nodes[obj].kind != J_OBJ or nodes[obj].count == 0:
        return 0
    k = obj + 1
    while k:
        if nodes[k].esc:
            esc = True
        elif nodes[k].end - nodes[k].start - 2 == klen and memcmp(buf + nodes[k].start + 1, key, klen) == 0:
            return k + 1
        k = nodes[k].next
    if esc:
        k = obj + 1
        while k:
            if nodes[k].esc and _str_eq(x, k, key, klen):
                return k + 1
            k = nodes[k].next
    return 0


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
    """_get(x, obj, key.s, key.n), faster."""
    cdef const jnode* nodes = x.doc.nodes
    cdef const char* buf = x.doc.buf
    cdef uint32_t k
    cdef bint esc = False
    if obj == 0 or nodes[obj].kind != J_OBJ or nodes[obj].count == 0:
        return 0
    k = obj + 1
    while k:
        if nodes[k].esc:
            esc = True
        elif _key_is(buf, &nodes[k], key):
            return k + 1
        k = nodes[k].next
    if esc:
        k = obj + 1
        while k:
            if nodes[k].esc and _str_eq(x, k, key.s, key.n):
                return k + 1
            k = nodes[k].next
    return 0


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
        if not nd.esc:
            return sbuf_append(&x.arena, x.doc.buf + nd.start + 1, nd.end - nd.start - 2)
        return _unescape_append(x.doc.buf + nd.start + 1, nd.end - nd.start - 2, &x.arena)
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
            v = _get(x, c, b"hostPort", 8)
            if v == 0:
                v = _get(x, c, b"containerPort", 13)
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
        t = _strtext(x, x.nodes[i], &n)
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
            if not _str_eq(x, k, r.s, r.sl) and _vtext(x, k) != 0:
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
        if not _str_eq(x, _get(x, e, b"kind", 4), r.s, r.sl):
            continue
        name = _get(x, e, b"name", 4)
        if _kind(x, name) != J_STR:
            continue
        if r.flag:
            ns = _get(x, e, b"namespace", 9)
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
    if not _str_eq(x, _get(x, ref, b"resource", 8), b"pods", 4):
        return H_OK
    sub = _get(x, ref, b"subresource", 11)
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
        v = _get(x, _get(x, x.nodes[i], b"securityContext", 15), r.s, r.sl)
        if v == 0:
            v = pod
        rc = _vtext(x, v) if v else _vbytes(x, b"0", 1)
        if rc != 0:
            return rc
    return H_OK

# ---------------------------------------------------------------------------------------------
# ka.uri.param: Go's url.Parse(requestURI) then url.ParseQuery(RawQuery), first value of the key.

cdef inline bint _alpha(char c) noexcept nogil:
    return b'a' <= c <= b'z' or b'A' <= c <= b'Z'

cdef inline bint _digit(char c) noexcept nogil:
    return b'0' <= c <= b'9'


cdef bint _pct_ok(const char* s, size_t n) noexcept nogil:
    """Every '%' is followed by two hex digits (Go's unescape of a path, query, fragment...)."""
    cdef size_t i = 0
    while i < n:
        if s[i] == b'%':
            if i + 2 >= n or _hexval(s[i + 1]) < 0 or _hexval(s[i + 2]) < 0:
                return False
            i += 3
        else:
            i += 1
    return True


cdef inline bint _host_plain(unsigned char c) noexcept nogil:
    """An ASCII byte Go accepts unescaped in a host (shouldEscape(c, encodeHost) is false)."""
    return (_alpha(c) or _digit(c)) or (c != 0 and strchr(b"!$&'()*+,;=:[]<>\"-_.~", c) != NULL)


cdef bint _host_unescape_ok(const char* s, size_t n, bint zone) noexcept nogil:
    """Go's unescape(s, encodeHost / encodeZone) succeeds."""
    cdef size_t i = 0
    cdef int v
    while i < n:
        if s[i] == b'%':
            if i + 2 >= n or _hexval(s[i + 1]) < 0 or _hexval(s[i + 2]) < 0:
                return False
            v = _hexval(s[i + 1]) * 16 + _hexval(s[i + 2])
            if not (s[i + 1] == b'2' and s[i + 2] == b'5'):
                if not zone and v < 0x80:
                    return False
                if zone and v != 0x20 and not (v < 0x80 and _host_plain(<unsigned char>v)):
                    return False
            i += 3
        else:
            if <unsigned char>s[i] < 0x80 and not _host_plain(<unsigned char>s[i]):
                return False
            i += 1
    return True


cdef bint _port_ok(const char* s, size_t n) noexcept nogil:
    cdef size_t i
    if n == 0:
        return True
    if s[0] != b':':
        return False
    for i in range(1, n):
        if not _digit(s[i]):
            return False
    return True


cdef const char* _memrchr(const char* s, char c, size_t n) noexcept nogil:
    while n:
        n -= 1
        if s[n] == c:
            return s + n
    return NULL


cdef bint _host_ok(const char* h, size_t n) noexcept nogil:
    cdef const char* e
    cdef size_t i, z
    if n and h[0] == b'[':
        e = _memrchr(h, b']', n)
        if e == NULL:
            return False
        i = e - h
        if not _port_ok(e + 1, n - i - 1):
            return False
        # An IPv6 literal (recent Go rejects anything else between the brackets), maybe with a zone.
        z = 1
        while z < i and not (h[z] == b'%' and z + 2 < i and h[z + 1] == b'2' and h[z + 2] == b'5'):
            if not (_hexval(h[z]) >= 0 or h[z] == b':' or h[z] == b'.'):
                return False
            z += 1
        if z == 1:
            return False
        if z < i:
            return (_host_unescape_ok(h, z, False) and _host_unescape_ok(h + z, i - z, True)
                    and _host_unescape_ok(h + i, n - i, False))
    else:
        e = _memrchr(h, b':', n)
        if e != NULL and not _port_ok(e, n - (e - h)):
            return False
    return _host_unescape_ok(h, n, False)


cdef bint _authority_ok(const char* a, size_t n) noexcept nogil:
    cdef const char* at = _memrchr(a, b'@', n)
    cdef size_t i, un
    cdef unsigned char c
    if at == NULL:
        return _host_ok(a, n)
    un = at - a
    if not _host_ok(at + 1, n - un - 1):
        return False
    for i in range(un):
        c = <unsigned char>a[i]
        if not (_alpha(c) or _digit(c) or (c != 0 and strchr(b"-._:~!$&'()*+,;=%@", c) != NULL)):
            return False
    return _pct_ok(a, un)


cdef int _go_raw_query(const char* s, size_t n, const char** q, size_t* qn) noexcept nogil:
    """RawQuery of Go's url.Parse(s[0:n]) in q/qn (empty when none); -1 when url.Parse fails."""
    cdef const char* h = <const char*>memchr(s, b'#', n)
    cdef size_t un = (h - s) if h != NULL else n
    cdef const char* rest = s
    cdef const char* p
    cdef size_t rn = un, i
    cdef bint scheme = False
    cdef char c
    q[0] = s
    qn[0] = 0
    if h != NULL and not _pct_ok(h + 1, n - un - 1):
        return -1
    for i in range(un):
        if <unsigned char>s[i] < 0x20 or s[i] == 0x7f:
            return -1
    if un == 1 and s[0] == b'*':
        return 0
    for i in range(un):
        c = s[i]
        if _alpha(c):
            continue
        if _digit(c) or c == b'+' or c == b'-' or c == b'.':
            if i == 0:
                break
            continue
        if c == b':':
            if i == 0:
                return -1
            scheme = True
            rest = s + i + 1
            rn = un - i - 1
        break
    p = <const char*>memchr(rest, b'?', rn)
    if p != NULL:
        if p == rest + rn - 1:          # a lone trailing '?': ForceQuery, empty RawQuery
            rn -= 1
        else:
            q[0] = p + 1
            qn[0] = rest + rn - (p + 1)
            rn = p - rest
    if rn == 0 or rest[0] != b'/':
        if scheme:
            return 0                    # opaque URL
        p = <const char*>memchr(rest, b'/', rn)
        if memchr(rest, b':', (p - rest) if p != NULL else rn) != NULL:
            return -1                   # first path segment in URL cannot contain colon
    if rn >= 2 and rest[0] == b'/' and rest[1] == b'/' and (scheme or rn < 3 or rest[2] != b'/'):
        p = <const char*>memchr(rest + 2, b'/', rn - 2)
        i = (p - (rest + 2)) if p != NULL else rn - 2
        if not _authority_ok(rest + 2, i):
            return -1
        rest += 2 + i
        rn -= 2 + i
    return 0 if _pct_ok(rest, rn) else -1


cdef bint _qkey_eq(const char* s, size_t n, const char* key, size_t kl) noexcept nogil:
    """Is the query-unescaped text of s[0:n] (escapes already checked) equal to key?"""
    cdef size_t i = 0, j = 0
    cdef char c
    while i < n:
        c = s[i]
        if c == b'+':
            c = b' '
            i += 1
        elif c == b'%':
            c = <char>(_hexval(s[i + 1]) * 16 + _hexval(s[i + 2]))
            i += 3
        else:
            i += 1
        if j >= kl or key[j] != c:
            return False
        j += 1
    return j == kl


cdef int _qappend(sbuf* out, const char* s, size_t n) noexcept nogil:
    """Append the query-unescaped text of s[0:n] (escapes already checked)."""
    cdef size_t i = 0, k = 0
    cdef char c
    if sbuf_reserve(out, n) != 0:
        return H_NOMEM
    while i < n:
        c = s[i]
        if c == b'+':
            c = b' '
            i += 1
        elif c == b'%':
            c = <char>(_hexval(s[i + 1]) * 16 + _hexval(s[i + 2]))
            i += 3
        else:
            i += 1
        out.p[out.len + k] = c
        k += 1
    out.len += k
    return H_OK


cdef int h_uri_param(extractor* x, const frow* r, const ss_plugin_extract_field* f, uint64_t idx) noexcept nogil:
    """First value of query parameter arg_key in the string at p1 (requestURI). A URL or query
    that Go rejects (bad %-escape, ';' separator, ...) is a failure; a missing key no value."""
    cdef uint32_t v = _at(x, &r.p1)
    cdef const char* key = f.arg_key
    cdef const char* s
    cdef const char* q
    cdef const char* piece
    cdef const char* amp
    cdef const char* eq
    cdef const char* found = NULL
    cdef size_t n = 0, qn = 0, i, end, pn, kn, found_n = 0
    if _kind(x, v) != J_STR or key == NULL:
        return H_OK
    s = _strtext(x, v, &n)
    if s == NULL:
        return H_NOMEM
    if memchr(s, b'?', n) == NULL:
        return H_OK                     # no query: no value (whether or not Go can parse the URL)
    if _go_raw_query(s, n, &q, &qn) != 0:
        return H_FAIL
    kn = strlen(key)
    i = 0
    while i < qn:
        amp = <const char*>memchr(q + i, b'&', qn - i)
        end = (amp - q) if amp != NULL else qn
        piece = q + i
        pn = end - i
        i = end + 1
        if pn == 0:
            continue
        if memchr(piece, b';', pn) != NULL:
            return H_FAIL               # invalid semicolon separator in query
        eq = <const char*>memchr(piece, b'=', pn)
        if eq == NULL:
            if not _pct_ok(piece, pn):
                return H_FAIL
            if found == NULL and _qkey_eq(piece, pn, key, kn):
                found = piece + pn
                found_n = 0
        else:
            if not _pct_ok(piece, eq - piece) or not _pct_ok(eq + 1, pn - (eq - piece) - 1):
                return H_FAIL
            if found == NULL and _qkey_eq(piece, eq - piece, key, kn):
                found = eq + 1
                found_n = pn - (eq - piece) - 1
    if found == NULL:
        return H_OK
    if _vopen(x) != 0 or _qappend(&x.arena, found, found_n) != 0:
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


cdef int _row(int fid, handler_t fn, const char* p1, const char* p2=NULL, const char* s=NULL,
              int flag=0) except -1:
    cdef frow* r = &TABLE[fid]
    r.fn = fn
    _path(&r.p1, p1)
    _path(&r.p2, p2)
    r.s = s
    r.sl = <uint32_t>(strlen(s) if s != NULL else 0)
    r.flag = flag
    return 0


cdef int _build_table() except -1:
    memset(TABLE, 0, sizeof(TABLE))
    _row(KA_AUDITID, h_text, b"auditID")
    _row(KA_STAGE, h_text, b"stage")
    _row(KA_AUTH_DECISION, h_text, b"annotations|authorization.k8s.io/decision")
    _row(KA_AUTH_REASON, h_text, b"annotations|authorization.k8s.io/reason")
    _row(KA_AUTH_OPENSHIFT_DECISION, h_text, b"annotations|authentication.openshift.io/decision")
    _row(KA_VALIDATIONS_ADMISSION_POLICY_FAILURE, h_text,
         b"annotations|validation.policy.admission.k8s.io/validation_failure")
    _row(KA_SECURITY_POD_VIOLATIONS, h_text, b"annotations|pod-security.kubernetes.io/audit-violations")
    _row(KA_AUTH_OPENSHIFT_USERNAME, h_text, b"annotations|authentication.openshift.io/username")
    _row(KA_USER_NAME, h_text, b"user|username")
    _row(KA_USER_GROUPS, h_list, b"user|groups")
    _row(KA_IMPUSER_NAME, h_text, b"impersonatedUser|username")
    _row(KA_VERB, h_text, b"verb")
    _row(KA_URI, h_text, b"requestURI")
    _row(KA_URI_PARAM, h_uri_param, b"requestURI")
    _row(KA_TARGET_NAME, h_text, b"objectRef|name")
    _row(KA_TARGET_NAMESPACE, h_text, b"objectRef|namespace")
    _row(KA_TARGET_RESOURCE, h_text, b"objectRef|resource")
    _row(KA_TARGET_SUBRESOURCE, h_text, b"objectRef|subresource")
    _row(KA_TARGET_POD_NAME, h_pod_name, b"objectRef", b"responseObject|metadata|name")
    _row(KA_REQ_BINDING_SUBJECTS, h_list, b"requestObject|subjects")
    _row(KA_REQ_BINDING_SUBJECTS_USER_NAMES, h_subject_names, b"requestObject|subjects", NULL, b"User")
    _row(KA_REQ_BINDING_SUBJECTS_SERVICEACCOUNT_NAMES, h_subject_names, b"requestObject|subjects", NULL,
         b"ServiceAccount")
    _row(KA_REQ_BINDING_SUBJECTS_SERVICEACCOUNT_NS_NAMES, h_subject_names, b"requestObject|subjects", NULL,
         b"ServiceAccount", 1)
    _row(KA_REQ_BINDING_SUBJECTS_GROUP_NAMES, h_subject_names, b"requestObject|subjects", NULL, b"Group")
    _row(KA_REQ_BINDING_ROLE, h_text, b"requestObject|roleRef|name")
    _row(KA_REQ_BINDING_SUBJECT_HAS_NAME, h_true, NULL)
    _row(KA_REQ_CONFIGMAP_NAME, h_text, b"objectRef|name")
    _row(KA_REQ_CONFIGMAP_OBJ, h_text, b"requestObject|data")
    _row(KA_REQ_POD_CONTAINERS_ARGS, h_join, b"requestObject|spec|containers|args")
    _row(KA_REQ_POD_CONTAINERS_COMMAND, h_join, b"requestObject|spec|containers|command")
    _row(KA_REQ_POD_CONTAINERS_NAME, h_strings, b"requestObject|spec|containers|name")
    _row(KA_REQ_POD_CONTAINERS_IMAGE, h_strings, b"requestObject|spec|containers|image")
    _row(KA_REQ_CONTAINER_IMAGE, h_strings, b"requestObject|spec|containers|image", NULL, NULL, 2)
    _row(KA_REQ_POD_CONTAINERS_IMAGE_REPOSITORY, h_strings, b"requestObject|spec|containers|image",
         NULL, NULL, 1)
    _row(KA_REQ_CONTAINER_IMAGE_REPOSITORY, h_strings, b"requestObject|spec|containers|image", NULL,
         NULL, 3)
    _row(KA_REQ_POD_HOST_IPC, h_text, b"requestObject|spec|hostIPC")
    _row(KA_REQ_POD_HOST_NETWORK, h_text, b"requestObject|spec|hostNetwork")
    _row(KA_REQ_CONTAINER_HOST_NETWORK, h_text, b"requestObject|spec|hostNetwork")
    _row(KA_REQ_POD_HOST_PID, h_text, b"requestObject|spec|hostPID")
    _row(KA_REQ_POD_CONTAINERS_HOST_PORT, h_host_port, b"requestObject|spec|containers|ports")
    _row(KA_REQ_POD_CONTAINERS_PRIVILEGED, h_fanout,
         b"requestObject|spec|containers|securityContext|privileged")
    _row(KA_REQ_CONTAINER_PRIVILEGED, h_any_true,
         b"requestObject|spec|containers|securityContext|privileged")
    _row(KA_REQ_POD_CONTAINERS_ALLOW_PRIVILEGE_ESCALATION, h_fanout,
         b"requestObject|spec|containers|securityContext|allowPrivilegeEscalation")
    _row(KA_REQ_POD_CONTAINERS_READ_ONLY_FS, h_fanout,
         b"requestObject|spec|containers|securityContext|readOnlyRootFilesystem")
    _row(KA_REQ_POD_RUN_AS_USER, h_text, b"requestObject|spec|securityContext|runAsUser")
    _row(KA_REQ_POD_CONTAINERS_RUN_AS_USER, h_fanout,
         b"requestObject|spec|containers|securityContext|runAsUser")
    _row(KA_REQ_POD_CONTAINERS_EFF_RUN_AS_USER, h_eff_run_as, b"requestObject|spec|containers",
         b"requestObject|spec|securityContext|runAsUser", b"runAsUser")
    _row(KA_REQ_POD_RUN_AS_GROUP, h_text, b"requestObject|spec|securityContext|runAsGroup")
    _row(KA_REQ_POD_CONTAINERS_RUN_AS_GROUP, h_fanout,
         b"requestObject|spec|containers|securityContext|runAsGroup")
    _row(KA_REQ_POD_CONTAINERS_EFF_RUN_AS_GROUP, h_eff_run_as, b"requestObject|spec|containers",
         b"requestObject|spec|securityContext|runAsGroup", b"runAsGroup")
    _row(KA_REQ_POD_CONTAINERS_PROC_MOUNT, h_fanout,
         b"requestObject|spec|containers|securityContext|procMount")
    _row(KA_REQ_ROLE_RULES, h_list, b"requestObject|rules")
    _row(KA_REQ_ROLE_RULES_APIGROUPS, h_flatten, b"requestObject|rules|apiGroups")
    _row(KA_REQ_ROLE_RULES_NONRESOURCEURLS, h_flatten, b"requestObject|rules|nonResourceURLs")
    _row(KA_REQ_ROLE_RULES_VERBS, h_flatten, b"requestObject|rules|verbs")
    _row(KA_REQ_ROLE_RULES_RESOURCES, h_flatten, b"requestObject|rules|resources")
    _row(KA_REQ_POD_FS_GROUP, h_text, b"requestObject|spec|securityContext|fsGroup")
    _row(KA_REQ_POD_SUPPLEMENTAL_GROUPS, h_list, b"requestObject|spec|securityContext|supplementalGroups")
    _row(KA_REQ_POD_CONTAINERS_ADD_CAPABILITIES, h_fanout,
         b"requestObject|spec|containers|securityContext|capabilities|add")
    _row(KA_REQ_SERVICE_TYPE, h_text, b"requestObject|spec|type")
    _row(KA_REQ_SERVICE_PORTS, h_fanout, b"requestObject|spec|ports")
    _row(KA_REQ_POD_VOLUMES_HOSTPATH, h_fanout, b"requestObject|spec|volumes|hostPath|path")
    _row(KA_REQ_VOLUME_HOSTPATH, h_path_match, b"requestObject|spec|volumes|hostPath|path")
    _row(KA_REQ_POD_VOLUMES_FLEXVOLUME_DRIVER, h_fanout, b"requestObject|spec|volumes|flexVolume|driver")
    _row(KA_REQ_POD_VOLUMES_VOLUME_TYPE, h_keys_except, b"requestObject|spec|volumes|", NULL, b"name")
    _row(KA_RESP_NAME, h_text, b"responseObject|metadata|name")
    _row(KA_RESPONSE_CODE, h_text, b"responseStatus|code")
    _row(KA_RESPONSE_REASON, h_text, b"responseStatus|reason")
    _row(KA_USERAGENT, h_text, b"userAgent")
    _row(KA_SOURCEIPS, h_list, b"sourceIPs", NULL, NULL, 1)
    _row(KA_CLUSTER_NAME, h_text, b"annotations|cluster_name")
    _row(KA_REQ_POD_INITCONTAINERS_NAME, h_strings, b"requestObject|spec|initContainers|name")
    _row(KA_REQ_POD_INITCONTAINERS_IMAGE, h_strings, b"requestObject|spec|initContainers|image")
    _row(KA_REQ_POD_INITCONTAINERS_IMAGE_REPOSITORY, h_strings, b"requestObject|spec|initContainers|image",
         NULL, NULL, 1)
    _row(KA_REQ_POD_INITCONTAINERS_COMMAND, h_join, b"requestObject|spec|initContainers|command")
    _row(KA_REQ_POD_INITCONTAINERS_ARGS, h_join, b"requestObject|spec|initContainers|args")
    _row(KA_REQ_POD_INITCONTAINERS_PRIVILEGED, h_fanout,
         b"requestObject|spec|initContainers|securityContext|privileged")
    _row(KA_REQ_POD_INITCONTAINERS_ALLOW_PRIVILEGE_ESCALATION, h_fanout,
         b"requestObject|spec|initContainers|securityContext|allowPrivilegeEscalation")
    _row(KA_REQ_POD_INITCONTAINERS_READ_ONLY_FS, h_fanout,
         b"requestObject|spec|initContainers|securityContext|readOnlyRootFilesystem")
    _row(KA_REQ_POD_INITCONTAINERS_RUN_AS_USER, h_fanout,
         b"requestObject|spec|initContainers|securityContext|runAsUser")
    _row(KA_REQ_POD_INITCONTAINERS_EFF_RUN_AS_USER, h_eff_run_as, b"requestObject|spec|initContainers",
         b"requestObject|spec|securityContext|runAsUser", b"runAsUser")
    _row(KA_REQ_POD_INITCONTAINERS_RUN_AS_GROUP, h_fanout,
         b"requestObject|spec|initContainers|securityContext|runAsGroup")
    _row(KA_REQ_POD_INITCONTAINERS_EFF_RUN_AS_GROUP, h_eff_run_as, b"requestObject|spec|initContainers",
         b"requestObject|spec|securityContext|runAsGroup", b"runAsGroup")
    _row(KA_REQ_POD_INITCONTAINERS_PROC_MOUNT, h_fanout,
         b"requestObject|spec|initContainers|securityContext|procMount")
    _row(KA_REQ_POD_INITCONTAINERS_ADD_CAPABILITIES, h_fanout,
         b"requestObject|spec|initContainers|securityContext|capabilities|add")
    _row(KA_REQ_POD_INITCONTAINERS_HOST_PORT, h_host_port, b"requestObject|spec|initContainers|ports")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_NAME, h_strings, b"requestObject|spec|ephemeralContainers|name")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_IMAGE, h_strings, b"requestObject|spec|ephemeralContainers|image")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_IMAGE_REPOSITORY, h_strings,
         b"requestObject|spec|ephemeralContainers|image", NULL, NULL, 1)
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_COMMAND, h_join, b"requestObject|spec|ephemeralContainers|command")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_ARGS, h_join, b"requestObject|spec|ephemeralContainers|args")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_PRIVILEGED, h_fanout,
         b"requestObject|spec|ephemeralContainers|securityContext|privileged")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_ALLOW_PRIVILEGE_ESCALATION, h_fanout,
         b"requestObject|spec|ephemeralContainers|securityContext|allowPrivilegeEscalation")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_READ_ONLY_FS, h_fanout,
         b"requestObject|spec|ephemeralContainers|securityContext|readOnlyRootFilesystem")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_RUN_AS_USER, h_fanout,
         b"requestObject|spec|ephemeralContainers|securityContext|runAsUser")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_EFF_RUN_AS_USER, h_eff_run_as,
         b"requestObject|spec|ephemeralContainers", b"requestObject|spec|securityContext|runAsUser",
         b"runAsUser")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_RUN_AS_GROUP, h_fanout,
         b"requestObject|spec|ephemeralContainers|securityContext|runAsGroup")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_EFF_RUN_AS_GROUP, h_eff_run_as,
         b"requestObject|spec|ephemeralContainers", b"requestObject|spec|securityContext|runAsGroup",
         b"runAsGroup")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_PROC_MOUNT, h_fanout,
         b"requestObject|spec|ephemeralContainers|securityContext|procMount")
    _row(KA_REQ_POD_EPHEMERALCONTAINERS_ADD_CAPABILITIES, h_fanout,
         b"requestObject|spec|ephemeralContainers|securityContext|capabilities|add")
    return 0


if NANCH > sizeof((<extractor*>NULL).anch) // sizeof(uint32_t):
    raise ImportError("k8saudit_ovh._extract: extractor.anch is too small")
_build_anchors()
_build_table()
if K8S_NUM_FIELDS != NFIELDS or NFIELDS > MAX_FIELD_IDS:
    raise ImportError("k8saudit_ovh._extract: field table size %d != %d (at most %d)"
                      % (NFIELDS, K8S_NUM_FIELDS, MAX_FIELD_IDS))
for _i in range(NFIELDS):
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
    sbuf_free(&x.scratch)
    sbuf_free(&x.results)
    free(x.offs)
    free(x.answers)
    free(x.nodes)
    memset(x, 0, sizeof(extractor))


cdef void _scan_root(extractor* x) noexcept nogil:
    """Reset the anchors for a new event and find the top-level ones in one scan of the root
    object (first key written exactly wins; escaped keys are left to _get's slow path). Then
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
    cdef const char* e = <const char*>evt.evt
    cdef uint32_t plen
    if e != NULL and x.cached and x.evtnum == evt.evtnum:
        memcpy(&plen, e + PARAM1_LEN_OFFSET, 4)
        if x.evtlen == plen:
            if x.parse_rc == 0:
                return 0
            x.last_error = b"event payload is not valid JSON"
            return -1
    return _reload(x, evt)


cdef int _reload(extractor* x, const ss_plugin_event_input* evt) noexcept nogil:
    cdef const char* e = <const char*>evt.evt
    cdef const char* payload
    cdef uint32_t elen, plen
    if e == NULL:
        x.last_error = b"no event"
        return -1
    memcpy(&elen, e + 16, 4)
    memcpy(&plen, e + PARAM1_LEN_OFFSET, 4)
    if elen < PAYLOAD_OFFSET or plen > elen - PAYLOAD_OFFSET:
        x.last_error = b"malformed plugin event (payload length)"
        return -1
    x.cached = True
    x.evtnum = evt.evtnum
    x.evtlen = plen
    x.root = 0
    _forget_answers(x)
    payload = e + PAYLOAD_OFFSET
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
    if f.field_id >= NFIELDS:
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

# ---------------------------------------------------------------------------------------------
# Python API: tests, benchmarks and tools. Builds real plugin events and extraction requests
# and calls extract_fields exactly like Falco does (one field per call). Never on Falco's path.

FIELD_NAMES = tuple(K8S_FIELDS[_i].name.decode() for _i in range(NFIELDS))
FIELD_IDS = {_n: _i for _i, _n in enumerate(FIELD_NAMES)}
UINT64_MAX = 0xFFFFFFFFFFFFFFFF
DEF FTYPE_STRING = 9


def parse_spec(str spec, arg_default_max=True):
    """Read a field spec `name` or `name[arg]` like libsinsp does. Returns
    (field_id, arg_present, arg_index, arg_key) where arg_key is bytes or None; arg_index is
    UINT64_MAX (Falco >= 0.44) or 0 (older Falco) when no numeric argument is given."""
    cdef Py_ssize_t lb = spec.find('['), rb
    default = UINT64_MAX if arg_default_max else 0
    if lb < 0:
        name, arg = spec, None
    else:
        rb = spec.find(']', lb + 1)
        if rb != len(spec) - 1:
            raise ValueError("bad field spec %r" % spec)
        name, arg = spec[:lb], spec[lb + 1:rb]
    fid = FIELD_IDS.get(name)
    if fid is None:
        raise ValueError("unknown field %r" % name)
    d = &K8S_FIELDS[<int>fid]
    if arg is None:
        if d.is_required:
            raise ValueError("field %r requires an argument" % name)
        return fid, False, default, None
    if d.is_index:
        if (not arg or any(c not in "0123456789" for c in arg) or (len(arg) > 1 and arg[0] == "0")
                or int(arg) > UINT64_MAX):
            raise ValueError("field %r: %r is not a valid index" % (name, arg))
        return fid, True, int(arg), None
    if d.is_key:
        return fid, True, default, arg.encode()
    raise ValueError("field %r takes no argument" % name)


cdef void _write_event(char* ev, const char* payload, uint32_t n) noexcept nogil:
    """A plugin event (type 322, 2 params, plugin ID 0) around payload, as libscap lays it out."""
    cdef uint64_t ts = 0xFFFFFFFFFFFFFFFF, tid = 0xFFFFFFFFFFFFFFFF
    cdef uint32_t total = PAYLOAD_OFFSET + n, nparams = 2, l0 = 4, plugin_id = 0
    cdef uint16_t etype = 322
    memcpy(ev, &ts, 8)
    memcpy(ev + 8, &tid, 8)
    memcpy(ev + 16, &total, 4)
    memcpy(ev + 20, &etype, 2)
    memcpy(ev + 22, &nparams, 4)
    memcpy(ev + 26, &l0, 4)
    memcpy(ev + 30, &n, 4)
    memcpy(ev + 34, &plugin_id, 4)
    memcpy(ev + PAYLOAD_OFFSET, payload, n)


cdef class _Events:
    """Payloads laid out as plugin events in one buffer (for the timing loops)."""
    cdef char* buf
    cdef size_t* offs
    cdef uint32_t* lens
    cdef Py_ssize_t n

    def __cinit__(self, list payloads):
        cdef size_t total = 0, pos = 0
        cdef Py_ssize_t i
        cdef bytes p
        self.n = len(payloads)
        for p in payloads:
            total += PAYLOAD_OFFSET + len(p)
        self.buf = <char*>malloc(total + 1)
        self.offs = <size_t*>malloc((self.n + 1) * sizeof(size_t))
        self.lens = <uint32_t*>malloc((self.n + 1) * sizeof(uint32_t))
        if self.buf == NULL or self.offs == NULL or self.lens == NULL:
            raise MemoryError()
        for i in range(self.n):
            p = payloads[i]
            self.offs[i] = pos
            self.lens[i] = <uint32_t>len(p)
            _write_event(self.buf + pos, p, <uint32_t>len(p))
            pos += PAYLOAD_OFFSET + len(p)

    def __dealloc__(self):
        free(self.buf)
        free(self.offs)
        free(self.lens)


cdef _collect_values(dict out, spec, const ss_plugin_extract_field* f):
    """Read one field's result the way the host does (strlen on each value)."""
    cdef uint64_t j
    cdef const char* s
    if f.res_len == 0xDEAD:
        raise AssertionError("res_len not set for %r" % spec)
    if f.res_len:
        vals = []
        for j in range(f.res_len):
            s = f.res.str[j]
            vals.append(s[:strlen(s)].decode("utf-8", "surrogateescape"))
        out[spec] = vals


cdef inline uint64_t _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec


cdef class Extractor:
    """One extractor (what one plugin state owns).

    extract(payload, evtnum, specs) -> {spec: [values]}: only specs with values. Like Falco,
    the payload is parsed once per event number: pass a new evtnum for a new payload.
    `last_failed` lists the specs whose last call returned SS_PLUGIN_FAILURE (no value).
    Like a plugin state, one Extractor serves one thread at a time (the timing loops run
    without the GIL)."""
    cdef extractor x
    cdef public list last_failed
    cdef public object last_bench_values

    def __cinit__(self):
        if extractor_init(&self.x) != 0:
            raise MemoryError()
        self.last_failed = []

    def __dealloc__(self):
        extractor_free(&self.x)

    def extract(self, bytes payload, unsigned long long evtnum, list specs, arg_default_max=True,
                batch=False):
        """{spec: [values]} for the specs that have values. Like Falco: one extract_fields call
        per field, a new event number per payload (the parse is cached per event number);
        arg_default_max: arg_index when no numeric argument is given, UINT64_MAX (Falco 0.44)
        or 0 (older Falco). batch=True asks for all specs in one call (num_fields > 1)."""
        cdef Py_ssize_t n = len(specs), k
        cdef ss_plugin_extract_field* fields
        cdef ss_plugin_field_extract_input req
        cdef ss_plugin_event_input ein
        cdef ss_plugin_rc rc
        cdef char* ev
        cdef bytes name, key
        parsed = [parse_spec(spec, arg_default_max) for spec in specs]
        keep = []
        ev = <char*>malloc(PAYLOAD_OFFSET + len(payload))
        fields = <ss_plugin_extract_field*>malloc((n + 1) * sizeof(ss_plugin_extract_field))
        if ev == NULL or fields == NULL:
            free(ev)
            free(fields)
            raise MemoryError()
        _write_event(ev, payload, <uint32_t>len(payload))
        out = {}
        self.last_failed = []
        try:
            memset(fields, 0, (n + 1) * sizeof(ss_plugin_extract_field))
            for k in range(n):
                fid, present, index, key = parsed[k]
                name = FIELD_NAMES[fid].encode()
                keep.append((name, key))
                fields[k].field_id = fid
                fields[k].field = name
                fields[k].arg_key = <const char*>key if key is not None else NULL
                fields[k].arg_index = index
                fields[k].arg_present = present
                fields[k].ftype = FTYPE_STRING
                fields[k].flist = K8S_FIELDS[<int>fid].is_list
                fields[k].res_len = 0xDEAD        # must be overwritten
            memset(&req, 0, sizeof(req))
            ein.evt = <const ss_plugin_event*>ev
            ein.evtnum = evtnum
            ein.evtsrc = b"k8s_audit"
            if batch:
                req.num_fields = <uint32_t>n
                req.fields = fields
                rc = extract_fields(&self.x, &ein, &req)
                if rc != SS_PLUGIN_SUCCESS:
                    self.last_failed.append("*")
                for k in range(n):
                    _collect_values(out, specs[k], &fields[k])
            else:
                req.num_fields = 1
                for k in range(n):
                    req.fields = &fields[k]
                    rc = extract_fields(&self.x, &ein, &req)   # under the GIL: serialised
                    if rc != SS_PLUGIN_SUCCESS:
                        self.last_failed.append(specs[k])
                        if fields[k].res_len:
                            raise AssertionError("values returned with a failure for %r" % specs[k])
                    _collect_values(out, specs[k], &fields[k])
        finally:
            free(ev)
            free(fields)
        return out

    def last_error(self):
        return self.x.last_error.decode() if self.x.last_error != NULL else None

    def parse_only(self, list payloads, unsigned long iterations=1):
        """Time just the JSON indexing of every payload, `iterations` times; elapsed ns."""
        cdef _Events evs = _Events(payloads)
        cdef uint64_t t0, t1
        cdef unsigned long it
        cdef Py_ssize_t i
        cdef int bad = 0
        with nogil:
            t0 = _now_ns()
            for it in range(iterations):
                for i in range(evs.n):
                    bad |= jdoc_parse(&self.x.doc, evs.buf + evs.offs[i] + PAYLOAD_OFFSET, evs.lens[i])
            t1 = _now_ns()
        self.x.cached = False
        return t1 - t0

    def bench(self, list payloads, list specs, unsigned long iterations=1):
        """Time the extraction of every spec from every payload (a new event number per event
        and iteration, so each event is parsed once, at its first field), one field per
        extract_fields call like Falco; elapsed ns. `last_bench_values` = values produced."""
        cdef _Events evs = _Events(payloads)
        cdef Py_ssize_t nspec = len(specs), i, k
        cdef ss_plugin_extract_field* fields = <ss_plugin_extract_field*>malloc(
            (nspec + 1) * sizeof(ss_plugin_extract_field))
        cdef ss_plugin_field_extract_input req
        cdef ss_plugin_event_input ein
        cdef uint64_t t0, t1, evtnum = 0, nvalues = 0
        cdef unsigned long it
        if fields == NULL:
            raise MemoryError()
        keep = []
        try:
            memset(fields, 0, (nspec + 1) * sizeof(ss_plugin_extract_field))
            for k in range(nspec):
                fid, present, index, key = parse_spec(specs[k])
                name = FIELD_NAMES[fid].encode()
                keep.append((name, key))
                fields[k].field_id = fid
                fields[k].field = <const char*>name
                fields[k].arg_key = <const char*>key if key is not None else NULL
                fields[k].arg_index = index
                fields[k].arg_present = present
                fields[k].ftype = FTYPE_STRING
                fields[k].flist = K8S_FIELDS[<int>fid].is_list
            memset(&req, 0, sizeof(req))
            req.num_fields = 1
            ein.evtsrc = b"k8s_audit"
            self.x.cached = False
            with nogil:
                t0 = _now_ns()
                for it in range(iterations):
                    for i in range(evs.n):
                        ein.evt = <const ss_plugin_event*>(evs.buf + evs.offs[i])
                        evtnum += 1
                        ein.evtnum = evtnum
                        for k in range(nspec):
                            req.fields = &fields[k]
                            extract_fields(&self.x, &ein, &req)
                            nvalues += fields[k].res_len
                t1 = _now_ns()
            self.last_bench_values = nvalues
        finally:
            free(fields)
        return t1 - t0
