/*
 * The metrics region in shared memory: layout, families and series.
 *
 * Registration (a family, or a label set seen for the first time by any
 * worker) takes the region's robust mutex; everything else reads
 * lock-free. Records are complete before the release store that publishes
 * them, so a worker that dies holding the mutex leaves at most some unused
 * space behind, never a half-visible series (ADR 0090).
 */
#include "metrics_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define A64(x) (((uint64_t)(x) + 63u) & ~(uint64_t)63u)

static uint32_t pow2_at_least(uint64_t n)
{
    uint32_t p = 64;
    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

typedef struct layout {
    uint32_t max_metrics, max_series, max_cells, max_workers, hash_cap, text_bytes;
    uint64_t fam_off, series_off, hash_off, text_off, rows_off, row_stride, total;
} layout;

static layout compute(const forge__observe_cfg *cfg)
{
    layout l;
    l.max_metrics = (uint32_t)cfg->metrics.max_metrics;
    l.max_series = (uint32_t)cfg->metrics.max_series;
    l.max_cells = (uint32_t)cfg->metrics.max_cells;
    l.max_workers = (uint32_t)cfg->max_workers;
    l.hash_cap = pow2_at_least((uint64_t)l.max_series * 2);
    l.text_bytes = l.max_metrics * 768u + l.max_series * 128u;
    l.fam_off = A64(sizeof(struct mhdr));
    l.series_off = l.fam_off + A64((uint64_t)l.max_metrics * sizeof(struct mfam));
    l.hash_off = l.series_off + A64((uint64_t)l.max_series * sizeof(struct mseries));
    l.text_off = l.hash_off + A64((uint64_t)l.hash_cap * sizeof(uint32_t));
    l.rows_off = l.text_off + A64(l.text_bytes);
    l.row_stride = A64((uint64_t)l.max_cells * sizeof(uint64_t));
    l.total = l.rows_off + l.row_stride * l.max_workers;
    return l;
}

size_t forge__metrics_shm_size(const forge__observe_cfg *cfg)
{
    return (size_t)compute(cfg).total;
}

static uint64_t layout_id(const layout *l)
{
    uint64_t v = 1469598103934665603ull;
    const uint32_t p[] = {l->max_metrics,
                          l->max_series,
                          l->max_cells,
                          l->max_workers,
                          l->hash_cap,
                          l->text_bytes,
                          (uint32_t)sizeof(struct mfam),
                          (uint32_t)sizeof(struct mseries)};
    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
        v = (v ^ p[i]) * 1099511628211ull;
    return v;
}

/* Lay out a fresh region, or adopt one a previous load of the same layout left (host zones). */
static int lay_out(struct mhdr *h, size_t size, const layout *l, forge_error *err)
{
    if (size < l->total)
        return forge_error_set(err, FORGE_ETOOBIG, "metrics: shared region of %zu bytes, need %llu",
                               size, (unsigned long long)l->total);
    uint64_t id = layout_id(l);
    if (h->magic == FORGE__MMAGIC && h->layout == id)
        return FORGE_OK;
    /* A new region is zero (mmap, host contract): writing it would commit every page. Only a
     * region laid out for other limits is cleared. */
    if (h->magic != 0)
        memset(h, 0, (size_t)l->total);
    h->layout = id;
    h->max_metrics = l->max_metrics;
    h->max_series = l->max_series;
    h->max_cells = l->max_cells;
    h->max_workers = l->max_workers;
    h->hash_cap = l->hash_cap;
    h->text_bytes = l->text_bytes;
    h->fam_off = l->fam_off;
    h->series_off = l->series_off;
    h->hash_off = l->hash_off;
    h->text_off = l->text_off;
    h->rows_off = l->rows_off;
    h->row_stride = l->row_stride;
    h->start_ms = forge__obs_now_ms();
    atomic_store(&h->rows_used, 1);
    int rc = forge_shm_mutex_init(&h->mu);
    if (rc < 0)
        return forge_error_set(err, rc, "metrics: cannot initialise the shared mutex");
    h->magic = FORGE__MMAGIC;
    return FORGE_OK;
}

int forge__metrics_mapped(forge_metrics *m, void *region, size_t size, forge_error *err)
{
    layout l = compute(&m->limits);
    int rc = lay_out(region, size, &l, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&m->mu);
    m->hdr = region;
    m->base = region;
    atomic_store(&m->row, forge__mrow(m->hdr, 0));
    pthread_mutex_unlock(&m->mu);
    /* Bind what the app registered before the mapping. */
    for (forge_metric *mt = m->list; mt; mt = mt->next) {
        rc = forge__metric_bind(m, mt, err);
        if (rc < 0)
            return rc;
    }
    return FORGE_OK;
}

void forge__metrics_set_worker(forge_metrics *m, int worker)
{
    struct mhdr *h = m->hdr;
    if (!h)
        return;
    uint32_t w = (uint32_t)(worker < 0 ? 0 : worker) % h->max_workers;
    _Atomic uint64_t *row = forge__mrow(h, w);
    uint32_t used = atomic_load(&h->rows_used);
    while (used < w + 1 && !atomic_compare_exchange_weak(&h->rows_used, &used, w + 1))
        ;
    /* A restarted worker's gauges (in flight, pool size) died with its predecessor. */
    uint32_t nf = atomic_load_explicit(&h->nfamilies, memory_order_acquire);
    for (uint32_t f = 0; f < nf; f++) {
        struct mfam *fm = forge__mfam(h, f);
        if (fm->type != FORGE_METRIC_GAUGE)
            continue;
        for (uint32_t s = atomic_load_explicit(&fm->head, memory_order_acquire); s;
             s = atomic_load_explicit(&forge__mseries(h, s - 1)->next, memory_order_acquire)) {
            uint32_t c = forge__mseries(h, s - 1)->cell;
            atomic_store_explicit(&row[c], 0, memory_order_relaxed);
            atomic_store_explicit(&row[c + 1], 0, memory_order_relaxed);
        }
    }
    atomic_store(&m->row, row);
}

int64_t forge__metrics_start_ms(const forge_metrics *m)
{
    return m->hdr ? m->hdr->start_ms : forge__obs_now_ms();
}

uint32_t forge__labels_hash(uint32_t fam, const char *packed, size_t len)
{
    uint32_t v = 2166136261u ^ (fam * 0x9e3779b1u);
    for (size_t i = 0; i < len; i++)
        v = (v ^ (unsigned char)packed[i]) * 16777619u;
    return v ? v : 1;
}

static uint32_t text_alloc(struct mhdr *h, const void *p, size_t n, size_t align, bool *ok)
{
    uint32_t off = (uint32_t)((h->text_used + align - 1) & ~(align - 1));
    if ((uint64_t)off + n > h->text_bytes) {
        *ok = false;
        return 0;
    }
    if (n)
        memcpy(forge__mtext(h) + off, p, n);
    h->text_used = off + (uint32_t)n;
    return off;
}

uint32_t forge__series_find(const forge_metrics *m, uint32_t fam, const char *packed, size_t len)
{
    const struct mhdr *h = m->hdr;
    uint32_t hv = forge__labels_hash(fam, packed, len);
    _Atomic uint32_t *slots = forge__mhash(h);
    uint32_t mask = h->hash_cap - 1;
    for (uint32_t i = hv & mask;; i = (i + 1) & mask) {
        uint32_t s = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (!s)
            return UINT32_MAX;
        const struct mseries *se = forge__mseries(h, s - 1);
        if (se->hash == hv && se->fam == fam && se->labels_len == len &&
            memcmp(forge__mtext(h) + se->labels_off, packed, len) == 0)
            return s - 1;
    }
}

/* Create a series (under mu). UINT32_MAX when the region is full. */
static uint32_t series_create(struct mhdr *h, uint32_t fam, const char *packed, size_t len)
{
    struct mfam *fm = forge__mfam(h, fam);
    uint32_t idx = atomic_load_explicit(&h->nseries, memory_order_relaxed);
    if (idx >= h->max_series || (uint64_t)h->cells_used + fm->ncells > h->max_cells)
        return UINT32_MAX;
    bool ok = true;
    uint32_t off = text_alloc(h, packed, len, 1, &ok);
    if (!ok)
        return UINT32_MAX;
    struct mseries *se = forge__mseries(h, idx);
    se->fam = fam;
    se->hash = forge__labels_hash(fam, packed, len);
    se->labels_off = off;
    se->labels_len = (uint32_t)len;
    se->cell = h->cells_used;
    atomic_store_explicit(&se->next, 0, memory_order_relaxed);
    /* The index must keep a free slot: the table is twice max_series, so it always does. */
    _Atomic uint32_t *slots = forge__mhash(h);
    uint32_t mask = h->hash_cap - 1, i = se->hash & mask;
    while (atomic_load_explicit(&slots[i], memory_order_relaxed))
        i = (i + 1) & mask;
    h->cells_used += fm->ncells;
    atomic_store_explicit(&h->nseries, idx + 1, memory_order_release);
    if (fm->tail)
        atomic_store_explicit(&forge__mseries(h, fm->tail - 1)->next, idx + 1,
                              memory_order_release);
    else
        atomic_store_explicit(&fm->head, idx + 1, memory_order_release);
    fm->tail = idx + 1;
    atomic_store_explicit(&slots[i], idx + 1, memory_order_release);
    return idx;
}

static bool same_def(const struct mhdr *h, const struct mfam *fm, const forge_metric *mt)
{
    if (fm->type != (uint32_t)mt->type || fm->nlabels != mt->nlabels ||
        fm->labels_len != mt->labels_len ||
        memcmp(forge__mtext(h) + fm->labels_off, mt->labels, mt->labels_len) != 0)
        return false;
    if (mt->type == FORGE_METRIC_GAUGE && fm->agg != (uint32_t)mt->agg)
        return false;
    if (mt->type != FORGE_METRIC_HISTOGRAM)
        return true;
    const double *b = (const double *)(forge__mtext(h) + fm->buckets_off);
    if (fm->nbuckets != mt->nbuckets)
        return false;
    for (size_t i = 0; i < mt->nbuckets; i++)
        if (b[i] != mt->buckets[i])
            return false;
    return true;
}

/* An overflow label set: every value "__overflow__". */
static size_t overflow_labels(char *buf, size_t nlabels)
{
    size_t n = 0;
    for (size_t i = 0; i < nlabels; i++) {
        memcpy(buf + n, FORGE__OVERFLOW, sizeof(FORGE__OVERFLOW));
        n += sizeof(FORGE__OVERFLOW);
    }
    return n;
}

static int family_create(struct mhdr *h, const forge_metrics *m, const forge_metric *mt,
                         uint32_t *out, forge_error *err)
{
    uint32_t f = atomic_load_explicit(&h->nfamilies, memory_order_relaxed);
    if (f >= h->max_metrics)
        return forge_error_setk(err, FORGE_ETOOBIG, "observe.metrics.max_metrics",
                                "metrics: %s: observe.metrics.max_metrics (%u) reached", mt->name,
                                h->max_metrics);
    struct mfam *fm = forge__mfam(h, f);
    memset(fm, 0, sizeof(*fm));
    snprintf(fm->name, sizeof(fm->name), "%s", mt->name);
    fm->type = (uint32_t)mt->type;
    fm->agg = (uint32_t)mt->agg;
    fm->nlabels = (uint32_t)mt->nlabels;
    fm->nbuckets = (uint32_t)mt->nbuckets;
    fm->max_series = mt->max_series ? mt->max_series : m->per_metric;
    fm->ncells = mt->ncells;
    bool ok = true;
    size_t hl = strlen(mt->help);
    fm->help_off = text_alloc(h, mt->help, hl, 1, &ok);
    fm->help_len = (uint32_t)hl;
    fm->labels_off = text_alloc(h, mt->labels, mt->labels_len, 1, &ok);
    fm->labels_len = (uint32_t)mt->labels_len;
    if (mt->nbuckets)
        fm->buckets_off = text_alloc(h, mt->buckets, mt->nbuckets * sizeof(double), 8, &ok);
    if (!ok)
        return forge_error_set(err, FORGE_ETOOBIG, "metrics: %s: shared text area full", mt->name);
    char lbl[FORGE_METRIC_LABELS_MAX * sizeof(FORGE__OVERFLOW)];
    size_t ln = overflow_labels(lbl, mt->nlabels);
    /* Unlabelled: the one series; labelled: the overflow series, made now so it always exists. */
    uint32_t s = series_create(h, f, lbl, ln);
    if (s == UINT32_MAX)
        return forge_error_setk(err, FORGE_ETOOBIG, "observe.metrics.max_cells",
                                "metrics: %s: no room for its first series (observe.metrics."
                                "max_series / max_cells)",
                                mt->name);
    fm->overflow = s + 1;
    atomic_store_explicit(&h->nfamilies, f + 1, memory_order_release);
    *out = f;
    return FORGE_OK;
}

int forge__metric_bind(forge_metrics *m, forge_metric *mt, forge_error *err)
{
    struct mhdr *h = m->hdr;
    if (!h || atomic_load(&mt->fam) >= 0)
        return FORGE_OK;
    int rc = forge_shm_mutex_lock(&h->mu);
    if (rc < 0)
        return forge_error_set(err, rc, "metrics: shared mutex: %s", forge_strerror(rc));
    uint32_t nf = atomic_load_explicit(&h->nfamilies, memory_order_relaxed), f = nf;
    for (uint32_t i = 0; i < nf; i++)
        if (strcmp(forge__mfam(h, i)->name, mt->name) == 0) {
            f = i;
            break;
        }
    if (f < nf && !same_def(h, forge__mfam(h, f), mt))
        rc = forge_error_setk(err, FORGE_EEXIST, mt->name,
                              "metrics: %s is already registered with another type, labels or "
                              "buckets",
                              mt->name);
    else if (f == nf)
        rc = family_create(h, m, mt, &f, err);
    if (rc == FORGE_OK) {
        uint32_t ov = forge__mfam(h, f)->overflow - 1;
        mt->overflow = forge__mseries(h, ov)->cell;
        mt->cell0 = mt->overflow;
        atomic_store_explicit(&mt->fam, (int32_t)f, memory_order_release);
    }
    forge_shm_mutex_unlock(&h->mu);
    return rc;
}

static void count_overflow(forge_metrics *m, forge_metric *mt)
{
    forge_metric *ot = m->overflow_total;
    if (!ot || ot == mt)
        return;
    forge_series_inc(forge_metric_labels(ot, (const char *const[]){mt->name}));
}

uint32_t forge__series_cell(forge_metrics *m, forge_metric *mt, const char *packed, size_t len)
{
    int32_t f = atomic_load_explicit(&mt->fam, memory_order_acquire);
    if (f < 0) {
        if (!m->hdr || forge__metric_bind(m, mt, NULL) < 0)
            return UINT32_MAX;
        f = atomic_load(&mt->fam);
    }
    struct mhdr *h = m->hdr;
    uint32_t s = forge__series_find(m, (uint32_t)f, packed, len);
    if (s != UINT32_MAX)
        return forge__mseries(h, s)->cell;
    struct mfam *fm = forge__mfam(h, (uint32_t)f);
    /* Full: answer without the lock, so an overflowing label stream never serialises workers. */
    if (atomic_load_explicit(&fm->nseries, memory_order_relaxed) >= fm->max_series ||
        atomic_load_explicit(&h->nseries, memory_order_relaxed) >= h->max_series) {
        count_overflow(m, mt);
        return mt->overflow;
    }
    if (forge_shm_mutex_lock(&h->mu) < 0)
        return mt->overflow;
    s = forge__series_find(m, (uint32_t)f, packed, len);
    bool overflow = false;
    if (s == UINT32_MAX) {
        if (atomic_load_explicit(&fm->nseries, memory_order_relaxed) < fm->max_series)
            s = series_create(h, (uint32_t)f, packed, len);
        if (s != UINT32_MAX) {
            atomic_fetch_add_explicit(&fm->nseries, 1, memory_order_release);
        } else {
            /* Out of room (series, cells or text): mark the family full so later lookups
             * take the lock-free overflow path. */
            atomic_store_explicit(&fm->nseries, fm->max_series, memory_order_relaxed);
            overflow = true;
        }
    }
    uint32_t cell = s == UINT32_MAX ? mt->overflow : forge__mseries(h, s)->cell;
    forge_shm_mutex_unlock(&h->mu);
    if (overflow)
        count_overflow(m, mt);
    return cell;
}
