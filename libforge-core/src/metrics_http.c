/*
 * Automatic metrics: HTTP requests per route template, runtime and service
 * gauges, and the /_/metrics endpoint.
 *
 * The middleware is the outermost one (its after-half runs last, after the
 * error mapper settled the status). Series are found through a per-process
 * cache per route (route template pointer -> slot, built once before fork):
 * after the first request of a (route, method, status) the update is a few
 * loads and three atomic adds, with no hashing of strings and no lock.
 */
#include "metrics_impl.h"
#include "request_impl.h"

#include <stdlib.h>
#include <string.h>

#define MW_PRIO_METRICS (-1200)
#define NMETHODS        (FORGE_METHOD_COUNT + 1) /* + OTHER */
#define NSTATUS         8
#define UNMATCHED       "__unmatched__"
#define MAX_SERVICES    256

typedef struct rcache {
    _Atomic uint32_t dur[NMETHODS], reqsz[NMETHODS], ressz[NMETHODS]; /* cell + 1 */
    _Atomic uint64_t st[NSTATUS]; /* key << 32 | (cell + 1); key = method << 16 | status */
} rcache;

typedef struct svc_seen {
    int state;
    double started; /* unix seconds of the last start seen, 0 before */
} svc_seen;

struct forge__metrics_http {
    forge_metrics *m;
    forge_metric *requests, *duration, *inflight, *req_size, *res_size;
    forge_metric *workers, *pool_threads, *pool_queued, *svc_state, *svc_start, *info, *start;
    const char **keys; /* route template pointers, open addressing */
    uint32_t *slots;
    size_t cap;
    rcache *cache; /* one per route, then one for unmatched requests */
    size_t ncache;
    svc_seen services[MAX_SERVICES];
};

static const double size_buckets[] = {64,    256,    1024,    4096,    16384,
                                      65536, 262144, 1048576, 4194304, 16777216};

void forge__metrics_http_free(struct forge__metrics_http *h)
{
    if (!h)
        return;
    free(h->keys);
    free(h->slots);
    free(h->cache);
    free(h);
}

/* ---- the route cache ---- */

static size_t ptr_hash(const void *p, size_t cap)
{
    uintptr_t v = (uintptr_t)p;
    v ^= v >> 17;
    v *= 0xed5ad4bbu;
    v ^= v >> 11;
    return (size_t)v & (cap - 1);
}

typedef struct build_ctx {
    struct forge__metrics_http *h;
    uint32_t next;
} build_ctx;

static int add_route(const forge_route_info *info, void *u)
{
    build_ctx *b = u;
    size_t i = ptr_hash(info->pattern, b->h->cap);
    while (b->h->keys[i])
        i = (i + 1) & (b->h->cap - 1);
    b->h->keys[i] = info->pattern;
    b->h->slots[i] = b->next++;
    return 0;
}

static int count_route(const forge_route_info *info, void *u)
{
    (*(size_t *)u)++;
    return 0;
}

int forge__metrics_http_mapped(forge_app *app, forge_error *err)
{
    struct forge__metrics_http *h = app->observe->http;
    size_t n = 0;
    forge_app_routes(app, count_route, &n);
    h->cap = 16;
    while (h->cap < n * 2)
        h->cap <<= 1;
    h->keys = calloc(h->cap, sizeof(*h->keys));
    h->slots = calloc(h->cap, sizeof(*h->slots));
    h->ncache = n + 1;
    h->cache = calloc(h->ncache, sizeof(*h->cache));
    if (!h->keys || !h->slots || !h->cache)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    build_ctx b = {h, 0};
    forge_app_routes(app, add_route, &b);
    return FORGE_OK;
}

static inline rcache *route_cache(struct forge__metrics_http *h, const char *pattern)
{
    if (!h->cache)
        return NULL;
    if (pattern) {
        for (size_t i = ptr_hash(pattern, h->cap); h->keys[i]; i = (i + 1) & (h->cap - 1))
            if (h->keys[i] == pattern)
                return &h->cache[h->slots[i]];
    }
    return &h->cache[h->ncache - 1];
}

static const char *method_label(const forge_req *req)
{
    return req->method < FORGE_METHOD_COUNT ? forge_method_name(req->method) : "OTHER";
}

/* The label values of a request's series, formatted only when a cache misses. */
typedef struct req_labels {
    const forge_req *req;
    const char *route;
    int status;
    bool built;
    char st[4];
    const char *v[3];
} req_labels;

static const char *const *labels_of(req_labels *l)
{
    if (!l->built) {
        int st = l->status;
        l->st[0] = (char)('0' + (st / 100) % 10);
        l->st[1] = (char)('0' + (st / 10) % 10);
        l->st[2] = (char)('0' + st % 10);
        l->st[3] = '\0';
        l->v[0] = method_label(l->req);
        l->v[1] = l->route;
        l->v[2] = l->st;
        l->built = true;
    }
    return l->v;
}

/* The first request of a (route, method): look the series up and remember its cell. */
static __attribute__((noinline)) forge_series lookup(forge_metric *mt, _Atomic uint32_t *slot,
                                                     req_labels *l)
{
    forge_series s = forge_metric_labels(mt, labels_of(l));
    if (s.ok && slot)
        atomic_store_explicit(slot, s.cell + 1, memory_order_relaxed);
    return s;
}

/* A cached cell (slot holds cell + 1), looked up and stored on first use. */
static inline forge_series cached(forge_metric *mt, _Atomic uint32_t *slot, req_labels *l)
{
    uint32_t c = slot ? atomic_load_explicit(slot, memory_order_relaxed) : 0;
    if (c)
        return (forge_series){mt, c - 1, true};
    return lookup(mt, slot, l);
}

static forge_series status_series(struct forge__metrics_http *h, rcache *rc, unsigned m, int status,
                                  req_labels *l)
{
    uint64_t key = ((uint64_t)m << 16 | (uint64_t)(status & 0xffff)) + 1;
    for (int i = 0; rc && i < NSTATUS; i++) {
        uint64_t e = atomic_load_explicit(&rc->st[i], memory_order_relaxed);
        if (!e)
            break;
        if (e >> 32 == key)
            return (forge_series){h->requests, (uint32_t)(e & 0xffffffffu) - 1, true};
    }
    forge_series s = forge_metric_labels(h->requests, labels_of(l));
    for (int i = 0; s.ok && rc && i < NSTATUS; i++) {
        uint64_t zero = 0;
        if (atomic_compare_exchange_strong(&rc->st[i], &zero, key << 32 | (s.cell + 1u)))
            break;
        if (zero >> 32 == key)
            break; /* another thread cached it meanwhile */
    }
    return s;
}

/* ---- the middleware ---- */

/*
 * The in-flight gauge is a SUM gauge: whole steps go to its integer cell
 * (forge_series_add), here directly on this worker's row.
 */
static inline void inflight_add(struct forge__metrics_http *h, _Atomic uint64_t *row, int64_t d)
{
    if (row && atomic_load_explicit(&h->inflight->fam, memory_order_relaxed) >= 0)
        forge__cell_add_u64(&row[h->inflight->cell0 + 1], (uint64_t)d);
}

static inline void observe(_Atomic uint64_t *row, forge_series s, double v)
{
    if (s.ok)
        forge__cells_observe(row + s.cell, s.metric->buckets, s.metric->nbuckets, v);
}

static int http_before(forge_req *req, void *udata)
{
    struct forge__metrics_http *h = udata;
    inflight_add(h, atomic_load_explicit(&h->m->row, memory_order_relaxed), 1);
    return FORGE_NEXT;
}

static void http_after(forge_req *req, void *udata)
{
    struct forge__metrics_http *h = udata;
    _Atomic uint64_t *row = atomic_load_explicit(&h->m->row, memory_order_relaxed);
    inflight_add(h, row, -1);
    if (!row)
        return; /* metrics are not mapped (no series to update) */
    const char *pattern = req->route ? req->route->pattern : NULL;
    rcache *rc = route_cache(h, pattern);
    unsigned m = req->method < FORGE_METHOD_COUNT ? (unsigned)req->method : FORGE_METHOD_COUNT;
    int st = req->status;
    req_labels l = {.req = req, .route = pattern ? pattern : UNMATCHED, .status = st};
    double secs = (double)forge__elapsed_us(&req->t_start) / 1e6;
    uint64_t out = req->streaming ? req->bytes_sent : req->res_body_len;
    forge_series s = status_series(h, rc, m, st, &l);
    if (s.ok)
        forge__cell_add_u64(row + s.cell, 1);
    observe(row, cached(h->duration, rc ? &rc->dur[m] : NULL, &l), secs);
    observe(row, cached(h->req_size, rc ? &rc->reqsz[m] : NULL, &l), (double)req->body.n);
    observe(row, cached(h->res_size, rc ? &rc->ressz[m] : NULL, &l), (double)out);
}

static const forge_middleware http_mw = {
    .name = "forge.metrics",
    .priority = MW_PRIO_METRICS,
    .before = http_before,
    .after = http_after,
};

/* ---- /_/metrics ---- */

static int h_metrics(forge_req *req, void *udata)
{
    size_t n = 0;
    char *text = forge_metrics_render(udata, &n);
    if (!text)
        return FORGE_ENOMEM;
    int rc = forge_req_set_value(req, "forge.metrics.text", text, free);
    if (rc < 0) {
        free(text);
        return rc;
    }
    forge_res_status(req, 200);
    rc = forge_res_set_header(req, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return rc < 0 ? rc : forge_res_body_static(req, text, n);
}

/* ---- registration ---- */

#define LBL(...) ((const char *const[]){__VA_ARGS__, NULL})

int forge__metrics_http_install(forge_app *app, forge_error *err)
{
    struct forge__observe *o = app->observe;
    forge_metrics *m = o->metrics;
    struct forge__metrics_http *h = calloc(1, sizeof(*h));
    if (!h)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    o->http = h;
    h->m = m;
    const forge__observe_cfg *c = &o->cfg;
    h->requests = forge_metrics_counter(
        m,
        &(forge_metric_opts){.name = "forge_http_requests_total",
                             .help = "HTTP requests completed, by method, route template and "
                                     "status.",
                             .labels = LBL("method", "route", "status")},
        err);
    if (h->requests)
        h->duration = forge_metrics_histogram(
            m,
            &(forge_metric_opts){.name = "forge_http_request_duration_seconds",
                                 .help = "Time from dispatch to the complete response.",
                                 .labels = LBL("method", "route"),
                                 .buckets = c->metrics.duration_buckets,
                                 .nbuckets = c->metrics.nduration_buckets},
            err);
    if (h->duration)
        h->req_size = forge_metrics_histogram(
            m,
            &(forge_metric_opts){.name = "forge_http_request_size_bytes",
                                 .help = "Request body sizes.",
                                 .labels = LBL("method", "route"),
                                 .buckets = size_buckets,
                                 .nbuckets = sizeof(size_buckets) / sizeof(double)},
            err);
    if (h->req_size)
        h->res_size = forge_metrics_histogram(
            m,
            &(forge_metric_opts){.name = "forge_http_response_size_bytes",
                                 .help = "Response body sizes.",
                                 .labels = LBL("method", "route"),
                                 .buckets = size_buckets,
                                 .nbuckets = sizeof(size_buckets) / sizeof(double)},
            err);
    if (h->res_size)
        h->inflight =
            forge_metrics_gauge(m,
                                &(forge_metric_opts){.name = "forge_http_requests_in_flight",
                                                     .help = "Requests being handled now."},
                                err);
    if (h->inflight)
        h->workers = forge_metrics_gauge(
            m, &(forge_metric_opts){.name = "forge_workers", .help = "Worker processes running."},
            err);
    if (h->workers)
        h->pool_threads = forge_metrics_gauge(
            m,
            &(forge_metric_opts){.name = "forge_runtime_pool_threads",
                                 .help = "Threads of the workers' blocking pools."},
            err);
    if (h->pool_threads)
        h->pool_queued =
            forge_metrics_gauge(m,
                                &(forge_metric_opts){.name = "forge_runtime_pool_queued",
                                                     .help = "Jobs waiting for a pool thread."},
                                err);
    if (h->pool_queued)
        h->svc_state = forge_metrics_gauge(
            m,
            &(forge_metric_opts){.name = "forge_service_state",
                                 .help = "Workers in which the service is in this state.",
                                 .labels = LBL("service", "state")},
            err);
    if (h->svc_state)
        h->svc_start = forge_metrics_gauge(
            m,
            &(forge_metric_opts){.name = "forge_service_start_time_seconds",
                                 .help = "Unix time of the service's latest start in any "
                                         "worker.",
                                 .labels = LBL("service"),
                                 .agg = FORGE_GAUGE_MAX},
            err);
    if (h->svc_start)
        h->info = forge_metrics_gauge(
            m,
            &(forge_metric_opts){.name = "forge_info",
                                 .help = "The app and the Forge and host versions (always 1).",
                                 .labels = LBL("app", "version", "forge_version", "host"),
                                 .agg = FORGE_GAUGE_MAX},
            err);
    if (h->info)
        h->start = forge_metrics_gauge(
            m,
            &(forge_metric_opts){.name = "forge_start_time_seconds",
                                 .help = "Unix time the server (its shared memory) started.",
                                 .agg = FORGE_GAUGE_MAX},
            err);
    if (!h->start)
        return err && err->code ? err->code : FORGE_ENOMEM;
    int rc = forge_app_use(app,
                           &(forge_middleware){.name = http_mw.name,
                                               .priority = http_mw.priority,
                                               .before = http_mw.before,
                                               .after = http_mw.after,
                                               .udata = h},
                           err);
    if (rc == FORGE_OK)
        rc = forge__observe_route(app, "/metrics", h_metrics, m, FORGE_ROUTE_BLOCKING, err);
    return rc;
}

/* ---- the collector: runtime thread of each worker ---- */

static const forge_service_state states[] = {FORGE_SERVICE_REGISTERED, FORGE_SERVICE_STARTING,
                                             FORGE_SERVICE_RUNNING,    FORGE_SERVICE_STOPPING,
                                             FORGE_SERVICE_STOPPED,    FORGE_SERVICE_FAILED};

typedef struct visit_ctx {
    struct forge__metrics_http *h;
    size_t i;
    bool running; /* the worker serves: report states; else withdraw this worker's share */
} visit_ctx;

static int visit_service(const char *name, forge_service_state st, void *u)
{
    visit_ctx *v = u;
    struct forge__metrics_http *h = v->h;
    for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++)
        forge_series_set(
            forge_metric_labels(h->svc_state, LBL(name, forge_service_state_name(states[k]))),
            v->running && st == states[k] ? 1 : 0);
    if (v->i < MAX_SERVICES) {
        svc_seen *s = &h->services[v->i];
        if (st == FORGE_SERVICE_RUNNING && s->state != FORGE_SERVICE_RUNNING)
            s->started = (double)forge__obs_now_ms() / 1000.0;
        s->state = st;
        if (s->started > 0)
            forge_series_set(forge_metric_labels(h->svc_start, LBL(name)), s->started);
    }
    v->i++;
    return 0;
}

void forge__metrics_collect(forge_app *app)
{
    struct forge__observe *o = app->observe;
    struct forge__metrics_http *h = o ? o->http : NULL;
    if (!h || !h->workers)
        return;
    bool running = o->worker_running;
    forge_gauge_set(h->workers, running ? 1 : 0);
    forge_runtime *rt = app->runtime;
    forge_gauge_set(h->pool_threads, running && rt ? forge_runtime_pool_size(rt) : 0);
    forge_gauge_set(h->pool_queued, running && rt ? (double)forge_runtime_pool_queued(rt) : 0);
    visit_ctx v = {h, 0, running};
    forge_app_services(app, visit_service, &v);
    const char *kind = app->host ? forge__host_ops(app->host)->kind : "none";
    forge_series_set(forge_metric_labels(h->info, LBL(app->name, app->version, FORGE_VERSION_STRING,
                                                      kind ? kind : "")),
                     1);
    forge_gauge_set(h->start, (double)forge__metrics_start_ms(h->m) / 1000.0);
}
