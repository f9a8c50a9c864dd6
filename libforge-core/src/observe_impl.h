/*
 * Internal to the observability area (observe*.c, metrics*.c, health*.c,
 * info*.c, trace*.c, accesslog*.c): the app's observe record, its
 * configuration and the calls between these files.
 *
 * Lifecycle, driven by one-line hooks in other areas:
 *   forge_app_new          -> forge__observe_attach (registry, DI entries)
 *   forge__routes_finalize -> forge__observe_install (config, shm reservation,
 *                             internal routes, middleware)
 *   forge_host_before_fork -> forge__observe_mapped (shm layout, pending metrics)
 *   worker start / stop    -> forge__observe_worker_start / _stop (timers)
 */
#ifndef FORGE_OBSERVE_IMPL_H
#define FORGE_OBSERVE_IMPL_H

#include "internal.h"

#include <forge/health.h>
#include <forge/metrics.h>
#include <forge/trace.h>

#include <pthread.h>
#include <stdatomic.h>

#define FORGE__OBS_BUCKETS_MAX FORGE_METRIC_BUCKETS_MAX

typedef struct forge__observe_cfg {
    const char *prefix; /* observe.prefix, "/_" */
    int64_t max_workers;
    struct {
        bool enabled, http;
        int64_t max_metrics, max_series, per_metric, max_cells;
        uint64_t collect_interval;
        double duration_buckets[FORGE__OBS_BUCKETS_MAX];
        size_t nduration_buckets;
    } metrics;
    struct {
        bool enabled;
        uint64_t interval, timeout;
        int64_t concurrency, max_checks;
    } health;
    bool info;
    struct {
        bool enabled;
        double ratio;
        const char *endpoint, *service_name;
        int64_t batch_max, queue_max;
        uint64_t flush_interval, export_timeout;
    } trace;
    struct {
        const char *path; /* JSON lines to this file; NULL: through the app's log */
    } access_log;
} forge__observe_cfg;

struct forge__metrics_http; /* metrics_http.c */
struct forge__tracer;       /* trace_export.c */

struct forge__observe {
    forge_app *app;
    forge__observe_cfg cfg;
    bool installed; /* install ran (config read, shm reserved) */
    bool mapped;
    bool worker_running;
    forge_metrics *metrics;
    forge_health_registry *health;
    struct forge__metrics_http *http;
    struct forge__tracer *tracer;
    int access_fd; /* -1: access lines go through the app's log */
    int64_t collect_timer;
};

/* ---- observe.c ---- */
int forge__observe_read_config(forge_app *app, forge__observe_cfg *cfg, forge_error *err);
/* Time helpers: CLOCK_REALTIME in ms / ns, CLOCK_MONOTONIC in ms. */
int64_t forge__obs_now_ms(void);
uint64_t forge__obs_now_ns(void);
uint64_t forge__obs_mono_ms(void);

/* ---- metrics.c / metrics_shm.c ---- */
forge_metrics *forge__metrics_new(forge_app *app);
void forge__metrics_free(void *m);
int forge__metrics_configure(forge_metrics *m, const forge__observe_cfg *cfg, forge_error *err);
/* Bytes of shared memory the metrics need with this configuration. */
size_t forge__metrics_shm_size(const forge__observe_cfg *cfg);
/* After the mapping (master, single thread): lay out or adopt the region, bind pending metrics. */
int forge__metrics_mapped(forge_metrics *m, void *region, size_t size, forge_error *err);
/* Use row `worker` for this process's updates; reset its gauges. */
void forge__metrics_set_worker(forge_metrics *m, int worker);
int64_t forge__metrics_start_ms(const forge_metrics *m);

/* ---- metrics_http.c ---- */
int forge__metrics_http_install(forge_app *app, forge_error *err);
int forge__metrics_http_mapped(forge_app *app, forge_error *err);
void forge__metrics_collect(forge_app *app);
void forge__metrics_http_free(struct forge__metrics_http *h);

/* ---- health*.c ---- */
forge_health_registry *forge__health_new(forge_app *app);
void forge__health_free(void *h);
size_t forge__health_shm_size(const forge__observe_cfg *cfg);
int forge__health_mapped(forge_health_registry *h, void *region, forge_error *err);
int forge__health_worker_start(forge_health_registry *h, forge_error *err);
void forge__health_worker_stop(forge_health_registry *h);
int forge__health_routes(forge_app *app, forge_error *err);

/* ---- info.c ---- */
int forge__info_routes(forge_app *app, forge_error *err);

/* ---- trace*.c ---- */
int forge__trace_install(forge_app *app, forge_error *err);
int forge__trace_worker_start(forge_app *app, forge_error *err);
void forge__trace_worker_stop(forge_app *app);
void forge__trace_free(struct forge__tracer *t);

/* ---- accesslog.c ---- */
int forge__accesslog_open(struct forge__observe *o, forge_error *err);
void forge__accesslog_close(struct forge__observe *o);

/* A route under the configured prefix: "/_" + "/metrics". */
int forge__observe_route(forge_app *app, const char *suffix, forge_handler_fn fn, void *udata,
                         unsigned flags, forge_error *err);

#endif
