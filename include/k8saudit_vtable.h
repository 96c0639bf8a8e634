/* k8saudit-ovh: the C entry points that the Cython module k8saudit_ovh._plugin hands to the
 * entry library (libk8saudit-ovh.so) in a capsule. The entry library owns identity and
 * metadata; everything stateful goes through this table. Hot-path entries never take the GIL. */
#ifndef K8SAUDIT_OVH_VTABLE_H
#define K8SAUDIT_OVH_VTABLE_H

#include <stddef.h>
#include "falco_plugin_abi.h"

#define K8S_VTABLE_CAPSULE "k8saudit_ovh._plugin.vtable"
#define K8S_VTABLE_VERSION 1u

typedef struct k8s_vtable {
    uint32_t version;
    /* Takes the GIL. NULL with err filled on failure. */
    ss_plugin_t* (*init)(const char* config, char* err, size_t errlen);
    void (*destroy)(ss_plugin_t* s);
    ss_instance_t* (*open)(ss_plugin_t* s, const char* params, ss_plugin_rc* rc);
    void (*close)(ss_plugin_t* s, ss_instance_t* h);
    /* No GIL. */
    const char* (*get_last_error)(ss_plugin_t* s);
    ss_plugin_rc (*next_batch)(ss_plugin_t* s, ss_instance_t* h, uint32_t* nevts, ss_plugin_event*** evts);
    ss_plugin_rc (*extract_fields)(ss_plugin_t* s, const ss_plugin_event_input* evt,
                                   const ss_plugin_field_extract_input* in);
    const char* (*event_to_string)(ss_plugin_t* s, const ss_plugin_event_input* evt);
    ss_plugin_metric* (*get_metrics)(ss_plugin_t* s, uint32_t* num_metrics);
} k8s_vtable;

#endif
