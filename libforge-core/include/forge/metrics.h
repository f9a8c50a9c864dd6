/*
 * Forge: metrics (counters, gauges, histograms with labels), shared by every
 * worker process of a server and exposed in the Prometheus text format at
 * /_/metrics.
 *
 * Values live in shared memory reserved before fork. Each worker adds to its
 * own row of cells with relaxed atomics and a scrape sums the rows, so an
 * update never takes a lock and never waits for a scrape (ADR 0090). A
 * label set is registered in shared memory the first time any worker sees
 * it (one short robust-mutex section); later lookups are lock-free.
 *
 *     static forge_metric *jobs;
 *     jobs = forge_metrics_counter(forge_app_metrics(app), &(forge_metric_opts){
 *         .name = "jobs_total", .help = "Jobs run.",
 *         .labels = (const char *const[]){"queue", NULL}}, err);
 *     ...
 *     forge_series_inc(forge_metric_labels(jobs, (const char *const[]){"mail"}));
 *
 * Registration: from the app's init (before fork) or later from any thread;
 * a metric registered again with the same definition returns the same
 * handle. Handles are owned by the app and valid until it is freed.
 *
 * Bounds: a metric holds at most `max_series` label sets
 * (observe.metrics.max_series_per_metric); further label sets are counted in
 * the metric's overflow series (every label value "__overflow__") and in
 * forge_metrics_series_overflow_total{metric=...}; memory never grows.
 *
 * Updates are safe from any thread of any worker. Updates made before the
 * host mapped shared memory (during the app's init) are dropped.
 */
#ifndef FORGE_METRICS_H
#define FORGE_METRICS_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/di.h>

typedef struct forge_metrics forge_metrics;
typedef struct forge_metric forge_metric;

typedef enum forge_metric_type {
    FORGE_METRIC_COUNTER = 0,
    FORGE_METRIC_GAUGE,
    FORGE_METRIC_HISTOGRAM
} forge_metric_type;

/*
 * How a gauge's per-worker values combine in a scrape: the sum (in-flight
 * requests, queue lengths: each worker adds and subtracts its own share),
 * or the largest / smallest value any worker set.
 */
typedef enum forge_gauge_agg {
    FORGE_GAUGE_SUM = 0,
    FORGE_GAUGE_MAX,
    FORGE_GAUGE_MIN
} forge_gauge_agg;

#define FORGE_METRIC_LABELS_MAX  8  /* label names per metric */
#define FORGE_METRIC_BUCKETS_MAX 32 /* histogram buckets, +Inf excluded */

typedef struct forge_metric_opts {
    const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*, at most 127 bytes */
    const char *help;
    const char *const *labels; /* NULL-terminated label names, may be NULL */
    /* Histograms: strictly increasing finite upper bounds; NULL: Prometheus' defaults. */
    const double *buckets;
    size_t nbuckets;
    uint32_t max_series; /* 0: observe.metrics.max_series_per_metric */
    forge_gauge_agg agg; /* gauges only */
    void *reserved[4];
} forge_metric_opts;

/* The DI entry "forge.metrics" of every app's container -> forge_metrics *. */
FORGE_API extern const forge_type forge_type_metrics;

/* The app's metrics registry (owned by the app). */
FORGE_API forge_metrics *forge_app_metrics(forge_app *app);

/*
 * Register (or find, when the same definition exists) a metric. NULL with err
 * set: FORGE_EINVAL (bad name, label name or buckets), FORGE_EEXIST (the name
 * is taken by another definition), FORGE_ETOOBIG (observe.metrics.max_metrics
 * reached or shared memory full).
 */
FORGE_API forge_metric *forge_metrics_counter(forge_metrics *m, const forge_metric_opts *o,
                                              forge_error *err);
FORGE_API forge_metric *forge_metrics_gauge(forge_metrics *m, const forge_metric_opts *o,
                                            forge_error *err);
FORGE_API forge_metric *forge_metrics_histogram(forge_metrics *m, const forge_metric_opts *o,
                                                forge_error *err);

/* A registered metric by name in this process, or NULL. */
FORGE_API forge_metric *forge_metrics_find(forge_metrics *m, const char *name);

/*
 * One label set of a metric: a small value to keep and reuse (caching it
 * saves the lookup). `values` holds one string per label name, in order.
 * A series whose `ok` is false (metric not yet in shared memory) ignores
 * updates. Thread-safe; lock-free once the label set is known.
 */
typedef struct forge_series {
    forge_metric *metric;
    uint32_t cell;
    bool ok;
} forge_series;

FORGE_API forge_series forge_metric_labels(forge_metric *m, const char *const *values);

/* Updates on a series (any thread). Counters ignore negative and NaN amounts. */
FORGE_API void forge_series_inc(forge_series s);
FORGE_API void forge_series_add(forge_series s, double v);
FORGE_API void forge_series_set(forge_series s, double v);     /* gauges */
FORGE_API void forge_series_observe(forge_series s, double v); /* histograms */

/* The same on a metric without labels (no-ops on a labelled metric). */
FORGE_API void forge_counter_inc(forge_metric *m);
FORGE_API void forge_counter_add(forge_metric *m, double v);
FORGE_API void forge_gauge_set(forge_metric *m, double v);
FORGE_API void forge_gauge_add(forge_metric *m, double v);
FORGE_API void forge_histogram_observe(forge_metric *m, double v);

/*
 * The value of one series summed over every worker: a counter's or gauge's
 * value, a histogram's count (and *sum when sum is not NULL). NaN when the
 * series does not exist. `values` may be NULL for a metric without labels.
 */
FORGE_API double forge_metric_value(forge_metric *m, const char *const *values, double *sum);

/*
 * The Prometheus text exposition (format 0.0.4) of every metric: malloc'd,
 * NUL-terminated, length in *len. NULL on OOM. Any thread; never blocks
 * updates.
 */
FORGE_API char *forge_metrics_render(forge_metrics *m, size_t *len);

#endif
