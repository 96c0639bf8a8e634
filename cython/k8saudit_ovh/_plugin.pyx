# cython: language_level=3, boundscheck=False, wraparound=False
"""k8saudit_ovh._plugin: the stateful half of the Falco plugin ABI.

The entry library (src/shim) imports this module once CPython is up and takes the C function
table from the `vtable` capsule. init/open/close/destroy run Python (config, producer threads)
under the GIL; next_batch, extract_fields, get_last_error, event_to_string and get_metrics are
plain C over C data and never touch the GIL.
"""
from cpython.pycapsule cimport PyCapsule_New
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from libc.stdint cimport uint32_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, strncpy
from k8saudit_ovh._abi cimport (ss_plugin_t, ss_instance_t, ss_plugin_rc, ss_plugin_event,
                                ss_plugin_event_input, ss_plugin_field_extract_input, ss_plugin_metric,
                                SS_PLUGIN_SUCCESS, SS_PLUGIN_FAILURE, SS_PLUGIN_METRIC_TYPE_MONOTONIC,
                                SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, SS_PLUGIN_METRIC_VALUE_TYPE_U64)
from k8saudit_ovh._extract cimport extractor, extractor_init, extractor_free, extract_fields
from k8saudit_ovh._ingest cimport (Counters, EventQueue, evqueue, queue_next_batch, counters,
                                   counter_name, counter_monotonic, C_COUNT)
from k8saudit_ovh._event cimport k8s_event_payload
from k8saudit_ovh._sync cimport k8s_get
from k8saudit_ovh._sbuf cimport sbuf, sbuf_append, sbuf_free
from k8saudit_ovh._vtable cimport k8s_vtable, K8S_VTABLE_VERSION

import logging

cdef enum:
    ERRLEN = 1024

cdef struct k8s_state:
    extractor ex
    char lasterr[ERRLEN]
    const char* extract_err     # static text of the last failed extraction, if more recent
    counters* ctr
    PyObject* py_state          # k8saudit_ovh.runtime.PluginState (config, counters, logger)
    sbuf evtstr
    ss_plugin_metric metrics[<int>C_COUNT]

cdef struct k8s_instance:
    evqueue* q
    PyObject* py_instance       # k8saudit_ovh.runtime.Instance (queue + producer threads)


cdef inline void _set_error(k8s_state* s, str msg) noexcept:
    """The state's last error; it supersedes the message of an earlier failed extraction."""
    cdef bytes b = msg.encode('utf-8', 'replace')[:ERRLEN - 1]
    memcpy(s.lasterr, <const char*>b, len(b))
    s.lasterr[len(b)] = 0
    s.extract_err = NULL


cdef ss_plugin_t* _init(const char* config, char* err, size_t errlen) noexcept with gil:
    cdef k8s_state* s
    from k8saudit_ovh import runtime
    try:
        py_state = runtime.PluginState((config or b"").decode("utf-8", "replace"))
    except Exception as exc:
        msg = str(exc).encode("utf-8", "replace")[:errlen - 1]
        memcpy(err, <const char*>msg, len(msg))
        err[len(msg)] = 0
        return NULL
    s = <k8s_state*>calloc(1, sizeof(k8s_state))
    if s == NULL or extractor_init(&s.ex) != 0:
        free(s)
        strncpy(err, b"k8saudit-ovh: out of memory", errlen)
        return NULL
    s.ctr = &(<Counters>py_state.counters).c
    Py_INCREF(py_state)
    s.py_state = <PyObject*>py_state
    return <ss_plugin_t*>s


cdef void _destroy(ss_plugin_t* p) noexcept with gil:
    cdef k8s_state* s = <k8s_state*>p
    if s == NULL:
        return
    _finish(s.py_state, "destroy", "destroying the plugin state")
    extractor_free(&s.ex)
    sbuf_free(&s.evtstr)
    free(s)


cdef ss_instance_t* _open(ss_plugin_t* p, const char* params, ss_plugin_rc* rc) noexcept with gil:
    cdef k8s_state* s = <k8s_state*>p
    cdef k8s_instance* h
    cdef EventQueue queue
    try:
        inst = (<object>s.py_state).open((params or b"").decode("utf-8", "replace"))
    except Exception as exc:
        _set_error(s, str(exc))
        rc[0] = SS_PLUGIN_FAILURE
        return NULL
    h = <k8s_instance*>calloc(1, sizeof(k8s_instance))
    if h == NULL:
        inst.close()
        _set_error(s, "k8saudit-ovh: out of memory")
        rc[0] = SS_PLUGIN_FAILURE
        return NULL
    queue = inst.queue
    h.q = &queue.q
    Py_INCREF(inst)
    h.py_instance = <PyObject*>inst
    rc[0] = SS_PLUGIN_SUCCESS
    return <ss_instance_t*>h


cdef void _close(ss_plugin_t* p, ss_instance_t* hp) noexcept with gil:
    cdef k8s_instance* h = <k8s_instance*>hp
    if h == NULL:
        return
    _finish(h.py_instance, "close", "closing the event source")
    free(h)


cdef void _finish(PyObject* obj, str method, str doing) noexcept:
    """Call obj.method() and drop our reference: Falco's call returns whatever Python raised
    (logged; the ABI has no error to return from destroy and close)."""
    try:
        getattr(<object>obj, method)()
    except Exception:
        logging.getLogger("k8saudit-ovh").exception("error while %s", doing)
    Py_DECREF(<object>obj)


cdef const char* _get_last_error(ss_plugin_t* p) noexcept nogil:
    cdef k8s_state* s = <k8s_state*>p
    return s.extract_err if s.extract_err != NULL else s.lasterr


cdef ss_plugin_rc _next_batch(ss_plugin_t* p, ss_instance_t* hp, uint32_t* nevts,
                              ss_plugin_event*** evts) noexcept nogil:
    cdef k8s_state* s = <k8s_state*>p
    cdef evqueue* q = (<k8s_instance*>hp).q
    cdef ss_plugin_rc rc = queue_next_batch(q, nevts, evts)
    if rc == SS_PLUGIN_FAILURE:
        strncpy(s.lasterr, q.errmsg, ERRLEN - 1)
        s.extract_err = NULL
    return rc


cdef ss_plugin_rc _extract_fields(ss_plugin_t* p, const ss_plugin_event_input* evt,
                                  const ss_plugin_field_extract_input* req) noexcept nogil:
    cdef k8s_state* s = <k8s_state*>p
    cdef ss_plugin_rc rc = extract_fields(&s.ex, evt, req)
    # Falco reads a failed extraction as "no value" without asking why; other hosts may ask.
    # Failures are frequent (wrong JSON types): keep a pointer to the static text, copy nothing.
    if rc == SS_PLUGIN_FAILURE:
        s.extract_err = s.ex.last_error
    return rc


cdef const char* _event_to_string(ss_plugin_t* p, const ss_plugin_event_input* evt) noexcept nogil:
    cdef k8s_state* s = <k8s_state*>p
    cdef uint32_t n = 0
    cdef const char* payload = k8s_event_payload(evt.evt, &n)
    s.evtstr.len = 0
    if payload != NULL:
        sbuf_append(&s.evtstr, payload, n)
    if sbuf_append(&s.evtstr, b"\0", 1) != 0:
        return b""
    return s.evtstr.p


cdef ss_plugin_metric* _get_metrics(ss_plugin_t* p, uint32_t* num) noexcept nogil:
    cdef k8s_state* s = <k8s_state*>p
    cdef int i
    for i in range(<int>C_COUNT):
        s.metrics[i].name = counter_name(i)
        s.metrics[i].type = (SS_PLUGIN_METRIC_TYPE_MONOTONIC if counter_monotonic(i)
                             else SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC)
        s.metrics[i].value_type = SS_PLUGIN_METRIC_VALUE_TYPE_U64
        s.metrics[i].value.u64 = k8s_get(&s.ctr.v[i])
    num[0] = <uint32_t>C_COUNT
    return s.metrics


cdef k8s_vtable _VTABLE
_VTABLE.version = K8S_VTABLE_VERSION
_VTABLE.init = _init
_VTABLE.destroy = _destroy
_VTABLE.open = _open
_VTABLE.close = _close
_VTABLE.get_last_error = _get_last_error
_VTABLE.next_batch = _next_batch
_VTABLE.extract_fields = _extract_fields
_VTABLE.event_to_string = _event_to_string
_VTABLE.get_metrics = _get_metrics

vtable = PyCapsule_New(&_VTABLE, b"k8saudit_ovh._plugin.vtable", NULL)
