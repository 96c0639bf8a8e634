# Thin declarations: pthread mutex/cond and include/k8s_sync.h (atomic counters, timed waits).
from libc.stdint cimport uint64_t

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
        pass
    int pthread_mutex_init(pthread_mutex_t* m, void* attr)
    int pthread_mutex_destroy(pthread_mutex_t* m)
    int pthread_mutex_lock(pthread_mutex_t* m)
    int pthread_mutex_unlock(pthread_mutex_t* m)
    int pthread_cond_destroy(pthread_cond_t* c)
    int pthread_cond_signal(pthread_cond_t* c)
    int pthread_cond_broadcast(pthread_cond_t* c)

cdef extern from "k8s_sync.h" nogil:
    void k8s_add(uint64_t* p, uint64_t v)
    void k8s_set(uint64_t* p, uint64_t v)
    uint64_t k8s_get(const uint64_t* p)
    int k8s_cond_init(pthread_cond_t* c)
    int k8s_cond_wait_ms(pthread_cond_t* c, pthread_mutex_t* m, long ms)
    uint64_t k8s_now_ns()
