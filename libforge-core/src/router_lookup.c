/*
 * Router lookups. Read-only on the tree, allocation-free, thread-safe on a
 * router no longer being modified.
 *
 * Matching is method-aware depth-first search: at each node a static child
 * is tried first, then the parameter child, then the wildcard child; the
 * first node reached at the end of the path that has a value for the method
 * (or GET, for HEAD) wins. So a more specific pattern always beats a less
 * specific one, and a less specific pattern still serves a method the more
 * specific one lacks (a GET wildcard on /files/ serves GET /files/new even
 * with only POST registered for /files/new). When the path matches but no pattern has
 * the method, the result is FORGE_EMETHOD with the union of the methods of
 * every matching pattern: exactly the methods that would be served.
 *
 * Each node is reached from the root by one route and consumes a fixed part
 * of the path, so the search visits each node at most once: no blow-up.
 *
 * Encoded paths: static text is compared after decoding the path's percent
 * escapes (`/caf%C3%A9` matches the pattern `/café`, `/%61bc` matches
 * `/abc`); an encoded '/' (%2F) never matches static text, and a malformed
 * escape never matches static text either (so such a path falls to a
 * parameter, which reports FORGE_EPARSE, or to 404). Parameters end at a raw
 * '/' only and are decoded into the caller's buffer after the match.
 */
#include "router_tree.h"

#include <string.h>

typedef struct span {
    const rnode *node; /* the param/wild node: gives the name */
    size_t off, len;   /* raw bytes in the path */
} span;

typedef struct search {
    const char *path;
    size_t len;
    uint32_t want;     /* method bits that satisfy the lookup */
    uint32_t allowed;  /* methods of path matches that did not satisfy it */
    const rnode *near; /* the first (most specific) such match */
    unsigned nspans;
    span spans[FORGE_ROUTER_MAX_PARAMS];
} search;

static inline int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* The byte an escape at `pos` stands for, or -1 when malformed or '/' . */
static inline int escaped(const search *s, size_t pos)
{
    if (s->len - pos < 3)
        return -1;
    int hi = hexv((unsigned char)s->path[pos + 1]), lo = hexv((unsigned char)s->path[pos + 2]);
    if (hi < 0 || lo < 0 || (hi << 4 | lo) == '/')
        return -1;
    return hi << 4 | lo;
}

/*
 * Compare `k`'s prefix with the path at `*pos` decoding escapes; advance on
 * success. A raw '%' in the path always starts an escape, never stands for
 * itself.
 */
static bool match_encoded(const rnode *k, const search *s, size_t *pos)
{
    size_t p = *pos;
    for (uint32_t i = 0; i < k->plen; i++) {
        if (p >= s->len)
            return false;
        int c = (unsigned char)s->path[p];
        if (c == '%') {
            if ((c = escaped(s, p)) < 0)
                return false;
            p += 3;
        } else {
            p++;
        }
        if (c != (unsigned char)k->prefix[i])
            return false;
    }
    *pos = p;
    return true;
}

/*
 * Position of byte `c` in the first-byte index of a node, or -1. A plain
 * scan: nodes have few children (at most 14 on the GitHub table), and an
 * SSE2 16-byte compare measured slower here (bench_router, 38 vs 63 ns).
 */
static inline int kid_of(const uint8_t *idx, unsigned n, int c)
{
    for (unsigned i = 0; i < n; i++)
        if (idx[i] == c)
            return (int)i;
    return -1;
}

/* The static child of `n` matching the path at `*pos`, which is advanced past it. */
static inline const rnode *static_kid(const rnode *n, const search *s, size_t *pos)
{
    int c = (unsigned char)s->path[*pos];
    if (c == '%' && (c = escaped(s, *pos)) < 0)
        return NULL;
    int i = kid_of(n->idx, n->nkids, c);
    if (i < 0)
        return NULL;
    const rnode *k = n->kids[i];
    /*
     * Raw comparison is exact when the prefix holds no '%': equal bytes then
     * mean the path has no escape there. Prefixes are short: a loop beats a
     * call to memcmp. Byte 0 is known equal unless it came from an escape,
     * in which case the loop fails on the '%' and the decoding compare runs.
     */
    const char *p = s->path + *pos, *q = k->prefix;
    uint32_t len = k->plen;
    if (!k->pct && s->len - *pos >= len) {
        uint32_t j = 1;
        while (j < len && p[j] == q[j])
            j++;
        if (j == len && p[0] == q[0]) {
            *pos += len;
            return k;
        }
    }
    return match_encoded(k, s, pos) ? k : NULL;
}

/* Does `n`, reached at the end of the path, satisfy the lookup? */
static inline bool accepts(const rnode *n, search *s)
{
    if (n->methods & s->want)
        return true;
    if (n->methods && !s->near)
        s->near = n;
    s->allowed |= n->methods;
    return false;
}

static const rnode *find(const rnode *n, size_t pos, search *s);

static const rnode *try_param(const rnode *p, size_t pos, search *s)
{
    const char *seg = s->path + pos;
    size_t n = 0, max = s->len - pos;
    while (n < max && seg[n] != '/') /* segments are short: beats a memchr call */
        n++;
    if (n == 0)
        return NULL;
    s->spans[s->nspans++] = (span){p, pos, n};
    const rnode *r = find(p, pos + n, s);
    if (!r)
        s->nspans--;
    return r;
}

static const rnode *try_wild(const rnode *w, size_t pos, search *s)
{
    if (!accepts(w, s))
        return NULL;
    s->spans[s->nspans++] = (span){w, pos, s->len - pos};
    return w;
}

/*
 * `n` has consumed the path up to `pos`. Descends iteratively while there is
 * nothing to come back to, recursing only at nodes with a param or wildcard
 * child (the backtracking points).
 */
static const rnode *find(const rnode *n, size_t pos, search *s)
{
    for (;;) {
        if (pos == s->len) {
            if (accepts(n, s))
                return n;
            return n->wild ? try_wild(n->wild, pos, s) : NULL;
        }
        size_t next = pos;
        const rnode *k = n->nkids ? static_kid(n, s, &next) : NULL;
        if (!n->param && !n->wild) {
            if (!k)
                return NULL;
            n = k;
            pos = next;
            continue;
        }
        const rnode *r;
        if (k && (r = find(k, next, s)))
            return r;
        if (n->param && (r = try_param(n->param, pos, s)))
            return r;
        return n->wild ? try_wild(n->wild, pos, s) : NULL;
    }
}

static uint32_t with_head(uint32_t mask)
{
    if (mask & (1u << FORGE_METHOD_GET))
        mask |= 1u << FORGE_METHOD_HEAD;
    return mask;
}

static const char *any_pattern(const rnode *n)
{
    for (int m = 0; m < FORGE_METHOD_COUNT; m++)
        if (n->methods & (1u << m))
            return n->leaf->patterns[m];
    return NULL;
}

/*
 * Copy `n` raw bytes to `out` (room for n + 1), stopping at the first '%' or
 * NUL; returns how many were copied. Values are short: a byte loop beats
 * memchr + memcpy here.
 */
static inline size_t copy_plain(const char *raw, size_t n, char *out)
{
    size_t i = 0;
    for (; i < n; i++) {
        char c = raw[i];
        if (c == '%' || c == '\0')
            break;
        out[i] = c;
    }
    return i;
}

/* Decode the spans into m->buf, each value NUL-terminated. */
static int decode_params(const search *s, forge_match *m)
{
    if (!m->buf)
        return FORGE_ETOOBIG;
    size_t used = 0;
    for (unsigned i = 0; i < s->nspans; i++) {
        const span *sp = &s->spans[i];
        const char *raw = s->path + sp->off;
        char *out = m->buf + used;
        size_t room = m->cap - used;
        long n;
        if (room > sp->len && copy_plain(raw, sp->len, out) == sp->len) {
            n = (long)sp->len;
        } else {
            /* escapes, a NUL, or maybe too little room: the full decoder says which */
            n = forge_pct_decode(raw, sp->len, out, room ? room - 1 : 0, false);
            if (n == FORGE_EINVAL) /* a NUL byte: as malformed as a bad escape in a path */
                return FORGE_EPARSE;
            if (n < 0)
                return (int)n;
        }
        out[n] = '\0';
        used += (size_t)n + 1;
        m->params[i].name = (forge_str){sp->node->name, sp->node->namelen};
        m->params[i].value = (forge_str){out, (size_t)n};
        m->nparams = (uint16_t)(i + 1);
    }
    return 0;
}

/*
 * The fully static pattern equal to `path`, from the exact table, or NULL.
 * A path with an escape is left to the walk (it compares decoded text).
 */
static const rnode *static_hit(const forge_router *r, const char *path, size_t len)
{
    if (len < 64 ? !(r->lens >> len & 1) : !r->long_lens)
        return NULL;
    uint32_t h = FORGE__RSTATIC_SEED;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '%')
            return NULL;
        h = forge__rstatic_step(h, c);
    }
    for (uint32_t i = h & (r->stab_cap - 1); r->stab[i].node; i = (i + 1) & (r->stab_cap - 1)) {
        const rstatic *e = &r->stab[i];
        if (e->hash == h && e->len == len && memcmp(e->text, path, len) == 0)
            return e->node;
    }
    return NULL;
}

int forge_router_lookup(const forge_router *r, forge_method method, const char *path, size_t len,
                        forge_match *m)
{
    m->value = NULL;
    m->pattern = NULL;
    m->allowed = 0;
    m->head_from_get = false;
    m->nparams = 0;
    if (!r || !path || len == 0 || path[0] != '/')
        return FORGE_ENOENT;
    search s;
    s.path = path;
    s.len = len;
    s.want = (unsigned)method < FORGE_METHOD_COUNT ? 1u << method : 0;
    if (method == FORGE_METHOD_HEAD)
        s.want |= 1u << FORGE_METHOD_GET;
    s.allowed = 0;
    s.near = NULL;
    s.nspans = 0;
    const rnode *n = static_hit(r, path, len);
    if (!n || !(n->methods & s.want))
        n = find(&r->root, 0, &s);
    if (!n) {
        if (!s.near)
            return FORGE_ENOENT;
        m->allowed = with_head(s.allowed);
        m->pattern = any_pattern(s.near);
        return FORGE_EMETHOD;
    }
    forge_method got = method;
    if (!(n->methods & (1u << method))) {
        got = FORGE_METHOD_GET;
        m->head_from_get = true;
    }
    m->pattern = n->leaf->patterns[got];
    m->allowed = with_head(n->methods);
    int rc = s.nspans ? decode_params(&s, m) : 0;
    if (rc == 0)
        m->value = n->leaf->values[got];
    else
        m->nparams = 0;
    return rc;
}

forge_str forge_match_param(const forge_match *m, const char *name)
{
    if (!m || !name)
        return FORGE_STR_NULL;
    size_t n = strlen(name);
    for (uint16_t i = 0; i < m->nparams; i++)
        if (m->params[i].name.n == n && memcmp(m->params[i].name.p, name, n) == 0)
            return m->params[i].value;
    return FORGE_STR_NULL;
}
