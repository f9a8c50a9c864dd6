/*
 * A brute-force reference for router lookups, used by fuzz_router.c only.
 * Deliberately naive: it tries every registered route against the path
 * segment by segment, ranks the matches (at the first segment where two
 * differ, static < parameter < wildcard) and picks the best one that has
 * the method (HEAD: an explicit HEAD, else GET, on the same pattern).
 * Static segments compare with the decoded path segment; a segment that
 * fails to decode or decodes to a '/' matches no static segment.
 *
 * Expects `rec` (method, pattern) defined by the includer.
 */
#ifndef FUZZ_ROUTER_REF_H
#define FUZZ_ROUTER_REF_H

#include <forge/http.h>
#include <forge/error.h>

#define REF_MAX_SEGS 1100

typedef struct ref_result {
    int rc;
    void *value;
    uint32_t allowed;
} ref_result;

typedef struct ref_seg {
    const char *p;
    size_t n;
} ref_seg;

static size_t ref_split(const char *s, size_t n, ref_seg *out)
{
    size_t k = 0, start = 1;
    for (size_t i = 1; i <= n && k < REF_MAX_SEGS; i++) {
        if (i == n || s[i] == '/') {
            out[k++] = (ref_seg){s + start, i - start};
            start = i + 1;
        }
    }
    return k;
}

/* The rank vector of `pattern` if it matches the path, else -1 (length of the vector). */
static int ref_match(const char *pattern, const char *path, size_t plen, uint8_t *rank)
{
    static ref_seg ps[REF_MAX_SEGS], qs[REF_MAX_SEGS];
    size_t np = ref_split(pattern, strlen(pattern), ps);
    size_t nq = ref_split(path, plen, qs);
    if (nq < np)
        return -1;
    for (size_t i = 0; i < np; i++) {
        const ref_seg *a = &ps[i], *b = &qs[i];
        if (a->n && a->p[0] == '*') {
            rank[i] = 2;
            return (int)np;
        }
        if (a->n && (a->p[0] == ':' || a->p[0] == '{')) {
            if (b->n == 0)
                return -1;
            rank[i] = 1;
            continue;
        }
        char da[2048], db[2048];
        long la = forge_pct_decode(a->p, a->n, da, sizeof(da), false);
        long lb = forge_pct_decode(b->p, b->n, db, sizeof(db), false);
        check(la >= 0, "an accepted pattern decodes");
        if (lb < 0 || la != lb || memchr(db, '/', (size_t)lb) || memcmp(da, db, (size_t)la))
            return -1;
        rank[i] = 0;
    }
    return nq == np ? (int)np : -1;
}

static int ref_cmp(const uint8_t *a, int na, const uint8_t *b, int nb)
{
    for (int i = 0; i < na && i < nb; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

static ref_result ref_lookup(const rec *table, size_t n, forge_method method, const char *path,
                             size_t plen)
{
    ref_result res = {FORGE_ENOENT, NULL, 0};
    if (plen == 0 || path[0] != '/')
        return res;
    static uint8_t rank[REF_MAX_SEGS], best_rank[REF_MAX_SEGS];
    int best_n = -1;
    const rec *best = NULL;
    uint32_t any = 0;
    for (size_t i = 0; i < n; i++) {
        int k = ref_match(table[i].pattern, path, plen, rank);
        if (k < 0)
            continue;
        any |= 1u << table[i].method;
        bool ok = table[i].method == method ||
                  (method == FORGE_METHOD_HEAD && table[i].method == FORGE_METHOD_GET);
        if (!ok)
            continue;
        int c = best ? ref_cmp(rank, k, best_rank, best_n) : -1;
        /* Same pattern position: an explicit HEAD beats GET for HEAD. */
        if (c < 0 || (c == 0 && table[i].method == method)) {
            best = &table[i];
            best_n = k;
            memcpy(best_rank, rank, (size_t)k);
        }
    }
    if (best) {
        /* allowed: the methods registered on the winning pattern position */
        uint32_t mask = 0;
        for (size_t i = 0; i < n; i++) {
            int k = ref_match(table[i].pattern, path, plen, rank);
            if (k == best_n && ref_cmp(rank, k, best_rank, best_n) == 0)
                mask |= 1u << table[i].method;
        }
        res.rc = FORGE_OK;
        res.value = (void *)best;
        res.allowed = mask;
    } else if (any) {
        res.rc = FORGE_EMETHOD;
        res.allowed = any;
    }
    if (res.allowed & (1u << FORGE_METHOD_GET))
        res.allowed |= 1u << FORGE_METHOD_HEAD;
    /* Parameters that fail to decode turn a match into FORGE_EPARSE. */
    if (best) {
        static ref_seg ps[REF_MAX_SEGS], qs[REF_MAX_SEGS];
        size_t np = ref_split(best->pattern, strlen(best->pattern), ps);
        ref_split(path, plen, qs);
        for (size_t i = 0; i < np; i++) {
            if (!ps[i].n || (ps[i].p[0] != ':' && ps[i].p[0] != '{' && ps[i].p[0] != '*'))
                continue;
            const char *v = qs[i].p;
            size_t vn = ps[i].p[0] == '*' ? (size_t)(path + plen - v) : qs[i].n;
            char tmp[2048];
            if (forge_pct_decode(v, vn, tmp, sizeof(tmp), false) < 0) {
                res.rc = FORGE_EPARSE;
                res.value = NULL;
                break;
            }
        }
    }
    return res;
}

#endif
