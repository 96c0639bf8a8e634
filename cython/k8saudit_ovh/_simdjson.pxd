# Thin declarations of include/simdjson_glue.h (simdjson stage 1, unescape, minify).
from libc.stdint cimport uint32_t

cdef extern from "simdjson_glue.h" nogil:
    ctypedef struct k8s_stage1:
        pass
    k8s_stage1* k8s_stage1_new(size_t capacity)
    void k8s_stage1_free(k8s_stage1* p)
    int k8s_stage1_reserve(k8s_stage1* p, size_t capacity)
    int k8s_stage1_run(k8s_stage1* p, const char* buf, size_t len, uint32_t* n, const uint32_t** idx)
    long k8s_unescape(const k8s_stage1* p, const char* src, char* dst)
    long k8s_minify(const char* src, size_t len, char* dst)
    const size_t K8S_JSON_PADDING
