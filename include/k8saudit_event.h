/*
 * k8saudit-ovh: the layout of a plugin event, the one definition every reader and writer of
 * events uses: the Cython modules (through _event.pxd), the C test host, and the Python
 * ctypes host (k8saudit_ovh_cli/host.py reads the #defines below, so keep them one per line
 * as `#define K8S_<NAME> <decimal>u`; the build installs this file next to it).
 *
 * A plugin event is libscap's PPME_PLUGINEVENT_E (type 322) with two parameters: a 26-byte
 * header (ts u64, tid u64, len u32, type u16, nparams u32), the two parameter lengths (u32
 * each), then parameter 0 = the plugin ID (u32) and parameter 1 = the payload. Fields are
 * little-endian and unaligned (the header is packed): they are read and written with memcpy.
 * `len` counts the whole event, header included.
 */
#ifndef K8SAUDIT_OVH_EVENT_H
#define K8SAUDIT_OVH_EVENT_H

#include <stdint.h>
#include <string.h>

#define K8S_PLUGIN_EVENT_TYPE 322u
#define K8S_PLUGIN_EVENT_NPARAMS 2u

#define K8S_EVT_TS_OFFSET 0u
#define K8S_EVT_TID_OFFSET 8u
#define K8S_EVT_LEN_OFFSET 16u
#define K8S_EVT_TYPE_OFFSET 20u
#define K8S_EVT_NPARAMS_OFFSET 22u
#define K8S_PLUGIN_EVENT_HEADER_SIZE 26u
#define K8S_EVT_PARAM0_LEN_OFFSET 26u   /* always 4: the plugin ID */
#define K8S_EVT_PARAM1_LEN_OFFSET 30u   /* the payload length */
#define K8S_EVT_PLUGIN_ID_OFFSET 34u    /* 0 from the plugin; the host writes the real ID */
#define K8S_PLUGIN_EVENT_PAYLOAD_OFFSET 38u

/* A complete event header in front of a payload of n bytes: time ts, no thread (tid -1),
 * plugin ID 0. The payload itself is the caller's to copy at K8S_PLUGIN_EVENT_PAYLOAD_OFFSET. */
static inline void k8s_event_write_header(void* e, uint64_t ts, uint32_t n) {
    unsigned char* p = (unsigned char*)e;
    uint64_t tid = UINT64_MAX;
    uint32_t len = K8S_PLUGIN_EVENT_PAYLOAD_OFFSET + n, nparams = K8S_PLUGIN_EVENT_NPARAMS;
    uint32_t l0 = 4, plugin_id = 0;
    uint16_t type = K8S_PLUGIN_EVENT_TYPE;
    memcpy(p + K8S_EVT_TS_OFFSET, &ts, 8);
    memcpy(p + K8S_EVT_TID_OFFSET, &tid, 8);
    memcpy(p + K8S_EVT_LEN_OFFSET, &len, 4);
    memcpy(p + K8S_EVT_TYPE_OFFSET, &type, 2);
    memcpy(p + K8S_EVT_NPARAMS_OFFSET, &nparams, 4);
    memcpy(p + K8S_EVT_PARAM0_LEN_OFFSET, &l0, 4);
    memcpy(p + K8S_EVT_PARAM1_LEN_OFFSET, &n, 4);
    memcpy(p + K8S_EVT_PLUGIN_ID_OFFSET, &plugin_id, 4);
}

static inline uint32_t k8s_event_u32(const void* e, uint32_t offset) {
    uint32_t v;
    memcpy(&v, (const unsigned char*)e + offset, 4);
    return v;
}

static inline void k8s_event_set_u32(void* e, uint32_t offset, uint32_t v) {
    memcpy((unsigned char*)e + offset, &v, 4);
}

/* The payload of event e and its length in *n, or NULL when the lengths do not fit together
 * (a host must not hand such an event back, but a wrong one must not make us read past it). */
static inline const char* k8s_event_payload(const void* e, uint32_t* n) {
    uint32_t len = k8s_event_u32(e, K8S_EVT_LEN_OFFSET);
    uint32_t plen = k8s_event_u32(e, K8S_EVT_PARAM1_LEN_OFFSET);
    if (len < K8S_PLUGIN_EVENT_PAYLOAD_OFFSET || plen > len - K8S_PLUGIN_EVENT_PAYLOAD_OFFSET)
        return NULL;
    *n = plen;
    return (const char*)e + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET;
}

#endif
