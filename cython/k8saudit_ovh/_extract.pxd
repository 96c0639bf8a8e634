# Field extraction: the ka.* fields of k8saudit 0.18.0 over the JSON index (one parse per event).
# One `extractor` per plugin state (states are used by separate threads: nothing here is global
# and mutable). Values returned by extract_fields stay valid until an extraction for another event
# arrives on the same extractor: libsinsp reads them again after extracting other fields.
from libc.stdint cimport uint32_t, uint64_t
from k8saudit_ovh._abi cimport ss_plugin_rc, ss_plugin_event_input, ss_plugin_field_extract_input
from k8saudit_ovh._jsonidx cimport jdoc
from k8saudit_ovh._sbuf cimport sbuf

cdef enum:
    MAX_FIELD_IDS = 128   # >= the number of fields (checked when _extract is imported)

cdef struct answer:       # one field spec answered for the current event
    uint32_t next         # index + 1 of the next answer with the same field_id (0: none)
    bint arg_present
    uint64_t arg_index
    const char* arg_key   # a copy in `arena`, or NULL when the request had none
    const char** res      # the values handed to the host, in `results`
    uint64_t res_len

cdef struct extractor:
    jdoc doc              # the index of the cached event
    uint64_t evtnum       # event number of the cached parse
    uint32_t evtlen       # payload length of the cached parse (guards against a reused evtnum)
    bint cached           # a parse has been cached
    int parse_rc          # 0, or why the cached payload is not usable JSON
    uint32_t root         # root node if the event passes the auditID gate, else 0
    uint32_t anch[16]     # per-event anchor nodes (_extract_anchors.pxi; NANCH <= 16)
    sbuf arena            # every value of the current event, NUL-terminated (pinned: the host
                          # holds pointers into it until the event changes)
    sbuf results          # the value pointer arrays handed out for the current event (pinned)
    size_t* offs          # arena offset of each value of the field being extracted
    uint32_t nvals
    uint32_t vals_cap
    answer* answers       # the valued answers of the current event: a spec asked again gets
    uint32_t nanswers     # the same pointers, so an event's memory is bounded by its distinct
    uint32_t answers_cap  # specs however often each is asked
    uint32_t first_answer[MAX_FIELD_IDS]   # per field_id: index + 1 of its latest answer
    uint32_t* nodes       # JSON nodes collected along a path (fan-out over arrays)
    uint32_t nnodes
    uint32_t nodes_cap
    const char* last_error  # static message of the last failure (never freed)

cdef int extractor_init(extractor* x) noexcept nogil
cdef void extractor_free(extractor* x) noexcept nogil
cdef ss_plugin_rc extract_fields(extractor* x, const ss_plugin_event_input* evt,
                                 const ss_plugin_field_extract_input* req) noexcept nogil
