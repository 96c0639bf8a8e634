# Thin declaration of include/k8saudit_vtable.h (the capsule handed to the entry library).
from libc.stdint cimport uint32_t
from k8saudit_ovh._abi cimport (ss_plugin_t, ss_instance_t, ss_plugin_rc, ss_plugin_event,
                                ss_plugin_event_input, ss_plugin_field_extract_input, ss_plugin_metric)

cdef extern from "k8saudit_vtable.h" nogil:
    const char* K8S_VTABLE_CAPSULE
    unsigned K8S_VTABLE_VERSION
    ctypedef struct k8s_vtable:
        uint32_t version
        ss_plugin_t* (*init)(const char* config, char* err, size_t errlen) noexcept
        void (*destroy)(ss_plugin_t* s) noexcept
        ss_instance_t* (*open)(ss_plugin_t* s, const char* params, ss_plugin_rc* rc) noexcept
        void (*close)(ss_plugin_t* s, ss_instance_t* h) noexcept
        const char* (*get_last_error)(ss_plugin_t* s) noexcept
        ss_plugin_rc (*next_batch)(ss_plugin_t* s, ss_instance_t* h, uint32_t* nevts, ss_plugin_event*** evts) noexcept
        ss_plugin_rc (*extract_fields)(ss_plugin_t* s, const ss_plugin_event_input* evt, const ss_plugin_field_extract_input* inp) noexcept
        const char* (*event_to_string)(ss_plugin_t* s, const ss_plugin_event_input* evt) noexcept
        ss_plugin_metric* (*get_metrics)(ss_plugin_t* s, uint32_t* num_metrics) noexcept
