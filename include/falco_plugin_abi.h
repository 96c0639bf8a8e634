/*
 * k8saudit-ovh: our own declarations of the Falco plugin C ABI, written from
 * the interface facts (names, values, layouts) of plugin API 3.0.0.
 *
 * We declare API 3.0.0 so the plugin loads in Falco 0.35 .. 0.44. Structs the host
 * passes in only grow by appending members, so these declarations stop at the
 * last member that exists in 3.0.0: reading further would read past the struct of
 * an old host.
 */
#ifndef K8SAUDIT_OVH_FALCO_PLUGIN_ABI_H
#define K8SAUDIT_OVH_FALCO_PLUGIN_ABI_H

#include <stdint.h>
#include "k8saudit_event.h"   /* the layout of the events behind ss_plugin_event */

#ifdef __cplusplus
extern "C" {
#endif


typedef uint32_t ss_plugin_bool;
typedef void ss_plugin_t;
typedef void ss_instance_t;
typedef void ss_plugin_owner_t;

typedef enum ss_plugin_rc {
    SS_PLUGIN_SUCCESS = 0,
    SS_PLUGIN_FAILURE = 1,
    SS_PLUGIN_TIMEOUT = -1,
    SS_PLUGIN_EOF = 2,
    SS_PLUGIN_NOT_SUPPORTED = 3,
} ss_plugin_rc;

typedef enum ss_plugin_schema_type {
    SS_PLUGIN_SCHEMA_NONE = 0,
    SS_PLUGIN_SCHEMA_JSON = 1,
} ss_plugin_schema_type;

typedef enum ss_plugin_field_type {
    FTYPE_UINT64 = 8,
    FTYPE_STRING = 9,
    FTYPE_RELTIME = 20,
    FTYPE_ABSTIME = 21,
    FTYPE_BOOL = 25,
    FTYPE_IPADDR = 40,
    FTYPE_IPNET = 41,
} ss_plugin_field_type;

typedef enum ss_plugin_metric_type {
    SS_PLUGIN_METRIC_TYPE_MONOTONIC = 0,
    SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC = 1,
} ss_plugin_metric_type;

typedef enum ss_plugin_metric_value_type {
    SS_PLUGIN_METRIC_VALUE_TYPE_U32 = 0,
    SS_PLUGIN_METRIC_VALUE_TYPE_S32 = 1,
    SS_PLUGIN_METRIC_VALUE_TYPE_U64 = 2,
    SS_PLUGIN_METRIC_VALUE_TYPE_S64 = 3,
    SS_PLUGIN_METRIC_VALUE_TYPE_D = 4,
    SS_PLUGIN_METRIC_VALUE_TYPE_F = 5,
    SS_PLUGIN_METRIC_VALUE_TYPE_I = 6,
} ss_plugin_metric_value_type;

/* The libscap event header: packed, 26 bytes. */
#pragma pack(push, 1)
typedef struct ss_plugin_event {
    uint64_t ts;       /* ns since epoch; UINT64_MAX = "host stamps now" */
    uint64_t tid;      /* UINT64_MAX for plugin events */
    uint32_t len;      /* whole event, header included */
    uint16_t type;     /* 322 */
    uint32_t nparams;  /* 2 */
} ss_plugin_event;
#pragma pack(pop)

typedef struct ss_plugin_event_input {
    const ss_plugin_event* evt;
    uint64_t evtnum;
    const char* evtsrc;
} ss_plugin_event_input;

typedef struct ss_plugin_byte_buffer {
    uint32_t len;
    const void* ptr;
} ss_plugin_byte_buffer;

typedef union ss_plugin_extract_result {
    const char** str;
    uint64_t* u64;
    uint32_t* u32;
    ss_plugin_bool* boolean;
    ss_plugin_byte_buffer* buf;
} ss_plugin_extract_result;

typedef struct ss_plugin_extract_field {
    ss_plugin_extract_result res;
    uint64_t res_len;
    uint32_t field_id;
    const char* field;
    const char* arg_key;
    uint64_t arg_index;
    ss_plugin_bool arg_present;
    uint32_t ftype;
    ss_plugin_bool flist;
} ss_plugin_extract_field;

/* Up to the 3.0.0 members only: table_reader_ext (3.1) and value_offsets (3.11)
 * are deliberately absent. */
typedef struct ss_plugin_field_extract_input {
    ss_plugin_owner_t* owner;
    const char* (*get_owner_last_error)(ss_plugin_owner_t* o);
    uint32_t num_fields;
    ss_plugin_extract_field* fields;
    void* table_reader_opaque[4];
} ss_plugin_field_extract_input;

/* 3.0.0 members only: log_fn (3.4) is deliberately absent. */
typedef struct ss_plugin_init_input {
    const char* config;
    ss_plugin_owner_t* owner;
    const char* (*get_owner_last_error)(ss_plugin_owner_t* o);
    const void* tables;
} ss_plugin_init_input;

typedef union ss_plugin_metric_value {
    uint32_t u32;
    int32_t s32;
    uint64_t u64;
    int64_t s64;
    double d;
    float f;
    int i;
} ss_plugin_metric_value;

typedef struct ss_plugin_metric {
    const char* name;
    ss_plugin_metric_type type;
    ss_plugin_metric_value value;
    ss_plugin_metric_value_type value_type;
} ss_plugin_metric;

/* Every name a host looks up with dlsym("plugin_" + name), in Falco's order, and who must have
 * it: REQUIRED every plugin, SOURCING a plugin with event sourcing, EXTRACTION one with field
 * extraction, OPTIONAL none. The C test host expands this list; the ctypes host
 * (k8saudit_ovh_cli/host.py) reads its lines, one X(name, KIND) per line. */
#define K8S_PLUGIN_API_SYMBOLS(X) \
    X(get_required_api_version, REQUIRED) \
    X(get_version, REQUIRED) \
    X(get_last_error, REQUIRED) \
    X(get_name, REQUIRED) \
    X(get_description, REQUIRED) \
    X(get_contact, REQUIRED) \
    X(get_init_schema, OPTIONAL) \
    X(init, REQUIRED) \
    X(destroy, REQUIRED) \
    X(get_id, SOURCING) \
    X(get_event_source, SOURCING) \
    X(open, SOURCING) \
    X(close, SOURCING) \
    X(next_batch, SOURCING) \
    X(get_progress, OPTIONAL) \
    X(list_open_params, OPTIONAL) \
    X(event_to_string, OPTIONAL) \
    X(get_fields, EXTRACTION) \
    X(extract_fields, EXTRACTION) \
    X(get_extract_event_sources, OPTIONAL) \
    X(get_extract_event_types, OPTIONAL) \
    X(get_parse_event_types, OPTIONAL) \
    X(get_parse_event_sources, OPTIONAL) \
    X(parse_event, OPTIONAL) \
    X(get_async_event_sources, OPTIONAL) \
    X(get_async_events, OPTIONAL) \
    X(set_async_event_handler, OPTIONAL) \
    X(dump_state, OPTIONAL) \
    X(set_config, OPTIONAL) \
    X(get_metrics, OPTIONAL) \
    X(capture_open, OPTIONAL) \
    X(capture_close, OPTIONAL) \
    X(get_required_event_schema_version, OPTIONAL)

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
_Static_assert(sizeof(ss_plugin_event) == 26, "event header is 26 packed bytes");
_Static_assert(sizeof(ss_plugin_event_input) == 24, "event input is 24 bytes");
_Static_assert(sizeof(ss_plugin_extract_field) == 64, "extract field is 64 bytes");
_Static_assert(sizeof(ss_plugin_field_extract_input) == 64, "3.0 extract input is 64 bytes");
_Static_assert(sizeof(ss_plugin_init_input) == 32, "3.0 init input is 32 bytes");
_Static_assert(sizeof(ss_plugin_metric) == 32, "metric is 32 bytes");
_Static_assert(sizeof(ss_plugin_byte_buffer) == 16, "byte buffer is 16 bytes");
#endif

#endif
