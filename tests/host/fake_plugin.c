/*
 * fake_plugin: a tiny Falco plugin (sourcing + extraction, API 3.0.0) used only to test the
 * test hosts themselves (tests/host/falco_host.c and k8saudit_ovh_cli.host). It can be told to
 * misbehave, so the tests can check that the hosts catch each contract violation.
 *
 * Behaviour is chosen by the init config, a JSON object {"mode": "<mode>"}:
 *   ok             open PARAMS is a file; its lines are the payloads. Batches of at most 2
 *                  events, mixing TIMEOUT with and without events, then EOF. Even lines have
 *                  ts = 1000 + index and plugin id 0, odd lines ts = UINT64_MAX and id 999.
 *   zero_success   next_batch returns SUCCESS with 0 events.
 *   bad_len        an event whose len is not 38 + N (the payload offset + the payload length).
 *   bad_type       an event of type 321.
 *   bad_id         an event carrying plugin id 7.
 *   bad_param0     an event whose param 0 length is 8.
 *   fail_batch     first batch delivered, then FAILURE ("boom: the batch failed").
 *   no_nevts       next_batch returns TIMEOUT without writing *nevts.
 *   bad_rc         next_batch returns 42.
 *   init_fail      init fails: "bad value for key 'maxEventSize'".
 *   init_null      init fails and returns no state.
 *   init_norc      init never writes *rc.
 *   open_fail      open fails and still returns an instance, which close must free.
 *   racy           fake.payload values depend on the state (threads disagree).
 *   multi          fake.payload returns 2 values for a non-list field.
 *   null_value     fake.payload returns a NULL string.
 *   modify_input   extract_fields changes arg_index.
 * A missing open file fails with "cannot open '<path>': <reason>".
 *
 * Compile-time variants: FAKE_REQUIRED_API="x.y.z", FAKE_VERSION="..", FAKE_OMIT_NEXT_BATCH,
 * FAKE_UNSTABLE_NAME, FAKE_BAD_FIELDS, FAKE_EXPORT_PARSE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "falco_plugin_abi.h"

#define API __attribute__((visibility("default")))

#ifndef FAKE_REQUIRED_API
#define FAKE_REQUIRED_API "3.0.0"
#endif
#ifndef FAKE_VERSION
#define FAKE_VERSION "0.1.0"
#endif
#define FAKE_ID 999u
#define FAKE_SOURCE "test"
#define MAX_BATCH 2

enum {
    F_PAYLOAD, F_PARTS, F_KEY, F_EVTNUM, F_LEN, F_EMPTY, F_FAIL, F_FLAG, F_BOTH, N_FIELDS
};

#ifdef FAKE_BAD_FIELDS
static const char FIELDS[] = "[{\"name\":\"fake.payload\",\"type\":\"string\",\"desc\":\"\"}]";
#else
static const char FIELDS[] =
    "[\n"
    "  {\"name\": \"fake.payload\", \"type\": \"string\", \"desc\": \"the whole payload\"},\n"
    "  {\"name\": \"fake.parts\", \"type\": \"string\", \"isList\": true,\n"
    "   \"arg\": {\"isRequired\": false, \"isIndex\": true, \"isKey\": false},\n"
    "   \"desc\": \"the payload split on commas\"},\n"
    "  {\"name\": \"fake.key\", \"type\": \"string\",\n"
    "   \"arg\": {\"isRequired\": true, \"isIndex\": false, \"isKey\": true},\n"
    "   \"desc\": \"echoes the key and index arguments\"},\n"
    "  {\"name\": \"fake.evtnum\", \"type\": \"string\", \"desc\": \"the event number\"},\n"
    "  {\"name\": \"fake.len\", \"type\": \"uint64\", \"desc\": \"the payload length\"},\n"
    "  {\"name\": \"fake.empty\", \"type\": \"string\", \"desc\": \"never has a value\"},\n"
    "  {\"name\": \"fake.fail\", \"type\": \"string\", \"desc\": \"always fails\"},\n"
    "  {\"name\": \"fake.flag\", \"type\": \"bool\", \"desc\": \"payload length is odd\",\n"
    "   \"display\": \"Flag\", \"properties\": null},\n"
    "  {\"name\": \"fake.both\", \"type\": \"string\", \"isList\": true,\n"
    "   \"arg\": {\"isIndex\": true, \"isKey\": true},\n"
    "   \"desc\": \"echoes an index-or-key argument\", \"properties\": [\"info\"]}\n"
    "]";
#endif

static const char SCHEMA[] =
    "{\"type\": \"object\", \"properties\": {\"mode\": {\"type\": \"string\"}}}";

typedef struct fake_state {
    char mode[64];
    char err[1024];
    int opens;
    int closes;
    uint64_t delivered;
    uint32_t batches;
    ss_plugin_metric metrics[4];
    char* to_string;
    char* vals[64];
    size_t nvals;
    const char* ptrs[64];
    uint64_t u64;
    ss_plugin_bool flag;
} fake_state;

typedef struct fake_inst {
    char* data;
    char** lines;
    size_t* lens;
    size_t n;
    size_t pos;
    unsigned calls;
    unsigned char* bufs[MAX_BATCH];
    ss_plugin_event* arr[MAX_BATCH];
    fake_state* s;
} fake_inst;

API const char* plugin_get_required_api_version(void) { return FAKE_REQUIRED_API; }
API const char* plugin_get_version(void) { return FAKE_VERSION; }
API const char* plugin_get_description(void) { return "A fake plugin for testing hosts"; }
API const char* plugin_get_contact(void) { return "nobody"; }
API uint32_t plugin_get_id(void) { return FAKE_ID; }
API const char* plugin_get_event_source(void) { return FAKE_SOURCE; }
API const char* plugin_get_fields(void) { return FIELDS; }
API const char* plugin_get_extract_event_sources(void) { return "[\"test\"]"; }

API const char* plugin_get_name(void)
{
#ifdef FAKE_UNSTABLE_NAME
    static int calls;
    return (calls++ % 2) ? "fake-b" : "fake";
#else
    return "fake";
#endif
}

API const char* plugin_get_init_schema(ss_plugin_schema_type* t)
{
    *t = SS_PLUGIN_SCHEMA_JSON;
    return SCHEMA;
}

static int is_mode(const fake_state* s, const char* m) { return strcmp(s->mode, m) == 0; }

API ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc)
{
    fake_state* s = calloc(1, sizeof *s);
    if (!s) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    strcpy(s->mode, "ok");
    const char* m = in->config ? strstr(in->config, "\"mode\"") : NULL;
    if (m) {
        m = strchr(m + 6, '"');
        if (m) {
            const char* e = strchr(m + 1, '"');
            size_t l = e ? (size_t)(e - m - 1) : 0;
            if (l >= sizeof s->mode) l = sizeof s->mode - 1;
            memcpy(s->mode, m + 1, l);
            s->mode[l] = '\0';
        }
    }
    if (is_mode(s, "init_fail")) {
        snprintf(s->err, sizeof s->err, "bad value for key 'maxEventSize'");
        *rc = SS_PLUGIN_FAILURE;
        return s;
    }
    if (is_mode(s, "init_null")) {
        free(s);
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    if (is_mode(s, "init_norc")) return s;
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

static void free_vals(fake_state* s)
{
    for (size_t i = 0; i < s->nvals; i++) free(s->vals[i]);
    s->nvals = 0;
}

API void plugin_destroy(ss_plugin_t* st)
{
    fake_state* s = st;
    fprintf(stderr, "fake: destroy opens=%d closes=%d\n", s->opens, s->closes);
    free_vals(s);
    free(s->to_string);
    free(s);
}

API const char* plugin_get_last_error(ss_plugin_t* st) { return ((fake_state*)st)->err; }

static void free_inst(fake_inst* h)
{
    for (int i = 0; i < MAX_BATCH; i++) free(h->bufs[i]);
    free(h->lines);
    free(h->lens);
    free(h->data);
    free(h);
}

API ss_instance_t* plugin_open(ss_plugin_t* st, const char* params, ss_plugin_rc* rc)
{
    fake_state* s = st;
    fake_inst* h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(s->err, sizeof s->err, "out of memory");
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    h->s = s;
    s->opens++;
    if (is_mode(s, "open_fail")) {
        snprintf(s->err, sizeof s->err, "open_fail mode: refusing '%s'", params);
        *rc = SS_PLUGIN_FAILURE;
        return h; /* the host must close it */
    }
    FILE* fp = fopen(params, "rb");
    if (!fp) {
        snprintf(s->err, sizeof s->err, "cannot open '%s': %s", params, strerror(errno));
        *rc = SS_PLUGIN_FAILURE;
        return h;
    }
    size_t cap = 0, len = 0;
    char buf[4096];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, fp)) > 0) {
        if (len + r + 1 > cap) {
            cap = (len + r + 1) * 2;
            h->data = realloc(h->data, cap);
        }
        memcpy(h->data + len, buf, r);
        len += r;
    }
    fclose(fp);
    if (!h->data) h->data = calloc(1, 1);
    h->data[len] = '\0';
    size_t ncap = 0;
    char* p = h->data;
    while (*p) {
        char* nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (h->n == ncap) {
            ncap = ncap ? ncap * 2 : 16;
            h->lines = realloc(h->lines, ncap * sizeof(char*));
            h->lens = realloc(h->lens, ncap * sizeof(size_t));
        }
        h->lines[h->n] = p;
        h->lens[h->n] = l;
        h->n++;
        p += l;
        if (*p == '\n') p++;
    }
    *rc = SS_PLUGIN_SUCCESS;
    return h;
}

API void plugin_close(ss_plugin_t* st, ss_instance_t* hi)
{
    fake_state* s = st;
    s->closes++;
    if (hi) free_inst(hi);
}

__attribute__((unused)) static ss_plugin_event* make_event(fake_inst* h, int slot, size_t idx)
{
    size_t plen = h->lens[idx];
    free(h->bufs[slot]);
    unsigned char* e = malloc(K8S_PLUGIN_EVENT_PAYLOAD_OFFSET + plen);
    h->bufs[slot] = e;
    k8s_event_write_header(e, (idx % 2 == 0) ? 1000 + idx : UINT64_MAX, (uint32_t)plen);
    uint64_t tid = 12345;
    memcpy(e + K8S_EVT_TID_OFFSET, &tid, 8);
    k8s_event_set_u32(e, K8S_EVT_PLUGIN_ID_OFFSET, (idx % 2 == 0) ? 0 : FAKE_ID);
    fake_state* s = h->s;
    /* The misbehaviours this plugin can be told to have, each breaking one field. */
    if (is_mode(s, "bad_len"))
        k8s_event_set_u32(e, K8S_EVT_LEN_OFFSET, k8s_event_u32(e, K8S_EVT_LEN_OFFSET) + 1);
    if (is_mode(s, "bad_type")) {
        uint16_t type = 321;
        memcpy(e + K8S_EVT_TYPE_OFFSET, &type, 2);
    }
    if (is_mode(s, "bad_id")) k8s_event_set_u32(e, K8S_EVT_PLUGIN_ID_OFFSET, 7);
    if (is_mode(s, "bad_param0")) k8s_event_set_u32(e, K8S_EVT_PARAM0_LEN_OFFSET, 8);
    memcpy(e + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET, h->lines[idx], plen);
    return (ss_plugin_event*)e;
}

#ifndef FAKE_OMIT_NEXT_BATCH
API ss_plugin_rc plugin_next_batch(ss_plugin_t* st, ss_instance_t* hi, uint32_t* nevts,
                                   ss_plugin_event*** evts)
{
    fake_state* s = st;
    fake_inst* h = hi;
    unsigned c = ++h->calls;
    s->batches++;
    if (is_mode(s, "zero_success")) {
        *nevts = 0;
        return SS_PLUGIN_SUCCESS;
    }
    if (is_mode(s, "no_nevts")) return SS_PLUGIN_TIMEOUT;
    if (is_mode(s, "bad_rc")) {
        *nevts = 0;
        return (ss_plugin_rc)42;
    }
    if (is_mode(s, "fail_batch") && c > 2) {
        snprintf(s->err, sizeof s->err, "boom: the batch failed");
        *nevts = 0;
        return SS_PLUGIN_FAILURE;
    }
    if (c % 3 == 1 && h->pos < h->n) {
        *nevts = 0;
        return SS_PLUGIN_TIMEOUT;
    }
    uint32_t n = 0;
    while (n < MAX_BATCH && h->pos < h->n) {
        h->arr[n] = make_event(h, (int)n, h->pos);
        h->pos++;
        n++;
    }
    s->delivered += n;
    *nevts = n;
    *evts = h->arr;
    if (h->pos >= h->n) return SS_PLUGIN_EOF;
    return (c % 3 == 2) ? SS_PLUGIN_SUCCESS : SS_PLUGIN_TIMEOUT;
}
#endif

API const char* plugin_event_to_string(ss_plugin_t* st, const ss_plugin_event_input* ei)
{
    fake_state* s = st;
    uint32_t l1 = k8s_event_u32(ei->evt, K8S_EVT_PARAM1_LEN_OFFSET);
    free(s->to_string);
    s->to_string = malloc(l1 + 1);
    memcpy(s->to_string, (const unsigned char*)ei->evt + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET, l1);
    s->to_string[l1] = '\0';
    return s->to_string;
}

static const char* keep(fake_state* s, char* v)
{
    s->vals[s->nvals++] = v;
    return v;
}

static char* dupn(const char* p, size_t n)
{
    char* r = malloc(n + 1);
    memcpy(r, p, n);
    r[n] = '\0';
    return r;
}

API ss_plugin_rc plugin_extract_fields(ss_plugin_t* st, const ss_plugin_event_input* ei,
                                       const ss_plugin_field_extract_input* in)
{
    fake_state* s = st;
    free_vals(s);
    uint32_t plen = k8s_event_u32(ei->evt, K8S_EVT_PARAM1_LEN_OFFSET);
    const char* payload = (const char*)ei->evt + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET;
    for (uint32_t i = 0; i < in->num_fields; i++) {
        ss_plugin_extract_field* f = &in->fields[i];
        f->res_len = 0;
        char tmp[256];
        switch (f->field_id) {
        case F_PAYLOAD:
            if (is_mode(s, "racy")) {
                snprintf(tmp, sizeof tmp, "%p", (void*)s);
                s->ptrs[0] = keep(s, strdup(tmp));
            } else if (is_mode(s, "null_value")) {
                s->ptrs[0] = NULL;
            } else {
                s->ptrs[0] = keep(s, dupn(payload, plen));
            }
            s->ptrs[1] = s->ptrs[0];
            f->res.str = s->ptrs;
            f->res_len = is_mode(s, "multi") ? 2 : 1;
            if (is_mode(s, "modify_input")) f->arg_index = 77;
            break;
        case F_PARTS: {
            size_t np = 0, start = 0;
            for (size_t k = 0; k <= plen && np < 64 && s->nvals < 60; k++) {
                if (k == plen || payload[k] == ',') {
                    s->ptrs[np++] = keep(s, dupn(payload + start, k - start));
                    start = k + 1;
                }
            }
            if (f->arg_present) {
                if (f->arg_index < np) {
                    s->ptrs[0] = s->ptrs[f->arg_index];
                    f->res_len = 1;
                }
            } else {
                f->res_len = np;
            }
            f->res.str = s->ptrs;
            break;
        }
        case F_KEY:
        case F_BOTH:
            if (f->arg_index == UINT64_MAX)
                snprintf(tmp, sizeof tmp, "key=%s index=max present=%u",
                         f->arg_key ? f->arg_key : "(null)", f->arg_present);
            else
                snprintf(tmp, sizeof tmp, "key=%s index=%" PRIu64 " present=%u",
                         f->arg_key ? f->arg_key : "(null)", f->arg_index, f->arg_present);
            s->ptrs[0] = keep(s, strdup(tmp));
            f->res.str = s->ptrs;
            f->res_len = 1;
            break;
        case F_EVTNUM:
            snprintf(tmp, sizeof tmp, "%" PRIu64, ei->evtnum);
            s->ptrs[0] = keep(s, strdup(tmp));
            f->res.str = s->ptrs;
            f->res_len = 1;
            break;
        case F_LEN:
            s->u64 = plen;
            f->res.u64 = &s->u64;
            f->res_len = 1;
            break;
        case F_EMPTY:
            break;
        case F_FAIL:
            snprintf(s->err, sizeof s->err, "fake.fail always fails");
            return SS_PLUGIN_FAILURE;
        case F_FLAG:
            s->flag = plen % 2;
            f->res.boolean = &s->flag;
            f->res_len = 1;
            break;
        default:
            return SS_PLUGIN_FAILURE;
        }
    }
    return SS_PLUGIN_SUCCESS;
}

API ss_plugin_metric* plugin_get_metrics(ss_plugin_t* st, uint32_t* num)
{
    fake_state* s = st;
    s->metrics[0].name = "events_delivered";
    s->metrics[0].type = SS_PLUGIN_METRIC_TYPE_MONOTONIC;
    s->metrics[0].value_type = SS_PLUGIN_METRIC_VALUE_TYPE_U64;
    s->metrics[0].value.u64 = s->delivered;
    s->metrics[1].name = "batches";
    s->metrics[1].type = SS_PLUGIN_METRIC_TYPE_MONOTONIC;
    s->metrics[1].value_type = SS_PLUGIN_METRIC_VALUE_TYPE_U32;
    s->metrics[1].value.u32 = s->batches;
    s->metrics[2].name = "ratio";
    s->metrics[2].type = SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC;
    s->metrics[2].value_type = SS_PLUGIN_METRIC_VALUE_TYPE_D;
    s->metrics[2].value.d = 0.5;
    s->metrics[3].name = "negative";
    s->metrics[3].type = SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC;
    s->metrics[3].value_type = SS_PLUGIN_METRIC_VALUE_TYPE_S64;
    s->metrics[3].value.s64 = -5;
    *num = 4;
    return s->metrics;
}

#ifdef FAKE_EXPORT_PARSE
API ss_plugin_rc plugin_parse_event(ss_plugin_t* s, const ss_plugin_event_input* e, const void* in)
{
    (void)s;
    (void)e;
    (void)in;
    return SS_PLUGIN_SUCCESS;
}
#endif
