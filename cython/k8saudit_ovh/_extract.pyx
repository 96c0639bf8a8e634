# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""ka.* field extraction (k8saudit 0.18.0 semantics) over the JSON index, without the GIL.

One parse per event: the first field asked about an event number indexes its payload
(`jdoc_parse`); every field of that event is then served from the index. Values stay where they
were written until another event arrives (pinned buffers, `_sbuf.pxd`): libsinsp reads returned
pointers again after later extractions of the same event. A field spec asked again about the
same event gets the pointers of its first answer.

Dispatch: `TABLE[field_id]` holds, for each of the 100 fields, its handler and the handler's
parameters (JSON paths, a constant); `_build_table()` in _extract_table.pxi is the one place
that says what each field reads, keyed by field name (include/k8saudit_fields.h gives the ids). The semantics,
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
indirect call through TABLE, no allocation once buffers have grown. Anchors cache, per
event, the nodes most paths go through; keys are compared 16 bytes at a time.

Known differences from k8saudit's fastjson, all on payloads no Kubernetes API server writes:
JSON that simdjson rejects (invalid UTF-8, numbers like `01` or `NaN`) has no value here;
nesting deeper than fastjson's 300 levels (up to the index's 1024) still has values here;
fastjson re-quotes a string inside an object rendered as JSON once that string was read by
another field of the same event, here objects are always their source text (no dependence on
the order fields are asked in); Go's host validation of bracketed IPv6 literals in
requestURI is approximated.
"""
# One compiled module, one C translation unit: the hot path calls between these files inline,
# with no cross-module call. What each included file holds:
#   _extract_paths.pxi     interned keys, key paths, following a path in the index (_getk, _walk)
#   _extract_anchors.pxi   per-event anchor nodes, the auditID gate (_scan_root), _at
#   _extract_collect.pxi   the nodes a path reaches, fanned out over arrays (_collect_at, ...)
#   _extract_values.pxi    the value arena: values as k8saudit renders them (_vtext, _vrepo)
#   _extract_gourl.pxi     Go's net/url query parsing, for ka.uri.param
#   _extract_table.pxi     the field table: field name -> handler and the paths it reads
#   _extract_handlers.pxi  the 14 handlers (h_text, h_list, h_fanout, ...)
#   _extract_answers.pxi   entry points: load an event once, answer each field spec once
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport realloc, free
from libc.string cimport memcpy, memcmp, memset, memchr, strchr, strcmp, strlen
from k8saudit_ovh._abi cimport (ss_plugin_rc, SS_PLUGIN_SUCCESS, SS_PLUGIN_FAILURE, ss_plugin_event,
                                ss_plugin_event_input, ss_plugin_field_extract_input,
                                ss_plugin_extract_field)
from k8saudit_ovh._chars cimport hexval, is_alpha, is_digit
from k8saudit_ovh._jsonidx cimport (jnode, jdoc_init, jdoc_free, jdoc_parse, jget, jstr, jstr_eq,
                                    jappend_str, jappend_raw, J_NONE, J_OBJ, J_ARR, J_STR, J_TRUE,
                                    J_KEY, JU_FASTJSON, jfirst, jfirst_key, jnext)
from k8saudit_ovh._sbuf cimport sbuf, sbuf_reserve, sbuf_append, sbuf_free, sbuf_drop_old
from k8saudit_ovh._fields cimport K8S_FIELDS, K8S_NUM_FIELDS
from k8saudit_ovh._event cimport K8S_EVT_PARAM1_LEN_OFFSET, k8s_event_u32, k8s_event_payload


cdef extern from *:
    # "no index": the argument is absent, or Falco >= 0.44's default arg_index for key arguments
    const uint64_t NOIDX "((uint64_t)-1)"

cdef enum:
    H_OK = 0
    H_FAIL = -1        # wrong type / unparsable value: SS_PLUGIN_FAILURE, no value
    H_NOMEM = -2
    H_NA = 1           # _collect: the path broke outside any fan-out (k8saudit: not available)


cdef int _grow(void* arr, uint32_t* cap, size_t size) noexcept nogil:
    """Double the capacity of one of the extractor's arrays (64 elements the first time): arr is
    the address of its pointer, whatever the element type (size bytes). The pointer is copied
    with memcpy, not through a void** (that would break C's aliasing rules)."""
    cdef void* p
    cdef uint32_t n = cap[0] * 2 if cap[0] else 64
    memcpy(&p, arr, sizeof(void*))
    p = realloc(p, n * size)
    if p == NULL:
        return H_NOMEM
    memcpy(arr, &p, sizeof(void*))
    cap[0] = n
    return H_OK


include "_extract_paths.pxi"
include "_extract_anchors.pxi"
include "_extract_collect.pxi"
include "_extract_values.pxi"
include "_extract_gourl.pxi"
include "_extract_table.pxi"
include "_extract_handlers.pxi"
include "_extract_answers.pxi"


# Built at import, anchors first: each table path is matched against them.
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
