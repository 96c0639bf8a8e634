/*
 * Finding and starting the CPython that runs k8saudit_ovh._plugin.
 *
 * Two layouts, told apart by the folder next to the library:
 *   bundled  (the falcoctl artifact)  <dir>/libk8saudit-ovh.so
 *                                     <dir>/k8saudit-ovh-runtime/lib/libpython3.X.so.1.0 (+ OpenSSL...)
 *                                     <dir>/k8saudit-ovh-runtime/python3X.zip   standard library
 *                                     <dir>/k8saudit-ovh-runtime/lib-dynload/   its extension modules
 *                                     <dir>/k8saudit-ovh-runtime/site-packages/ k8saudit_ovh, websockets
 *     Everything comes from that folder, found from this library's own path (dladdr); nothing
 *     of the build machine, of the environment or of a Python installed on the host is used.
 *   installed (pip install .)         <site-packages>/k8saudit_ovh/libk8saudit-ovh.so, with the
 *     CPython the package was built by (its library, standard library and lib-dynload as
 *     recorded at build time; K8SAUDIT_OVH_LIBPYTHON / K8SAUDIT_OVH_PYTHONHOME override them).
 *
 * The interpreter is started isolated (PyConfig_InitIsolatedConfig: no PYTHON* variables, no
 * user site, no site module, an explicit sys.path), in UTF-8 mode (Falco runs in the C locale),
 * without signal handlers (Falco owns them). PyConfig's layout is version-specific, so the
 * library's CPython version is checked against the headers this file was compiled with before
 * any PyConfig is touched. libpython is dlopen'ed RTLD_GLOBAL: extension modules resolve their
 * Py* symbols against it even when the host dlopen'ed this library RTLD_LOCAL.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pyembed.h"

#define NPATHS 3

typedef struct py_api {
    int (*IsInitialized)(void);
    void (*PyPreConfig_InitIsolatedConfig)(PyPreConfig*);
    PyStatus (*Py_PreInitialize)(const PyPreConfig*);
    void (*PyConfig_InitIsolatedConfig)(PyConfig*);
    PyStatus (*PyConfig_SetBytesString)(PyConfig*, wchar_t**, const char*);
    PyStatus (*PyWideStringList_Append)(PyWideStringList*, const wchar_t*);
    wchar_t* (*Py_DecodeLocale)(const char*, size_t*);
    void (*PyMem_RawFree)(void*);
    void (*PyConfig_Clear)(PyConfig*);
    PyStatus (*Py_InitializeFromConfig)(const PyConfig*);
    int (*PyStatus_Exception)(PyStatus);
    PyGILState_STATE (*PyGILState_Ensure)(void);
    void (*PyGILState_Release)(PyGILState_STATE);
    PyThreadState* (*PyEval_SaveThread)(void);
    PyObject* (*PyImport_ImportModule)(const char*);
    PyObject* (*PyObject_GetAttrString)(PyObject*, const char*);
    int (*PyCapsule_IsValid)(PyObject*, const char*);
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

typedef struct layout {
    int bundled;
    char dir[PATH_MAX];                 /* folder of this library */
    char libpython[PATH_MAX];
    char home[PATH_MAX];
    char paths[NPATHS][PATH_MAX];       /* sys.path, in order */
    int npaths;
} layout;

static py_api g_py;
static const k8s_vtable* g_vt;
static int g_started;                   /* this library initialised CPython */
static char g_fatal[1024];              /* CPython failed to start: it cannot be retried */

static void fail(char* err, size_t n, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char* err, size_t n, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

static int is_dir(const char* p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char* p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A truncated path would name another file: it counts as an error (non-zero). */
static int join_path(char* dst, const char* a, const char* b) {
    return snprintf(dst, PATH_MAX, "%s/%s", a, b) >= PATH_MAX;
}

static int find_layout(const void* self_symbol, layout* lo, char* err, size_t n) {
    Dl_info info;
    char real[PATH_MAX], rt[PATH_MAX];
    memset(lo, 0, sizeof *lo);
    if (!dladdr(self_symbol, &info) || !info.dli_fname || !realpath(info.dli_fname, real)) {
        fail(err, n, "k8saudit-ovh: cannot tell where libk8saudit-ovh.so is (dladdr/realpath "
                     "failed), so its runtime cannot be found");
        return -1;
    }
    char* slash = strrchr(real, '/');
    *slash = '\0';
    snprintf(lo->dir, sizeof lo->dir, "%s", real[0] ? real : "/");
    int longer = join_path(rt, lo->dir, K8S_RUNTIME_DIR);
    if (!longer && is_dir(rt)) {
        lo->bundled = 1;
        longer |= join_path(lo->libpython, rt, "lib/" K8S_LIBPYTHON_SONAME);
        snprintf(lo->home, sizeof lo->home, "%s", rt);
        longer |= join_path(lo->paths[0], rt, K8S_STDLIB_ZIP);
        longer |= join_path(lo->paths[1], rt, "lib-dynload");
        longer |= join_path(lo->paths[2], rt, "site-packages");
        lo->npaths = 3;
        if (longer) {
            fail(err, n, "k8saudit-ovh: the plugins folder path %s is too long", lo->dir);
            return -1;
        }
        return 0;
    }
    const char* env_lib = getenv("K8SAUDIT_OVH_LIBPYTHON");
    const char* env_home = getenv("K8SAUDIT_OVH_PYTHONHOME");
    if (env_lib && *env_lib) snprintf(lo->libpython, sizeof lo->libpython, "%s", env_lib);
    else snprintf(lo->libpython, sizeof lo->libpython, "%s",
                  K8S_LIBPYTHON_PATH[0] ? K8S_LIBPYTHON_PATH : K8S_LIBPYTHON_SONAME);
    if (env_home && *env_home) {
        snprintf(lo->home, sizeof lo->home, "%s", env_home);
        if (join_path(lo->paths[0], env_home, "lib/python" K8S_PYTHON_VERSION) ||
            join_path(lo->paths[1], lo->paths[0], "lib-dynload")) {
            fail(err, n, "k8saudit-ovh: K8SAUDIT_OVH_PYTHONHOME is too long");
            return -1;
        }
    } else {
        snprintf(lo->home, sizeof lo->home, "%s", K8S_PYTHON_HOME);
        snprintf(lo->paths[0], PATH_MAX, "%s", K8S_PYTHON_STDLIB);
        snprintf(lo->paths[1], PATH_MAX, "%s", K8S_PYTHON_DYNLOAD);
    }
    /* <site-packages>/k8saudit_ovh/libk8saudit-ovh.so: site-packages holds the package and
     * its dependencies */
    snprintf(lo->paths[2], PATH_MAX, "%s", lo->dir);
    slash = strrchr(lo->paths[2], '/');
    if (slash && slash != lo->paths[2]) *slash = '\0';
    lo->npaths = 3;
    return 0;
}

/* The pieces of a bundled runtime that must be there before CPython is started. */
static int check_bundle(const layout* lo, char* err, size_t n) {
    if (!is_file(lo->libpython)) {
        fail(err, n, "k8saudit-ovh: the bundled CPython library %s is missing: the plugin "
                     "artifact is incomplete, install it again (falcoctl artifact install "
                     "k8saudit-ovh)", lo->libpython);
        return -1;
    }
    static const char* const what[NPATHS] = {"standard library", "standard extension modules",
                                             "site-packages"};
    for (int i = 0; i < NPATHS; i++) {
        int ok = i == 0 ? is_file(lo->paths[i]) : is_dir(lo->paths[i]);
        if (!ok) {
            fail(err, n, "k8saudit-ovh: the bundled Python home %s has no %s (%s is missing): "
                         "the plugin artifact is incomplete, install it again",
                 lo->home, what[i], lo->paths[i]);
            return -1;
        }
    }
    return 0;
}

static int resolve_api(void* h, char* err, size_t n) {
#define SYM(field, name)                                                                      \
    do {                                                                                      \
        *(void**)(&g_py.field) = dlsym(h, name);                                              \
        if (!g_py.field) {                                                                    \
            fail(err, n, "k8saudit-ovh: the CPython library lacks symbol %s: it is not a "    \
                         "CPython " K8S_PYTHON_VERSION " shared library", name);              \
            return -1;                                                                        \
        }                                                                                     \
    } while (0)
    SYM(IsInitialized, "Py_IsInitialized");
    SYM(PyPreConfig_InitIsolatedConfig, "PyPreConfig_InitIsolatedConfig");
    SYM(Py_PreInitialize, "Py_PreInitialize");
    SYM(PyConfig_InitIsolatedConfig, "PyConfig_InitIsolatedConfig");
    SYM(PyConfig_SetBytesString, "PyConfig_SetBytesString");
    SYM(PyWideStringList_Append, "PyWideStringList_Append");
    SYM(Py_DecodeLocale, "Py_DecodeLocale");
    SYM(PyMem_RawFree, "PyMem_RawFree");
    SYM(PyConfig_Clear, "PyConfig_Clear");
    SYM(Py_InitializeFromConfig, "Py_InitializeFromConfig");
    SYM(PyStatus_Exception, "PyStatus_Exception");
    SYM(PyGILState_Ensure, "PyGILState_Ensure");
    SYM(PyGILState_Release, "PyGILState_Release");
    SYM(PyEval_SaveThread, "PyEval_SaveThread");
    SYM(PyImport_ImportModule, "PyImport_ImportModule");
    SYM(PyObject_GetAttrString, "PyObject_GetAttrString");
    SYM(PyCapsule_IsValid, "PyCapsule_IsValid");
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

/* The extension modules and PyConfig's layout are tied to one CPython minor version: compare
 * the library's own version (Py_Version since 3.11, else the text of Py_GetVersion) with the
 * headers this file was built with, before anything else of it is called. */
static int check_version(void* h, const char* what, char* err, size_t n) {
    const unsigned long* hexp = dlsym(h, "Py_Version");
    const char* (*get_version)(void) = (const char* (*)(void))dlsym(h, "Py_GetVersion");
    unsigned major, minor;
    char text[32] = "";
    if (hexp) {
        major = (unsigned)((*hexp >> 24) & 0xff);
        minor = (unsigned)((*hexp >> 16) & 0xff);
        snprintf(text, sizeof text, "%u.%u.%u", major, minor, (unsigned)((*hexp >> 8) & 0xff));
    } else if (get_version && sscanf(get_version(), "%u.%u", &major, &minor) == 2) {
        snprintf(text, sizeof text, "%.31s", get_version());
        text[strcspn(text, " ")] = '\0';
    } else {
        fail(err, n, "k8saudit-ovh: %s is not a CPython shared library (no Py_Version, no "
                     "Py_GetVersion)", what);
        return -1;
    }
    if (major != PY_MAJOR_VERSION || minor != PY_MINOR_VERSION) {
        fail(err, n, "k8saudit-ovh: %s is CPython %s, but this plugin was built for CPython "
                     K8S_PYTHON_VERSION " (its extension modules and embedding calls only work "
                     "with that version): use the artifact built for it", what, text);
        return -1;
    }
    return 0;
}

/* The pending Python exception as "Type: message" (and cleared). */
static void py_error_text(char* dst, size_t n) {
    PyObject *t = NULL, *v = NULL, *tb = NULL;
    g_py.PyErr_Fetch(&t, &v, &tb);
    const char* tname = NULL;
    const char* msg = NULL;
    PyObject* name = t ? g_py.PyObject_GetAttrString(t, "__name__") : NULL;
    PyObject* s = v ? g_py.PyObject_Str(v) : NULL;
    if (name) tname = g_py.PyUnicode_AsUTF8(name);
    if (s) msg = g_py.PyUnicode_AsUTF8(s);
    snprintf(dst, n, "%s: %s", tname ? tname : "Exception", msg ? msg : "(no message)");
    g_py.PyErr_Clear();
    if (name) g_py.Py_DecRef(name);
    if (s) g_py.Py_DecRef(s);
    if (t) g_py.Py_DecRef(t);
    if (v) g_py.Py_DecRef(v);
    if (tb) g_py.Py_DecRef(tb);
}

static void prepend_sys_path(const char* dir) {
    PyObject* path = g_py.PySys_GetObject("path"); /* borrowed */
    PyObject* s = g_py.PyUnicode_FromString(dir);
    if (path && s && g_py.PySequence_Contains(path, s) == 0) g_py.PyList_Insert(path, 0, s);
    if (s) g_py.Py_DecRef(s);
    if (g_py.PyErr_Occurred()) g_py.PyErr_Clear();
}

/* With the GIL held: import k8saudit_ovh._plugin and take its function table. */
static const k8s_vtable* import_plugin(char* err, size_t n) {
    char why[768];
    PyObject* mod = g_py.PyImport_ImportModule("k8saudit_ovh._plugin");
    if (!mod) {
        py_error_text(why, sizeof why);
        fail(err, n, "k8saudit-ovh: cannot import the plugin module k8saudit_ovh._plugin: %s",
             why);
        return NULL;
    }
    PyObject* cap = g_py.PyObject_GetAttrString(mod, "vtable");
    g_py.Py_DecRef(mod);
    if (!cap || !g_py.PyCapsule_IsValid(cap, K8S_VTABLE_CAPSULE)) {
        if (cap) g_py.Py_DecRef(cap);
        g_py.PyErr_Clear();
        fail(err, n, "k8saudit-ovh: k8saudit_ovh._plugin has no function table (a capsule "
                     "'" K8S_VTABLE_CAPSULE "' named vtable): the Python package does not "
                     "come from the same build as libk8saudit-ovh.so, install them together");
        return NULL;
    }
    const k8s_vtable* vt = g_py.PyCapsule_GetPointer(cap, K8S_VTABLE_CAPSULE);
    g_py.Py_DecRef(cap);
    if (!vt || vt->version != K8S_VTABLE_VERSION) {
        g_py.PyErr_Clear();
        fail(err, n, "k8saudit-ovh: k8saudit_ovh._plugin has function table version %u, but "
                     "libk8saudit-ovh.so needs version %u: the Python package and the library "
                     "come from different builds, install them together",
             vt ? vt->version : 0u, K8S_VTABLE_VERSION);
        return NULL;
    }
    return vt;
}

/* Joins an interpreter that is already running (a Python host, or an earlier start). */
static const k8s_vtable* join(const layout* lo, char* err, size_t n) {
    PyGILState_STATE g = g_py.PyGILState_Ensure();
    /* site-packages first, so the package next to this library wins over another copy */
    prepend_sys_path(lo->paths[NPATHS - 1]);
    const k8s_vtable* vt = import_plugin(err, n);
    g_py.PyGILState_Release(g);
    return vt;
}

/* The bundled OpenSSL reads OPENSSLDIR/openssl.cnf (a host file, or one named by
 * OPENSSL_CONF) on first use. Initialising it first without configuration keeps the host's
 * OpenSSL settings out; _ssl later binds to this already loaded copy by its soname. */
static void openssl_without_host_config(const layout* lo) {
    char libdir[PATH_MAX], path[PATH_MAX];
    if (join_path(libdir, lo->home, "lib")) return;
    DIR* d = opendir(libdir);
    if (!d) return;
    struct dirent* e;
    path[0] = '\0';
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "libcrypto.so.", 13) && join_path(path, libdir, e->d_name))
            path[0] = '\0';
    closedir(d);
    if (!path[0]) return;
    void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    int (*init_crypto)(uint64_t, const void*) =
        h ? (int (*)(uint64_t, const void*))dlsym(h, "OPENSSL_init_crypto") : NULL;
    /* OPENSSL_INIT_NO_LOAD_CONFIG, a stable OpenSSL 1.1/3.x constant */
    if (init_crypto) init_crypto(0x00000080ULL, NULL);
}

static int set_search_path(PyConfig* cfg, const layout* lo) {
    cfg->module_search_paths_set = 1;
    for (int i = 0; i < lo->npaths; i++) {
        wchar_t* w = g_py.Py_DecodeLocale(lo->paths[i], NULL);
        if (!w) return -1;
        PyStatus st = g_py.PyWideStringList_Append(&cfg->module_search_paths, w);
        g_py.PyMem_RawFree(w);
        if (g_py.PyStatus_Exception(st)) return -1;
    }
    return 0;
}

static int start_cpython(const layout* lo, char* err, size_t n) {
    PyPreConfig pre;
    g_py.PyPreConfig_InitIsolatedConfig(&pre);
    pre.utf8_mode = 1;                  /* Falco runs in the C locale: paths and text are UTF-8 */
    PyStatus st = g_py.Py_PreInitialize(&pre);
    if (g_py.PyStatus_Exception(st)) {
        fail(err, n, "k8saudit-ovh: cannot pre-initialise CPython " K8S_PYTHON_VERSION ": %s",
             st.err_msg ? st.err_msg : "unknown error");
        return -1;
    }
    PyConfig cfg;
    g_py.PyConfig_InitIsolatedConfig(&cfg);
    cfg.install_signal_handlers = 0;    /* Falco owns SIGINT/SIGTERM/SIGHUP */
    cfg.site_import = 0;                /* sys.path is ours; no .pth file may add to it */
    cfg.user_site_directory = 0;
    cfg.use_environment = 0;
    cfg.safe_path = 1;
    cfg.write_bytecode = 0;             /* the plugins folder may be read-only */
    cfg.pathconfig_warnings = 0;
    st = g_py.PyConfig_SetBytesString(&cfg, &cfg.home, lo->home);
    if (g_py.PyStatus_Exception(st) || set_search_path(&cfg, lo) != 0) {
        g_py.PyConfig_Clear(&cfg);
        fail(err, n, "k8saudit-ovh: the Python home %s cannot be passed to CPython (not valid "
                     "UTF-8?)", lo->home);
        return -1;
    }
    st = g_py.Py_InitializeFromConfig(&cfg);
    g_py.PyConfig_Clear(&cfg);
    if (g_py.PyStatus_Exception(st)) {
        fail(err, n, "k8saudit-ovh: CPython " K8S_PYTHON_VERSION " does not start with the "
                     "Python home %s (standard library %s): %s%s%s",
             lo->home, lo->paths[0], st.func ? st.func : "", st.func ? ": " : "",
             st.err_msg ? st.err_msg : "unknown error");
        return -1;
    }
    return 0;
}

const k8s_vtable* k8s_embed_start(const void* self_symbol, char* err, size_t n) {
    layout lo;
    if (g_vt) return g_vt;
    if (g_fatal[0]) {
        fail(err, n, "%s (from an earlier start: CPython cannot be started twice in one "
                     "process, restart it)", g_fatal);
        return NULL;
    }
    if (find_layout(self_symbol, &lo, err, n) != 0) return NULL;

    int (*host_is_init)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    if (!g_started && host_is_init && host_is_init()) {
        /* A Python process (or another library that started CPython): join its interpreter. */
        if (check_version(RTLD_DEFAULT, "the process's Python", err, n) != 0 ||
            resolve_api(RTLD_DEFAULT, err, n) != 0)
            return NULL;
        return g_vt = join(&lo, err, n);
    }
    if (g_started) return g_vt = join(&lo, err, n);

    if (lo.bundled && check_bundle(&lo, err, n) != 0) return NULL;
    void* h = dlopen(lo.libpython, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        fail(err, n, "k8saudit-ovh: cannot load the CPython " K8S_PYTHON_VERSION " library %s: "
                     "%s%s", lo.libpython, dlerror(),
             lo.bundled ? "" : " (the CPython this package was built with; set "
                               "K8SAUDIT_OVH_LIBPYTHON to its path, or use the falcoctl "
                               "artifact, which brings its own)");
        return NULL;
    }
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "the CPython library %s", lo.libpython);
    if (check_version(h, what, err, n) != 0 || resolve_api(h, err, n) != 0) return NULL;
    if (g_py.IsInitialized()) {         /* loaded and started by someone else meanwhile */
        g_started = 1;
        return g_vt = join(&lo, err, n);
    }
    if (lo.bundled) openssl_without_host_config(&lo);
    if (start_cpython(&lo, err, n) != 0) {
        snprintf(g_fatal, sizeof g_fatal, "%s", err);
        return NULL;
    }
    g_started = 1;
    g_vt = import_plugin(err, n);
    /* The GIL is released for good: every later call takes it only when it needs Python. */
    g_py.PyEval_SaveThread();
    return g_vt;
}
