/* What plugin_init checks of the init config without Python (config_check.c). */
#ifndef K8SAUDIT_OVH_CONFIG_CHECK_H
#define K8SAUDIT_OVH_CONFIG_CHECK_H

#include <stddef.h>

/* 0 when text is empty (only white space) or one JSON object; else -1 with one sentence in err
 * (n bytes). Syntax only: keys and values are checked by the Python config code. */
int k8s_config_check(const char* text, char* err, size_t n);

#endif
