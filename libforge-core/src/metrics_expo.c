/*
 * The Prometheus text exposition format, version 0.0.4:
 *
 *     # HELP name help text (\\ and \n escaped)
 *     # TYPE name counter|gauge|histogram
 *     name{label="value"} 42
 *     name_bucket{label="value",le="0.5"} 3    (cumulative, then le="+Inf")
 *     name_sum{...} 1.25
 *     name_count{...} 4
 *
 * Label values escape \\, \" and \n; bytes that are not UTF-8 become U+FFFD
 * (the format requires UTF-8). Families and series appear in registration
 * order. A labelled metric's overflow series is shown only once something
 * went to it. The render reads shared memory lock-free: it never blocks a
 * worker's update, and an update never waits for it.
 */
#include "metrics_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct obuf {
    char *p;
    size_t n, cap;
    bool oom;
} obuf;

static void put(obuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(obuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t min, cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, min = 0x80, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Escape for HELP (quote false) or a label value (quote true). */
static void put_escaped(obuf *b, const char *s, size_t n, bool quote)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_len(u + i, n - i);
        if (l == 0) {
            puts_(b, "\xef\xbf\xbd");
            i++;
            continue;
        }
        char c = s[i];
        if (c == '\\')
            puts_(b, "\\\\");
        else if (c == '\n')
            puts_(b, "\\n");
        else if (quote && c == '"')
            puts_(b, "\\\"");
        else
            put(b, s + i, l);
        i += l;
    }
}

/* Shortest text that reads back as d; integers without exponent or point. */
static void put_double(obuf *b, double d)
{
    char num[40];
    if (isnan(d))
        snprintf(num, sizeof(num), "NaN");
    else if (isinf(d))
        snprintf(num, sizeof(num), d > 0 ? "+Inf" : "-Inf");
    else if (d == floor(d) && fabs(d) < 1e15)
        snprintf(num, sizeof(num), "%.0f", d);
    else {
        snprintf(num, sizeof(num), "%.15g", d);
        if (strtod(num, NULL) != d)
            snprintf(num, sizeof(num), "%.17g", d);
    }
    puts_(b, num);
}

static void put_u64(obuf *b, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    puts_(b, num);
}

/* {a="x",b="y"[,le="..."]}; nothing when there are no labels and no le. */
static void put_labels(obuf *b, const char *names, const char *values, uint32_t n, const char *le)
{
    if (n == 0 && !le)
        return;
    put(b, "{", 1);
    for (uint32_t i = 0; i < n; i++) {
        size_t nl = strlen(names), vl = strlen(values);
        if (i)
            put(b, ",", 1);
        put(b, names, nl);
        put(b, "=\"", 2);
        put_escaped(b, values, vl, true);
        put(b, "\"", 1);
        names += nl + 1;
        values += vl + 1;
    }
    if (le) {
        if (n)
            put(b, ",", 1);
        puts_(b, "le=\"");
        puts_(b, le);
        put(b, "\"", 1);
    }
    put(b, "}", 1);
}

static void put_line_start(obuf *b, const char *name, const char *suffix)
{
    puts_(b, name);
    puts_(b, suffix);
}

static bool series_zero(const struct mhdr *h, const struct mfam *fm, uint32_t cell)
{
    for (uint32_t k = 0; k < fm->ncells; k++)
        if (forge__cells_sum_u64(h, cell + k) != 0)
            return false;
    return true;
}

static void put_histogram(obuf *b, const struct mhdr *h, const struct mfam *fm, const char *names,
                          const char *values, uint32_t cell)
{
    const double *bounds = (const double *)(forge__mtext(h) + fm->buckets_off);
    uint64_t cum = 0;
    char le[40];
    for (uint32_t i = 0; i <= fm->nbuckets; i++) {
        cum += forge__cells_sum_u64(h, cell + i);
        if (i < fm->nbuckets) {
            obuf t = {0};
            put_double(&t, bounds[i]);
            snprintf(le, sizeof(le), "%s", t.p ? t.p : "0");
            free(t.p);
        } else {
            snprintf(le, sizeof(le), "+Inf");
        }
        put_line_start(b, fm->name, "_bucket");
        put_labels(b, names, values, fm->nlabels, le);
        put(b, " ", 1);
        put_u64(b, cum);
        put(b, "\n", 1);
    }
    put_line_start(b, fm->name, "_sum");
    put_labels(b, names, values, fm->nlabels, NULL);
    put(b, " ", 1);
    put_double(b, forge__cells_sum_double(h, cell + fm->nbuckets + 1));
    put(b, "\n", 1);
    put_line_start(b, fm->name, "_count");
    put_labels(b, names, values, fm->nlabels, NULL);
    put(b, " ", 1);
    put_u64(b, cum);
    put(b, "\n", 1);
}

static void put_series(obuf *b, const struct mhdr *h, const struct mfam *fm,
                       const struct mseries *se)
{
    const char *names = forge__mtext(h) + fm->labels_off;
    const char *values = forge__mtext(h) + se->labels_off;
    if (fm->type == FORGE_METRIC_HISTOGRAM) {
        put_histogram(b, h, fm, names, values, se->cell);
        return;
    }
    puts_(b, fm->name);
    put_labels(b, names, values, fm->nlabels, NULL);
    put(b, " ", 1);
    if (fm->type == FORGE_METRIC_COUNTER) {
        uint64_t i = forge__cells_sum_u64(h, se->cell);
        double d = forge__cells_sum_double(h, se->cell + 1);
        if (d == 0)
            put_u64(b, i);
        else
            put_double(b, (double)i + d);
    } else {
        put_double(b, forge__gauge_value(h, se->cell, fm->agg));
    }
    put(b, "\n", 1);
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

char *forge_metrics_render(forge_metrics *m, size_t *len)
{
    obuf b = {0};
    put(&b, "", 0);
    const struct mhdr *h = m ? m->hdr : NULL;
    uint32_t nf = h ? atomic_load_explicit(&h->nfamilies, memory_order_acquire) : 0;
    for (uint32_t f = 0; f < nf; f++) {
        const struct mfam *fm = forge__mfam(h, f);
        if (fm->help_len) {
            puts_(&b, "# HELP ");
            puts_(&b, fm->name);
            put(&b, " ", 1);
            put_escaped(&b, forge__mtext(h) + fm->help_off, fm->help_len, false);
            put(&b, "\n", 1);
        }
        puts_(&b, "# TYPE ");
        puts_(&b, fm->name);
        put(&b, " ", 1);
        puts_(&b, type_names[fm->type < 3 ? fm->type : 1]);
        put(&b, "\n", 1);
        for (uint32_t s = atomic_load_explicit(&fm->head, memory_order_acquire); s;
             s = atomic_load_explicit(&forge__mseries(h, s - 1)->next, memory_order_acquire)) {
            const struct mseries *se = forge__mseries(h, s - 1);
            if (fm->nlabels && s == fm->overflow && series_zero(h, fm, se->cell))
                continue;
            put_series(&b, h, fm, se);
        }
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.n;
    return b.p;
}
