/*
 * Span export: a bounded ring per worker, drained by a timer on the runtime
 * thread, each batch posted as OTLP/HTTP JSON (protobuf-JSON mapping, ids as
 * hex) by a pool thread with libcurl. At most one post is in flight per
 * worker; a failing collector costs dropped spans (counted), never a slower
 * request.
 */
#include "trace_impl.h"
#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void forge__trace_push(struct forge__tracer *t, const struct forge_span *s)
{
    bool dropped = false;
    pthread_mutex_lock(&t->mu);
    if (!t->ring || t->count == t->cap) {
        dropped = true;
    } else {
        t->ring[(t->head + t->count) % t->cap] = *s;
        t->count++;
    }
    pthread_mutex_unlock(&t->mu);
    if (dropped)
        forge_counter_inc(t->dropped);
}

/* ---- OTLP JSON ---- */

static json_t *kv_str(const char *k, const char *v)
{
    return json_pack("{s:s,s:{s:s}}", "key", k, "value", "stringValue", v);
}

static json_t *span_json(const struct forge_span *s)
{
    char start[24], end[24];
    snprintf(start, sizeof(start), "%llu", (unsigned long long)s->start_ns);
    snprintf(end, sizeof(end), "%llu", (unsigned long long)s->end_ns);
    json_t *attrs = json_array();
    for (size_t i = 0; attrs && i < s->nattrs; i++) {
        const forge__span_attr *a = &s->attrs[i];
        const char *key = s->text + a->key;
        if (a->is_int) {
            char num[24];
            snprintf(num, sizeof(num), "%lld", (long long)a->i);
            json_array_append_new(attrs,
                                  json_pack("{s:s,s:{s:s}}", "key", key, "value", "intValue", num));
        } else {
            json_array_append_new(attrs, kv_str(key, s->text + a->val));
        }
    }
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:o,s:i,s:{s:i,s:s}}", "traceId", s->trace_hex,
                  "spanId", s->span_hex, "traceState", s->tracestate, "name", s->name, "kind",
                  s->kind, "startTimeUnixNano", start, "endTimeUnixNano", end, "attributes",
                  attrs ? attrs : json_array(), "droppedAttributesCount", (int)s->dropped, "status",
                  "code", s->error ? 2 : 0, "message", s->status_msg);
    if (o && s->has_parent)
        json_object_set_new(o, "parentSpanId", json_string(s->parent_hex));
    return o;
}

char *forge__otlp_json(const struct forge__tracer *t, const struct forge_span *spans, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, span_json(&spans[i]));
    json_t *res = json_pack("{s:[o]}", "attributes", kv_str("service.name", t->service_name));
    json_t *doc = json_pack("{s:[{s:o,s:[{s:{s:s,s:s},s:o}]}]}", "resourceSpans", "resource", res,
                            "scopeSpans", "scope", "name", "forge", "version", FORGE_VERSION_STRING,
                            "spans", arr);
    char *out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return out;
}

/* ---- posting ---- */

/* 0 when the collector took the batch. */
static int post(const struct forge__tracer *t, const char *body, forge_error *err)
{
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    const forge__http_req rq = {.url = t->url,
                                .body = body,
                                .body_len = strlen(body),
                                .headers = headers,
                                .timeout_ms = t->timeout_ms};
    forge__http_res rs;
    int rc = forge__http_fetch(&rq, &rs, err);
    forge__http_res_free(&rs);
    if (rc == FORGE_OK && (rs.status < 200 || rs.status > 299))
        rc = forge_error_set(err, FORGE_EIO, "collector answered HTTP %ld", rs.status);
    return rc;
}

typedef struct batch {
    struct forge__tracer *t;
    struct forge_span *spans;
    size_t n;
} batch;

static void export_batch(batch *b)
{
    struct forge__tracer *t = b->t;
    forge_error err;
    forge_error_clear(&err);
    char *body = forge__otlp_json(t, b->spans, b->n);
    int rc = body ? post(t, body, &err) : FORGE_ENOMEM;
    free(body);
    if (rc == FORGE_OK) {
        forge_counter_add(t->exported, (double)b->n);
    } else {
        forge_counter_add(t->failed, (double)b->n);
        forge_logf(t->app->log, FORGE_LOG_WARN, NULL, "trace export to %s failed (%zu spans): %s",
                   t->url, b->n, err.message[0] ? err.message : forge_strerror(rc));
    }
}

/* Take up to batch_max spans out of the ring; NULL when empty or busy. */
static batch *take(struct forge__tracer *t, bool force)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->count < t->batch_max ? t->count : t->batch_max;
    batch *b = NULL;
    if (n && (force || !t->exporting) && (b = malloc(sizeof(*b)))) {
        b->spans = malloc(n * sizeof(*b->spans));
        if (!b->spans) {
            free(b);
            b = NULL;
        }
    }
    if (b) {
        b->t = t;
        b->n = n;
        for (size_t i = 0; i < n; i++)
            b->spans[i] = t->ring[(t->head + i) % t->cap];
        t->head = (t->head + n) % t->cap;
        t->count -= n;
        t->exporting = true;
    }
    pthread_mutex_unlock(&t->mu);
    return b;
}

static void done(batch *b)
{
    pthread_mutex_lock(&b->t->mu);
    b->t->exporting = false;
    pthread_mutex_unlock(&b->t->mu);
    free(b->spans);
    free(b);
}

static void export_job(void *arg)
{
    export_batch(arg);
    done(arg);
}

static void flush_tick(void *arg)
{
    struct forge__tracer *t = arg;
    batch *b = take(t, false);
    if (!b)
        return;
    forge_runtime *rt = t->app->runtime;
    if (!rt || forge_runtime_submit(rt, export_job, b) != FORGE_OK) {
        forge_counter_add(t->dropped, (double)b->n);
        done(b);
    }
}

int forge__trace_worker_start(forge_app *app, forge_error *err)
{
    struct forge__tracer *t = app->observe->tracer;
    if (!t || !t->url || !app->runtime)
        return FORGE_OK;
    forge__http_global_init(); /* before the pool's threads post */
    forge_metrics *m = forge_app_metrics(app);
    t->dropped = forge_metrics_counter(
        m,
        &(forge_metric_opts){.name = "forge_trace_spans_dropped_total",
                             .help = "Sampled spans dropped (export queue full)."},
        NULL);
    t->exported =
        forge_metrics_counter(m,
                              &(forge_metric_opts){.name = "forge_trace_spans_exported_total",
                                                   .help = "Spans the collector accepted."},
                              NULL);
    t->failed = forge_metrics_counter(m,
                                      &(forge_metric_opts){.name = "forge_trace_spans_failed_total",
                                                           .help = "Spans lost to failed exports."},
                                      NULL);
    pthread_mutex_lock(&t->mu);
    if (!t->ring)
        t->ring = calloc(t->cap, sizeof(*t->ring));
    bool ok = t->ring != NULL;
    pthread_mutex_unlock(&t->mu);
    if (!ok)
        return forge_error_set(err, FORGE_ENOMEM, "trace: no memory for the span queue");
    t->timer = forge_runtime_timer(app->runtime, t->flush_ms, t->flush_ms, flush_tick, t);
    return t->timer < 0 ? forge_error_set(err, (int)t->timer, "trace: cannot start the timer")
                        : FORGE_OK;
}

void forge__trace_worker_stop(forge_app *app)
{
    struct forge__tracer *t = app->observe->tracer;
    if (!t || !t->url)
        return;
    if (t->timer > 0 && app->runtime)
        forge_runtime_timer_cancel(app->runtime, t->timer);
    t->timer = 0;
    /* Last spans out now, on this thread (bounded by the export timeout per batch). */
    for (int i = 0; i < 8; i++) {
        batch *b = take(t, true);
        if (!b)
            break;
        export_batch(b);
        done(b);
    }
}

void forge__trace_free(struct forge__tracer *t)
{
    if (!t)
        return;
    free(t->ring);
    free(t->url);
    free(t->service_name);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
