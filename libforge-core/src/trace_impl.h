/*
 * Internal to trace*.c: spans, the per-worker tracer and its export queue.
 *
 * A span is a fixed-size record (no allocation per attribute): a request's
 * span and its children live in the request's arena, other spans are
 * malloc'd. Ending a sampled span copies it into the tracer's ring (one
 * short process-local lock); the runtime thread drains the ring in batches
 * and a pool thread posts each batch as OTLP/HTTP JSON.
 */
#ifndef FORGE_TRACE_IMPL_H
#define FORGE_TRACE_IMPL_H

#include "observe_impl.h"

#define FORGE__SPAN_ATTRS     16
#define FORGE__SPAN_TEXT      640
#define FORGE__TRACESTATE_MAX 512
#define FORGE__SPAN_NAME_MAX  128

enum { SPAN_KIND_INTERNAL = 1, SPAN_KIND_SERVER = 2 };

typedef struct forge__span_attr {
    uint16_t key, val; /* offsets into text */
    uint8_t is_int;
    int64_t i;
} forge__span_attr;

struct forge_span {
    struct forge__tracer *tr;
    uint8_t trace_id[16], span_id[8], parent_id[8];
    bool has_parent, sampled, recording, owned, error;
    int kind;
    uint64_t start_ns, end_ns;
    char trace_hex[33], span_hex[17], parent_hex[17];
    char name[FORGE__SPAN_NAME_MAX];
    char tracestate[FORGE__TRACESTATE_MAX + 1];
    char status_msg[128];
    uint16_t nattrs, text_used, dropped;
    forge__span_attr attrs[FORGE__SPAN_ATTRS];
    char text[FORGE__SPAN_TEXT];
};

struct forge__tracer {
    forge_app *app;
    double ratio;
    char *url; /* NULL: spans are not recorded */
    char *service_name;
    size_t batch_max;
    uint64_t flush_ms, timeout_ms;
    pthread_mutex_t mu;
    struct forge_span *ring; /* allocated at worker start when exporting */
    size_t cap, head, count;
    bool exporting;
    int64_t timer;
    forge_metric *dropped, *exported, *failed;
};

/* trace.c */
void forge__trace_random(uint8_t *out, size_t n); /* non-zero ids */
void forge__hex(const uint8_t *b, size_t n, char *out);
/* Fill ids, sampling and hex of a new span (parent may be NULL). */
void forge__span_init(struct forge__tracer *t, struct forge_span *s, const forge_trace_ctx *parent,
                      bool parent_known, const char *name, int kind);

/* trace_export.c */
void forge__trace_push(struct forge__tracer *t, const struct forge_span *s);
/* OTLP/HTTP JSON body for n spans (malloc'd string). */
char *forge__otlp_json(const struct forge__tracer *t, const struct forge_span *spans, size_t n);

#endif
