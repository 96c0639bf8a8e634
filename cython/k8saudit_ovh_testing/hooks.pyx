# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Python views of the plugin's C internals, for tests, benchmarks and fuzzers only.

The shipped modules (k8saudit_ovh._*) keep only what Falco or the plugin's own Python code
calls; everything a test needs to reach inside lives here, in a package the artifact leaves out.
"""
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free
from libc.string cimport strchr, strlen
from k8saudit_ovh._jsonidx cimport (jdoc, jdoc_init, jdoc_free, jdoc_parse, jget, jappend_text,
                                    JU_STRICT)
from k8saudit_ovh._sbuf cimport sbuf
from k8saudit_ovh._source cimport Dedupe, dedupe_key, dedupe_check_insert, parse_rfc3339_ns


# ---- JSON index

cdef uint32_t _dot_path(jdoc* d, uint32_t node, const char* path) noexcept nogil:
    """Follow a dot-separated chain of object keys from `node`; 0 when any step is missing."""
    cdef const char* s = path
    cdef const char* dot
    while node and s[0]:
        dot = strchr(s, b'.')
        if dot == NULL:
            return jget(d, node, s, strlen(s), JU_STRICT)
        node = jget(d, node, s, dot - s, JU_STRICT)
        s = dot + 1
    return node


cdef class Index:
    """A parsed JSON document: `Index(b'...').text('a.b')`."""
    cdef jdoc d
    cdef public int error

    def __cinit__(self, bytes data):
        if jdoc_init(&self.d) != 0:
            raise MemoryError()
        self.error = jdoc_parse(&self.d, data, len(data))

    def __dealloc__(self):
        jdoc_free(&self.d)

    @property
    def ok(self):
        return self.error == 0

    @property
    def compact(self):
        return bool(self.d.compact)

    def text(self, str path):
        """value-as-string at a dot path from the root, or None when absent/invalid."""
        cdef sbuf out
        cdef uint32_t node
        if self.error:
            return None
        node = _dot_path(&self.d, 1, path.encode()) if path else 1
        if node == 0:
            return None
        out.p = NULL
        out.len = 0
        out.cap = 0
        try:
            if jappend_text(&self.d, node, &out, JU_STRICT) != 0:
                return None
            return out.p[:out.len].decode('utf-8', 'surrogateescape')
        finally:
            free(out.p)


# ---- event sourcing

def rfc3339_ns(str text):
    """The stageTimestamp parser: ns, or None when not RFC 3339."""
    cdef bytes b = text.encode()
    cdef uint64_t ns = 0
    if parse_rfc3339_ns(b, len(b), &ns):
        return ns
    return None


def dedupe_seen(Dedupe d not None, str audit_id, str stage=""):
    """True when (audit_id, stage) was already recorded in d; records it."""
    cdef bytes a = audit_id.encode(), b = stage.encode()
    return dedupe_check_insert(&d.s, dedupe_key(a, len(a), b, len(b)))
