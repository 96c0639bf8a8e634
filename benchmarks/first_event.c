/*
 * first_event: how long a fresh process (no Python, like Falco) takes from plugin_init to the
 * first event next_batch delivers. One measurement per process, because CPython starts once
 * per process. Prints one JSON line: {"init_us":..,"open_us":..,"first_event_us":..} where
 * first_event_us counts from the start of plugin_init.
 *
 *   first_event LIB OPEN_PARAMS
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "falco_plugin_abi.h"

typedef ss_plugin_t* (*init_fn)(const ss_plugin_init_input*, ss_plugin_rc*);
typedef const char* (*last_error_fn)(ss_plugin_t*);
typedef ss_instance_t* (*open_fn)(ss_plugin_t*, const char*, ss_plugin_rc*);
typedef ss_plugin_rc (*next_batch_fn)(ss_plugin_t*, ss_instance_t*, uint32_t*, ss_plugin_event***);

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void* sym(void* h, const char* name) {
    void* p = dlsym(h, name);
    if (!p) {
        fprintf(stderr, "first_event: the plugin lacks %s\n", name);
        exit(2);
    }
    return p;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: first_event LIB OPEN_PARAMS\n");
        return 64;
    }
    void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "first_event: %s\n", dlerror());
        return 2;
    }
    init_fn init = (init_fn)sym(h, "plugin_init");
    last_error_fn last_error = (last_error_fn)sym(h, "plugin_get_last_error");
    open_fn open = (open_fn)sym(h, "plugin_open");
    next_batch_fn next_batch = (next_batch_fn)sym(h, "plugin_next_batch");

    ss_plugin_init_input in = {0};
    in.config = "";
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    double t0 = now_us();
    ss_plugin_t* s = init(&in, &rc);
    double t_init = now_us();
    if (rc != SS_PLUGIN_SUCCESS) {
        fprintf(stderr, "first_event: init failed: %s\n", s ? last_error(s) : "(no state)");
        return 2;
    }
    ss_instance_t* inst = open(s, argv[2], &rc);
    double t_open = now_us();
    if (rc != SS_PLUGIN_SUCCESS) {
        fprintf(stderr, "first_event: open failed: %s\n", last_error(s));
        return 3;
    }
    for (int tries = 0; tries < 100000; tries++) {
        uint32_t n = 0;
        ss_plugin_event** evts = NULL;
        rc = next_batch(s, inst, &n, &evts);
        if (n > 0) {
            double t_first = now_us();
            printf("{\"init_us\":%.1f,\"open_us\":%.1f,\"first_event_us\":%.1f}\n",
                   t_init - t0, t_open - t_init, t_first - t0);
            /* The measurement is complete: teardown is not what is measured. */
            fflush(stdout);
            _Exit(0);
        }
        if (rc != SS_PLUGIN_SUCCESS && rc != SS_PLUGIN_TIMEOUT) break;
    }
    fprintf(stderr, "first_event: no event delivered (rc %d): %s\n", (int)rc, last_error(s));
    return 4;
}
