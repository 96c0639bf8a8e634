# Field extraction: the ka.* fields of k8saudit 0.18.0 over the JSON index (one parse per event).
# One `extractor` per plugin state (states are used by separate threads: nothing here is global
# and mutable). Values returned by extract_fields live until the next call on the same extractor.
from libc.stdint cimport uint32_t, uint64_t
from k8saudit_ovh._abi cimport ss_plugin_rc, ss_plugin_event_input, ss_plugin_field_extract_input
from k8saudit_ovh._jsonidx cimport jdoc
from k8saudit_ovh._sbuf cimport sbuf

cdef struct extractor:
    jdoc doc              # the index of the cached event
    uint64_t evtnum       # event number of the cached parse
    uint32_t evtlen       # payload length of the cached parse (guards against a reused evtnum)
    bint cached           # a parse has been cached
    int parse_rc          # 0, or why the cached payload is not usable JSON
    uint32_t root         # root node if the event passes the auditID gate, else 0
    uint32_t anch[16]     # per-event anchor nodes (see _extract.pyx; NANCH <= 16)
    sbuf arena            # bytes of every value of the current call, NUL-terminated
    sbuf scratch          # unescaped text of keys / URI, temporary
    size_t* offs          # arena offset of each value of the current call
    const char** vals     # the same as pointers, fixed up at the end of the call
    uint32_t nvals
    uint32_t vals_cap
    uint32_t* fstart      # first value index of each requested field of the current call
    uint32_t fstart_cap
    uint32_t* nodes       # JSON nodes collected along a path (fan-out over arrays)
    uint32_t nnodes
    uint32_t nodes_cap
    const char* last_error  # static message of the last failure (never freed)

cdef int extractor_init(extractor* x) noexcept nogil
cdef void extractor_free(extractor* x) noexcept nogil
cdef ss_plugin_rc extract_fields(extractor* x, const ss_plugin_event_input* evt,
                                 const ss_plugin_field_extract_input* req) noexcept nogil
