/*
 * Internal to metrics*.c: the shared-memory layout and the process-local
 * handles. The design and its invariants are in docs/adr/0090-metrics-shm.md.
 *
 * Region layout (offsets from the region start, each part 64-byte aligned):
 *   mhdr                        header, robust mutex, counts
 *   mfam[max_metrics]           metric families
 *   mseries[max_series]         label sets
 *   _Atomic uint32_t[hash_cap]  open-addressing index of series (idx + 1, 0 empty)
 *   char[text_bytes]            names, help texts, label names and values
 *   uint64_t[max_workers][row]  the value cells, one row per worker
 *
 * Invariants:
 * - Families, series, index slots and text are append-only and written under
 *   hdr->mu; each is published by a release store (nfamilies, a family's
 *   head/next link, an index slot) after it is complete, and read lock-free
 *   with acquire loads. Nothing is ever removed, so a reader that saw a
 *   pointer may keep using it.
 * - A cell is written only with atomic read-modify-writes (or stores of a
 *   gauge's own value), so two threads or processes that share a row still
 *   add up exactly; rows per worker only keep cache lines apart.
 * - Counter series: 2 cells (integer part, double part as bits). Gauge: 2
 *   cells (double bits, "set" marker for MAX/MIN). Histogram: nbuckets + 1
 *   bucket counters (non-cumulative, +Inf last) and the sum as double bits;
 *   the count is the sum of the buckets, so _count always equals the +Inf
 *   bucket.
 */
#ifndef FORGE_METRICS_IMPL_H
#define FORGE_METRICS_IMPL_H

#include "observe_impl.h"

#include <stdatomic.h>
#include <string.h>

#define FORGE__MNAME_MAX  128
#define FORGE__LABELS_MAX 1024                  /* packed label values of one series */
#define FORGE__MMAGIC     0x464f5247454d5431ull /* "FORGEMT1" */
#define FORGE__OVERFLOW   "__overflow__"

struct mhdr {
    uint64_t magic;
    uint64_t layout; /* hash of the limits: a region laid out for other limits is reset */
    pthread_mutex_t mu;
    uint32_t max_metrics, max_series, max_cells, max_workers, hash_cap, text_bytes;
    uint64_t fam_off, series_off, hash_off, text_off, rows_off, row_stride;
    int64_t start_ms; /* when the region was laid out (server start) */
    _Atomic uint32_t nfamilies;
    _Atomic uint32_t nseries;
    _Atomic uint32_t rows_used; /* highest worker row used + 1 */
    uint32_t cells_used;        /* under mu */
    uint32_t text_used;         /* under mu */
};

struct mfam {
    char name[FORGE__MNAME_MAX];
    uint32_t type, agg, nlabels, nbuckets, max_series, ncells;
    uint32_t help_off, help_len;
    uint32_t labels_off, labels_len; /* label names, NUL-separated */
    uint32_t buckets_off;            /* doubles in the text area, 8-aligned */
    uint32_t overflow;               /* overflow series idx + 1 (0: none) */
    uint32_t tail;                   /* last series idx + 1, under mu */
    _Atomic uint32_t head;           /* first series idx + 1 */
    _Atomic uint32_t nseries;        /* label sets, overflow excluded */
};

struct mseries {
    uint32_t fam, hash;
    uint32_t labels_off, labels_len; /* values, NUL-separated */
    uint32_t cell;
    _Atomic uint32_t next; /* next series of the family, idx + 1 */
};

/* A process-local metric handle. */
struct forge_metric {
    forge_metrics *ctx;
    struct forge_metric *next;
    char *name, *help;
    char *labels; /* packed names */
    size_t labels_len, nlabels;
    double *buckets;
    size_t nbuckets;
    forge_metric_type type;
    forge_gauge_agg agg;
    uint32_t max_series; /* 0: the registry's default */
    _Atomic int32_t fam; /* family index in shm, -1 until bound */
    uint32_t ncells;
    uint32_t cell0;    /* the series without labels (nlabels == 0) */
    uint32_t overflow; /* the overflow series' cell */
};

struct forge_metrics {
    forge_app *app;
    pthread_mutex_t mu; /* the handle list and binding */
    struct forge_metric *list;
    uint32_t per_metric; /* default max series per metric */
    size_t size;         /* configured shm bytes (0: not configured) */
    forge__observe_cfg limits;
    struct mhdr *hdr; /* NULL until mapped */
    char *base;
    _Atomic(_Atomic uint64_t *) row; /* this process's row of cells */
    forge_metric *overflow_total;
};

/* ---- metrics_shm.c (all under hdr->mu unless said otherwise) ---- */
static inline struct mfam *forge__mfam(const struct mhdr *h, uint32_t i)
{
    return (struct mfam *)((char *)h + h->fam_off) + i;
}
static inline struct mseries *forge__mseries(const struct mhdr *h, uint32_t i)
{
    return (struct mseries *)((char *)h + h->series_off) + i;
}
static inline _Atomic uint32_t *forge__mhash(const struct mhdr *h)
{
    return (_Atomic uint32_t *)((char *)h + h->hash_off);
}
static inline char *forge__mtext(const struct mhdr *h)
{
    return (char *)h + h->text_off;
}
static inline _Atomic uint64_t *forge__mrow(const struct mhdr *h, uint32_t w)
{
    return (_Atomic uint64_t *)((char *)h + h->rows_off + (uint64_t)w * h->row_stride);
}

/* Bind a handle to its shm family (find or create); lock taken inside. */
int forge__metric_bind(forge_metrics *m, forge_metric *mt, forge_error *err);
/*
 * The cell of a label set (packed values, len bytes), registering it on first
 * sight. Lock-free when known. Returns the overflow series' cell when the
 * metric is full; UINT32_MAX when the family is unbound.
 */
uint32_t forge__series_cell(forge_metrics *m, forge_metric *mt, const char *packed, size_t len);
/* Find a series without registering it (UINT32_MAX when absent). Lock-free. */
uint32_t forge__series_find(const forge_metrics *m, uint32_t fam, const char *packed, size_t len);
uint32_t forge__labels_hash(uint32_t fam, const char *packed, size_t len);

/* ---- metrics_update.c ---- */
double forge__cell_double(uint64_t bits);

static inline uint64_t forge__dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

/* Cells are only written by their own worker's threads: relaxed is enough. */
static inline void forge__cell_add_u64(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static inline void forge__cell_add_double(_Atomic uint64_t *c, double v)
{
    uint64_t old = atomic_load_explicit(c, memory_order_relaxed), bits;
    do {
        double d;
        memcpy(&d, &old, sizeof(d));
        bits = forge__dbits(d + v);
    } while (!atomic_compare_exchange_weak_explicit(c, &old, bits, memory_order_relaxed,
                                                    memory_order_relaxed));
}

/*
 * A histogram observation into its cells (c: the series' first cell):
 * the count of the first bucket whose bound is >= v (the last is +Inf),
 * then the sum, skipped for 0 (x + 0 == x).
 */
static inline void forge__cells_observe(_Atomic uint64_t *c, const double *bounds, size_t nbounds,
                                        double v)
{
    size_t lo = 0;
    if (nbounds <= 16) {
        /* Most observations land in the first buckets: a scan from the bottom wins. */
        while (lo < nbounds && v > bounds[lo])
            lo++;
    } else {
        size_t hi = nbounds;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (v <= bounds[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
    }
    forge__cell_add_u64(&c[lo], 1);
    if (v != 0)
        forge__cell_add_double(&c[nbounds + 1], v);
}
/* Sum of a cell over every worker row in use. */
uint64_t forge__cells_sum_u64(const struct mhdr *h, uint32_t cell);
double forge__cells_sum_double(const struct mhdr *h, uint32_t cell);
/* A gauge's value as its aggregation combines the rows. */
double forge__gauge_value(const struct mhdr *h, uint32_t cell, uint32_t agg);
/* Pack label values as NUL-separated bytes; -1 when they do not fit or a value is NULL. */
long forge__labels_pack(char *buf, size_t cap, const char *const *values, size_t n);

#endif
