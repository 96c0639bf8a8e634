/*
 * falco_host: a small Falco-like host for Falco plugins (plugin API 3.x).
 *
 * It loads a plugin library the way Falco >= 0.42 does (dlopen RTLD_LOCAL|RTLD_NOW,
 * one dlsym("plugin_" + name) per API entry) and drives it through the same calls,
 * checking the plugin's side of the contract on the way. Written for the k8saudit-ovh
 * tests from the plugin API's interface facts (our declarations: include/falco_plugin_abi.h;
 * the event layout: include/k8saudit_event.h).
 *
 *   falco_host LIB info
 *   falco_host LIB replay  [--config JSON] [--open PARAMS] [--field SPEC]... [--fields-file F]
 *                          [--cycles N] [--reload] [--max-events N] [--quiet] [--to-string]
 *                          [--metrics-thread] [--max-seconds S] [--arg-default max|zero]
 *                          [--expect-init-fail] [--expect-open-fail] [--hold]
 *                          [--pause-after N:MS] [--batch-marks]
 *   falco_host LIB extract --events F [--field SPEC]... [--fields-file F] [--config JSON]
 *                          [--arg-default max|zero] [--threads K] [--repeat R] [--hold]
 *                          [--to-string]   (event_to_string of each event, before its fields)
 *                          [--metrics-thread] (get_metrics polled on each state meanwhile, as
 *                          Falco's webserver does; then one {"metrics":..} line per state)
 *   falco_host LIB bench   --events F [--field SPEC]... [--fields-file F] [--config JSON]
 *                          [--arg-default max|zero] [--iterations R]
 *       (one untimed extraction before the clock starts: a plugin's one-time work is not timed)
 *   falco_host LIB lifecycle [--config JSON] [--open PARAMS]
 *       init, get_metrics, (open + close,) destroy, as a Falco that loads the plugin and maybe
 *       never opens it; reports after each step whether a CPython library (libpython*) is
 *       mapped into this process (/proc/self/maps), for the plugin's lazy interpreter start.
 *
 * --hold extracts every field of an event before reading any result, as libsinsp's extraction
 * cache does (see extract_event).
 * --batch-marks prints {"finished":N} each time next_batch returns after events 1..N were
 * printed: by the plugin API's contract, a host that asks for the next batch is done with the
 * previous one (a plugin may count those events as delivered; the resume tests read these).
 *
 * Exit codes: 0 success; 1 contract violation (message "falco_host: ERROR: ..." on stderr);
 * 2 init failed; 3 open failed; 64 usage error.
 *
 * C11, POSIX; links with -ldl -lpthread only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "falco_plugin_abi.h"

#define HOST_API_MAJOR 3u
#define HOST_API_MINOR 12u
#define HOST_API_PATCH 0u

#define EXIT_CONTRACT 1
#define EXIT_INIT 2
#define EXIT_OPEN 3
#define EXIT_USAGE 64

/* ------------------------------------------------------------------------------------ */
/* errors                                                                                */

static void die(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char* fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("falco_host: ERROR: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    exit(EXIT_CONTRACT);
}

static void usage_error(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char* fmt, ...)
{
    va_list ap;
    fputs("falco_host: usage error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nusage: falco_host LIB info|replay|extract|bench|lifecycle [options] (see the source header)\n",
          stderr);
    exit(EXIT_USAGE);
}

static void* xmalloc(size_t n)
{
    void* p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static void* xcalloc(size_t n, size_t sz)
{
    void* p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) die("out of memory");
    return p;
}

static void* xrealloc(void* p, size_t n)
{
    void* q = realloc(p, n ? n : 1);
    if (!q) die("out of memory");
    return q;
}

static char* xstrdup(const char* s)
{
    size_t n = strlen(s);
    char* p = xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

static char* xstrndup(const char* s, size_t n)
{
    char* p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ------------------------------------------------------------------------------------ */
/* growable string buffer and JSON output                                                */

typedef struct sbuf {
    char* p;
    size_t n;
    size_t cap;
} sbuf;

static void sb_reserve(sbuf* b, size_t extra)
{
    if (b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void sb_putn(sbuf* b, const char* s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf* b, const char* s) { sb_putn(b, s, strlen(s)); }

static void sb_putc(sbuf* b, char c) { sb_putn(b, &c, 1); }

static void sb_printf(sbuf* b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf* b, const char* fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) die("vsnprintf failed");
    sb_reserve(b, (size_t)n);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->n += (size_t)n;
}

static void sb_free(sbuf* b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static void sb_clear(sbuf* b)
{
    b->n = 0;
    if (b->p) b->p[0] = '\0';
}

/* Length of the valid UTF-8 sequence starting at s (n bytes available), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char* s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] > 0x9F) return 0; /* surrogates */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] > 0x8F) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

/*
 * JSON string, in the style of Python's json.dumps(ensure_ascii=False): escapes '"', '\\',
 * \b \f \n \r \t, other control characters as \u00xx (lowercase hex); everything else raw.
 * Bytes that are not valid UTF-8 are written as U+FFFD so the output stays valid UTF-8.
 */
static void sb_json_strn(sbuf* b, const char* s, size_t n)
{
    const unsigned char* u = (const unsigned char*)s;
    sb_reserve(b, n + 2);
    sb_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        /* copy a run of characters that need no escaping */
        while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\')
            run++;
        if (run > i) {
            sb_putn(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = u[i];
        if (c == '"') {
            sb_putn(b, "\\\"", 2);
            i++;
        } else if (c == '\\') {
            sb_putn(b, "\\\\", 2);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\b': sb_putn(b, "\\b", 2); break;
            case '\f': sb_putn(b, "\\f", 2); break;
            case '\n': sb_putn(b, "\\n", 2); break;
            case '\r': sb_putn(b, "\\r", 2); break;
            case '\t': sb_putn(b, "\\t", 2); break;
            default: sb_printf(b, "\\u%04x", (unsigned)c); break;
            }
            i++;
        } else {
            size_t l = utf8_seq_len(u + i, n - i);
            if (l == 0) {
                sb_putn(b, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                sb_putn(b, s + i, l);
                i += l;
            }
        }
    }
    sb_putc(b, '"');
}

static void sb_json_str(sbuf* b, const char* s) { sb_json_strn(b, s, strlen(s)); }

static void out_sbuf(const sbuf* b)
{
    if (b->n && fwrite(b->p, 1, b->n, stdout) != b->n) die("write to stdout failed");
}

/* ------------------------------------------------------------------------------------ */
/* a small strict JSON parser (RFC 8259) producing a tree                                */

enum { JT_NULL, JT_BOOL, JT_NUM, JT_STR, JT_ARR, JT_OBJ };

typedef struct jv {
    int t;
    int b;            /* JT_BOOL */
    char* s;          /* JT_STR: decoded text; JT_NUM: raw token text */
    size_t slen;
    struct jv* items; /* JT_ARR / JT_OBJ */
    char** keys;      /* JT_OBJ only */
    size_t n;
} jv;

typedef struct jparser {
    const char* p;
    const char* end;
    const char* err;
    int depth;
} jparser;

#define JSON_MAX_DEPTH 128

static void jv_free(jv* v)
{
    if (!v) return;
    free(v->s);
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

static void jp_ws(jparser* jp)
{
    while (jp->p < jp->end &&
           (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
        jp->p++;
}

static int jp_fail(jparser* jp, const char* msg)
{
    if (!jp->err) jp->err = msg;
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int jp_hex4(jparser* jp, unsigned* out)
{
    if (jp->end - jp->p < 4) return jp_fail(jp, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(jp->p[i]);
        if (h < 0) return jp_fail(jp, "bad \\u escape");
        v = v * 16u + (unsigned)h;
    }
    jp->p += 4;
    *out = v;
    return 0;
}

static void sb_utf8(sbuf* b, unsigned cp)
{
    char t[4];
    if (cp < 0x80) {
        t[0] = (char)cp;
        sb_putn(b, t, 1);
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        sb_putn(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        sb_putn(b, t, 3);
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        sb_putn(b, t, 4);
    }
}

/* parses a string starting at the opening quote; result is malloc'ed */
static int jp_string(jparser* jp, char** out, size_t* outlen)
{
    sbuf b = {0};
    jp->p++; /* opening quote */
    for (;;) {
        if (jp->p >= jp->end) {
            sb_free(&b);
            return jp_fail(jp, "unterminated string");
        }
        unsigned char c = (unsigned char)*jp->p;
        if (c == '"') {
            jp->p++;
            break;
        }
        if (c < 0x20) {
            sb_free(&b);
            return jp_fail(jp, "control character in string");
        }
        if (c == '\\') {
            jp->p++;
            if (jp->p >= jp->end) {
                sb_free(&b);
                return jp_fail(jp, "unterminated escape");
            }
            char e = *jp->p++;
            switch (e) {
            case '"': sb_putc(&b, '"'); break;
            case '\\': sb_putc(&b, '\\'); break;
            case '/': sb_putc(&b, '/'); break;
            case 'b': sb_putc(&b, '\b'); break;
            case 'f': sb_putc(&b, '\f'); break;
            case 'n': sb_putc(&b, '\n'); break;
            case 'r': sb_putc(&b, '\r'); break;
            case 't': sb_putc(&b, '\t'); break;
            case 'u': {
                unsigned cp;
                if (jp_hex4(jp, &cp)) {
                    sb_free(&b);
                    return -1;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (jp->end - jp->p < 2 || jp->p[0] != '\\' || jp->p[1] != 'u') {
                        sb_free(&b);
                        return jp_fail(jp, "lone high surrogate");
                    }
                    jp->p += 2;
                    if (jp_hex4(jp, &lo)) {
                        sb_free(&b);
                        return -1;
                    }
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        sb_free(&b);
                        return jp_fail(jp, "bad low surrogate");
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    sb_free(&b);
                    return jp_fail(jp, "lone low surrogate");
                }
                sb_utf8(&b, cp);
                break;
            }
            default:
                sb_free(&b);
                return jp_fail(jp, "bad escape");
            }
            continue;
        }
        size_t l = utf8_seq_len((const unsigned char*)jp->p, (size_t)(jp->end - jp->p));
        if (l == 0) {
            sb_free(&b);
            return jp_fail(jp, "invalid UTF-8 in string");
        }
        sb_putn(&b, jp->p, l);
        jp->p += l;
    }
    if (!b.p) sb_reserve(&b, 0);
    *out = b.p;
    *outlen = b.n;
    return 0;
}

static int jp_number(jparser* jp, jv* v)
{
    const char* s = jp->p;
    const char* p = s;
    if (p < jp->end && *p == '-') p++;
    if (p >= jp->end) return jp_fail(jp, "bad number");
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < jp->end && *p >= '0' && *p <= '9') p++;
    } else {
        return jp_fail(jp, "bad number");
    }
    if (p < jp->end && *p == '.') {
        p++;
        if (p >= jp->end || *p < '0' || *p > '9') return jp_fail(jp, "bad fraction");
        while (p < jp->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < jp->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < jp->end && (*p == '+' || *p == '-')) p++;
        if (p >= jp->end || *p < '0' || *p > '9') return jp_fail(jp, "bad exponent");
        while (p < jp->end && *p >= '0' && *p <= '9') p++;
    }
    v->t = JT_NUM;
    v->s = xstrndup(s, (size_t)(p - s));
    v->slen = (size_t)(p - s);
    jp->p = p;
    return 0;
}

static int jp_value(jparser* jp, jv* v);

static int jp_push(jv* v, size_t* cap)
{
    if (v->n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        v->items = xrealloc(v->items, *cap * sizeof(jv));
        if (v->t == JT_OBJ) v->keys = xrealloc(v->keys, *cap * sizeof(char*));
    }
    memset(&v->items[v->n], 0, sizeof(jv));
    if (v->t == JT_OBJ) v->keys[v->n] = NULL;
    return 0;
}

static int jp_value(jparser* jp, jv* v)
{
    memset(v, 0, sizeof *v);
    jp_ws(jp);
    if (jp->p >= jp->end) return jp_fail(jp, "unexpected end of input");
    char c = *jp->p;
    if (c == '{' || c == '[') {
        if (++jp->depth > JSON_MAX_DEPTH) return jp_fail(jp, "nesting too deep");
        int is_obj = (c == '{');
        size_t cap = 0;
        v->t = is_obj ? JT_OBJ : JT_ARR;
        jp->p++;
        jp_ws(jp);
        if (jp->p < jp->end && *jp->p == (is_obj ? '}' : ']')) {
            jp->p++;
            jp->depth--;
            return 0;
        }
        for (;;) {
            jp_push(v, &cap);
            if (is_obj) {
                jp_ws(jp);
                if (jp->p >= jp->end || *jp->p != '"') return jp_fail(jp, "expected object key");
                size_t kl;
                if (jp_string(jp, &v->keys[v->n], &kl)) return -1;
                v->n++; /* own the key even if the value fails */
                jp_ws(jp);
                if (jp->p >= jp->end || *jp->p != ':') return jp_fail(jp, "expected ':'");
                jp->p++;
                if (jp_value(jp, &v->items[v->n - 1])) return -1;
            } else {
                v->n++;
                if (jp_value(jp, &v->items[v->n - 1])) return -1;
            }
            jp_ws(jp);
            if (jp->p >= jp->end) return jp_fail(jp, "unexpected end of input");
            if (*jp->p == ',') {
                jp->p++;
                continue;
            }
            if (*jp->p == (is_obj ? '}' : ']')) {
                jp->p++;
                break;
            }
            return jp_fail(jp, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        jp->depth--;
        return 0;
    }
    if (c == '"') {
        v->t = JT_STR;
        return jp_string(jp, &v->s, &v->slen);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return jp_number(jp, v);
    size_t left = (size_t)(jp->end - jp->p);
    if (left >= 4 && memcmp(jp->p, "true", 4) == 0) {
        v->t = JT_BOOL;
        v->b = 1;
        jp->p += 4;
        return 0;
    }
    if (left >= 5 && memcmp(jp->p, "false", 5) == 0) {
        v->t = JT_BOOL;
        v->b = 0;
        jp->p += 5;
        return 0;
    }
    if (left >= 4 && memcmp(jp->p, "null", 4) == 0) {
        v->t = JT_NULL;
        jp->p += 4;
        return 0;
    }
    return jp_fail(jp, "unexpected character");
}

/* Parses a whole document. Returns 0 on success; on failure *err is set (static text). */
static int json_parse(const char* text, size_t n, jv* out, const char** err)
{
    jparser jp = {text, text + n, NULL, 0};
    if (jp_value(&jp, out) == 0) {
        jp_ws(&jp);
        if (jp.p == jp.end) return 0;
        jp_fail(&jp, "trailing characters after the JSON value");
    }
    jv_free(out);
    *err = jp.err ? jp.err : "invalid JSON";
    return -1;
}

static const jv* jv_get(const jv* o, const char* key)
{
    if (!o || o->t != JT_OBJ) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0) return &o->items[i];
    return NULL;
}

/* Writes a validated JSON text without insignificant whitespace (all tokens kept as is). */
static void sb_json_minified(sbuf* b, const char* s)
{
    int in_str = 0;
    for (const char* p = s; *p; p++) {
        char c = *p;
        if (in_str) {
            sb_putc(b, c);
            if (c == '\\' && p[1]) {
                p++;
                sb_putc(b, *p);
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
            sb_putc(b, c);
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            sb_putc(b, c);
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* plugin loading                                                                        */

/* Every name the host looks up with dlsym("plugin_" + name), in Falco's order, and those this
 * plugin (sourcing and extraction) must have: one list, K8S_PLUGIN_API_SYMBOLS. */
#define API_NAME(name, kind) #name,
static const char* const API_NAMES[] = {K8S_PLUGIN_API_SYMBOLS(API_NAME)};
#define N_API_NAMES (sizeof(API_NAMES) / sizeof(API_NAMES[0]))

#define NEEDED_REQUIRED(s) s,
#define NEEDED_SOURCING(s) s,
#define NEEDED_EXTRACTION(s) s,
#define NEEDED_OPTIONAL(s)
#define REQUIRED_NAME(name, kind) NEEDED_##kind(#name)
static const char* const REQUIRED_NAMES[] = {K8S_PLUGIN_API_SYMBOLS(REQUIRED_NAME)};
#define N_REQUIRED_NAMES (sizeof(REQUIRED_NAMES) / sizeof(REQUIRED_NAMES[0]))

typedef struct field_def {
    char* name;
    char* type;
    uint32_t ftype;
    int is_list;
    int is_index;
    int is_key;
    int is_required;
} field_def;

typedef struct plugin {
    void* handle;      /* the handle whose symbols are used */
    void* handle_reg;  /* a first registration (replay emulates Falco's two), or NULL */
    void* sym[N_API_NAMES];

    const char* (*get_required_api_version)(void);
    const char* (*get_version)(void);
    const char* (*get_last_error)(ss_plugin_t*);
    const char* (*get_name)(void);
    const char* (*get_description)(void);
    const char* (*get_contact)(void);
    const char* (*get_init_schema)(ss_plugin_schema_type*);
    ss_plugin_t* (*init)(const ss_plugin_init_input*, ss_plugin_rc*);
    void (*destroy)(ss_plugin_t*);
    uint32_t (*get_id)(void);
    const char* (*get_event_source)(void);
    ss_instance_t* (*open)(ss_plugin_t*, const char*, ss_plugin_rc*);
    void (*close)(ss_plugin_t*, ss_instance_t*);
    ss_plugin_rc (*next_batch)(ss_plugin_t*, ss_instance_t*, uint32_t*, ss_plugin_event***);
    const char* (*event_to_string)(ss_plugin_t*, const ss_plugin_event_input*);
    const char* (*get_fields)(void);
    ss_plugin_rc (*extract_fields)(ss_plugin_t*, const ss_plugin_event_input*,
                                   const ss_plugin_field_extract_input*);
    const char* (*get_extract_event_sources)(void);
    ss_plugin_metric* (*get_metrics)(ss_plugin_t*, uint32_t*);

    /* copies of the metadata */
    char* name;
    char* version;
    char* required_api_version;
    char* description;
    char* contact;
    char* event_source;
    uint32_t id;
    char* fields_json;
    char* init_schema; /* NULL when none */
    int schema_type;
    char* extract_event_sources; /* NULL when the symbol is missing or returns NULL/"" */
    field_def* fields;
    size_t nfields;
} plugin;

static int sym_index(const char* name)
{
    for (size_t i = 0; i < N_API_NAMES; i++)
        if (strcmp(API_NAMES[i], name) == 0) return (int)i;
    return -1;
}

#define BIND(p, member)                                                      \
    do {                                                                     \
        void* s_ = (p)->sym[sym_index(#member)];                             \
        memcpy(&(p)->member, &s_, sizeof s_);                                \
    } while (0)

/* Parses "A.B.C" (optionally followed by '-' or '+' and anything), 1 on success. */
static int parse_version3(const char* s, unsigned v[3])
{
    const char* p = s;
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9') return 0;
        unsigned long x = 0;
        while (*p >= '0' && *p <= '9') {
            x = x * 10 + (unsigned long)(*p - '0');
            if (x > UINT32_MAX) return 0;
            p++;
        }
        v[i] = (unsigned)x;
        if (i < 2) {
            if (*p != '.') return 0;
            p++;
        }
    }
    return *p == '\0' || *p == '-' || *p == '+';
}

typedef const char* (*str_fn)(void);

/* Calls a stateless string function twice; both answers must be the same non-NULL text. */
static char* call_stable(str_fn fn, const char* what)
{
    const char* a = fn();
    if (!a) die("plugin_%s returned NULL", what);
    char* first = xstrdup(a);
    const char* b = fn();
    if (!b) die("plugin_%s returned NULL on its second call", what);
    if (strcmp(first, b) != 0)
        die("plugin_%s is not stable: '%s' then '%s'", what, first, b);
    return first;
}

static const char* const FIELD_TYPES[] = {"string", "uint64", "reltime", "abstime",
                                          "bool",   "ipaddr", "ipnet"};
static const uint32_t FIELD_FTYPES[] = {FTYPE_STRING, FTYPE_UINT64, FTYPE_RELTIME,
                                        FTYPE_ABSTIME, FTYPE_BOOL, FTYPE_IPADDR, FTYPE_IPNET};

static int opt_bool(const jv* o, const char* key, const char* ctx, const char* fname)
{
    const jv* v = jv_get(o, key);
    if (!v) return 0;
    if (v->t != JT_BOOL) die("get_fields: %s.%s of field '%s' is not a boolean", ctx, key, fname);
    return v->b;
}

/* Validates the get_fields JSON as libsinsp does at load, and builds the field table. */
static void parse_fields(plugin* p)
{
    jv root;
    const char* err;
    if (json_parse(p->fields_json, strlen(p->fields_json), &root, &err))
        die("get_fields: invalid JSON: %s", err);
    if (root.t != JT_ARR) die("get_fields: not a JSON array");
    if (root.n == 0) die("get_fields: no fields");
    p->fields = xcalloc(root.n, sizeof(field_def));
    p->nfields = root.n;
    for (size_t i = 0; i < root.n; i++) {
        const jv* f = &root.items[i];
        field_def* d = &p->fields[i];
        if (f->t != JT_OBJ) die("get_fields: entry %zu is not an object", i);
        const jv* name = jv_get(f, "name");
        if (!name || name->t != JT_STR || name->slen == 0)
            die("get_fields: entry %zu has no name", i);
        d->name = xstrdup(name->s);
        const jv* type = jv_get(f, "type");
        if (!type || type->t != JT_STR) die("get_fields: field '%s' has no type", d->name);
        size_t k;
        for (k = 0; k < sizeof(FIELD_TYPES) / sizeof(FIELD_TYPES[0]); k++)
            if (strcmp(type->s, FIELD_TYPES[k]) == 0) break;
        if (k == sizeof(FIELD_TYPES) / sizeof(FIELD_TYPES[0]))
            die("get_fields: field '%s' has an invalid type '%s'", d->name, type->s);
        d->type = xstrdup(type->s);
        d->ftype = FIELD_FTYPES[k];
        const jv* desc = jv_get(f, "desc");
        if (!desc || desc->t != JT_STR || desc->slen == 0)
            die("get_fields: field '%s' has no desc", d->name);
        const jv* disp = jv_get(f, "display");
        if (disp && disp->t != JT_STR) die("get_fields: display of '%s' is not a string", d->name);
        d->is_list = opt_bool(f, "isList", "field", d->name);
        (void)opt_bool(f, "addOutput", "field", d->name);
        const jv* arg = jv_get(f, "arg");
        if (arg) {
            if (arg->t != JT_OBJ) die("get_fields: arg of field '%s' is not an object", d->name);
            d->is_required = opt_bool(arg, "isRequired", "arg", d->name);
            d->is_index = opt_bool(arg, "isIndex", "arg", d->name);
            d->is_key = opt_bool(arg, "isKey", "arg", d->name);
            if (d->is_required && !d->is_index && !d->is_key)
                die("get_fields: field '%s' requires an argument that is neither index nor key",
                    d->name);
        }
        const jv* props = jv_get(f, "properties");
        if (props && props->t != JT_NULL) {
            if (props->t != JT_ARR)
                die("get_fields: properties of '%s' is not an array", d->name);
            for (size_t j = 0; j < props->n; j++)
                if (props->items[j].t != JT_STR)
                    die("get_fields: a property of '%s' is not a string", d->name);
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->fields[j].name, d->name) == 0)
                die("get_fields: field '%s' is declared twice", d->name);
    }
    jv_free(&root);
}

static char* fetch_init_schema(plugin* p, int* type_out)
{
    if (!p->get_init_schema) {
        *type_out = SS_PLUGIN_SCHEMA_NONE;
        return NULL;
    }
    ss_plugin_schema_type t = SS_PLUGIN_SCHEMA_NONE;
    const char* s = p->get_init_schema(&t);
    *type_out = (int)t;
    if (t != SS_PLUGIN_SCHEMA_NONE && t != SS_PLUGIN_SCHEMA_JSON)
        die("get_init_schema: unknown schema type %d", (int)t);
    if (!s || !*s || t == SS_PLUGIN_SCHEMA_NONE) return NULL;
    return xstrdup(s);
}

/* Loads the library and performs everything Falco does at registration time. */
static void* open_and_bind(const char* path)
{
    void* h = dlopen(path, RTLD_LOCAL | RTLD_NOW);
    if (!h) {
        const char* e = dlerror();
        die("dlopen(%s) failed: %s", path, e ? e : "unknown error");
    }
    return h;
}

static void resolve(plugin* p, void* h)
{
    for (size_t i = 0; i < N_API_NAMES; i++) {
        char name[128];
        snprintf(name, sizeof name, "plugin_%s", API_NAMES[i]);
        dlerror();
        p->sym[i] = dlsym(h, name);
    }
    for (size_t i = 0; i < N_REQUIRED_NAMES; i++)
        if (!p->sym[sym_index(REQUIRED_NAMES[i])])
            die("required symbol plugin_%s is missing", REQUIRED_NAMES[i]);
    BIND(p, get_required_api_version);
    BIND(p, get_version);
    BIND(p, get_last_error);
    BIND(p, get_name);
    BIND(p, get_description);
    BIND(p, get_contact);
    BIND(p, get_init_schema);
    BIND(p, init);
    BIND(p, destroy);
    BIND(p, get_id);
    BIND(p, get_event_source);
    BIND(p, open);
    BIND(p, close);
    BIND(p, next_batch);
    BIND(p, event_to_string);
    BIND(p, get_fields);
    BIND(p, extract_fields);
    BIND(p, get_extract_event_sources);
    BIND(p, get_metrics);
}

static void free_metadata(plugin* p)
{
    free(p->name);
    free(p->version);
    free(p->required_api_version);
    free(p->description);
    free(p->contact);
    free(p->event_source);
    free(p->fields_json);
    free(p->init_schema);
    free(p->extract_event_sources);
    for (size_t i = 0; i < p->nfields; i++) {
        free(p->fields[i].name);
        free(p->fields[i].type);
    }
    free(p->fields);
    p->name = p->version = p->required_api_version = p->description = p->contact = NULL;
    p->event_source = p->fields_json = p->init_schema = p->extract_event_sources = NULL;
    p->fields = NULL;
    p->nfields = 0;
}

static void check_capabilities_and_metadata(plugin* p)
{
    /* API version first, as plugin_loader.c does */
    char* req = call_stable(p->get_required_api_version, "get_required_api_version");
    unsigned rv[3];
    if (!parse_version3(req, rv)) die("invalid required API version '%s'", req);
    if (rv[0] != HOST_API_MAJOR)
        die("required API version %s: major versions disagree with host %u.%u.%u", req,
            HOST_API_MAJOR, HOST_API_MINOR, HOST_API_PATCH);
    if (HOST_API_MINOR < rv[1])
        die("required API version %s: host minor %u is less than the requested one", req,
            HOST_API_MINOR);
    if (HOST_API_MINOR == rv[1] && HOST_API_PATCH < rv[2])
        die("required API version %s: host patch %u is less than the requested one", req,
            HOST_API_PATCH);

    char* name = call_stable(p->get_name, "get_name");
    char* desc = call_stable(p->get_description, "get_description");
    char* contact = call_stable(p->get_contact, "get_contact");
    char* version = call_stable(p->get_version, "get_version");
    unsigned vv[3];
    if (!parse_version3(version, vv)) die("plugin provided an invalid version string '%s'", version);
    if (!*name) die("plugin_get_name returned an empty name");

    uint32_t id = p->get_id();
    if (p->get_id() != id) die("plugin_get_id is not stable");
    char* src = call_stable(p->get_event_source, "get_event_source");
    if ((id != 0) != (src[0] != '\0'))
        die("sourcing capability is broken: id %" PRIu32 " with event source '%s'", id, src);
    if (strcmp(src, "syscall") == 0) die("event source 'syscall' is reserved");

    char* fields = call_stable(p->get_fields, "get_fields");

    char* ees = NULL;
    if (p->get_extract_event_sources) {
        const char* a = p->get_extract_event_sources();
        const char* b = p->get_extract_event_sources();
        if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
            die("plugin_get_extract_event_sources is not stable");
        if (a && *a) {
            jv v;
            const char* err;
            if (json_parse(a, strlen(a), &v, &err))
                die("get_extract_event_sources: invalid JSON: %s", err);
            if (v.t != JT_ARR) die("get_extract_event_sources: not a JSON array");
            for (size_t i = 0; i < v.n; i++)
                if (v.items[i].t != JT_STR)
                    die("get_extract_event_sources: entry %zu is not a string", i);
            jv_free(&v);
            ees = xstrdup(a);
        }
    }

    int st1, st2;
    char* schema = fetch_init_schema(p, &st1);
    char* schema2 = fetch_init_schema(p, &st2);
    if (st1 != st2 || (schema == NULL) != (schema2 == NULL) ||
        (schema && strcmp(schema, schema2) != 0))
        die("plugin_get_init_schema is not stable");
    free(schema2);
    if (schema && st1 == SS_PLUGIN_SCHEMA_JSON) {
        jv v;
        const char* err;
        if (json_parse(schema, strlen(schema), &v, &err))
            die("get_init_schema: invalid JSON: %s", err);
        if (v.t != JT_OBJ) die("get_init_schema: the schema is not a JSON object");
        jv_free(&v);
    }

    free_metadata(p);
    p->required_api_version = req;
    p->name = name;
    p->description = desc;
    p->contact = contact;
    p->version = version;
    p->id = id;
    p->event_source = src;
    p->fields_json = fields;
    p->extract_event_sources = ees;
    p->init_schema = schema;
    p->schema_type = st1;
    parse_fields(p);
}

/* One registration: dlopen, symbol resolution, version/capability checks, metadata. */
static void plugin_load(plugin* p, const char* path, int registrations)
{
    if (registrations > 1) {
        /* Falco registers the library once in its offline inspector and once in the live
         * one: two dlopen of the same file, load-time calls on both, init on the second. */
        p->handle_reg = open_and_bind(path);
        resolve(p, p->handle_reg);
        check_capabilities_and_metadata(p);
    }
    p->handle = open_and_bind(path);
    resolve(p, p->handle);
    check_capabilities_and_metadata(p);
}

static void plugin_unload(plugin* p)
{
    free_metadata(p);
    if (p->handle && dlclose(p->handle) != 0) die("dlclose failed: %s", dlerror());
    if (p->handle_reg && dlclose(p->handle_reg) != 0) die("dlclose failed: %s", dlerror());
    p->handle = p->handle_reg = NULL;
}

/* ------------------------------------------------------------------------------------ */
/* init / open                                                                           */

static int g_owner_token;
static const char* host_owner_last_error(ss_plugin_owner_t* o)
{
    (void)o;
    return NULL;
}

#define RC_SENTINEL 0x5a5a5a5a

/*
 * Emulates sinsp_plugin::init: schema fetched before every init, empty config replaced by
 * "{}" and required to be JSON when the schema is JSON. On failure returns NULL and
 * *err_out (malloc'ed) explains, the state (if any) having been destroyed.
 */
static ss_plugin_t* plugin_do_init(plugin* p, const char* config, char** err_out)
{
    int st;
    char* schema = fetch_init_schema(p, &st);
    const char* cfg = config ? config : "";
    if (schema && st == SS_PLUGIN_SCHEMA_JSON) {
        if (!*cfg) cfg = "{}";
        jv v;
        const char* err;
        if (json_parse(cfg, strlen(cfg), &v, &err)) {
            sbuf m = {0};
            sb_printf(&m, "init config is not valid JSON (%s)", err);
            free(schema);
            *err_out = m.p;
            return NULL;
        }
        jv_free(&v);
    }
    free(schema);

    /* the input struct is exactly the 3.0.0 size, heap-allocated so that a sanitizer
     * catches a plugin reading members of later API versions */
    ss_plugin_init_input* in = xmalloc(sizeof *in);
    char* cfg_copy = xstrdup(cfg);
    in->config = cfg_copy;
    in->owner = &g_owner_token;
    in->get_owner_last_error = host_owner_last_error;
    in->tables = NULL;

    ss_plugin_rc rc;
    memset(&rc, 0x5a, sizeof rc);
    ss_plugin_t* s = p->init(in, &rc);
    free(cfg_copy);
    free(in);
    if ((int)rc == RC_SENTINEL) die("plugin_init did not write *rc");
    if (rc == SS_PLUGIN_SUCCESS) {
        if (!s) die("plugin_init returned SUCCESS with a NULL state");
        return s;
    }
    if (rc != SS_PLUGIN_FAILURE) die("plugin_init returned an unexpected rc %d", (int)rc);
    if (!s) die("plugin_init failed and returned no state, so get_last_error cannot explain");
    const char* msg = p->get_last_error(s);
    if (!msg || !*msg) die("plugin_init failed and get_last_error gives no explanation");
    *err_out = xstrdup(msg);
    p->destroy(s);
    return NULL;
}

static char* trim_copy(const char* s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return xstrndup(s, n);
}

/* ------------------------------------------------------------------------------------ */
/* field specs and extraction                                                            */

typedef struct fspec {
    char* spec;      /* as given */
    char* name;      /* field name */
    char* arg;       /* argument text, NULL if no brackets */
    size_t field_id;
    const field_def* def;
    uint64_t arg_index;
    int arg_present;
} fspec;

typedef struct spec_list {
    fspec* v;
    size_t n;
} spec_list;

static int is_index_text(const char* s, uint64_t* out)
{
    if (!*s) return 0;
    if (s[0] == '0' && s[1]) return 0;
    uint64_t x = 0;
    for (const char* p = s; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        uint64_t d = (uint64_t)(*p - '0');
        if (x > (UINT64_MAX - d) / 10) return 0;
        x = x * 10 + d;
    }
    *out = x;
    return 1;
}

/* Resolves a spec like libsinsp: name up to the first '[', argument up to the next ']'. */
static void resolve_spec(const plugin* p, const char* text, uint64_t arg_default, fspec* out)
{
    memset(out, 0, sizeof *out);
    out->spec = xstrdup(text);
    const char* lb = strchr(text, '[');
    if (lb) {
        const char* rb = strchr(lb + 1, ']');
        if (!rb) die("field spec '%s': missing ']'", text);
        if (rb[1] != '\0') die("field spec '%s': unexpected text after ']'", text);
        out->name = xstrndup(text, (size_t)(lb - text));
        out->arg = xstrndup(lb + 1, (size_t)(rb - lb - 1));
        out->arg_present = 1;
    } else {
        out->name = xstrdup(text);
    }
    size_t i;
    for (i = 0; i < p->nfields; i++)
        if (strcmp(p->fields[i].name, out->name) == 0) break;
    if (i == p->nfields) die("field spec '%s': no field named '%s'", text, out->name);
    out->field_id = i;
    out->def = &p->fields[i];
    out->arg_index = arg_default;
    const field_def* d = out->def;
    if (out->arg_present) {
        if (!d->is_index && !d->is_key)
            die("field spec '%s': field '%s' does not accept an argument", text, d->name);
        uint64_t idx;
        int numeric = is_index_text(out->arg, &idx);
        if (d->is_index && numeric) out->arg_index = idx;
        if (d->is_index && !d->is_key && !numeric)
            die("field spec '%s': the argument of '%s' must be a numeric index", text, d->name);
    } else if (d->is_required) {
        die("field spec '%s': field '%s' requires an argument", text, d->name);
    }
}

static void free_specs(spec_list* l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].spec);
        free(l->v[i].name);
        free(l->v[i].arg);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

typedef struct strlist {
    char** v;
    size_t n;
} strlist;

static void strlist_add(strlist* l, const char* s)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(char*));
    l->v[l->n++] = xstrdup(s);
}

static void strlist_free(strlist* l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void build_specs(const plugin* p, const strlist* texts, uint64_t arg_default, spec_list* out)
{
    out->v = xcalloc(texts->n, sizeof(fspec));
    out->n = 0;
    for (size_t i = 0; i < texts->n; i++) {
        int dup = 0;
        for (size_t j = 0; j < out->n; j++)
            if (strcmp(out->v[j].spec, texts->v[i]) == 0) dup = 1;
        if (dup) continue;
        resolve_spec(p, texts->v[i], arg_default, &out->v[out->n++]);
    }
}

/* Per-thread extraction context: exactly-sized heap structs, as a 3.0 host passes them, and one
 * field struct per spec (libsinsp's filterchecks each own theirs and keep its result). */
typedef struct extractor {
    ss_plugin_field_extract_input* in;
    ss_plugin_extract_field* f;      /* nspecs entries */
    ss_plugin_rc* rc;                /* nspecs entries: the last call's result per spec */
    ss_plugin_event_input* ei;
    size_t nspecs;
    int hold;                        /* --hold: libsinsp's reading order, see extract_event */
} extractor;

static void extractor_init(extractor* x, size_t nspecs, int hold)
{
    x->in = xcalloc(1, sizeof *x->in);
    x->f = xcalloc(nspecs ? nspecs : 1, sizeof *x->f);
    x->rc = xcalloc(nspecs ? nspecs : 1, sizeof *x->rc);
    x->ei = xcalloc(1, sizeof *x->ei);
    x->nspecs = nspecs;
    x->hold = hold;
}

static void extractor_free(extractor* x)
{
    free(x->in);
    free(x->f);
    free(x->rc);
    free(x->ei);
}

static void sb_value(sbuf* b, const fspec* sp, const ss_plugin_extract_field* f, uint64_t i)
{
    switch (sp->def->ftype) {
    case FTYPE_STRING: {
        if (!f->res.str) die("extract_fields(%s): res is NULL with res_len > 0", sp->spec);
        const char* s = f->res.str[i];
        if (!s) die("extract_fields(%s): value %" PRIu64 " is a NULL string", sp->spec, i);
        sb_json_str(b, s);
        break;
    }
    case FTYPE_UINT64:
    case FTYPE_RELTIME:
    case FTYPE_ABSTIME:
        if (!f->res.u64) die("extract_fields(%s): res is NULL with res_len > 0", sp->spec);
        sb_printf(b, "\"%" PRIu64 "\"", f->res.u64[i]);
        break;
    case FTYPE_BOOL:
        if (!f->res.boolean) die("extract_fields(%s): res is NULL with res_len > 0", sp->spec);
        sb_puts(b, f->res.boolean[i] ? "\"true\"" : "\"false\"");
        break;
    case FTYPE_IPADDR:
    case FTYPE_IPNET: {
        if (!f->res.buf) die("extract_fields(%s): res is NULL with res_len > 0", sp->spec);
        const ss_plugin_byte_buffer* bb = &f->res.buf[i];
        char t[INET6_ADDRSTRLEN] = "";
        if (bb->len == 4 && bb->ptr)
            inet_ntop(AF_INET, bb->ptr, t, sizeof t);
        else if (bb->len == 16 && bb->ptr)
            inet_ntop(AF_INET6, bb->ptr, t, sizeof t);
        else
            die("extract_fields(%s): address of %" PRIu32 " bytes", sp->spec, bb->len);
        sb_json_str(b, t);
        break;
    }
    default:
        die("internal: unknown field type");
    }
}

/* One field request, as libsinsp builds it (num_fields is always 1), in the spec's own struct. */
static ss_plugin_extract_field* build_request(extractor* x, const ss_plugin_event* evt,
                                              uint64_t evtnum, const char* evtsrc, size_t k,
                                              const fspec* sp)
{
    ss_plugin_event_input* ei = x->ei;
    ei->evt = evt;
    ei->evtnum = evtnum;
    ei->evtsrc = evtsrc;
    ss_plugin_extract_field* f = &x->f[k];
    memset(f, 0, sizeof *f);
    f->field_id = (uint32_t)sp->field_id;
    f->field = sp->name;
    f->arg_key = (sp->arg_present && sp->def->is_key) ? sp->arg : NULL;
    f->arg_index = sp->arg_index;
    f->arg_present = (ss_plugin_bool)sp->arg_present;
    f->ftype = sp->def->ftype;
    f->flist = (ss_plugin_bool)sp->def->is_list;
    ss_plugin_field_extract_input* in = x->in;
    memset(in, 0, sizeof *in);
    in->owner = &g_owner_token;
    in->get_owner_last_error = host_owner_last_error;
    in->num_fields = 1;
    in->fields = f;
    return f;
}

/* One extract_fields call for spec k, with the contract checks; the result stays in x->f[k]. */
static void extract_call(const plugin* p, ss_plugin_t* s, extractor* x, const ss_plugin_event* evt,
                         uint64_t evtnum, const char* evtsrc, size_t k, const fspec* sp)
{
    ss_plugin_extract_field* f = build_request(x, evt, evtnum, evtsrc, k, sp);
    ss_plugin_event_input* ei = x->ei;
    ss_plugin_field_extract_input* in = x->in;

    ss_plugin_rc rc = p->extract_fields(s, ei, in);
    x->rc[k] = rc;

    if (ei->evt != evt || ei->evtnum != evtnum || ei->evtsrc != evtsrc)
        die("extract_fields(%s) modified the event input", sp->spec);
    if (in->num_fields != 1 || in->fields != f)
        die("extract_fields(%s) modified the extract input", sp->spec);
    if (f->field_id != (uint32_t)sp->field_id || f->field != sp->name ||
        f->arg_key != ((sp->arg_present && sp->def->is_key) ? sp->arg : NULL) ||
        f->arg_index != sp->arg_index || f->ftype != sp->def->ftype ||
        f->flist != (ss_plugin_bool)sp->def->is_list ||
        f->arg_present != (ss_plugin_bool)sp->arg_present)
        die("extract_fields(%s) modified the input members of the field", sp->spec);
    if (rc != SS_PLUGIN_SUCCESS) return;
    if (!sp->def->is_list && f->res_len > 1)
        die("extract_fields(%s): %" PRIu64 " values for a non-list field", sp->spec, f->res_len);
    if (f->res_len > 100000000u)
        die("extract_fields(%s): absurd res_len %" PRIu64, sp->spec, f->res_len);
}

/* Appends `"spec":[values]` of spec k's result, read through the pointers the plugin returned
 * (with a leading ',' if *first is 0), when there are values: a failure is "no value", as in
 * libsinsp. */
static void sb_result(sbuf* out, const extractor* x, size_t k, const fspec* sp, int* first)
{
    const ss_plugin_extract_field* f = &x->f[k];
    if (x->rc[k] != SS_PLUGIN_SUCCESS || f->res_len == 0) return;
    if (!*first) sb_putc(out, ',');
    *first = 0;
    sb_json_str(out, sp->spec);
    sb_puts(out, ":[");
    for (uint64_t i = 0; i < f->res_len; i++) {
        if (i) sb_putc(out, ',');
        sb_value(out, sp, f, i);
    }
    sb_putc(out, ']');
}

/* The result of spec k as JSON values text (empty when none), read now. */
static void sb_result_now(sbuf* b, const extractor* x, size_t k, const fspec* sp)
{
    int first = 1;
    sb_clear(b);
    sb_result(b, x, k, sp, &first);
}

/*
 * Every spec of one event, appended to out as `"spec":[values],...`.
 * Default: each result is read right after its own call. --hold reads the way libsinsp's
 * extraction cache does: all specs are extracted first, each result kept as the plugin returned
 * it (pointers only, plus a snapshot of what it read right after its call); then every spec is
 * asked again in reverse order, so each field is asked twice with other fields in between; only
 * then is every first result read through its original pointers. It must still read what it read
 * right after its call, and so must the second answer. A plugin whose values do not live as long
 * as the event fails here.
 */
static void extract_event(const plugin* p, ss_plugin_t* s, extractor* x, const ss_plugin_event* evt,
                          uint64_t evtnum, const spec_list* specs, sbuf* out)
{
    int first = 1;
    if (!x->hold) {
        for (size_t k = 0; k < specs->n; k++) {
            extract_call(p, s, x, evt, evtnum, p->event_source, k, &specs->v[k]);
            sb_result(out, x, k, &specs->v[k], &first);
        }
        return;
    }
    size_t n = specs->n;
    ss_plugin_extract_field* kept = xcalloc(n ? n : 1, sizeof *kept);
    ss_plugin_rc* kept_rc = xcalloc(n ? n : 1, sizeof *kept_rc);
    size_t* snap_at = xcalloc(n + 1, sizeof *snap_at);
    sbuf snaps = {0}, now = {0};
    sb_reserve(&snaps, 0); /* never NULL: memcmp must not see a NULL pointer, even for 0 bytes */
    sb_reserve(&now, 0);
    for (size_t k = 0; k < n; k++) {
        extract_call(p, s, x, evt, evtnum, p->event_source, k, &specs->v[k]);
        sb_result_now(&now, x, k, &specs->v[k]);
        snap_at[k] = snaps.n;
        sb_putn(&snaps, now.p, now.n);
    }
    snap_at[n] = snaps.n;
    memcpy(kept, x->f, n * sizeof *kept);
    memcpy(kept_rc, x->rc, n * sizeof *kept_rc);
    for (size_t k = n; k-- > 0;)
        extract_call(p, s, x, evt, evtnum, p->event_source, k, &specs->v[k]);
    for (size_t k = 0; k < n; k++) {
        const char* snap = snaps.p + snap_at[k];
        size_t snap_n = snap_at[k + 1] - snap_at[k];
        sb_result_now(&now, x, k, &specs->v[k]);
        if (now.n != snap_n || memcmp(now.p, snap, snap_n) != 0)
            die("extract_fields(%s) on event %" PRIu64 ": asked again after other fields, it "
                "gives other values than the first time (read after other extractions)", specs->v[k].spec, evtnum);
        x->f[k] = kept[k];
        x->rc[k] = kept_rc[k];
        sb_result_now(&now, x, k, &specs->v[k]);
        if (now.n != snap_n || memcmp(now.p, snap, snap_n) != 0)
            die("extract_fields(%s) on event %" PRIu64 ": its values changed after other "
                "extractions of the same event (the host still holds the returned pointers)",
                specs->v[k].spec, evtnum);
        sb_result(out, x, k, &specs->v[k], &first);
    }
    sb_free(&snaps);
    sb_free(&now);
    free(snap_at);
    free(kept);
    free(kept_rc);
}

/* The benchmark's variant: the same request, and afterwards only what libsinsp does with a
 * result (strlen of each string), so that the host's JSON output is not timed. */
static size_t extract_bench_one(const plugin* p, ss_plugin_t* s, extractor* x,
                                const ss_plugin_event* evt, uint64_t evtnum, const char* evtsrc,
                                size_t k, const fspec* sp)
{
    ss_plugin_extract_field* f = build_request(x, evt, evtnum, evtsrc, k, sp);
    if (p->extract_fields(s, x->ei, x->in) != SS_PLUGIN_SUCCESS) return 0;
    size_t total = 0;
    if (sp->def->ftype == FTYPE_STRING)
        for (uint64_t i = 0; i < f->res_len; i++) total += strlen(f->res.str[i]);
    else
        total += (size_t)f->res_len;
    return total;
}

/* ------------------------------------------------------------------------------------ */
/* files                                                                                 */

static char* read_file(const char* path, size_t* len)
{
    FILE* fp = fopen(path, "rb");
    if (!fp) usage_error("cannot open %s: %s", path, strerror(errno));
    sbuf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0) sb_putn(&b, tmp, n);
    if (ferror(fp)) usage_error("cannot read %s", path);
    fclose(fp);
    if (!b.p) sb_reserve(&b, 0);
    *len = b.n;
    return b.p;
}

/* Splits a file into lines (without '\n' and a trailing '\r'); a final empty piece after the
 * last newline is not a line. */
typedef struct lines {
    char* data;
    const char** v;
    size_t* len;
    size_t n;
} lines;

static void read_lines(const char* path, lines* out)
{
    size_t total;
    out->data = read_file(path, &total);
    out->v = NULL;
    out->len = NULL;
    out->n = 0;
    size_t cap = 0;
    size_t start = 0;
    for (size_t i = 0; i <= total; i++) {
        if (i == total && start == total) break;
        if (i == total || out->data[i] == '\n') {
            size_t l = i - start;
            if (l && out->data[start + l - 1] == '\r') l--;
            if (out->n == cap) {
                cap = cap ? cap * 2 : 64;
                out->v = xrealloc(out->v, cap * sizeof(char*));
                out->len = xrealloc(out->len, cap * sizeof(size_t));
            }
            out->v[out->n] = out->data + start;
            out->len[out->n] = l;
            out->n++;
            start = i + 1;
        }
    }
}

static void free_lines(lines* l)
{
    free(l->data);
    free(l->v);
    free(l->len);
}

static void read_fields_file(const char* path, strlist* out)
{
    lines l;
    read_lines(path, &l);
    for (size_t i = 0; i < l.n; i++) {
        char* t = xstrndup(l.v[i], l.len[i]);
        char* tt = trim_copy(t);
        if (*tt && tt[0] != '#') strlist_add(out, tt);
        free(t);
        free(tt);
    }
    free_lines(&l);
}

/* ------------------------------------------------------------------------------------ */
/* options                                                                               */

typedef struct options {
    const char* config;
    const char* open_params;
    int open_given;
    strlist field_texts;
    long cycles;
    int reload;
    long long max_events;
    int quiet;
    int expect_init_fail;
    int expect_open_fail;
    int to_string;
    int batch_marks;
    int metrics_thread;
    double max_seconds;
    const char* events_path;
    uint64_t arg_default;
    long threads;
    long repeat;
    long iterations;
    int hold;
    /* --pause-after N:MS: once N events are in, stop calling next_batch for MS ms, as a
     * stalled Falco would (the producers then fill the queue: backpressure tests) */
    long pause_after;
    long pause_ms;
} options;

static long parse_long(const char* opt, const char* v, long min)
{
    char* end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < min) usage_error("bad value for %s: '%s'", opt, v);
    return x;
}

static void parse_options(int argc, char** argv, int start, options* o)
{
    memset(o, 0, sizeof *o);
    o->config = "{}";
    o->open_params = "";
    o->cycles = 1;
    o->max_events = -1;
    o->arg_default = UINT64_MAX;
    o->threads = 1;
    o->repeat = 1;
    o->iterations = 1;
    for (int i = start; i < argc; i++) {
        const char* a = argv[i];
#define NEED_VALUE()                                                 \
    do {                                                             \
        if (i + 1 >= argc) usage_error("option %s needs a value", a); \
    } while (0)
        if (strcmp(a, "--config") == 0) {
            NEED_VALUE();
            o->config = argv[++i];
        } else if (strcmp(a, "--open") == 0) {
            NEED_VALUE();
            o->open_params = argv[++i];
            o->open_given = 1;
        } else if (strcmp(a, "--field") == 0) {
            NEED_VALUE();
            strlist_add(&o->field_texts, argv[++i]);
        } else if (strcmp(a, "--fields-file") == 0) {
            NEED_VALUE();
            read_fields_file(argv[++i], &o->field_texts);
        } else if (strcmp(a, "--cycles") == 0) {
            NEED_VALUE();
            o->cycles = parse_long(a, argv[++i], 1);
        } else if (strcmp(a, "--reload") == 0) {
            o->reload = 1;
        } else if (strcmp(a, "--max-events") == 0) {
            NEED_VALUE();
            o->max_events = parse_long(a, argv[++i], 0);
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
        } else if (strcmp(a, "--expect-init-fail") == 0) {
            o->expect_init_fail = 1;
        } else if (strcmp(a, "--expect-open-fail") == 0) {
            o->expect_open_fail = 1;
        } else if (strcmp(a, "--to-string") == 0) {
            o->to_string = 1;
        } else if (strcmp(a, "--batch-marks") == 0) {
            o->batch_marks = 1;
        } else if (strcmp(a, "--metrics-thread") == 0) {
            o->metrics_thread = 1;
        } else if (strcmp(a, "--pause-after") == 0) {
            NEED_VALUE();
            char* end;
            const char* v = argv[++i];
            o->pause_after = strtol(v, &end, 10);
            if (end == v || *end != ':' || o->pause_after < 0) usage_error("--pause-after takes N:MS");
            v = end + 1;
            o->pause_ms = strtol(v, &end, 10);
            if (end == v || *end || o->pause_ms <= 0) usage_error("--pause-after takes N:MS");
        } else if (strcmp(a, "--max-seconds") == 0) {
            NEED_VALUE();
            char* end;
            o->max_seconds = strtod(argv[++i], &end);
            if (*end || o->max_seconds <= 0) usage_error("bad value for --max-seconds");
        } else if (strcmp(a, "--events") == 0) {
            NEED_VALUE();
            o->events_path = argv[++i];
        } else if (strcmp(a, "--arg-default") == 0) {
            NEED_VALUE();
            const char* v = argv[++i];
            if (strcmp(v, "max") == 0)
                o->arg_default = UINT64_MAX;
            else if (strcmp(v, "zero") == 0)
                o->arg_default = 0;
            else
                usage_error("--arg-default takes max or zero");
        } else if (strcmp(a, "--threads") == 0) {
            NEED_VALUE();
            o->threads = parse_long(a, argv[++i], 1);
        } else if (strcmp(a, "--repeat") == 0) {
            NEED_VALUE();
            o->repeat = parse_long(a, argv[++i], 1);
        } else if (strcmp(a, "--hold") == 0) {
            o->hold = 1;
        } else if (strcmp(a, "--iterations") == 0) {
            NEED_VALUE();
            o->iterations = parse_long(a, argv[++i], 1);
        } else {
            usage_error("unknown option '%s'", a);
        }
#undef NEED_VALUE
    }
}

/* ------------------------------------------------------------------------------------ */
/* time                                                                                  */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------ */
/* info                                                                                  */

/* Everything the stateless functions answer, as one text. */
static void stateless_snapshot(const plugin* p, sbuf* b)
{
    const char* parts[8];
    parts[0] = p->get_required_api_version();
    parts[1] = p->get_version();
    parts[2] = p->get_name();
    parts[3] = p->get_description();
    parts[4] = p->get_contact();
    parts[5] = p->get_event_source();
    parts[6] = p->get_fields();
    parts[7] = p->get_extract_event_sources ? p->get_extract_event_sources() : "";
    for (int i = 0; i < 8; i++) {
        sb_puts(b, parts[i] ? parts[i] : "(null)");
        sb_putc(b, '\x1f');
    }
    sb_printf(b, "%" PRIu32, p->get_id());
    if (p->get_init_schema) {
        ss_plugin_schema_type t = SS_PLUGIN_SCHEMA_NONE;
        const char* sc = p->get_init_schema(&t);
        sb_printf(b, "\x1f%d\x1f%s", (int)t, sc ? sc : "(null)");
    }
}

typedef struct snap_job {
    const plugin* p;
    sbuf out;
} snap_job;

static void* snapshot_thread(void* arg)
{
    snap_job* j = arg;
    stateless_snapshot(j->p, &j->out);
    return NULL;
}

/* The stateless functions may be called from any thread: they must answer the same there. */
static void check_stateless_other_thread(const plugin* p)
{
    sbuf mine = {0};
    stateless_snapshot(p, &mine);
    snap_job j = {p, {0}};
    pthread_t t;
    if (pthread_create(&t, NULL, snapshot_thread, &j) != 0) die("pthread_create failed");
    pthread_join(t, NULL);
    if (mine.n != j.out.n || memcmp(mine.p, j.out.p, mine.n) != 0)
        die("stateless functions answer differently on another thread");
    sb_free(&mine);
    sb_free(&j.out);
}

static int cmd_info(const char* path)
{
    plugin p;
    memset(&p, 0, sizeof p);
    plugin_load(&p, path, 1);
    check_stateless_other_thread(&p);

    sbuf o = {0};
    sb_puts(&o, "{\"name\":");
    sb_json_str(&o, p.name);
    sb_puts(&o, ",\"version\":");
    sb_json_str(&o, p.version);
    sb_puts(&o, ",\"required_api_version\":");
    sb_json_str(&o, p.required_api_version);
    sb_puts(&o, ",\"description\":");
    sb_json_str(&o, p.description);
    sb_puts(&o, ",\"contact\":");
    sb_json_str(&o, p.contact);
    sb_printf(&o, ",\"id\":%" PRIu32, p.id);
    sb_puts(&o, ",\"event_source\":");
    sb_json_str(&o, p.event_source);
    sb_puts(&o, ",\"fields\":");
    sb_json_minified(&o, p.fields_json);
    sb_puts(&o, ",\"init_schema\":");
    if (p.init_schema && p.schema_type == SS_PLUGIN_SCHEMA_JSON)
        sb_json_minified(&o, p.init_schema);
    else if (p.init_schema)
        sb_json_str(&o, p.init_schema);
    else
        sb_puts(&o, "null");
    sb_printf(&o, ",\"schema_type\":%d", p.schema_type);
    sb_puts(&o, ",\"extract_event_sources\":");
    if (p.extract_event_sources)
        sb_json_minified(&o, p.extract_event_sources);
    else
        sb_puts(&o, "null");
    sb_puts(&o, ",\"exported\":[");
    int first = 1;
    for (size_t i = 0; i < N_API_NAMES; i++) {
        if (!p.sym[i]) continue;
        if (!first) sb_putc(&o, ',');
        first = 0;
        sb_printf(&o, "\"plugin_%s\"", API_NAMES[i]);
    }
    sb_puts(&o, "]}\n");
    out_sbuf(&o);
    sb_free(&o);
    plugin_unload(&p);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* metrics                                                                               */

static void sb_metrics(sbuf* o, plugin* p, ss_plugin_t* s)
{
    sb_puts(o, "{");
    if (!p->get_metrics) {
        sb_puts(o, "}");
        return;
    }
    uint32_t n = 0xFFFFFFFFu;
    ss_plugin_metric* m = p->get_metrics(s, &n);
    if (n == 0xFFFFFFFFu) die("plugin_get_metrics did not write *num_metrics");
    if (n > 0 && !m) die("plugin_get_metrics returned NULL with %" PRIu32 " metrics", n);
    for (uint32_t i = 0; i < n; i++) {
        if (!m[i].name) die("plugin_get_metrics: metric %" PRIu32 " has no name", i);
        if (i) sb_putc(o, ',');
        sb_json_str(o, m[i].name);
        sb_putc(o, ':');
        switch (m[i].value_type) {
        case SS_PLUGIN_METRIC_VALUE_TYPE_U32: sb_printf(o, "%" PRIu32, m[i].value.u32); break;
        case SS_PLUGIN_METRIC_VALUE_TYPE_S32: sb_printf(o, "%" PRId32, m[i].value.s32); break;
        case SS_PLUGIN_METRIC_VALUE_TYPE_U64: sb_printf(o, "%" PRIu64, m[i].value.u64); break;
        case SS_PLUGIN_METRIC_VALUE_TYPE_S64: sb_printf(o, "%" PRId64, m[i].value.s64); break;
        case SS_PLUGIN_METRIC_VALUE_TYPE_I: sb_printf(o, "%d", m[i].value.i); break;
        case SS_PLUGIN_METRIC_VALUE_TYPE_D:
        case SS_PLUGIN_METRIC_VALUE_TYPE_F: {
            double d = m[i].value_type == SS_PLUGIN_METRIC_VALUE_TYPE_D ? m[i].value.d
                                                                        : (double)m[i].value.f;
            if (d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308)
                sb_puts(o, "null");
            else
                sb_printf(o, "%.17g", d);
            break;
        }
        default:
            die("plugin_get_metrics: metric '%s' has unknown value type %d", m[i].name,
                (int)m[i].value_type);
        }
        if (m[i].type != SS_PLUGIN_METRIC_TYPE_MONOTONIC &&
            m[i].type != SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC)
            die("plugin_get_metrics: metric '%s' has unknown type %d", m[i].name, (int)m[i].type);
    }
    sb_puts(o, "}");
}

typedef struct metrics_poller {
    plugin* p;
    ss_plugin_t* s;
    atomic_int stop;
    unsigned long polls;
} metrics_poller;

/* Calls get_metrics concurrently with the event loop, as Falco's webserver thread can. */
static void* metrics_thread_main(void* arg)
{
    metrics_poller* mp = arg;
    do {
        sbuf tmp = {0};
        sb_metrics(&tmp, mp->p, mp->s);
        sb_free(&tmp);
        mp->polls++;
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    } while (!atomic_load(&mp->stop));
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* replay                                                                                */

static int cmd_replay(const char* path, const options* o)
{
    plugin p;
    memset(&p, 0, sizeof p);
    plugin_load(&p, path, 2);
    char* params = trim_copy(o->open_params);

    for (long cycle = 1; cycle <= o->cycles; cycle++) {
        if (cycle > 1 && o->reload) {
            plugin_unload(&p);
            plugin_load(&p, path, 2);
        }
        spec_list specs;
        build_specs(&p, &o->field_texts, o->arg_default, &specs);

        char* err = NULL;
        ss_plugin_t* s = plugin_do_init(&p, o->config, &err);
        if (!s) {
            if (o->expect_init_fail) {
                sbuf m = {0};
                sb_puts(&m, "{\"init_error\":");
                sb_json_str(&m, err);
                sb_puts(&m, "}\n");
                out_sbuf(&m);
                sb_free(&m);
                free(err);
                free_specs(&specs);
                free(params);
                plugin_unload(&p);
                return 0;
            }
            fflush(stdout);
            fprintf(stderr, "falco_host: init failed: %s\n", err);
            free(err);
            free_specs(&specs);
            free(params);
            plugin_unload(&p);
            return EXIT_INIT;
        }
        if (o->expect_init_fail) die("init succeeded but a failure was expected");

        ss_plugin_rc orc = SS_PLUGIN_FAILURE; /* libscap presets SCAP_FAILURE */
        ss_instance_t* h = p.open(s, params, &orc);
        if (orc != SS_PLUGIN_SUCCESS) {
            const char* msg = p.get_last_error(s);
            char* m = xstrdup(msg ? msg : "");
            p.close(s, h); /* libscap closes right after a failed open, whatever h is */
            p.destroy(s);
            if (!*m) die("plugin_open failed and get_last_error gives no explanation");
            int rc;
            if (o->expect_open_fail) {
                sbuf b = {0};
                sb_puts(&b, "{\"open_error\":");
                sb_json_str(&b, m);
                sb_puts(&b, "}\n");
                out_sbuf(&b);
                sb_free(&b);
                rc = 0;
            } else {
                fflush(stdout);
                fprintf(stderr, "falco_host: open failed: %s\n", m);
                rc = EXIT_OPEN;
            }
            free(m);
            free_specs(&specs);
            free(params);
            plugin_unload(&p);
            return rc;
        }
        if (!h) die("plugin_open returned SUCCESS with a NULL instance");
        if (o->expect_open_fail) die("open succeeded but a failure was expected");

        metrics_poller mp;
        pthread_t mt;
        memset(&mp, 0, sizeof mp);
        mp.p = &p;
        mp.s = s;
        atomic_init(&mp.stop, 0);
        if (o->metrics_thread && p.get_metrics) {
            if (pthread_create(&mt, NULL, metrics_thread_main, &mp) != 0)
                die("pthread_create failed");
        }

        extractor x;
        extractor_init(&x, specs.n, o->hold);
        sbuf line = {0};
        uint64_t counter = 0, marked = 0;
        unsigned long timeouts = 0;
        double max_batch = 0;
        const char* end = NULL;
        double t_start = mono_s();
        char* fail_msg = NULL;

        if (o->max_events == 0) end = "MAX";
        int paused = 0;
        while (!end) {
            if (o->pause_ms > 0 && !paused && counter >= (uint64_t)o->pause_after) {
                paused = 1;
                struct timespec ts = {o->pause_ms / 1000, (o->pause_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
            uint32_t n = 0xFFFFFFFFu;
            ss_plugin_event** evts = NULL;
            double t0 = mono_s();
            ss_plugin_rc rc = p.next_batch(s, h, &n, &evts);
            double dt = mono_s() - t0;
            if (o->batch_marks && counter > marked) {
                sbuf m = {0};
                sb_printf(&m, "{\"finished\":%" PRIu64 "}\n", counter);
                out_sbuf(&m);
                if (fflush(stdout) != 0) die("write to stdout failed");
                sb_free(&m);
                marked = counter;
            }
            if (dt > max_batch) max_batch = dt;
            if (rc != SS_PLUGIN_SUCCESS && rc != SS_PLUGIN_TIMEOUT && rc != SS_PLUGIN_EOF &&
                rc != SS_PLUGIN_FAILURE)
                die("plugin_next_batch returned %d", (int)rc);
            if (n == 0xFFFFFFFFu) die("plugin_next_batch did not write *nevts (rc %d)", (int)rc);
            if (rc == SS_PLUGIN_SUCCESS && n == 0)
                die("plugin_next_batch returned SUCCESS with 0 events (libscap: unexpected 0 "
                    "size event returned by plugin)");
            if (n > 0 && !evts) die("plugin_next_batch returned %" PRIu32 " events and a NULL array", n);
            for (uint32_t i = 0; i < n; i++) {
                unsigned char* e = (unsigned char*)evts[i];
                if (!e) die("plugin_next_batch: event %" PRIu32 " of the batch is NULL", i);
                ss_plugin_event hdr;
                memcpy(&hdr, e, sizeof hdr);
                uint32_t l0, l1, pid;
                if (hdr.type != K8S_PLUGIN_EVENT_TYPE || hdr.nparams != K8S_PLUGIN_EVENT_NPARAMS)
                    die("malformed plugin event produced by plugin '%s': type %u nparams %" PRIu32,
                        p.name, (unsigned)hdr.type, hdr.nparams);
                if (hdr.len < K8S_PLUGIN_EVENT_PAYLOAD_OFFSET)
                    die("plugin event too short: len %" PRIu32, hdr.len);
                l0 = k8s_event_u32(e, K8S_EVT_PARAM0_LEN_OFFSET);
                l1 = k8s_event_u32(e, K8S_EVT_PARAM1_LEN_OFFSET);
                pid = k8s_event_u32(e, K8S_EVT_PLUGIN_ID_OFFSET);
                if (l0 != 4) die("plugin event: length of param 0 is %" PRIu32 ", not 4", l0);
                if ((uint64_t)hdr.len != (uint64_t)K8S_PLUGIN_EVENT_PAYLOAD_OFFSET + l1)
                    die("plugin event: len %" PRIu32 " != %u + payload length %" PRIu32, hdr.len,
                        K8S_PLUGIN_EVENT_PAYLOAD_OFFSET, l1);
                if (pid == 0) {
                    k8s_event_set_u32(e, K8S_EVT_PLUGIN_ID_OFFSET, p.id);
                } else if (pid != p.id) {
                    die("unexpected plugin ID in plugin event: %" PRIu32 " (plugin is %" PRIu32 ")",
                        pid, p.id);
                }
                uint64_t tid = UINT64_MAX;
                memcpy(e + K8S_EVT_TID_OFFSET, &tid, 8);
                uint64_t ts = hdr.ts;
                if (ts == UINT64_MAX) {
                    ts = wall_ns();
                    memcpy(e + K8S_EVT_TS_OFFSET, &ts, 8);
                }
                uint64_t evtnum = ++counter;
                const ss_plugin_event* ev = (const ss_plugin_event*)e;

                sb_clear(&line);
                sb_printf(&line, "{\"cycle\":%ld,\"evtnum\":%" PRIu64 ",\"ts\":%" PRIu64
                                 ",\"payload\":",
                          cycle, evtnum, ts);
                sb_json_strn(&line, (const char*)e + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET, l1);
                if (o->to_string) {
                    sb_puts(&line, ",\"string\":");
                    if (!p.event_to_string) {
                        sb_puts(&line, "null");
                    } else {
                        ss_plugin_event_input ei = {ev, evtnum, p.event_source};
                        const char* str = p.event_to_string(s, &ei);
                        if (!str) die("plugin_event_to_string returned NULL");
                        sb_json_str(&line, str);
                    }
                }
                sb_puts(&line, ",\"values\":{");
                extract_event(&p, s, &x, ev, evtnum, &specs, &line);
                sb_puts(&line, "}}\n");
                if (!o->quiet) out_sbuf(&line);
                if (o->max_events >= 0 && counter >= (uint64_t)o->max_events) {
                    end = "MAX";
                    break;
                }
            }
            /* Readers of a live source (the LDP tests) see each batch when it is delivered:
             * stdout is a pipe, so without this the last lines wait for more output (an
             * embedded CPython that set the host's stdio unbuffered used to hide that). */
            if (!o->quiet && fflush(stdout) != 0) die("write to stdout failed");
            if (end) break;
            if (rc == SS_PLUGIN_EOF) {
                end = "EOF";
            } else if (rc == SS_PLUGIN_FAILURE) {
                const char* msg = p.get_last_error(s);
                fail_msg = xstrdup(msg && *msg ? msg : "(get_last_error gives no explanation)");
                break;
            } else if (rc == SS_PLUGIN_TIMEOUT) {
                timeouts++;
            }
            if (!end && o->max_seconds > 0 && mono_s() - t_start > o->max_seconds) end = "TIME";
        }

        if (o->metrics_thread && p.get_metrics) {
            atomic_store(&mp.stop, 1);
            pthread_join(mt, NULL);
        }

        if (fail_msg) {
            p.close(s, h);
            p.destroy(s);
            die("plugin_next_batch failed: %s", fail_msg);
        }

        sbuf e = {0};
        sb_printf(&e, "{\"cycle\":%ld,\"end\":\"%s\",\"events\":%" PRIu64
                      ",\"timeouts\":%lu,\"max_batch_ms\":%.3f,\"metrics\":",
                  cycle, end, counter, timeouts, max_batch * 1000.0);
        sb_metrics(&e, &p, s);
        if (o->metrics_thread) sb_printf(&e, ",\"metric_polls\":%lu", mp.polls);
        sb_puts(&e, "}\n");
        out_sbuf(&e);
        sb_free(&e);
        sb_free(&line);
        extractor_free(&x);

        p.close(s, h);
        p.destroy(s);
        free_specs(&specs);
    }
    free(params);
    plugin_unload(&p);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* extract (capture-file mode) and bench                                                 */

typedef struct event_set {
    unsigned char** evt;  /* host-built events */
    lines src;            /* the payloads as read */
    size_t n;
} event_set;

static void build_events(const char* path, uint32_t plugin_id, event_set* es)
{
    read_lines(path, &es->src);
    es->n = es->src.n;
    es->evt = xcalloc(es->n, sizeof(unsigned char*));
    for (size_t i = 0; i < es->n; i++) {
        size_t plen = es->src.len[i];
        if (plen > UINT32_MAX - K8S_PLUGIN_EVENT_PAYLOAD_OFFSET) usage_error("line too long");
        unsigned char* e = xmalloc(K8S_PLUGIN_EVENT_PAYLOAD_OFFSET + plen);
        k8s_event_write_header(e, 0, (uint32_t)plen);
        k8s_event_set_u32(e, K8S_EVT_PLUGIN_ID_OFFSET, plugin_id);
        memcpy(e + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET, es->src.v[i], plen);
        es->evt[i] = e;
    }
}

/* The plugin must never modify the host's event memory. */
static void verify_events(const event_set* es, uint32_t plugin_id)
{
    for (size_t i = 0; i < es->n; i++) {
        const unsigned char* e = es->evt[i];
        ss_plugin_event hdr;
        memcpy(&hdr, e, sizeof hdr);
        uint32_t l0 = k8s_event_u32(e, K8S_EVT_PARAM0_LEN_OFFSET);
        uint32_t l1 = k8s_event_u32(e, K8S_EVT_PARAM1_LEN_OFFSET);
        uint32_t pid = k8s_event_u32(e, K8S_EVT_PLUGIN_ID_OFFSET);
        if (hdr.ts != 0 || hdr.tid != UINT64_MAX || hdr.type != K8S_PLUGIN_EVENT_TYPE ||
            hdr.nparams != K8S_PLUGIN_EVENT_NPARAMS || l0 != 4 || l1 != es->src.len[i] || pid != plugin_id ||
            hdr.len != K8S_PLUGIN_EVENT_PAYLOAD_OFFSET + l1 ||
            memcmp(e + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET, es->src.v[i], l1) != 0)
            die("the plugin modified the host's event %zu", i + 1);
    }
}

static void free_events(event_set* es)
{
    for (size_t i = 0; i < es->n; i++) free(es->evt[i]);
    free(es->evt);
    free_lines(&es->src);
}

typedef struct worker {
    const plugin* p;
    ss_plugin_t* s;
    const event_set* es;
    const spec_list* specs;
    long repeat;
    int hold;
    int to_string;
    sbuf out;
} worker;

static void extract_pass(const plugin* p, ss_plugin_t* s, extractor* x, const event_set* es,
                         const spec_list* specs, int to_string, sbuf* out)
{
    for (size_t i = 0; i < es->n; i++) {
        sb_printf(out, "{\"event\":%zu", i + 1);
        if (to_string) {
            sb_puts(out, ",\"string\":");
            if (!p->event_to_string) {
                sb_puts(out, "null");
            } else {
                ss_plugin_event_input ei = {(const ss_plugin_event*)es->evt[i], (uint64_t)(i + 1),
                                            p->event_source};
                const char* str = p->event_to_string(s, &ei);
                if (!str) die("plugin_event_to_string returned NULL");
                sb_json_str(out, str);
            }
        }
        sb_puts(out, ",\"values\":{");
        extract_event(p, s, x, (const ss_plugin_event*)es->evt[i], (uint64_t)(i + 1), specs, out);
        sb_puts(out, "}}\n");
    }
}

static void* worker_main(void* arg)
{
    worker* w = arg;
    extractor x;
    extractor_init(&x, w->specs->n, w->hold);
    extract_pass(w->p, w->s, &x, w->es, w->specs, w->to_string, &w->out);
    sbuf again = {0};
    for (long r = 1; r < w->repeat; r++) {
        sb_clear(&again);
        extract_pass(w->p, w->s, &x, w->es, w->specs, w->to_string, &again);
        if (again.n != w->out.n || memcmp(again.p, w->out.p, again.n) != 0)
            die("extraction is not repeatable: pass %ld differs from pass 1", r + 1);
    }
    sb_free(&again);
    extractor_free(&x);
    return NULL;
}

static ss_plugin_t* init_or_exit(plugin* p, const char* config)
{
    char* err = NULL;
    ss_plugin_t* s = plugin_do_init(p, config, &err);
    if (!s) {
        fflush(stdout);
        fprintf(stderr, "falco_host: init failed: %s\n", err);
        free(err);
        exit(EXIT_INIT);
    }
    return s;
}

/* The library, the field specs and the events (capture-file mode) of extract and bench. */
static void load_workload(const char* path, const options* o, const char* cmd, plugin* p,
                          spec_list* specs, event_set* es)
{
    if (!o->events_path) usage_error("%s needs --events FILE", cmd);
    memset(p, 0, sizeof *p);
    plugin_load(p, path, 1);
    build_specs(p, &o->field_texts, o->arg_default, specs);
    build_events(o->events_path, p->id, es);
}

static int cmd_extract(const char* path, const options* o)
{
    plugin p;
    spec_list specs;
    event_set es;
    load_workload(path, o, "extract", &p, &specs, &es);

    size_t k = (size_t)o->threads;
    worker* w = xcalloc(k, sizeof(worker));
    pthread_t* th = xcalloc(k, sizeof(pthread_t));
    for (size_t i = 0; i < k; i++) {
        w[i].p = &p;
        w[i].s = init_or_exit(&p, o->config);
        for (size_t j = 0; j < i; j++)
            if (w[j].s == w[i].s) die("plugin_init returned the same state twice");
        w[i].es = &es;
        w[i].specs = &specs;
        w[i].repeat = o->repeat;
        w[i].hold = o->hold;
        w[i].to_string = o->to_string;
    }
    metrics_poller* mp = xcalloc(k, sizeof(metrics_poller));
    pthread_t* mt = xcalloc(k, sizeof(pthread_t));
    for (size_t i = 0; o->metrics_thread && p.get_metrics && i < k; i++) {
        mp[i].p = &p;
        mp[i].s = w[i].s;
        atomic_init(&mp[i].stop, 0);
        if (pthread_create(&mt[i], NULL, metrics_thread_main, &mp[i]) != 0)
            die("pthread_create failed");
    }
    if (k == 1) {
        worker_main(&w[0]);
    } else {
        for (size_t i = 0; i < k; i++)
            if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0) die("pthread_create failed");
        for (size_t i = 0; i < k; i++) pthread_join(th[i], NULL);
    }
    for (size_t i = 1; i < k; i++)
        if (w[i].out.n != w[0].out.n || memcmp(w[i].out.p, w[0].out.p, w[0].out.n) != 0)
            die("thread %zu produced a different output than thread 0", i);
    verify_events(&es, p.id);
    out_sbuf(&w[0].out);
    for (size_t i = 0; o->metrics_thread && p.get_metrics && i < k; i++) {
        atomic_store(&mp[i].stop, 1);
        pthread_join(mt[i], NULL);
        sbuf m = {0};
        sb_puts(&m, "{\"metrics\":");
        sb_metrics(&m, &p, w[i].s);
        sb_printf(&m, ",\"metric_polls\":%lu}\n", mp[i].polls);
        out_sbuf(&m);
        sb_free(&m);
    }
    free(mp);
    free(mt);
    for (size_t i = 0; i < k; i++) {
        p.destroy(w[i].s);
        sb_free(&w[i].out);
    }
    free(w);
    free(th);
    free_events(&es);
    free_specs(&specs);
    plugin_unload(&p);
    return 0;
}

/* bench also times every run of BENCH_CHUNK consecutive events and keeps, per chunk, the
 * fastest of the iterations: their sum (best_pass_seconds) is one pass over the events that
 * the machine's other processes did not disturb, short enough to fit between preemptions. */
#define BENCH_CHUNK 32

static int cmd_bench(const char* path, const options* o)
{
    plugin p;
    spec_list specs;
    event_set es;
    load_workload(path, o, "bench", &p, &specs, &es);
    ss_plugin_t* s = init_or_exit(&p, o->config);
    extractor x;
    extractor_init(&x, specs.n, 0);
    uint64_t evtnum = 0, calls = 0, bytes = 0;
    size_t nchunks = (es.n + BENCH_CHUNK - 1) / BENCH_CHUNK;
    double* best = xcalloc(nchunks ? nchunks : 1, sizeof(double));
    double chunk_start = 0;

    /* One untimed call first, for an event number the loop never uses: a plugin may do one-time
     * work at its first extraction (k8saudit-ovh starts CPython there when it was not opened,
     * as in capture-file mode), which is not the per-call cost measured here. */
    if (es.n > 0 && specs.n > 0)
        extract_bench_one(&p, s, &x, (const ss_plugin_event*)es.evt[0], UINT64_MAX,
                          p.event_source, 0, &specs.v[0]);

    double t0 = mono_s();
    for (long r = 0; r < o->iterations; r++) {
        for (size_t i = 0; i < es.n; i++) {
            if (i % BENCH_CHUNK == 0) chunk_start = mono_s();
            ++evtnum; /* a new event number per delivered event, as sinsp numbers them */
            for (size_t k = 0; k < specs.n; k++) {
                bytes += extract_bench_one(&p, s, &x, (const ss_plugin_event*)es.evt[i], evtnum,
                                           p.event_source, k, &specs.v[k]);
                calls++;
            }
            if ((i + 1) % BENCH_CHUNK == 0 || i + 1 == es.n) {
                double dt = mono_s() - chunk_start;
                if (r == 0 || dt < best[i / BENCH_CHUNK]) best[i / BENCH_CHUNK] = dt;
            }
        }
    }
    double secs = mono_s() - t0;
    double best_secs = 0;
    for (size_t c = 0; c < nchunks; c++) best_secs += best[c];
    free(best);

    verify_events(&es, p.id);
    sbuf b = {0};
    sb_printf(&b, "{\"events\":%" PRIu64 ",\"field_calls\":%" PRIu64 ",\"value_bytes\":%" PRIu64
              ",\"seconds\":%.9f,\"best_pass_seconds\":%.9f", evtnum, calls, bytes, secs,
              best_secs);
    if (secs > 0)
        sb_printf(&b, ",\"events_per_s\":%.3f", (double)evtnum / secs);
    else
        sb_puts(&b, ",\"events_per_s\":null");
    if (calls > 0)
        sb_printf(&b, ",\"ns_per_field_call\":%.3f}\n", secs * 1e9 / (double)calls);
    else
        sb_puts(&b, ",\"ns_per_field_call\":null}\n");
    out_sbuf(&b);
    sb_free(&b);
    extractor_free(&x);
    p.destroy(s);
    free_events(&es);
    free_specs(&specs);
    plugin_unload(&p);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* lifecycle                                                                             */

/* The path of the first mapping of this process whose file name starts with "libpython", or
 * NULL. /proc/self/maps is what the kernel has mapped, whoever loaded it and however. */
static char* libpython_mapped(void)
{
    FILE* fp = fopen("/proc/self/maps", "r");
    if (!fp) die("cannot read /proc/self/maps: %s", strerror(errno));
    char line[PATH_MAX + 256];
    char* found = NULL;
    while (!found && fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        char* path = strchr(line, '/');
        if (!path) continue;
        const char* base = strrchr(path, '/') + 1;
        if (strncmp(base, "libpython", 9) == 0) found = xstrdup(path);
    }
    fclose(fp);
    return found;
}

static void sb_libpython(sbuf* o, const char* key)
{
    char* lp = libpython_mapped();
    sb_printf(o, ",\"%s\":", key);
    if (lp)
        sb_json_str(o, lp);
    else
        sb_puts(o, "null");
    free(lp);
}

static int cmd_lifecycle(const char* path, const options* o)
{
    plugin p;
    memset(&p, 0, sizeof p);
    plugin_load(&p, path, 1);
    sbuf b = {0};
    sb_puts(&b, "{\"loaded\":true");
    sb_libpython(&b, "libpython_after_load");
    char* err = NULL;
    ss_plugin_t* s = plugin_do_init(&p, o->config, &err);
    if (!s) {
        sb_puts(&b, ",\"init_error\":");
        sb_json_str(&b, err);
        free(err);
    } else {
        sb_puts(&b, ",\"metrics_after_init\":");
        sb_metrics(&b, &p, s);
        sb_libpython(&b, "libpython_after_init");
        if (o->open_given) {
            char* params = trim_copy(o->open_params);
            ss_plugin_rc orc = SS_PLUGIN_FAILURE; /* libscap presets SCAP_FAILURE */
            ss_instance_t* h = p.open(s, params, &orc);
            if (orc != SS_PLUGIN_SUCCESS) {
                const char* msg = p.get_last_error(s);
                if (!msg || !*msg) die("plugin_open failed and get_last_error gives no explanation");
                sb_puts(&b, ",\"open_error\":");
                sb_json_str(&b, msg);
            } else if (!h) {
                die("plugin_open returned SUCCESS with a NULL instance");
            } else {
                sb_puts(&b, ",\"metrics_after_open\":");
                sb_metrics(&b, &p, s);
            }
            sb_libpython(&b, "libpython_after_open");
            p.close(s, h); /* also after a failed open, as libscap does */
            free(params);
        }
        p.destroy(s);
    }
    sb_libpython(&b, "libpython_at_end");
    sb_puts(&b, "}\n");
    out_sbuf(&b);
    sb_free(&b);
    plugin_unload(&p);
    return 0;
}

/* ------------------------------------------------------------------------------------ */

int main(int argc, char** argv)
{
    if (argc < 3) usage_error("missing arguments");
    const char* lib = argv[1];
    const char* cmd = argv[2];
    options o;
    int rc;
    if (strcmp(cmd, "info") == 0) {
        if (argc != 3) usage_error("info takes no options");
        rc = cmd_info(lib);
        if (fflush(stdout) != 0) die("write to stdout failed");
        return rc;
    }
    parse_options(argc, argv, 3, &o);
    if (strcmp(cmd, "replay") == 0)
        rc = cmd_replay(lib, &o);
    else if (strcmp(cmd, "extract") == 0)
        rc = cmd_extract(lib, &o);
    else if (strcmp(cmd, "bench") == 0)
        rc = cmd_bench(lib, &o);
    else if (strcmp(cmd, "lifecycle") == 0)
        rc = cmd_lifecycle(lib, &o);
    else
        usage_error("unknown command '%s'", cmd);
    strlist_free(&o.field_texts);
    if (fflush(stdout) != 0) die("write to stdout failed");
    return rc;
}
