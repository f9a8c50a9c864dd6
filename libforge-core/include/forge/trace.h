/*
 * Forge: distributed tracing (W3C Trace Context, OpenTelemetry export).
 *
 * Every request gets a trace context: the incoming `traceparent` (and
 * `tracestate`) when valid, else a new trace. The trace id is set on the
 * request (forge_req_trace_id), so every log line of the request carries it,
 * with the request span's id. A span covers each request; handlers start
 * child spans for calls they want to see and pass forge_span_traceparent to
 * the services they call.
 *
 * Sampling is parent-based: a request with a parent follows the parent's
 * sampled flag; a new trace is sampled with probability
 * observe.trace.sample_ratio (decided from the trace id, so every service
 * using the same ratio decides alike). Sampled spans are queued and exported
 * in batches over OTLP/HTTP JSON to observe.trace.endpoint by the worker's
 * runtime (never on the request thread); when the queue is full, spans are
 * dropped and counted (forge_trace_spans_dropped_total).
 *
 * A span is used by one thread at a time; forge_span_end ends and frees it
 * (a request's own span ends with the request).
 */
#ifndef FORGE_TRACE_H
#define FORGE_TRACE_H

#include <forge/common.h>
#include <forge/error.h>

typedef struct forge_span forge_span;

/* A parsed trace context. */
typedef struct forge_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8]; /* the parent's span id, as sent */
    uint8_t flags;      /* bit 0: sampled */
} forge_trace_ctx;

#define FORGE_TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

/*
 * Parse a traceparent value: version 00 exactly as W3C Trace Context level 1
 * says (lowercase hex, non-zero ids); higher versions by their 00 prefix
 * (longer values allowed when followed by '-'); version ff refused.
 * 0 or FORGE_EPARSE.
 */
FORGE_API int forge_traceparent_parse(const char *s, size_t n, forge_trace_ctx *out);

/* "00-<trace>-<span>-<flags>" into buf (at least 56 bytes). Returns 55 or FORGE_ERANGE. */
FORGE_API int forge_traceparent_format(const forge_trace_ctx *ctx, char *buf, size_t cap);

/* True when a new trace with this id is sampled at `ratio` (0..1). */
FORGE_API bool forge_trace_sampled_by_ratio(const uint8_t trace_id[16], double ratio);

/* The request's span (NULL when tracing is off for the app). */
FORGE_API forge_span *forge_req_span(const forge_req *req);

/* Hex ids of the request's span, NUL-terminated; NULL when the request has none. */
FORGE_API const char *forge_req_span_id(const forge_req *req);

/*
 * A child span of the request's span, in the request's memory: end it with
 * forge_span_end before the request ends (one still open then is dropped,
 * never exported). NULL when the request has no span.
 */
FORGE_API forge_span *forge_req_span_start(forge_req *req, const char *name);

/*
 * A span outside a request: a child of `parent`, or the root of a new trace
 * when parent is NULL. NULL when tracing is off or out of memory.
 */
FORGE_API forge_span *forge_span_start(forge_app *app, forge_span *parent, const char *name);

/* Attributes (copied; silently dropped beyond the span's room, counted in the export). */
FORGE_API void forge_span_set_str(forge_span *s, const char *key, const char *value);
FORGE_API void forge_span_set_int(forge_span *s, const char *key, int64_t value);
/* Mark the span failed (OTLP status ERROR) with a message (may be NULL). */
FORGE_API void forge_span_set_error(forge_span *s, const char *message);
/* End the span: queued for export when sampled, then freed. NULL is ignored. */
FORGE_API void forge_span_end(forge_span *s);

FORGE_API bool forge_span_sampled(const forge_span *s);
/* 32 and 16 lowercase hex digits, NUL-terminated, owned by the span. */
FORGE_API const char *forge_span_trace_id(const forge_span *s);
FORGE_API const char *forge_span_id(const forge_span *s);
/* The traceparent to send to a service called within this span. 55 or a negative code. */
FORGE_API int forge_span_traceparent(const forge_span *s, char *buf, size_t cap);
/* The tracestate received with the trace ("" when none), to send along. */
FORGE_API const char *forge_span_tracestate(const forge_span *s);

#endif
