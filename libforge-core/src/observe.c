/*
 * The observability area's lifecycle: its configuration (the `observe`
 * section), shared-memory reservations, built-in endpoints and middleware,
 * and the per-worker timers. See observe_impl.h for the hook order.
 */
#include "observe_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHM_METRICS "forge.metrics"
#define SHM_HEALTH  "forge.health"

int64_t forge__obs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t forge__obs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t forge__obs_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- configuration ---- */

static int range_i(const void *v, int64_t lo, int64_t hi, forge_error *err)
{
    int64_t x = *(const int64_t *)v;
    return x >= lo && x <= hi ? 0
                              : forge_error_set(err, FORGE_ERANGE, "must be between %lld and %lld",
                                                (long long)lo, (long long)hi);
}
static int workers_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range_i(v, 1, 4096, err);
}
static int metrics_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range_i(v, 8, 65536, err);
}
static int series_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range_i(v, 16, 1 << 22, err);
}
static int cells_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range_i(v, 64, 1 << 26, err);
}
static int conc_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range_i(v, 1, 64, err);
}
static int checks_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range_i(v, 1, 1024, err);
}
static int batch_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range_i(v, 1, 1 << 20, err);
}
static int ratio_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    double d = *(const double *)v;
    return d >= 0 && d <= 1 ? 0 : forge_error_set(err, FORGE_ERANGE, "must be between 0 and 1");
}
static int ms_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    uint64_t d = *(const uint64_t *)v;
    return d >= 1 && d <= 86400000u
               ? 0
               : forge_error_set(err, FORGE_ERANGE, "must be between 1ms and 1d");
}
static int prefix_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    const char *p = *(const char *const *)v;
    if (!p || p[0] != '/' || strlen(p) > 64 || (strlen(p) > 1 && p[strlen(p) - 1] == '/'))
        return forge_error_set(err, FORGE_EINVAL,
                               "must start with '/', not end with '/', at most 64 bytes (\"/_\")");
    for (const char *c = p; *c; c++)
        if (*c == ':' || *c == '*' || *c == '{' || *c == '%' || (unsigned char)*c <= ' ')
            return forge_error_set(err, FORGE_EINVAL, "must be a plain path (\"/_\")");
    return 0;
}

#define C forge__observe_cfg
static const forge_config_field fields[] = {
    {FORGE_CFG_STRING(C, prefix, "prefix"), .def = "/_", .validate = prefix_ok,
     .help = "path prefix of the built-in endpoints"},
    {FORGE_CFG_INT(C, max_workers, "max_workers"), .def = "32", .validate = workers_ok,
     .help = "worker rows in shared memory (more workers share rows)"},
    {FORGE_CFG_BOOL(C, metrics.enabled, "metrics.enabled"), .def = "true",
     .help = "metrics and /_/metrics"},
    {FORGE_CFG_BOOL(C, metrics.http, "metrics.http"), .def = "true",
     .help = "automatic HTTP metrics per route"},
    {FORGE_CFG_INT(C, metrics.max_metrics, "metrics.max_metrics"), .def = "256",
     .validate = metrics_ok},
    {FORGE_CFG_INT(C, metrics.max_series, "metrics.max_series"), .def = "8192",
     .validate = series_ok, .help = "label sets of all metrics together"},
    {FORGE_CFG_INT(C, metrics.per_metric, "metrics.max_series_per_metric"), .def = "1000",
     .validate = series_ok},
    {FORGE_CFG_INT(C, metrics.max_cells, "metrics.max_cells"), .def = "32768", .validate = cells_ok,
     .help = "8-byte value cells per worker row"},
    {FORGE_CFG_DURATION(C, metrics.collect_interval, "metrics.collect_interval"), .def = "1s",
     .validate = ms_ok, .help = "how often runtime and service gauges are refreshed"},
    {FORGE_CFG_BOOL(C, health.enabled, "health.enabled"), .def = "true"},
    {FORGE_CFG_DURATION(C, health.interval, "health.interval"), .def = "10s", .validate = ms_ok},
    {FORGE_CFG_DURATION(C, health.timeout, "health.timeout"), .def = "2s", .validate = ms_ok},
    {FORGE_CFG_INT(C, health.concurrency, "health.concurrency"), .def = "2", .validate = conc_ok},
    {FORGE_CFG_INT(C, health.max_checks, "health.max_checks"), .def = "32", .validate = checks_ok},
    {FORGE_CFG_BOOL(C, info, "info.enabled"), .def = "true"},
    {FORGE_CFG_BOOL(C, trace.enabled, "trace.enabled"), .def = "true"},
    {FORGE_CFG_DOUBLE(C, trace.ratio, "trace.sample_ratio"), .def = "1", .validate = ratio_ok},
    {FORGE_CFG_STRING(C, trace.endpoint, "trace.endpoint"),
     .help = "OTLP/HTTP JSON traces URL (http://host:4318/v1/traces)"},
    {FORGE_CFG_STRING(C, trace.service_name, "trace.service_name")},
    {FORGE_CFG_INT(C, trace.batch_max, "trace.batch_max"), .def = "512", .validate = batch_ok},
    {FORGE_CFG_INT(C, trace.queue_max, "trace.queue_max"), .def = "2048", .validate = batch_ok},
    {FORGE_CFG_DURATION(C, trace.flush_interval, "trace.flush_interval"), .def = "1s",
     .validate = ms_ok},
    {FORGE_CFG_DURATION(C, trace.export_timeout, "trace.export_timeout"), .def = "2s",
     .validate = ms_ok},
    {FORGE_CFG_STRING(C, access_log.path, "access_log.path"),
     .help = "write access lines as JSON to this file instead of the app log"},
};
#undef C
static const forge_config_section schema = FORGE_CFG_SECTION_OF(fields);

static const double default_duration_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};

static int read_buckets(forge_config *cfg, forge__observe_cfg *o, forge_error *err)
{
    static const char key[] = "observe.metrics.duration_buckets";
    int rc = forge_config_declare(cfg, key, FORGE_CFG_OPEN, err);
    if (rc < 0)
        return rc;
    const json_t *v = forge_config_node(cfg, key);
    if (!v) {
        o->metrics.nduration_buckets = sizeof(default_duration_buckets) / sizeof(double);
        memcpy(o->metrics.duration_buckets, default_duration_buckets,
               sizeof(default_duration_buckets));
        return FORGE_OK;
    }
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0 || n > FORGE__OBS_BUCKETS_MAX)
        return forge_error_setk(err, FORGE_ECONFIG, key,
                                "%s: expected a list of 1 to %d increasing numbers (seconds)", key,
                                FORGE__OBS_BUCKETS_MAX);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        double d = json_is_number(e) ? json_number_value(e) : NAN;
        if (json_is_string(e)) {
            char *end;
            d = strtod(json_string_value(e), &end);
            if (*end)
                d = NAN;
        }
        if (!isfinite(d) || (i > 0 && d <= o->metrics.duration_buckets[i - 1]))
            return forge_error_setk(err, FORGE_ECONFIG, key,
                                    "%s[%zu]: expected a number above the previous one", key, i);
        o->metrics.duration_buckets[i] = d;
    }
    o->metrics.nduration_buckets = n;
    return FORGE_OK;
}

int forge__observe_read_config(forge_app *app, forge__observe_cfg *cfg, forge_error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    int rc = forge_config_bind(app->config, "observe", &schema, cfg, err);
    if (rc == FORGE_OK)
        rc = read_buckets(app->config, cfg, err);
    if (rc == FORGE_OK && cfg->trace.endpoint && !*cfg->trace.endpoint)
        cfg->trace.endpoint = NULL;
    if (rc == FORGE_OK && cfg->access_log.path && !*cfg->access_log.path)
        cfg->access_log.path = NULL;
    return rc;
}

/* ---- lifecycle hooks ---- */

int forge__observe_attach(forge_app *app)
{
    struct forge__observe *o = calloc(1, sizeof(*o));
    if (!o)
        return FORGE_ENOMEM;
    o->app = app;
    o->access_fd = -1;
    o->metrics = forge__metrics_new(app);
    o->health = forge__health_new(app);
    if (!o->metrics || !o->health) {
        forge__metrics_free(o->metrics);
        forge__health_free(o->health);
        free(o);
        return FORGE_ENOMEM;
    }
    app->observe = o;
    /* The container does not own them: the app's observe record does. */
    forge_di_value(app->di, "forge.metrics", &forge_type_metrics, o->metrics, NULL, NULL);
    forge_di_value(app->di, "forge.health", &forge_type_health, o->health, NULL, NULL);
    return FORGE_OK;
}

void forge__observe_free(forge_app *app)
{
    struct forge__observe *o = app->observe;
    if (!o)
        return;
    forge__observe_worker_stop(app);
    forge__trace_free(o->tracer);
    forge__metrics_http_free(o->http);
    forge__health_free(o->health);
    forge__metrics_free(o->metrics);
    forge__accesslog_close(o);
    free(o);
    app->observe = NULL;
}

int forge__observe_route(forge_app *app, const char *suffix, forge_handler_fn fn, void *udata,
                         unsigned flags, forge_error *err)
{
    char pattern[160];
    const char *prefix = app->observe->cfg.prefix;
    snprintf(pattern, sizeof(pattern), "%s%s", strcmp(prefix, "/") == 0 ? "" : prefix, suffix);
    forge_route_opts opts = {.flags = FORGE_ROUTE_INTERNAL | flags};
    int rc = forge_app_route(app, "GET", pattern, fn, udata, &opts, err);
    if (rc == FORGE_ECONFLICT)
        forge_error_wrap(err, rc,
                         "observe: the built-in endpoint %s conflicts with an app route; choose "
                         "another observe.prefix",
                         pattern);
    return rc;
}

int forge__observe_install(forge_app *app, forge_error *err)
{
    struct forge__observe *o = app->observe;
    if (!o || o->installed)
        return FORGE_OK;
    int rc = forge__observe_read_config(app, &o->cfg, err);
    if (rc < 0)
        return rc;
    const forge__observe_cfg *c = &o->cfg;
    if (c->metrics.enabled) {
        rc = forge__metrics_configure(o->metrics, c, err);
        if (rc == FORGE_OK)
            rc = forge_shm_reserve(app, SHM_METRICS, forge__metrics_shm_size(c), err);
        if (rc == FORGE_OK && c->metrics.http)
            rc = forge__metrics_http_install(app, err);
    }
    if (rc == FORGE_OK && c->health.enabled) {
        rc = forge_shm_reserve(app, SHM_HEALTH, forge__health_shm_size(c), err);
        if (rc == FORGE_OK)
            rc = forge__health_routes(app, err);
    }
    if (rc == FORGE_OK && c->info)
        rc = forge__info_routes(app, err);
    if (rc == FORGE_OK && c->trace.enabled)
        rc = forge__trace_install(app, err);
    if (rc == FORGE_OK)
        rc = forge__accesslog_open(o, err);
    if (rc == FORGE_OK)
        o->installed = true;
    return rc;
}

int forge__observe_mapped(forge_app *app, forge_error *err)
{
    struct forge__observe *o = app->observe;
    if (!o || !o->installed || o->mapped)
        return FORGE_OK;
    int rc = FORGE_OK;
    if (o->cfg.metrics.enabled) {
        void *r = forge_shm_get(app, SHM_METRICS);
        rc = r ? forge__metrics_mapped(o->metrics, r, forge__metrics_shm_size(&o->cfg), err)
               : forge_error_set(err, FORGE_ESTATE, "observe: metrics region not mapped");
        if (rc == FORGE_OK && o->http)
            rc = forge__metrics_http_mapped(app, err);
    }
    if (rc == FORGE_OK && o->cfg.health.enabled) {
        void *r = forge_shm_get(app, SHM_HEALTH);
        rc = r ? forge__health_mapped(o->health, r, err)
               : forge_error_set(err, FORGE_ESTATE, "observe: health region not mapped");
    }
    if (rc == FORGE_OK)
        o->mapped = true;
    return rc;
}

static void collect_tick(void *arg)
{
    forge__metrics_collect(arg);
}

void forge__observe_worker_start(forge_app *app)
{
    struct forge__observe *o = app->observe;
    if (!o || !o->mapped || o->worker_running)
        return;
    forge_error err;
    forge_error_clear(&err);
    forge__metrics_set_worker(o->metrics, app->worker_id);
    o->worker_running = true;
    if (o->cfg.metrics.enabled && app->runtime) {
        forge__metrics_collect(app);
        o->collect_timer = forge_runtime_timer(app->runtime, o->cfg.metrics.collect_interval,
                                               o->cfg.metrics.collect_interval, collect_tick, app);
    }
    if (o->cfg.health.enabled && forge__health_worker_start(o->health, &err) < 0)
        forge_logf(app->log, FORGE_LOG_ERROR, NULL, "health checks not started: %s", err.message);
    if (o->cfg.trace.enabled && forge__trace_worker_start(app, &err) < 0)
        forge_logf(app->log, FORGE_LOG_ERROR, NULL, "trace export not started: %s", err.message);
}

void forge__observe_worker_stop(forge_app *app)
{
    struct forge__observe *o = app->observe;
    if (!o || !o->worker_running)
        return;
    o->worker_running = false;
    if (o->collect_timer > 0 && app->runtime)
        forge_runtime_timer_cancel(app->runtime, o->collect_timer);
    o->collect_timer = 0;
    forge__health_worker_stop(o->health);
    forge__trace_worker_stop(app);
    if (o->cfg.metrics.enabled)
        forge__metrics_collect(app); /* the worker's gauges say it is gone */
}
