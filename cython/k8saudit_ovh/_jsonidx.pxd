# JSON index: one simdjson stage-1 pass plus one walk over the structural indexes builds a
# flat preorder array of nodes with byte spans into the payload. Every field of an event is
# then served from this index: no re-parse, raw number text and source key order preserved
# (k8saudit renders values from the raw text with fastjson), first-wins duplicate keys.
from libc.stdint cimport uint8_t, uint32_t
from k8saudit_ovh._simdjson cimport k8s_stage1
from k8saudit_ovh._sbuf cimport sbuf

cdef enum jkind:
    J_NONE = 0
    J_OBJ = 1
    J_ARR = 2
    J_STR = 3
    J_NUM = 4
    J_TRUE = 5
    J_FALSE = 6
    J_NULL = 7
    J_KEY = 8

cdef enum jerr:
    JERR_OK = 0
    JERR_NOMEM = -1
    JERR_SYNTAX = -2
    JERR_DEPTH = -3
    JERR_TOO_BIG = -4
    JERR_STAGE1 = -5

# Nodes: index 0 is "none"; the root is node 1. A container's first child is the next node.
# Objects hold (key, value) pairs: a J_KEY node immediately followed by its value node;
# `next` links keys of an object and elements of an array (0 = last).
cdef struct jnode:
    uint32_t start
    uint32_t end
    uint32_t next
    uint32_t count
    uint8_t kind
    uint8_t esc

cdef struct jdoc:
    char* buf
    size_t len
    size_t cap
    jnode* nodes
    uint32_t nnodes
    uint32_t nodes_cap
    uint32_t* stack
    k8s_stage1* stage1
    bint compact
    sbuf scratch          # unescaped text returned by jstr (valid until the next jstr)

# How string escapes are read. Every accessor below that reads string text takes one, so each
# call site says which JSON it imitates:
# - JU_STRICT: the JSON specification (simdjson's unescaper); a malformed escape is an error.
#   For event sourcing: what makes a payload an audit event (kind, stageTimestamp, GELF
#   fields) must be real JSON.
# - JU_FASTJSON: k8saudit's fastjson, best effort: malformed escapes are kept as written, a
#   lone surrogate keeps its \uXXXX text, a pair that does not combine gives U+FFFD; object
#   lookups prefer keys written without escapes (fastjson compares raw keys first). For field
#   values, which must equal k8saudit's byte for byte.
cdef enum junesc:
    JU_STRICT = 0
    JU_FASTJSON = 1

cdef int jdoc_init(jdoc* d) noexcept nogil
cdef void jdoc_free(jdoc* d) noexcept nogil
cdef int jdoc_parse(jdoc* d, const char* data, size_t n) noexcept nogil
cdef uint32_t jget(jdoc* d, uint32_t obj, const char* key, size_t klen, junesc mode) noexcept nogil
cdef bint jstr_eq(jdoc* d, uint32_t node, const char* s, size_t n, junesc mode) noexcept nogil
cdef const char* jstr(jdoc* d, uint32_t node, size_t* n, junesc mode) noexcept nogil
cdef int jappend_raw(jdoc* d, uint32_t node, sbuf* out) noexcept nogil
cdef int jappend_str(jdoc* d, uint32_t node, sbuf* out, junesc mode) noexcept nogil

cdef inline uint32_t jfirst(const jdoc* d, uint32_t node) noexcept nogil:
    return node + 1 if d.nodes[node].count else 0

cdef inline uint32_t jfirst_key(const jdoc* d, uint32_t obj) noexcept nogil:
    """The first key node of object obj; 0 when obj is absent, empty or not an object."""
    return obj + 1 if obj and d.nodes[obj].kind == J_OBJ and d.nodes[obj].count else 0

cdef inline uint32_t jnext(const jdoc* d, uint32_t node) noexcept nogil:
    return d.nodes[node].next
