/*
 * The metrics registry of an app: process-local handles, validation of
 * definitions, and binding to the shared region (metrics_shm.c).
 *
 * Handles registered before the region is mapped (the app's init, in the
 * master) wait in the list and are bound by forge__metrics_mapped; later ones
 * are bound at once. Since every worker forks from the master after that,
 * they all inherit the same bound handles.
 */
#include "metrics_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

FORGE_API const forge_type forge_type_metrics = {"forge.metrics"};

/* Prometheus' default buckets (client_golang DefBuckets). */
static const double default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

forge_metrics *forge__metrics_new(forge_app *app)
{
    forge_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->app = app;
    pthread_mutex_init(&m->mu, NULL);
    m->per_metric = 1000;
    return m;
}

static void metric_free(forge_metric *mt)
{
    free(mt->name);
    free(mt->help);
    free(mt->labels);
    free(mt->buckets);
    free(mt);
}

void forge__metrics_free(void *p)
{
    forge_metrics *m = p;
    if (!m)
        return;
    forge_metric *mt = m->list;
    while (mt) {
        forge_metric *next = mt->next;
        metric_free(mt);
        mt = next;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int forge__metrics_configure(forge_metrics *m, const forge__observe_cfg *cfg, forge_error *err)
{
    m->limits = *cfg;
    m->per_metric = (uint32_t)cfg->metrics.per_metric;
    m->size = forge__metrics_shm_size(cfg);
    forge_metric *ot = forge_metrics_counter(
        m,
        &(forge_metric_opts){.name = "forge_metrics_series_overflow_total",
                             .help = "Label sets refused because a metric reached its series "
                                     "limit (their updates went to the metric's __overflow__ "
                                     "series).",
                             .labels = (const char *const[]){"metric", NULL},
                             .max_series = (uint32_t)cfg->metrics.max_metrics},
        err);
    if (!ot)
        return err && err->code ? err->code : FORGE_ENOMEM;
    m->overflow_total = ot;
    return FORGE_OK;
}

forge_metrics *forge_app_metrics(forge_app *app)
{
    return app && app->observe ? app->observe->metrics : NULL;
}

static bool name_ok(const char *s, bool metric)
{
    if (!s || !*s || strlen(s) >= FORGE__MNAME_MAX)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (metric && c == ':') || (p > s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static int check_labels(const forge_metric_opts *o, forge_metric_type type, size_t *n,
                        size_t *bytes, forge_error *err)
{
    *n = 0;
    *bytes = 0;
    for (size_t i = 0; o->labels && o->labels[i]; i++) {
        const char *l = o->labels[i];
        if (!name_ok(l, false) || strncmp(l, "__", 2) == 0)
            return forge_error_setk(err, FORGE_EINVAL, o->name,
                                    "metrics: %s: invalid label name \"%s\" ([a-zA-Z_][a-zA-Z0-9_]*"
                                    ", not starting with __)",
                                    o->name, l);
        if (type == FORGE_METRIC_HISTOGRAM && strcmp(l, "le") == 0)
            return forge_error_setk(err, FORGE_EINVAL, o->name,
                                    "metrics: %s: \"le\" is reserved for histogram buckets",
                                    o->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->labels[j], l) == 0)
                return forge_error_setk(err, FORGE_EINVAL, o->name,
                                        "metrics: %s: label \"%s\" given twice", o->name, l);
        if (++*n > FORGE_METRIC_LABELS_MAX)
            return forge_error_setk(err, FORGE_EINVAL, o->name, "metrics: %s: more than %d labels",
                                    o->name, FORGE_METRIC_LABELS_MAX);
        *bytes += strlen(l) + 1;
    }
    return FORGE_OK;
}

static int check_buckets(const forge_metric_opts *o, forge_error *err)
{
    if (o->nbuckets > FORGE_METRIC_BUCKETS_MAX || (o->nbuckets && !o->buckets))
        return forge_error_setk(err, FORGE_EINVAL, o->name, "metrics: %s: 1 to %d buckets expected",
                                o->name, FORGE_METRIC_BUCKETS_MAX);
    for (size_t i = 0; i < o->nbuckets; i++) {
        if (!isfinite(o->buckets[i]) || (i > 0 && !(o->buckets[i] > o->buckets[i - 1])))
            return forge_error_setk(err, FORGE_EINVAL, o->name,
                                    "metrics: %s: buckets must be finite and strictly increasing "
                                    "(bucket %zu)",
                                    o->name, i);
    }
    return FORGE_OK;
}

/* A new handle from validated options; NULL on OOM. */
static forge_metric *handle_new(forge_metrics *m, const forge_metric_opts *o,
                                forge_metric_type type, size_t nlabels, size_t lbytes)
{
    forge_metric *mt = calloc(1, sizeof(*mt));
    if (!mt)
        return NULL;
    mt->ctx = m;
    mt->type = type;
    mt->agg = type == FORGE_METRIC_GAUGE ? o->agg : FORGE_GAUGE_SUM;
    mt->max_series = o->max_series;
    mt->nlabels = nlabels;
    mt->labels_len = lbytes;
    atomic_store(&mt->fam, -1);
    mt->name = strdup(o->name);
    mt->help = strdup(o->help ? o->help : "");
    mt->labels = malloc(lbytes ? lbytes : 1);
    bool ok = mt->name && mt->help && mt->labels;
    size_t off = 0;
    for (size_t i = 0; ok && i < nlabels; i++) {
        size_t l = strlen(o->labels[i]) + 1;
        memcpy(mt->labels + off, o->labels[i], l);
        off += l;
    }
    if (ok && type == FORGE_METRIC_HISTOGRAM) {
        const double *b = o->nbuckets ? o->buckets : default_buckets;
        size_t nb = o->nbuckets ? o->nbuckets : sizeof(default_buckets) / sizeof(double);
        mt->buckets = malloc(nb * sizeof(double));
        ok = mt->buckets != NULL;
        if (ok)
            memcpy(mt->buckets, b, nb * sizeof(double));
        mt->nbuckets = nb;
    }
    mt->ncells = type == FORGE_METRIC_HISTOGRAM ? (uint32_t)mt->nbuckets + 2 : 2;
    if (!ok) {
        metric_free(mt);
        return NULL;
    }
    return mt;
}

static bool same_handle(const forge_metric *a, const forge_metric *b)
{
    if (a->type != b->type || a->agg != b->agg || a->labels_len != b->labels_len ||
        memcmp(a->labels, b->labels, a->labels_len) != 0 || a->nbuckets != b->nbuckets)
        return false;
    for (size_t i = 0; i < a->nbuckets; i++)
        if (a->buckets[i] != b->buckets[i])
            return false;
    return true;
}

static forge_metric *metric_register(forge_metrics *m, const forge_metric_opts *o,
                                     forge_metric_type type, forge_error *err)
{
    if (!m || !o || !name_ok(o->name, true)) {
        forge_error_set(err, FORGE_EINVAL,
                        "metrics: invalid metric name \"%s\" ([a-zA-Z_:][a-zA-Z0-9_:]*, at most "
                        "%d bytes)",
                        o && o->name ? o->name : "(null)", FORGE__MNAME_MAX - 1);
        return NULL;
    }
    size_t nlabels, lbytes;
    if (check_labels(o, type, &nlabels, &lbytes, err) < 0 ||
        (type == FORGE_METRIC_HISTOGRAM && check_buckets(o, err) < 0))
        return NULL;
    if (type == FORGE_METRIC_GAUGE && (o->agg < FORGE_GAUGE_SUM || o->agg > FORGE_GAUGE_MIN)) {
        forge_error_setk(err, FORGE_EINVAL, o->name, "metrics: %s: unknown gauge aggregation",
                         o->name);
        return NULL;
    }
    forge_metric *mt = handle_new(m, o, type, nlabels, lbytes);
    if (!mt) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    for (forge_metric *x = m->list; x; x = x->next) {
        if (strcmp(x->name, mt->name) != 0)
            continue;
        bool same = same_handle(x, mt);
        pthread_mutex_unlock(&m->mu);
        metric_free(mt);
        if (same)
            return x;
        forge_error_setk(err, FORGE_EEXIST, o->name,
                         "metrics: %s is already registered with another type, labels or "
                         "buckets",
                         o->name);
        return NULL;
    }
    int rc = forge__metric_bind(m, mt, err);
    if (rc == FORGE_OK) {
        /* Registration order is exposition order. */
        forge_metric **tail = &m->list;
        while (*tail)
            tail = &(*tail)->next;
        *tail = mt;
    }
    pthread_mutex_unlock(&m->mu);
    if (rc < 0) {
        metric_free(mt);
        return NULL;
    }
    return mt;
}

forge_metric *forge_metrics_counter(forge_metrics *m, const forge_metric_opts *o, forge_error *err)
{
    return metric_register(m, o, FORGE_METRIC_COUNTER, err);
}

forge_metric *forge_metrics_gauge(forge_metrics *m, const forge_metric_opts *o, forge_error *err)
{
    return metric_register(m, o, FORGE_METRIC_GAUGE, err);
}

forge_metric *forge_metrics_histogram(forge_metrics *m, const forge_metric_opts *o,
                                      forge_error *err)
{
    return metric_register(m, o, FORGE_METRIC_HISTOGRAM, err);
}

forge_metric *forge_metrics_find(forge_metrics *m, const char *name)
{
    if (!m || !name)
        return NULL;
    pthread_mutex_lock(&m->mu);
    forge_metric *mt = m->list;
    while (mt && strcmp(mt->name, name) != 0)
        mt = mt->next;
    pthread_mutex_unlock(&m->mu);
    return mt;
}

double forge_metric_value(forge_metric *m, const char *const *values, double *sum)
{
    if (sum)
        *sum = NAN;
    if (!m || !m->ctx->hdr)
        return NAN;
    int32_t f = atomic_load_explicit(&m->fam, memory_order_acquire);
    if (f < 0)
        return NAN;
    char buf[FORGE__LABELS_MAX];
    long len = forge__labels_pack(buf, sizeof(buf), values, m->nlabels);
    if (len < 0)
        return NAN;
    uint32_t s = forge__series_find(m->ctx, (uint32_t)f, buf, (size_t)len);
    if (s == UINT32_MAX)
        return NAN;
    const struct mhdr *h = m->ctx->hdr;
    uint32_t c = forge__mseries(h, s)->cell;
    switch (m->type) {
    case FORGE_METRIC_COUNTER:
        return (double)forge__cells_sum_u64(h, c) + forge__cells_sum_double(h, c + 1);
    case FORGE_METRIC_GAUGE:
        return forge__gauge_value(h, c, m->agg);
    case FORGE_METRIC_HISTOGRAM: {
        uint64_t n = 0;
        for (size_t i = 0; i <= m->nbuckets; i++)
            n += forge__cells_sum_u64(h, c + (uint32_t)i);
        if (sum)
            *sum = forge__cells_sum_double(h, c + (uint32_t)m->nbuckets + 1);
        return (double)n;
    }
    }
    return NAN;
}
