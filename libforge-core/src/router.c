/*
 * The router: building the tree (add, conflict checks), walking it, freeing.
 * Lookups are in router_lookup.c, pattern syntax in router_pattern.c.
 *
 * Thread safety: building is single-threaded; see router.h.
 */
#include "router_tree.h"

#include <stdlib.h>
#include <string.h>

forge_router *forge_router_new(void)
{
    return calloc(1, sizeof(forge_router));
}

static void node_fini(rnode *n)
{
    for (uint16_t i = 0; i < n->nkids; i++) {
        node_fini(n->kids[i]);
        free(n->kids[i]);
    }
    if (n->param) {
        node_fini(n->param);
        free(n->param);
    }
    if (n->wild) {
        node_fini(n->wild);
        free(n->wild);
    }
    if (n->leaf) {
        for (int m = 0; m < FORGE_METHOD_COUNT; m++)
            free(n->leaf->patterns[m]);
        free(n->leaf);
    }
    free(n->kids);
    free((void *)n->idx);
    free((void *)n->prefix);
    free(n->name);
    free(n->origin);
}

void forge_router_free(forge_router *r)
{
    if (!r)
        return;
    node_fini(&r->root);
    for (uint32_t i = 0; i < r->stab_cap; i++)
        free(r->stab[i].text);
    free(r->stab);
    free(r);
}

static void stab_put(rstatic *tab, uint32_t cap, rstatic e)
{
    uint32_t i = e.hash & (cap - 1);
    while (tab[i].node)
        i = (i + 1) & (cap - 1);
    tab[i] = e;
}

/*
 * Enter node `n`, reached by the static text `s`, in the exact table (once:
 * a node serves every method registered on it). On ENOMEM the table lacks
 * the pattern and lookups walk the tree for it: same results, slower.
 */
static void stab_add(forge_router *r, const rnode *n, const char *s, size_t len)
{
    uint32_t h = forge__rstatic_hash(s, len);
    for (uint32_t i = r->stab_cap ? h & (r->stab_cap - 1) : 0; r->stab_cap && r->stab[i].node;
         i = (i + 1) & (r->stab_cap - 1))
        if (r->stab[i].node == n)
            return;
    if ((r->stab_n + 1) * 2 > r->stab_cap) {
        uint32_t cap = r->stab_cap ? r->stab_cap * 2 : 16;
        rstatic *tab = calloc(cap, sizeof(*tab));
        if (!tab)
            return;
        for (uint32_t i = 0; i < r->stab_cap; i++)
            if (r->stab[i].node)
                stab_put(tab, cap, r->stab[i]);
        free(r->stab);
        r->stab = tab;
        r->stab_cap = cap;
    }
    char *text = malloc(len ? len : 1);
    if (!text)
        return;
    memcpy(text, s, len);
    stab_put(r->stab, r->stab_cap, (rstatic){n, text, (uint32_t)len, h});
    r->stab_n++;
    if (len < 64)
        r->lens |= 1ull << len;
    else
        r->long_lens = true;
}

/* Index of the static child of `n` starting with byte `c`, or -1. */
static int kid_index(const rnode *n, unsigned char c)
{
    for (uint16_t i = 0; i < n->nkids; i++)
        if (n->idx[i] == c)
            return i;
    return -1;
}

/* The node at the end of static text `s` under `n`, if it exists exactly. */
static rnode *find_static(rnode *n, const char *s, size_t len)
{
    while (len) {
        int i = kid_index(n, (unsigned char)s[0]);
        if (i < 0)
            return NULL;
        rnode *k = n->kids[i];
        if (k->plen > len || memcmp(k->prefix, s, k->plen) != 0)
            return NULL;
        s += k->plen;
        len -= k->plen;
        n = k;
    }
    return n;
}

static int conflict(forge_error *err, const char *pattern, const char *other, const char *why)
{
    return forge_error_setk(err, FORGE_ECONFLICT, pattern,
                            "route pattern '%s' conflicts with '%s': %s", pattern, other, why);
}

/* Refuse `pattern` if it clashes with what is registered; changes nothing. */
static int check(forge_router *r, forge_method method, const char *pattern, const rpattern *p,
                 forge_error *err)
{
    rnode *n = &r->root;
    for (size_t t = 0; t < p->ntoks && n; t++) {
        const rtok *tok = &p->toks[t];
        if (tok->kind == RNODE_STATIC) {
            n = find_static(n, tok->s, tok->n);
            continue;
        }
        rnode *k = tok->kind == RNODE_PARAM ? n->param : n->wild;
        if (k && (k->namelen != tok->n || memcmp(k->name, tok->s, tok->n) != 0))
            return conflict(err, pattern, k->origin,
                            tok->kind == RNODE_PARAM
                                ? "differently named parameters at the same position"
                                : "differently named wildcards at the same position");
        n = k;
    }
    if (n && (n->methods & (1u << method)))
        return conflict(err, pattern, n->leaf->patterns[method],
                        "the same method is already registered for this path");
    return 0;
}

static rnode *new_node(uint8_t kind, const char *prefix, size_t plen)
{
    rnode *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    if (plen) {
        char *p = malloc(plen);
        if (!p) {
            free(n);
            return NULL;
        }
        memcpy(p, prefix, plen);
        n->prefix = p;
        n->plen = (uint32_t)plen;
        n->pct = memchr(p, '%', plen) != NULL;
    }
    return n;
}

/* Insert static child `k` into `n`, keeping idx sorted. */
static int add_kid(rnode *n, rnode *k)
{
    rnode **kids = realloc(n->kids, (n->nkids + 1u) * sizeof(*kids));
    if (!kids)
        return FORGE_ENOMEM;
    n->kids = kids;
    uint8_t *idx = realloc((void *)n->idx, n->nkids + 1u);
    if (!idx)
        return FORGE_ENOMEM;
    n->idx = idx;
    unsigned char c = (unsigned char)k->prefix[0];
    uint16_t at = 0;
    while (at < n->nkids && idx[at] < c)
        at++;
    memmove(kids + at + 1, kids + at, (n->nkids - at) * sizeof(*kids));
    memmove(idx + at + 1, idx + at, n->nkids - at);
    kids[at] = k;
    idx[at] = c;
    n->nkids++;
    return 0;
}

/* Split child `i` of `n` after `c` bytes of its prefix; returns the new middle node. */
static rnode *split(rnode *n, int i, size_t c)
{
    rnode *k = n->kids[i];
    rnode *mid = new_node(RNODE_STATIC, k->prefix, c);
    char *rest = malloc(k->plen - c);
    rnode **kids = malloc(sizeof(*kids));
    uint8_t *idx = malloc(1);
    if (!mid || !rest || !kids || !idx) {
        if (mid)
            free((void *)mid->prefix);
        free(mid), free(rest), free(kids), free(idx);
        return NULL;
    }
    memcpy(rest, k->prefix + c, k->plen - c);
    free((void *)k->prefix);
    k->prefix = rest;
    k->plen -= (uint32_t)c;
    k->pct = memchr(rest, '%', k->plen) != NULL;
    kids[0] = k;
    idx[0] = (uint8_t)rest[0];
    mid->kids = kids;
    mid->idx = idx;
    mid->nkids = 1;
    n->kids[i] = mid;
    return mid;
}

/* The node at the end of static text `s` under `n`, created as needed. */
static rnode *insert_static(rnode *n, const char *s, size_t len)
{
    while (len) {
        int i = kid_index(n, (unsigned char)s[0]);
        if (i < 0) {
            rnode *k = new_node(RNODE_STATIC, s, len);
            if (!k || add_kid(n, k)) {
                if (k)
                    node_fini(k);
                free(k);
                return NULL;
            }
            return k;
        }
        rnode *k = n->kids[i];
        size_t c = 0, max = k->plen < len ? k->plen : len;
        while (c < max && k->prefix[c] == s[c])
            c++;
        if (c < k->plen && !(k = split(n, i, c)))
            return NULL;
        s += c;
        len -= c;
        n = k;
    }
    return n;
}

static rnode *insert_var(rnode *n, const rtok *tok, const char *pattern)
{
    rnode **slot = tok->kind == RNODE_PARAM ? &n->param : &n->wild;
    if (*slot)
        return *slot;
    rnode *k = new_node(tok->kind, NULL, 0);
    if (!k)
        return NULL;
    k->name = strndup(tok->s, tok->n);
    k->namelen = (uint32_t)tok->n;
    k->origin = strdup(pattern);
    if (!k->name || !k->origin) {
        node_fini(k);
        free(k);
        return NULL;
    }
    return *slot = k;
}

/*
 * On ENOMEM part of the path may have been created: such nodes carry no
 * leaf and change no lookup result, so the router stays usable.
 */
static int insert(forge_router *r, forge_method method, const char *pattern, const rpattern *p,
                  void *value)
{
    rnode *n = &r->root;
    for (size_t t = 0; t < p->ntoks && n; t++) {
        const rtok *tok = &p->toks[t];
        n = tok->kind == RNODE_STATIC ? insert_static(n, tok->s, tok->n)
                                      : insert_var(n, tok, pattern);
    }
    if (!n || (!n->leaf && !(n->leaf = calloc(1, sizeof(*n->leaf)))))
        return FORGE_ENOMEM;
    char *copy = strdup(pattern);
    if (!copy)
        return FORGE_ENOMEM;
    n->leaf->patterns[method] = copy;
    n->leaf->values[method] = value;
    n->methods |= (uint16_t)(1u << method);
    r->count++;
    if (p->ntoks == 1 && p->toks[0].kind == RNODE_STATIC)
        stab_add(r, n, p->toks[0].s, p->toks[0].n);
    return 0;
}

int forge_router_add(forge_router *r, forge_method method, const char *pattern, void *value,
                     forge_error *err)
{
    if (!r)
        return forge_error_set(err, FORGE_EINVAL, "router is NULL");
    if ((unsigned)method >= FORGE_METHOD_COUNT)
        return forge_error_setk(err, FORGE_EINVAL, pattern ? pattern : "",
                                "route pattern '%s': unknown method", pattern ? pattern : "");
    rpattern p;
    int rc = forge__rpattern_parse(pattern, &p, err);
    if (rc)
        return rc;
    rc = check(r, method, pattern, &p, err);
    if (!rc && (rc = insert(r, method, pattern, &p, value)))
        forge_error_setk(err, rc, pattern, "route pattern '%s': out of memory", pattern);
    free(p.text);
    return rc;
}

static int walk(const rnode *n, forge_router_visit_fn fn, void *udata)
{
    int rc;
    if (n->leaf)
        for (int m = 0; m < FORGE_METHOD_COUNT; m++)
            if ((n->methods & (1u << m)) &&
                (rc = fn((forge_method)m, n->leaf->patterns[m], n->leaf->values[m], udata)))
                return rc;
    for (uint16_t i = 0; i < n->nkids; i++)
        if ((rc = walk(n->kids[i], fn, udata)))
            return rc;
    if (n->param && (rc = walk(n->param, fn, udata)))
        return rc;
    if (n->wild && (rc = walk(n->wild, fn, udata)))
        return rc;
    return 0;
}

int forge_router_walk(const forge_router *r, forge_router_visit_fn fn, void *udata)
{
    if (!r || !fn)
        return FORGE_EINVAL;
    return walk(&r->root, fn, udata);
}

size_t forge_router_count(const forge_router *r)
{
    return r ? r->count : 0;
}
