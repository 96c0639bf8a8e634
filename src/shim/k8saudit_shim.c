/*
 * libk8saudit-ovh.so: the library Falco loads.
 *
 * Identity and metadata (name, version, fields, schema...) are static C data, answered without
 * Python. plugin_init only checks that the config is a JSON object and keeps a copy: `falco
 * --list`, `--list-plugins` and inspectors that init the plugin but never open it must not pay
 * for (or fail on) CPython. The first call that needs the Python side (open, extract_fields,
 * event_to_string) brings up CPython when the process has none (Falco), or joins the
 * interpreter of a Python host (pyembed.c), imports k8saudit_ovh._plugin, takes its C function
 * table from a capsule and builds the state's Python half from the config; every stateful call
 * then goes straight to that table. This library does not link libpython (it would make even
 * `falco --list-plugins` need it).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "falco_plugin_abi.h"
#include "config_check.h"
#include "k8saudit_config_schema.h"
#include "k8saudit_fields.h"
#include "k8saudit_vtable.h"
#include "pyembed.h"

#define EXPORT __attribute__((visibility("default")))
#define ERRLEN 1024

/* The version comes from the build (src/k8saudit_ovh/__init__.py, through CMake): no copy here. */
#ifndef K8S_PLUGIN_VERSION
#error "K8S_PLUGIN_VERSION must be defined by the build (CMakeLists.txt)"
#endif

/* ---------------------------------------------------------------- identity */

static const char PLUGIN_NAME[] = "k8saudit-ovh";
static const char PLUGIN_DESCRIPTION[] =
    "Read Kubernetes audit events of OVHcloud MKS clusters from OVHcloud Logs Data Platform "
    "(WebSocket live tail) or from audit log files, and extract the ka.* fields of k8saudit";
static const char PLUGIN_CONTACT[] = "https://github.com/k8saudit-ovh/k8saudit-ovh";
static const char PLUGIN_REQUIRED_API[] = "3.0.0";
static const uint32_t PLUGIN_ID = 22;
static const char PLUGIN_SOURCE[] = "k8s_audit";
static const char PLUGIN_EXTRACT_SOURCES[] = "[\"k8s_audit\"]";
static const char PLUGIN_OPEN_PARAMS[] =
    "[{\"value\":\"wss://gra1.logs.ovh.com/tail/?tk=<token>#cluster=<name>\",\"desc\":\"OVHcloud "
    "LDP WebSocket live tail of the stream that receives the MKS audit logs (the address given by "
    "the LDP manager's 'Copy WebSocket address'; the wss:// scheme is optional). '#cluster=<name>' "
    "(optional) fills ka.cluster.name for that stream. Several streams: join the URLs with ','. "
    "Runs until closed; reconnects by itself\",\"separator\":\",\"},"
    "{\"value\":\"/var/log/kubernetes/audit.log\",\"desc\":\"An audit log file (JSON Lines of "
    "Event, EventList or arrays; or one JSON document), a file:// URL or a directory: read once, "
    "then EOF\",\"separator\":\"\"}]";

EXPORT const char* plugin_get_required_api_version(void) { return PLUGIN_REQUIRED_API; }
EXPORT const char* plugin_get_version(void) { return K8S_PLUGIN_VERSION; }
EXPORT const char* plugin_get_name(void) { return PLUGIN_NAME; }
EXPORT const char* plugin_get_description(void) { return PLUGIN_DESCRIPTION; }
EXPORT const char* plugin_get_contact(void) { return PLUGIN_CONTACT; }
EXPORT uint32_t plugin_get_id(void) { return PLUGIN_ID; }
EXPORT const char* plugin_get_event_source(void) { return PLUGIN_SOURCE; }
EXPORT const char* plugin_get_extract_event_sources(void) { return PLUGIN_EXTRACT_SOURCES; }

EXPORT const char* plugin_get_init_schema(ss_plugin_schema_type* schema_type) {
    *schema_type = SS_PLUGIN_SCHEMA_JSON;
    return K8S_INIT_SCHEMA;
}

/* The fields JSON is rendered once from the K8S_FIELDS table. */
static pthread_once_t g_fields_once = PTHREAD_ONCE_INIT;
static char* g_fields_json;

static size_t json_escape(char* dst, const char* s) {
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            if (dst) { dst[n] = '\\'; dst[n + 1] = (char)c; }
            n += 2;
        } else if (c < 0x20) {
            if (dst) snprintf(dst + n, 7, "\\u%04x", c);
            n += 6;
        } else {
            if (dst) dst[n] = (char)c;
            n += 1;
        }
    }
    return n;
}

static size_t render_fields(char* out) {
    static const char* const B[] = {"false", "true"};
    size_t n = 0;
    char tmp[256];
    if (out) out[n] = '[';
    n++;
    for (int i = 0; i < K8S_NUM_FIELDS; i++) {
        const k8s_field_def* f = &K8S_FIELDS[i];
        int m = snprintf(tmp, sizeof tmp,
                         "%s{\"name\":\"%s\",\"type\":\"string\",\"isList\":%s,"
                         "\"arg\":{\"isRequired\":%s,\"isIndex\":%s,\"isKey\":%s},\"desc\":\"",
                         i ? "," : "", f->name, B[f->is_list != 0], B[f->is_required != 0],
                         B[f->is_index != 0], B[f->is_key != 0]);
        if (out) memcpy(out + n, tmp, (size_t)m);
        n += (size_t)m;
        n += json_escape(out ? out + n : NULL, f->desc);
        if (out) memcpy(out + n, "\"}", 2);
        n += 2;
    }
    if (out) { out[n] = ']'; out[n + 1] = '\0'; }
    return n + 2;
}

static void build_fields_json(void) {
    size_t n = render_fields(NULL);
    char* p = malloc(n);
    if (p) render_fields(p);
    g_fields_json = p;
}

EXPORT const char* plugin_get_fields(void) {
    pthread_once(&g_fields_once, build_fields_json);
    return g_fields_json ? g_fields_json : "[]";
}

EXPORT const char* plugin_list_open_params(ss_plugin_t* s, ss_plugin_rc* rc) {
    (void)s;
    *rc = SS_PLUGIN_SUCCESS;
    return PLUGIN_OPEN_PARAMS;
}

/* ---------------------------------------------------------------- the embedded runtime */

/* CPython is started (or joined) once per process, at the first call that needs the Python
 * side (lazy_build); g_lock makes that one-time start race-free when two states reach it from
 * two threads (libsinsp runs each inspector on its own thread). The failure text of a start
 * that cannot be retried is remembered by pyembed.c itself. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const k8s_vtable* g_vt;

/* ---------------------------------------------------------------- stateful calls */

/* The embedded interpreter installs no signal handlers, so a write on a socket closed by the
 * peer would raise SIGPIPE and kill Falco. Calls that start or stop source threads run with
 * SIGPIPE blocked: the threads they start inherit the mask (and get EPIPE instead), and a
 * SIGPIPE raised meanwhile on the calling thread is discarded before its mask is restored. */
typedef struct pipe_guard {
    sigset_t pipe;
    sigset_t old;
} pipe_guard;

static void pipe_block(pipe_guard* g) {
    sigemptyset(&g->pipe);
    sigaddset(&g->pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &g->pipe, &g->old);
}

static void pipe_restore(pipe_guard* g) {
    sigset_t pending;
    static const struct timespec zero = {0, 0};
    if (!sigismember(&g->old, SIGPIPE) && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE))
        sigtimedwait(&g->pipe, NULL, &zero);
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/*
 * A plugin state. plugin_init only copies the config (after a syntax check): Falco inits the
 * plugin for `--list` and in inspectors that never open it, and none of that may start CPython.
 * The Python side (`inner`, built by the table's init) comes with the first call that needs it:
 * open, extract_fields, event_to_string (lazy_build).
 *
 * `vt` is the switch: NULL until `inner` is built, then the function table, stored with release
 * order after `inner`. Calls on one state are serialised by the ABI, except get_metrics, which
 * Falco's webserver thread may make at any time: it loads `vt` with acquire order, so a non-NULL
 * `vt` there comes with a complete `inner`. On the hot path, extract_fields pays one load and
 * one well-predicted branch for this (2 instructions a call), next_batch nothing.
 */
typedef struct shim_state {
    const k8s_vtable* vt;
    ss_plugin_t* inner;
    char* config;           /* the init config, until inner is built from it */
    int failed;             /* building inner failed: err says why, and it is not retried */
    char err[ERRLEN];
} shim_state;

static inline const k8s_vtable* state_vt(const shim_state* st) {
    return __atomic_load_n(&st->vt, __ATOMIC_ACQUIRE);
}

/* Builds st->inner, starting CPython first if no state of this process did. 0 when inner is
 * there; -1 with the reason in st->err otherwise. A failed build is not retried for the state:
 * the config or runtime that made it fail has not changed, and the hot path must not run Python
 * per call. */
static int lazy_build(shim_state* st) {
    if (st->vt) return 0;
    if (st->failed) return -1;
    pthread_mutex_lock(&g_lock);
    if (!g_vt) g_vt = k8s_embed_start((const void*)&plugin_get_name, st->err, ERRLEN);
    const k8s_vtable* vt = g_vt;
    pthread_mutex_unlock(&g_lock);
    /* The table's init takes the GIL itself: two states built at once take turns there. */
    ss_plugin_t* inner = vt ? vt->init(st->config, st->err, ERRLEN) : NULL;
    if (!inner) {
        st->failed = 1;
        return -1;
    }
    st->inner = inner;
    free(st->config);
    st->config = NULL;
    __atomic_store_n(&st->vt, vt, __ATOMIC_RELEASE);
    return 0;
}

/* Field extraction fails silently in Falco (an empty value, no get_last_error), and in capture
 * mode it is the first call that needs Python: say once per state why every field is empty. */
static void report_extraction_off(shim_state* st) {
    fprintf(stderr, "[k8saudit-ovh] ERROR field extraction is off for this plugin state: %s\n",
            st->err);
    fflush(stderr);
}

EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc) {
    shim_state* st = calloc(1, sizeof *st);
    const char* config = in && in->config ? in->config : "";
    if (!st) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    /* The host's config string lives only during this call. */
    st->config = strdup(config);
    if (!st->config) {
        snprintf(st->err, ERRLEN, "k8saudit-ovh: out of memory");
        st->failed = 1;
    } else if (k8s_config_check(config, st->err, ERRLEN) != 0) {
        st->failed = 1;
    }
    *rc = st->failed ? SS_PLUGIN_FAILURE : SS_PLUGIN_SUCCESS;
    return st;
}

EXPORT void plugin_destroy(ss_plugin_t* s) {
    shim_state* st = s;
    if (!st) return;
    if (st->vt) {
        pipe_guard g;
        pipe_block(&g);
        st->vt->destroy(st->inner);
        pipe_restore(&g);
    }
    free(st->config);
    free(st);
}

EXPORT const char* plugin_get_last_error(ss_plugin_t* s) {
    shim_state* st = s;
    if (!st) return "k8saudit-ovh: no plugin state";
    return st->vt ? st->vt->get_last_error(st->inner) : st->err;
}

EXPORT ss_instance_t* plugin_open(ss_plugin_t* s, const char* params, ss_plugin_rc* rc) {
    shim_state* st = s;
    pipe_guard g;
    ss_instance_t* h = NULL;
    if (!st) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    pipe_block(&g);
    if (lazy_build(st) != 0)
        *rc = SS_PLUGIN_FAILURE; /* Falco stops with get_last_error's text: st->err */
    else
        h = st->vt->open(st->inner, params ? params : "", rc);
    pipe_restore(&g);
    return h;
}

EXPORT void plugin_close(ss_plugin_t* s, ss_instance_t* h) {
    shim_state* st = s;
    pipe_guard g;
    if (!(st && st->vt && h)) return;
    pipe_block(&g);
    st->vt->close(st->inner, h);
    pipe_restore(&g);
}

/* Only called with an instance of a successful open, so the state is built and g_vt is set (that
 * open read it under g_lock): no check. g_vt rather than st->vt: the compiler can then load the
 * table after the store to *nevts without keeping st in a register (4 instructions, as before
 * the lazy start). */
EXPORT ss_plugin_rc plugin_next_batch(ss_plugin_t* s, ss_instance_t* h, uint32_t* nevts,
                                      ss_plugin_event*** evts) {
    *nevts = 0;
    return g_vt->next_batch(((shim_state*)s)->inner, h, nevts, evts);
}

static __attribute__((noinline, cold)) ss_plugin_rc
extract_first(shim_state* st, const ss_plugin_event_input* evt,
              const ss_plugin_field_extract_input* in) {
    int was_failed = st->failed;
    if (lazy_build(st) != 0) {
        for (uint32_t i = 0; i < in->num_fields; i++) in->fields[i].res_len = 0;
        if (!was_failed) report_extraction_off(st);
        return SS_PLUGIN_FAILURE;
    }
    return st->vt->extract_fields(st->inner, evt, in);
}

EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t* s, const ss_plugin_event_input* evt,
                                          const ss_plugin_field_extract_input* in) {
    shim_state* st = s;
    const k8s_vtable* vt = __atomic_load_n(&st->vt, __ATOMIC_RELAXED);
    if (__builtin_expect(vt == NULL, 0)) return extract_first(st, evt, in);
    return vt->extract_fields(st->inner, evt, in);
}

EXPORT const char* plugin_event_to_string(ss_plugin_t* s, const ss_plugin_event_input* evt) {
    shim_state* st = s;
    if (__builtin_expect(st->vt == NULL, 0)) {
        int was_failed = st->failed;
        if (lazy_build(st) != 0) {
            if (!was_failed) report_extraction_off(st);
            return ""; /* the host then prints its own summary of the event */
        }
    }
    return st->vt->event_to_string(st->inner, evt);
}

/* Before the Python side is built there are no counters yet: zero metrics, which the ABI allows
 * (plugin-abi.md 2.3); they appear with the first open or extraction. Their names are defined
 * once, by the Python side, and not repeated here. */
EXPORT ss_plugin_metric* plugin_get_metrics(ss_plugin_t* s, uint32_t* num_metrics) {
    shim_state* st = s;
    const k8s_vtable* vt = st ? state_vt(st) : NULL;
    if (!vt) {
        *num_metrics = 0;
        return NULL;
    }
    return vt->get_metrics(st->inner, num_metrics);
}
