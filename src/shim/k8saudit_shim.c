/*
 * libk8saudit-ovh.so: the library Falco loads.
 *
 * Identity and metadata (name, version, fields, schema...) are static C data, answered without
 * Python. plugin_init brings up CPython when the process has none (Falco), or joins the
 * interpreter of a Python host, imports k8saudit_ovh._plugin and takes its C function table
 * from a capsule; every stateful call then goes straight to that table. This library does not
 * link libpython (it would make even `falco --list-plugins` need it): it dlopen()s it with
 * RTLD_GLOBAL on first init, so the extension modules it imports resolve their Py* symbols.
 * Python.h is included for types only; every CPython function is called through dlsym.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "falco_plugin_abi.h"
#include "k8saudit_config_schema.h"
#include "k8saudit_fields.h"
#include "k8saudit_vtable.h"

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

/* ---------------------------------------------------------------- CPython, through dlsym */

typedef struct py_api {
    int (*IsInitialized)(void);
    void (*PyConfig_InitPythonConfig)(PyConfig*);
    PyStatus (*PyConfig_SetBytesString)(PyConfig*, wchar_t**, const char*);
    void (*PyConfig_Clear)(PyConfig*);
    PyStatus (*Py_InitializeFromConfig)(const PyConfig*);
    int (*PyStatus_Exception)(PyStatus);
    const char* (*Py_GetVersion)(void);
    PyGILState_STATE (*PyGILState_Ensure)(void);
    void (*PyGILState_Release)(PyGILState_STATE);
    PyThreadState* (*PyEval_SaveThread)(void);
    PyObject* (*PyImport_ImportModule)(const char*);
    PyObject* (*PyObject_GetAttrString)(PyObject*, const char*);
    void* (*PyCapsule_GetPointer)(PyObject*, const char*);
    PyObject* (*PyErr_Occurred)(void);
    void (*PyErr_Fetch)(PyObject**, PyObject**, PyObject**);
    void (*PyErr_Clear)(void);
    PyObject* (*PyObject_Str)(PyObject*);
    const char* (*PyUnicode_AsUTF8)(PyObject*);
    PyObject* (*PyUnicode_FromString)(const char*);
    PyObject* (*PySys_GetObject)(const char*);
    int (*PyList_Insert)(PyObject*, Py_ssize_t, PyObject*);
    int (*PySequence_Contains)(PyObject*, PyObject*);
    void (*Py_DecRef)(PyObject*);
} py_api;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const k8s_vtable* g_vt;
static py_api g_py;

static void set_err(char* err, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ERRLEN, fmt, ap);
    va_end(ap);
}

static int resolve_api(void* h, char* err) {
#define SYM(field, name)                                                                  \
    do {                                                                                  \
        *(void**)(&g_py.field) = dlsym(h, name);                                          \
        if (!g_py.field) {                                                                \
            set_err(err, "k8saudit-ovh: the CPython library lacks symbol %s", name);      \
            return -1;                                                                    \
        }                                                                                 \
    } while (0)
    SYM(IsInitialized, "Py_IsInitialized");
    SYM(PyConfig_InitPythonConfig, "PyConfig_InitPythonConfig");
    SYM(PyConfig_SetBytesString, "PyConfig_SetBytesString");
    SYM(PyConfig_Clear, "PyConfig_Clear");
    SYM(Py_InitializeFromConfig, "Py_InitializeFromConfig");
    SYM(PyStatus_Exception, "PyStatus_Exception");
    SYM(Py_GetVersion, "Py_GetVersion");
    SYM(PyGILState_Ensure, "PyGILState_Ensure");
    SYM(PyGILState_Release, "PyGILState_Release");
    SYM(PyEval_SaveThread, "PyEval_SaveThread");
    SYM(PyImport_ImportModule, "PyImport_ImportModule");
    SYM(PyObject_GetAttrString, "PyObject_GetAttrString");
    SYM(PyCapsule_GetPointer, "PyCapsule_GetPointer");
    SYM(PyErr_Occurred, "PyErr_Occurred");
    SYM(PyErr_Fetch, "PyErr_Fetch");
    SYM(PyErr_Clear, "PyErr_Clear");
    SYM(PyObject_Str, "PyObject_Str");
    SYM(PyUnicode_AsUTF8, "PyUnicode_AsUTF8");
    SYM(PyUnicode_FromString, "PyUnicode_FromString");
    SYM(PySys_GetObject, "PySys_GetObject");
    SYM(PyList_Insert, "PyList_Insert");
    SYM(PySequence_Contains, "PySequence_Contains");
    SYM(Py_DecRef, "Py_DecRef");
#undef SYM
    return 0;
}

/* Optional sidecar `k8saudit-ovh.runtime` next to the library (used by the falcoctl artifact):
 * lines `libpython=PATH|SONAME`, `home=PATH`, `path=DIR` (repeatable); relative paths are
 * relative to the library's directory. */
typedef struct runtime_conf {
    char dir[PATH_MAX];
    char libpython[PATH_MAX];
    char home[PATH_MAX];
    char paths[8][PATH_MAX];
    int npaths;
} runtime_conf;

static void resolve_rel(char* dst, const char* dir, const char* v) {
    if (v[0] == '/') snprintf(dst, PATH_MAX, "%s", v);
    else snprintf(dst, PATH_MAX, "%s/%s", dir, v);
}

static void load_runtime_conf(runtime_conf* rc) {
    Dl_info info;
    char real[PATH_MAX], file[PATH_MAX + 32], line[PATH_MAX + 32];
    memset(rc, 0, sizeof *rc);
    if (!dladdr((void*)&plugin_get_name, &info) || !info.dli_fname) return;
    if (!realpath(info.dli_fname, real)) return;
    char* slash = strrchr(real, '/');
    if (!slash) return;
    *slash = '\0';
    snprintf(rc->dir, sizeof rc->dir, "%s", real);
    snprintf(file, sizeof file, "%s/k8saudit-ovh.runtime", rc->dir);
    FILE* f = fopen(file, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strncmp(line, "libpython=", 10)) {
            /* a bare soname is left to ld.so's search path */
            if (strchr(line + 10, '/')) resolve_rel(rc->libpython, rc->dir, line + 10);
            else snprintf(rc->libpython, sizeof rc->libpython, "%s", line + 10);
        } else if (!strncmp(line, "home=", 5)) resolve_rel(rc->home, rc->dir, line + 5);
        else if (!strncmp(line, "path=", 5) && rc->npaths < 8)
            resolve_rel(rc->paths[rc->npaths++], rc->dir, line + 5);
    }
    fclose(f);
}

static int is_dir(const char* p) {
    struct stat st;
    return p && *p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char* p) {
    struct stat st;
    return p && *p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The current Python exception as text (and cleared). */
static void py_error_text(char* dst, size_t n) {
    PyObject *t = NULL, *v = NULL, *tb = NULL;
    g_py.PyErr_Fetch(&t, &v, &tb);
    const char* msg = NULL;
    PyObject* s = v ? g_py.PyObject_Str(v) : (t ? g_py.PyObject_Str(t) : NULL);
    if (s) msg = g_py.PyUnicode_AsUTF8(s);
    snprintf(dst, n, "%s", msg ? msg : "unknown Python error");
    if (!msg) g_py.PyErr_Clear();
    if (s) g_py.Py_DecRef(s);
    if (t) g_py.Py_DecRef(t);
    if (v) g_py.Py_DecRef(v);
    if (tb) g_py.Py_DecRef(tb);
}

static void add_sys_path(const char* dir) {
    if (!is_dir(dir)) return;
    PyObject* path = g_py.PySys_GetObject("path"); /* borrowed */
    PyObject* s = g_py.PyUnicode_FromString(dir);
    if (path && s && g_py.PySequence_Contains(path, s) == 0) g_py.PyList_Insert(path, 0, s);
    if (s) g_py.Py_DecRef(s);
    if (g_py.PyErr_Occurred()) g_py.PyErr_Clear();
}

/* With the GIL held: make our package importable and take the vtable. */
static int import_plugin(const runtime_conf* rc, char* err) {
    char parent[PATH_MAX], marker[PATH_MAX + 16];
    for (int i = rc->npaths - 1; i >= 0; i--) add_sys_path(rc->paths[i]);
    /* Installed layout: <site-packages>/k8saudit_ovh/libk8saudit-ovh.so */
    snprintf(marker, sizeof marker, "%s/__init__.py", rc->dir);
    if (is_file(marker)) {
        snprintf(parent, sizeof parent, "%s", rc->dir);
        char* slash = strrchr(parent, '/');
        if (slash) {
            *slash = '\0';
            add_sys_path(parent);
        }
    }
    PyObject* mod = g_py.PyImport_ImportModule("k8saudit_ovh._plugin");
    if (!mod) {
        char msg[ERRLEN - 128];
        py_error_text(msg, sizeof msg);
        set_err(err, "k8saudit-ovh: cannot import the plugin's Python package (k8saudit_ovh): %s",
                msg);
        return -1;
    }
    PyObject* cap = g_py.PyObject_GetAttrString(mod, "vtable");
    const k8s_vtable* vt = cap ? g_py.PyCapsule_GetPointer(cap, K8S_VTABLE_CAPSULE) : NULL;
    if (cap) g_py.Py_DecRef(cap);
    g_py.Py_DecRef(mod);
    if (!vt || vt->version != K8S_VTABLE_VERSION) {
        if (g_py.PyErr_Occurred()) g_py.PyErr_Clear();
        set_err(err, "k8saudit-ovh: k8saudit_ovh._plugin does not match this library "
                     "(reinstall the package)");
        return -1;
    }
    g_vt = vt;
    return 0;
}

static int check_version(char* err) {
    const char* v = g_py.Py_GetVersion();
    size_t n = strlen(K8S_PYTHON_VERSION);
    if (strncmp(v, K8S_PYTHON_VERSION, n) != 0 || (v[n] != '.' && v[n] != ' ' && v[n] != '+')) {
        set_err(err, "k8saudit-ovh: built for CPython %s but the process runs CPython %.20s",
                K8S_PYTHON_VERSION, v);
        return -1;
    }
    return 0;
}

static void* open_libpython(const runtime_conf* rc, char* err) {
    const char* cands[4];
    int n = 0;
    const char* env = getenv("K8SAUDIT_OVH_LIBPYTHON");
    if (env && *env) cands[n++] = env;
    if (rc->libpython[0]) cands[n++] = rc->libpython;
    if (K8S_LIBPYTHON_PATH[0]) cands[n++] = K8S_LIBPYTHON_PATH;
    if (K8S_LIBPYTHON_SONAME[0]) cands[n++] = K8S_LIBPYTHON_SONAME;
    char tried[ERRLEN / 2] = "";
    for (int i = 0; i < n; i++) {
        void* h = dlopen(cands[i], RTLD_NOW | RTLD_GLOBAL);
        if (h) return h;
        size_t used = strlen(tried);
        snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "", dlerror());
    }
    set_err(err,
            "k8saudit-ovh: this plugin runs on CPython %s and the process has no Python: cannot "
            "load the CPython shared library (%s). Install it (Debian: apt-get install "
            "libpython%s) or set K8SAUDIT_OVH_LIBPYTHON to its path",
            K8S_PYTHON_VERSION, tried, K8S_PYTHON_VERSION);
    return NULL;
}

/* Called with g_lock held. */
static int ensure_python(char* err) {
    runtime_conf rc;
    if (g_vt) return 0;
    load_runtime_conf(&rc);

    void* self = dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    int (*is_init)(void) = (int (*)(void))self;
    if (is_init && is_init()) {
        /* The host is a Python process (or CPython is already up): join its interpreter. */
        if (resolve_api(RTLD_DEFAULT, err) != 0 || check_version(err) != 0) return -1;
        PyGILState_STATE g = g_py.PyGILState_Ensure();
        int r = import_plugin(&rc, err);
        g_py.PyGILState_Release(g);
        return r;
    }

    void* h = open_libpython(&rc, err);
    if (!h || resolve_api(h, err) != 0 || check_version(err) != 0) return -1;
    if (g_py.IsInitialized()) {   /* loaded by someone else, and up */
        PyGILState_STATE g = g_py.PyGILState_Ensure();
        int r = import_plugin(&rc, err);
        g_py.PyGILState_Release(g);
        return r;
    }

    PyConfig cfg;
    g_py.PyConfig_InitPythonConfig(&cfg);
    cfg.install_signal_handlers = 0;  /* Falco owns SIGINT/SIGTERM/SIGHUP */
    cfg.parse_argv = 0;
    cfg.user_site_directory = 0;
    const char* home = getenv("K8SAUDIT_OVH_PYTHONHOME");
    if (!(home && *home)) home = rc.home[0] ? rc.home : NULL;
    /* The build-time home only goes with the build-time libpython: a relocated runtime
     * (sidecar libpython) uses its interpreter's own prefix. */
    if (!home && !rc.libpython[0] && is_dir(K8S_PYTHON_HOME)) home = K8S_PYTHON_HOME;
    if (home) {
        PyStatus st = g_py.PyConfig_SetBytesString(&cfg, &cfg.home, home);
        if (g_py.PyStatus_Exception(st)) {
            g_py.PyConfig_Clear(&cfg);
            set_err(err, "k8saudit-ovh: invalid Python home '%s'", home);
            return -1;
        }
    }
    PyStatus st = g_py.Py_InitializeFromConfig(&cfg);
    g_py.PyConfig_Clear(&cfg);
    if (g_py.PyStatus_Exception(st)) {
        set_err(err, "k8saudit-ovh: cannot start CPython %s (home %s): %s", K8S_PYTHON_VERSION,
                home ? home : "default", st.err_msg ? st.err_msg : "unknown error");
        return -1;
    }
    int r = import_plugin(&rc, err);
    /* Release the GIL for good: from now on every call takes it only when it needs Python. */
    g_py.PyEval_SaveThread();
    return r;
}

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


typedef struct shim_state {
    ss_plugin_t* inner;
    char err[ERRLEN];
} shim_state;

EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc) {
    shim_state* st = calloc(1, sizeof *st);
    if (!st) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    pthread_mutex_lock(&g_lock);
    int ok = ensure_python(st->err) == 0;
    pthread_mutex_unlock(&g_lock);
    if (ok) st->inner = g_vt->init(in && in->config ? in->config : "", st->err, ERRLEN);
    *rc = st->inner ? SS_PLUGIN_SUCCESS : SS_PLUGIN_FAILURE;
    return st;
}

EXPORT void plugin_destroy(ss_plugin_t* s) {
    shim_state* st = s;
    if (!st) return;
    if (st->inner) {
        pipe_guard g;
        pipe_block(&g);
        g_vt->destroy(st->inner);
        pipe_restore(&g);
    }
    free(st);
}

EXPORT const char* plugin_get_last_error(ss_plugin_t* s) {
    shim_state* st = s;
    if (!st) return "k8saudit-ovh: no plugin state";
    return st->inner ? g_vt->get_last_error(st->inner) : st->err;
}

EXPORT ss_instance_t* plugin_open(ss_plugin_t* s, const char* params, ss_plugin_rc* rc) {
    shim_state* st = s;
    pipe_guard g;
    if (!st || !st->inner) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    pipe_block(&g);
    ss_instance_t* h = g_vt->open(st->inner, params ? params : "", rc);
    pipe_restore(&g);
    return h;
}

EXPORT void plugin_close(ss_plugin_t* s, ss_instance_t* h) {
    shim_state* st = s;
    pipe_guard g;
    if (!(st && st->inner && h)) return;
    pipe_block(&g);
    g_vt->close(st->inner, h);
    pipe_restore(&g);
}

EXPORT ss_plugin_rc plugin_next_batch(ss_plugin_t* s, ss_instance_t* h, uint32_t* nevts,
                                      ss_plugin_event*** evts) {
    *nevts = 0;
    return g_vt->next_batch(((shim_state*)s)->inner, h, nevts, evts);
}

EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t* s, const ss_plugin_event_input* evt,
                                          const ss_plugin_field_extract_input* in) {
    return g_vt->extract_fields(((shim_state*)s)->inner, evt, in);
}

EXPORT const char* plugin_event_to_string(ss_plugin_t* s, const ss_plugin_event_input* evt) {
    return g_vt->event_to_string(((shim_state*)s)->inner, evt);
}

EXPORT ss_plugin_metric* plugin_get_metrics(ss_plugin_t* s, uint32_t* num_metrics) {
    shim_state* st = s;
    if (!st || !st->inner) {
        *num_metrics = 0;
        return NULL;
    }
    return g_vt->get_metrics(st->inner, num_metrics);
}
