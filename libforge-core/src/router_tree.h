/*
 * The router's tree, shared by router.c (building), router_pattern.c
 * (parsing patterns) and router_lookup.c (matching). Private to the core.
 *
 * Shape: a byte-wise radix tree over the *decoded* static text of patterns
 * ('/' included), where a node whose text ends at a segment start ('/') may
 * also have one parameter child (`:name`, one whole non-empty segment) and
 * one wildcard child (`*name`, the rest of the path). A parameter node has no
 * text of its own; its static children start with '/'. A wildcard node is
 * always a leaf.
 *
 * Invariants:
 * - the static children of a node have distinct first bytes, kept sorted in
 *   `idx` (so a walk visits patterns in byte order) and parallel to `kids`;
 * - every node but the root has a non-empty prefix or is a param/wild node;
 * - `methods` has bit m set iff `leaf->values[m]` was registered (values may
 *   be NULL; the bit is what counts);
 * - at most FORGE_ROUTER_MAX_PARAMS param/wild nodes lie on any root path.
 *
 * Ownership: the router owns every node, prefix, name, pattern copy and
 * leaf; values are the caller's and never touched.
 */
#ifndef FORGE_ROUTER_TREE_H
#define FORGE_ROUTER_TREE_H

#include "internal.h"

enum { RNODE_STATIC = 0, RNODE_PARAM = 1, RNODE_WILD = 2 };

typedef struct rleaf {
    void *values[FORGE_METHOD_COUNT];
    char *patterns[FORGE_METHOD_COUNT]; /* as registered, NUL-terminated copies */
} rleaf;

/* Hot fields (read by every lookup step) first: they fit in one cache line. */
typedef struct rnode {
    const char *prefix; /* decoded static text (not NUL-terminated); owned */
    uint32_t plen;
    uint16_t nkids;
    uint16_t methods;    /* bit per forge_method with a value here */
    const uint8_t *idx;  /* first byte of each static child, sorted */
    struct rnode **kids; /* static children, parallel to idx */
    struct rnode *param; /* `:name` child, or NULL */
    struct rnode *wild;  /* `*name` child, or NULL */
    rleaf *leaf;         /* values, when a pattern ends here */
    bool pct;            /* prefix holds a '%' (from "%25"): raw memcmp could match a
                            path's escape as a literal '%', so always compare decoding */
    /* cold */
    uint8_t kind; /* RNODE_* */
    uint32_t namelen;
    char *name;   /* param / wildcard name, NUL-terminated */
    char *origin; /* the first pattern that created this param/wild node */
} rnode;

/*
 * Exact table of the fully static patterns (no parameter, no wildcard), by
 * their decoded text: a path without escapes that equals one is matched by
 * one hash probe instead of a walk (the walk would reach the same node: a
 * pattern with only static text is the most specific match there is).
 * Open addressing, at most half full; `lens` has bit L set when a pattern
 * of L < 64 bytes exists (`long_lens`: one of 64 or more), so most paths
 * that cannot hit skip the hashing.
 */
typedef struct rstatic {
    const rnode *node; /* NULL: empty slot */
    char *text;        /* decoded static text, owned */
    uint32_t len, hash;
} rstatic;

struct forge_router {
    rnode root; /* empty prefix; its only static child starts with '/' */
    size_t count;
    rstatic *stab;
    uint32_t stab_cap, stab_n; /* cap: a power of two, or 0 */
    uint64_t lens;
    bool long_lens;
};

/* FNV-1a of a static text; the lookup takes the same steps over a path's bytes. */
#define FORGE__RSTATIC_SEED 2166136261u
static inline uint32_t forge__rstatic_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

static inline uint32_t forge__rstatic_hash(const char *s, size_t n)
{
    uint32_t h = FORGE__RSTATIC_SEED;
    for (size_t i = 0; i < n; i++)
        h = forge__rstatic_step(h, (unsigned char)s[i]);
    return h;
}

/* A parsed pattern: alternating static text and parameters. */
typedef struct rtok {
    uint8_t kind;  /* RNODE_* */
    const char *s; /* static: decoded text; param/wild: name */
    size_t n;
} rtok;

#define RPAT_MAX_TOKS (2 * FORGE_ROUTER_MAX_PARAMS + 2)

typedef struct rpattern {
    rtok toks[RPAT_MAX_TOKS];
    size_t ntoks;
    char *text; /* owns the decoded static text the tokens point into */
} rpattern;

/*
 * Parse and validate `pattern` into `out` (free out->text after use).
 * FORGE_EINVAL with a message naming the pattern, or FORGE_ENOMEM.
 */
int forge__rpattern_parse(const char *pattern, rpattern *out, forge_error *err);

#endif
