/*
 * Forge: the router. A radix tree per path shape with per-method values.
 *
 * Patterns: static segments, `:name` or `{name}` (one whole segment), and a
 * trailing `*name` (the rest of the path, possibly empty, including '/').
 * The most specific match wins whatever the registration order: at each
 * segment a static child is tried first, then a parameter, then a wildcard,
 * backtracking when a deeper segment fails.
 * Registering `/a/:x` beside `/a/:y`, or the same method and pattern twice,
 * fails with FORGE_ECONFLICT and a message naming both patterns.
 *
 * The router stores an opaque value per (method, pattern); the app layer
 * keeps its route records there. Lookups allocate nothing on the heap: the
 * match and the buffer for decoded parameters belong to the caller.
 *
 * Thread safety: adding is single-threaded (at load); lookups on a router
 * that is no longer modified are safe from any number of threads.
 */
#ifndef FORGE_ROUTER_H
#define FORGE_ROUTER_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/http.h>

#define FORGE_ROUTER_MAX_PARAMS 16

typedef struct forge_param {
    forge_str name;  /* points into the router (valid while it lives) */
    forge_str value; /* percent-decoded, points into the match buffer */
} forge_param;

typedef struct forge_match {
    /* in: scratch space for decoded parameter values */
    char *buf;
    size_t cap;
    /* out */
    void *value;            /* the value registered for the method, or NULL */
    const char *pattern;    /* the registered pattern that matched (router-owned) */
    uint32_t allowed;       /* mask of methods registered at the matched path */
    bool head_from_get;     /* HEAD answered by the GET value (automatic HEAD) */
    uint16_t nparams;
    forge_param params[FORGE_ROUTER_MAX_PARAMS];
} forge_match;

FORGE_API forge_router *forge_router_new(void);
FORGE_API void forge_router_free(forge_router *r);

/*
 * Register `value` for `method` at `pattern` (must start with '/').
 * Errors: FORGE_EINVAL (malformed pattern: empty parameter name, wildcard not
 * last, too many parameters...), FORGE_ECONFLICT (duplicates, differently
 * named parameters at one position), FORGE_ENOMEM. `err` names the pattern.
 */
FORGE_API int forge_router_add(forge_router *r, forge_method method, const char *pattern,
                               void *value, forge_error *err);

/*
 * Look up the raw (still percent-encoded) `path` of `len` bytes.
 * Returns FORGE_OK (m->value set), FORGE_ENOENT (no path matches),
 * FORGE_EMETHOD (the path matches, the method does not; m->allowed says which
 * do), FORGE_EPARSE (a malformed percent escape in a matched parameter) or
 * FORGE_ETOOBIG (m->buf too small for the decoded parameters).
 * A HEAD request with no HEAD value but a GET value gets the GET value and
 * m->head_from_get. Allocates nothing.
 */
FORGE_API int forge_router_lookup(const forge_router *r, forge_method method, const char *path,
                                  size_t len, forge_match *m);

/* The value of a parameter of a match by name; {NULL,0} when absent. */
FORGE_API forge_str forge_match_param(const forge_match *m, const char *name);

/* Visit every (method, pattern, value) in pattern order. Stops when fn returns non-zero. */
typedef int (*forge_router_visit_fn)(forge_method method, const char *pattern, void *value,
                                     void *udata);
FORGE_API int forge_router_walk(const forge_router *r, forge_router_visit_fn fn, void *udata);

/* Number of registered (method, pattern) pairs. */
FORGE_API size_t forge_router_count(const forge_router *r);

#endif
