/*
 * The tracing middleware: a trace context and a span for every request,
 * made on first use (ADR 0130).
 *
 * It runs just inside the metrics middleware, before the request id and the
 * access log, so every log line of the request (the access line included)
 * carries its trace and span ids. The incoming traceparent is honoured when
 * there is exactly one valid header (W3C: several, or an invalid one, start
 * a new trace); tracestate is kept only with a valid traceparent and when it
 * is at most 512 printable characters.
 */
#include "request_impl.h"
#include "trace_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MW_PRIO_TRACE (-1100)

static bool incoming(forge_req *req, forge_trace_ctx *ctx)
{
    forge_str v[2];
    if (forge_req_header_values(req, "traceparent", v, 2) != 1)
        return false;
    while (v[0].n && (v[0].p[v[0].n - 1] == ' ' || v[0].p[v[0].n - 1] == '\t'))
        v[0].n--;
    while (v[0].n && (v[0].p[0] == ' ' || v[0].p[0] == '\t')) {
        v[0].p++;
        v[0].n--;
    }
    return forge_traceparent_parse(v[0].p, v[0].n, ctx) == FORGE_OK;
}

/* Join tracestate headers with ','; empty when missing or invalid. */
static void tracestate(forge_req *req, char *out)
{
    forge_str v[8];
    size_t n = forge_req_header_values(req, "tracestate", v, 8), len = 0;
    out[0] = '\0';
    if (n > 8)
        return;
    for (size_t i = 0; i < n; i++) {
        if (len + v[i].n + (len ? 1 : 0) > FORGE__TRACESTATE_MAX)
            goto bad;
        if (len)
            out[len++] = ',';
        for (size_t k = 0; k < v[i].n; k++) {
            unsigned char c = (unsigned char)v[i].p[k];
            if (c < 0x20 || c > 0x7e)
                goto bad;
            out[len++] = (char)c;
        }
    }
    out[len] = '\0';
    return;
bad:
    out[0] = '\0';
}

forge_span *forge__req_span_make(forge_req *req)
{
    if (req->span || !req->tracer)
        return req->span;
    forge_span *s = forge_req_alloc(req, sizeof(*s));
    if (!s) {
        /* No span rather than no response; and no retry on every log line. */
        req->tracer = NULL;
        req->trace_id_lazy = false;
        return NULL;
    }
    forge_trace_ctx parent;
    bool has_parent = incoming(req, &parent);
    forge__span_init(req->tracer, s, &parent, has_parent, forge_method_name(req->method),
                     SPAN_KIND_SERVER);
    if (has_parent)
        tracestate(req, s->tracestate);
    /* The span began when dispatch did, whenever it is made. */
    s->start_ns -= forge__elapsed_us(&req->t_start) * 1000u;
    req->span = s;
    if (req->trace_id_lazy) {
        req->trace_id = s->trace_hex; /* lives in the arena as long as the request */
        req->trace_id_lazy = false;
    }
    return s;
}

/*
 * Nothing is computed here: the trace context is made on first use
 * (forge__req_span_make), so a request whose trace id nobody reads and whose
 * span nobody exports costs two stores.
 */
static int trace_before(forge_req *req, void *udata)
{
    req->tracer = udata;
    req->trace_id_lazy = true;
    return FORGE_NEXT;
}

static void trace_after(forge_req *req, void *udata)
{
    const struct forge__tracer *t = udata;
    /* Without an exporter nothing is recorded: a span made for its ids is left as is. */
    if (!t->url || req->tracer != t)
        return;
    forge_span *s = forge__req_span_make(req);
    if (!s || !s->recording)
        return;
    const char *method =
        req->method < FORGE_METHOD_COUNT ? forge_method_name(req->method) : "_OTHER";
    if (req->route)
        snprintf(s->name, sizeof(s->name), "%s %s", method, req->route->pattern);
    else
        snprintf(s->name, sizeof(s->name), "%s", method);
    char path[256];
    size_t pn = req->raw_path.n < sizeof(path) - 1 ? req->raw_path.n : sizeof(path) - 1;
    memcpy(path, req->raw_path.p ? req->raw_path.p : "", pn);
    path[pn] = '\0';
    forge_span_set_str(s, "http.request.method", method);
    forge_span_set_str(s, "url.path", path);
    if (req->route)
        forge_span_set_str(s, "http.route", req->route->pattern);
    forge_span_set_int(s, "http.response.status_code", req->status);
    forge_span_set_str(s, "forge.request_id", req->id);
    if (req->status >= 500)
        forge_span_set_error(s, NULL);
    forge_span_end(s);
}

int forge__trace_install(forge_app *app, forge_error *err)
{
    struct forge__observe *o = app->observe;
    const forge__observe_cfg *c = &o->cfg;
    struct forge__tracer *t = calloc(1, sizeof(*t));
    if (!t)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    pthread_mutex_init(&t->mu, NULL);
    t->app = app;
    t->ratio = c->trace.ratio;
    t->batch_max = (size_t)c->trace.batch_max;
    t->cap = (size_t)c->trace.queue_max;
    t->flush_ms = c->trace.flush_interval;
    t->timeout_ms = c->trace.export_timeout;
    o->tracer = t;
    const char *url = c->trace.endpoint;
    const char *env = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    char buf[1024];
    if (!url && env && *env)
        url = env;
    if (!url && (env = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) && *env) {
        snprintf(buf, sizeof(buf), "%s%s", env,
                 env[strlen(env) - 1] == '/' ? "v1/traces" : "/v1/traces");
        url = buf;
    }
    const char *svc = c->trace.service_name;
    if (!svc)
        svc = getenv("OTEL_SERVICE_NAME");
    t->service_name = strdup(svc && *svc ? svc : app->name);
    if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return forge_error_setk(err, FORGE_ECONFIG, "observe.trace.endpoint",
                                "observe.trace.endpoint: expected an http:// or https:// URL, got "
                                "\"%s\"",
                                url);
    if (url)
        t->url = strdup(url);
    if (!t->service_name || (url && !t->url))
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    return forge_app_use(app,
                         &(forge_middleware){.name = "forge.trace",
                                             .priority = MW_PRIO_TRACE,
                                             .before = trace_before,
                                             .after = trace_after,
                                             .udata = t},
                         err);
}
