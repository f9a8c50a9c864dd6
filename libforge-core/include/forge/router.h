/*
 * Forge: the router. A radix tree over the decoded static text of patterns,
 * with per-method values.
 *
 * Patterns: static segments, `:name` or `{name}` (one whole, non-empty
 * segment), and a trailing `*name` (the rest of the path, possibly empty,
 * including '/'). Names are [A-Za-z0-9_]+. In static text ':' and '*' after a
 * segment's first byte are literal (`/v1/things:batchGet`) and percent
 * escapes are decoded (`/caf%C3%A9` is `/café`).
 *
 * Matching: the most specific match wins whatever the registration order:
 * at each segment a static child is tried first, then a parameter, then a
 * wildcard, backtracking when a deeper segment fails. The search is
 * method-aware: the first (most specific) pattern that has a value for the
 * method wins, so a wildcard still serves GET under a static path that only
 * has POST. `/a` and `/a/` are different paths (no redirects here).
 *
 * Encoded paths: static text is compared with the decoded path, so
 * `/%75sers` matches `/users`; an encoded '/' (%2F) never matches static text
 * nor ends a parameter (it decodes to '/' inside the value), and a malformed
 * escape never matches static text.
 *
 * Registering `/a/:x` beside `/a/:y` (or `*x` beside `*y`), or the same
 * method and pattern twice, fails with FORGE_ECONFLICT and a message naming
 * both patterns; a refused pattern leaves the router unchanged.
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
    forge_str value; /* percent-decoded, NUL-terminated, points into the match buffer */
} forge_param;

typedef struct forge_match {
    /* in: scratch space for decoded parameter values (each takes its length + 1);
       `len` bytes (the raw path's length) always suffice */
    char *buf;
    size_t cap;
    /* out (all written by every lookup) */
    void *value;         /* the value registered for the method; NULL unless FORGE_OK */
    const char *pattern; /* the pattern that matched (router-owned); on FORGE_EMETHOD the
                            most specific pattern matching the path; else NULL */
    uint32_t allowed;    /* FORGE_OK: methods of the matched pattern; FORGE_EMETHOD: of every
                            pattern matching the path. HEAD is included wherever GET is. */
    bool head_from_get;  /* HEAD answered by the GET value (automatic HEAD) */
    uint16_t nparams;
    forge_param params[FORGE_ROUTER_MAX_PARAMS];
} forge_match;

FORGE_API forge_router *forge_router_new(void);
FORGE_API void forge_router_free(forge_router *r);

/*
 * Register `value` (may be NULL) for `method` at `pattern` (must start with
 * '/'; copied). Errors: FORGE_EINVAL (unknown method; malformed pattern: empty
 * or invalid parameter name, a name used twice, wildcard not last, more than
 * FORGE_ROUTER_MAX_PARAMS parameters, braces inside a segment, a malformed
 * escape, an encoded '/' or NUL, a space, control byte, '?' or '#'),
 * FORGE_ECONFLICT (duplicates, differently named parameters or wildcards at
 * one position), FORGE_ENOMEM. `err->key` is the pattern and the message
 * names it (and the registered pattern it conflicts with).
 */
FORGE_API int forge_router_add(forge_router *r, forge_method method, const char *pattern,
                               void *value, forge_error *err);

/*
 * Look up the raw (still percent-encoded) `path` of `len` bytes (no query).
 * Returns FORGE_OK (m->value set), FORGE_ENOENT (no path matches; also a path
 * not starting with '/'), FORGE_EMETHOD (the path matches, the method does
 * not; m->allowed says which do: answer 405 with Allow, or OPTIONS),
 * FORGE_EPARSE (a malformed percent escape or a NUL byte (encoded or raw) in a matched
 * parameter: answer 400) or FORGE_ETOOBIG (m->buf too small for the decoded
 * parameters). `method` may be FORGE_METHOD_UNKNOWN (then never FORGE_OK).
 * A HEAD request with no HEAD value but a GET value gets the GET value and
 * m->head_from_get. Allocates nothing.
 */
FORGE_API int forge_router_lookup(const forge_router *r, forge_method method, const char *path,
                                  size_t len, forge_match *m);

/* The value of a parameter of a match by name; {NULL,0} when absent. Linear in nparams. */
FORGE_API forge_str forge_match_param(const forge_match *m, const char *name);

/*
 * Visit every (method, pattern, value) in pattern order: by decoded static
 * text byte by byte, static before parameter before wildcard at a position,
 * methods in enum order. Stops when fn returns non-zero and returns that
 * value (0 after a full walk; FORGE_EINVAL without fn).
 */
typedef int (*forge_router_visit_fn)(forge_method method, const char *pattern, void *value,
                                     void *udata);
FORGE_API int forge_router_walk(const forge_router *r, forge_router_visit_fn fn, void *udata);

/* Number of registered (method, pattern) pairs. */
FORGE_API size_t forge_router_count(const forge_router *r);

#endif
