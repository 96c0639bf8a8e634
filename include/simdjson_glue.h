/* k8saudit-ovh: the few simdjson entry points the JSON index needs, as plain inline
 * functions so that the Cython declarations stay thin (no C++ templates in .pxd files).
 * simdjson itself comes from the pysimdjson wheel at build time. */
#ifndef K8SAUDIT_OVH_SIMDJSON_GLUE_H
#define K8SAUDIT_OVH_SIMDJSON_GLUE_H

#include <stdint.h>
#include <stddef.h>
#include <memory>
#include "simdjson.h"

typedef simdjson::internal::dom_parser_implementation k8s_stage1;

/* A stage-1 parser able to index documents of up to `capacity` bytes. NULL on failure. */
static inline k8s_stage1* k8s_stage1_new(size_t capacity) noexcept {
    std::unique_ptr<k8s_stage1> impl;
    const simdjson::implementation* active = simdjson::get_active_implementation();
    if (active->create_dom_parser_implementation(capacity, 1024, impl) != simdjson::SUCCESS) {
        return nullptr;
    }
    return impl.release();
}

static inline void k8s_stage1_free(k8s_stage1* p) noexcept { delete p; }

static inline int k8s_stage1_reserve(k8s_stage1* p, size_t capacity) noexcept {
    if (p->capacity() >= capacity) return 0;
    return p->set_capacity(capacity) == simdjson::SUCCESS ? 0 : -1;
}

/* Structural indexes of buf[0..len) (buf padded with SIMDJSON_PADDING bytes).
 * Returns 0 and fills *n / *idx, or the simdjson error code (UTF-8, unclosed string...). */
static inline int k8s_stage1_run(k8s_stage1* p, const char* buf, size_t len,
                                 uint32_t* n, const uint32_t** idx) noexcept {
    simdjson::error_code e = p->stage1(reinterpret_cast<const uint8_t*>(buf), len,
                                       simdjson::stage1_mode::regular);
    if (e != simdjson::SUCCESS) return (int)e;
    *n = p->n_structural_indexes;
    *idx = p->structural_indexes.get();
    /* Two sentinels pointing at the end of the document (simdjson writes them too; the array
     * has room for them): the index walk reads idx[i + 1] and buf[idx[n]] without bounds checks,
     * and buf[len] is a NUL of the padding, which matches no JSON token. */
    p->structural_indexes[*n] = (uint32_t)len;
    p->structural_indexes[*n + 1] = (uint32_t)len;
    return 0;
}

/* Unescape the JSON string whose first content byte is src (just after the opening quote).
 * dst needs (raw length + SIMDJSON_PADDING) bytes. Returns the unescaped length, or -1. */
static inline long k8s_unescape(const k8s_stage1* p, const char* src, char* dst) noexcept {
    uint8_t* end = p->parse_string(reinterpret_cast<const uint8_t*>(src),
                                   reinterpret_cast<uint8_t*>(dst), true);
    if (end == nullptr) return -1;
    return (long)(end - reinterpret_cast<uint8_t*>(dst));
}

/* Compact copy of a JSON text (whitespace outside strings removed). Returns the length or -1. */
static inline long k8s_minify(const char* src, size_t len, char* dst) noexcept {
    size_t out = 0;
    if (simdjson::minify(src, len, dst, out) != simdjson::SUCCESS) return -1;
    return (long)out;
}

static const size_t K8S_JSON_PADDING = simdjson::SIMDJSON_PADDING;

#endif
