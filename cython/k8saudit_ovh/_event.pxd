# Thin declarations of include/k8saudit_event.h: the plugin event layout (one definition).
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "k8saudit_event.h" nogil:
    const unsigned K8S_PLUGIN_EVENT_TYPE
    const unsigned K8S_PLUGIN_EVENT_NPARAMS
    const unsigned K8S_EVT_TS_OFFSET
    const unsigned K8S_EVT_TID_OFFSET
    const unsigned K8S_EVT_LEN_OFFSET
    const unsigned K8S_EVT_TYPE_OFFSET
    const unsigned K8S_EVT_NPARAMS_OFFSET
    const unsigned K8S_PLUGIN_EVENT_HEADER_SIZE
    const unsigned K8S_EVT_PARAM0_LEN_OFFSET
    const unsigned K8S_EVT_PARAM1_LEN_OFFSET
    const unsigned K8S_EVT_PLUGIN_ID_OFFSET
    const unsigned K8S_PLUGIN_EVENT_PAYLOAD_OFFSET
    void k8s_event_write_header(void* e, uint64_t ts, uint32_t n)
    uint32_t k8s_event_u32(const void* e, uint32_t offset)
    void k8s_event_set_u32(void* e, uint32_t offset, uint32_t v)
    const char* k8s_event_payload(const void* e, uint32_t* n)
