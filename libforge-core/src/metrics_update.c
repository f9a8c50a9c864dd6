/*
 * The update path: one relaxed atomic read-modify-write on this worker's own
 * row per update (two for a histogram), no lock, no allocation. And the
 * reading side: sums over the rows of every worker.
 */
#include "metrics_impl.h"

#include <math.h>
#include <string.h>

static inline uint64_t dbits(double d)
{
    return forge__dbits(d);
}

double forge__cell_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static inline _Atomic uint64_t *cells(forge_series s)
{
    return atomic_load_explicit(&s.metric->ctx->row, memory_order_relaxed) + s.cell;
}

/* Integral amounts below 2^53 go to the integer cell: exact and one fetch_add. */
static void counter_add(forge_series s, double v)
{
    if (!(v >= 0))
        return;
    _Atomic uint64_t *c = cells(s);
    if (v < 9007199254740992.0 && v == (double)(uint64_t)v)
        forge__cell_add_u64(&c[0], (uint64_t)v);
    else
        forge__cell_add_double(&c[1], v);
}

void forge_series_inc(forge_series s)
{
    if (!s.ok)
        return;
    if (s.metric->type == FORGE_METRIC_COUNTER)
        forge__cell_add_u64(cells(s), 1);
    else if (s.metric->type == FORGE_METRIC_GAUGE)
        forge_series_add(s, 1.0);
}

void forge_series_add(forge_series s, double v)
{
    if (!s.ok)
        return;
    if (s.metric->type == FORGE_METRIC_COUNTER) {
        counter_add(s, v);
    } else if (s.metric->type == FORGE_METRIC_GAUGE) {
        _Atomic uint64_t *c = cells(s);
        if (s.metric->agg == FORGE_GAUGE_SUM && v > -9007199254740992.0 && v < 9007199254740992.0 &&
            v == (double)(int64_t)v) {
            /* Whole steps (in-flight counts) go to the integer cell: one fetch_add. */
            forge__cell_add_u64(&c[1], (uint64_t)(int64_t)v);
            return;
        }
        forge__cell_add_double(&c[0], v);
        if (s.metric->agg != FORGE_GAUGE_SUM)
            atomic_store_explicit(&c[1], 1, memory_order_relaxed);
    }
}

void forge_series_set(forge_series s, double v)
{
    if (!s.ok || s.metric->type != FORGE_METRIC_GAUGE)
        return;
    _Atomic uint64_t *c = cells(s);
    atomic_store_explicit(&c[0], dbits(v), memory_order_relaxed);
    /* SUM: c[1] holds whole steps added since (see forge_series_add); else "set". */
    atomic_store_explicit(&c[1], s.metric->agg == FORGE_GAUGE_SUM ? 0 : 1, memory_order_relaxed);
}

void forge_series_observe(forge_series s, double v)
{
    if (!s.ok || s.metric->type != FORGE_METRIC_HISTOGRAM || isnan(v))
        return;
    forge__cells_observe(cells(s), s.metric->buckets, s.metric->nbuckets, v);
}

static inline forge_series plain(forge_metric *m)
{
    forge_series s = {m, 0, false};
    if (m && m->nlabels == 0 && atomic_load_explicit(&m->fam, memory_order_acquire) >= 0) {
        s.cell = m->cell0;
        s.ok = true;
    }
    return s;
}

void forge_counter_inc(forge_metric *m)
{
    forge_series_inc(plain(m));
}

void forge_counter_add(forge_metric *m, double v)
{
    forge_series_add(plain(m), v);
}

void forge_gauge_set(forge_metric *m, double v)
{
    forge_series_set(plain(m), v);
}

void forge_gauge_add(forge_metric *m, double v)
{
    forge_series_add(plain(m), v);
}

void forge_histogram_observe(forge_metric *m, double v)
{
    forge_series_observe(plain(m), v);
}

/* ---- reading ---- */

uint64_t forge__cells_sum_u64(const struct mhdr *h, uint32_t cell)
{
    uint32_t rows = atomic_load_explicit(&h->rows_used, memory_order_acquire);
    uint64_t v = 0;
    for (uint32_t w = 0; w < rows; w++)
        v += atomic_load_explicit(&forge__mrow(h, w)[cell], memory_order_relaxed);
    return v;
}

double forge__cells_sum_double(const struct mhdr *h, uint32_t cell)
{
    uint32_t rows = atomic_load_explicit(&h->rows_used, memory_order_acquire);
    double v = 0;
    for (uint32_t w = 0; w < rows; w++)
        v += forge__cell_double(
            atomic_load_explicit(&forge__mrow(h, w)[cell], memory_order_relaxed));
    return v;
}

double forge__gauge_value(const struct mhdr *h, uint32_t cell, uint32_t agg)
{
    if (agg == FORGE_GAUGE_SUM) /* the double cell plus the whole steps of the integer one */
        return forge__cells_sum_double(h, cell) +
               (double)(int64_t)forge__cells_sum_u64(h, cell + 1);
    uint32_t rows = atomic_load_explicit(&h->rows_used, memory_order_acquire);
    double v = 0;
    bool any = false;
    for (uint32_t w = 0; w < rows; w++) {
        _Atomic uint64_t *r = forge__mrow(h, w);
        if (!atomic_load_explicit(&r[cell + 1], memory_order_relaxed))
            continue;
        double x = forge__cell_double(atomic_load_explicit(&r[cell], memory_order_relaxed));
        if (!any || (agg == FORGE_GAUGE_MAX ? x > v : x < v))
            v = x;
        any = true;
    }
    return v;
}

long forge__labels_pack(char *buf, size_t cap, const char *const *values, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!values || !values[i])
            return -1;
        size_t l = strlen(values[i]);
        if (len + l + 1 > cap)
            return -1;
        memcpy(buf + len, values[i], l + 1);
        len += l + 1;
    }
    return (long)len;
}

forge_series forge_metric_labels(forge_metric *m, const char *const *values)
{
    forge_series s = {m, 0, false};
    if (!m)
        return s;
    char buf[FORGE__LABELS_MAX];
    long len = forge__labels_pack(buf, sizeof(buf), values, m->nlabels);
    uint32_t cell;
    if (len < 0) {
        /* Too long or missing values: counted, never dropped. */
        if (atomic_load_explicit(&m->fam, memory_order_acquire) < 0)
            return s;
        cell = m->overflow;
    } else {
        cell = forge__series_cell(m->ctx, m, buf, (size_t)len);
    }
    if (cell == UINT32_MAX)
        return s;
    s.cell = cell;
    s.ok = true;
    return s;
}
