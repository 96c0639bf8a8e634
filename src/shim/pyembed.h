/* Bringing up (or joining) the CPython that runs k8saudit_ovh._plugin, and taking its
 * function table. Only the shim's lazy_build calls this (first open / extraction of a state):
 * metadata-only loads and init-only loads never get here. */
#ifndef K8SAUDIT_OVH_PYEMBED_H
#define K8SAUDIT_OVH_PYEMBED_H

#include <stddef.h>

#include "k8saudit_vtable.h"

/* Name of the folder, next to libk8saudit-ovh.so, that holds the bundled runtime of the
 * falcoctl artifact (libpython, standard library, extension modules, site-packages). */
#define K8S_RUNTIME_DIR "k8saudit-ovh-runtime"

/* Returns the function table, or NULL with one sentence in err (errlen bytes). Not
 * thread-safe: the caller serialises. A failure is remembered: CPython cannot be started
 * twice, so later calls return the same sentence. */
const k8s_vtable* k8s_embed_start(const void* self_symbol, char* err, size_t errlen);

#endif
