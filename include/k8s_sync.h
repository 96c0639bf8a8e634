/* k8saudit-ovh: relaxed atomic counters and a monotonic-clock condition wait, as small
 * inline C helpers for the Cython modules (Cython has no atomics of its own). */
#ifndef K8SAUDIT_OVH_SYNC_H
#define K8SAUDIT_OVH_SYNC_H

#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include <errno.h>

static inline void k8s_add(uint64_t* p, uint64_t v) { __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline void k8s_set(uint64_t* p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t k8s_get(const uint64_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/* A condition variable bound to CLOCK_MONOTONIC, so that wall-clock jumps never stretch a wait. */
static inline int k8s_cond_init(pthread_cond_t* c) {
    pthread_condattr_t a;
    int rc;
    if (pthread_condattr_init(&a) != 0) return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* Wait at most ms milliseconds; returns 0 when signalled, ETIMEDOUT otherwise. */
static inline int k8s_cond_wait_ms(pthread_cond_t* c, pthread_mutex_t* m, long ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec += 1; ts.tv_nsec -= 1000000000L; }
    return pthread_cond_timedwait(c, m, &ts);
}

static inline uint64_t k8s_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
