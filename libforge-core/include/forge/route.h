/*
 * Forge: declaring routes, groups and their metadata on an app.
 *
 * Routes are registered while the app's init function runs (single thread).
 * Patterns follow router.h. Metadata is kept for OpenAPI generation and for
 * `forge routes`; strings passed in opts are copied.
 */
#ifndef FORGE_ROUTE_H
#define FORGE_ROUTE_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/http.h>
#include <forge/middleware.h>

/*
 * A handler returns FORGE_OK when the response is ready, FORGE_ASYNC when
 * something will call forge_req_finish later, or a negative FORGE_E* code,
 * which the error middleware turns into a problem+json 500 (never a dropped
 * connection).
 */
typedef int (*forge_handler_fn)(forge_req *req, void *udata);

/* Route flags. */
#define FORGE_ROUTE_BLOCKING 0x1u /* may block: runs on the thread pool on event-loop hosts */
#define FORGE_ROUTE_INTERNAL 0x2u /* built-in endpoint (/_/...), hidden from OpenAPI */

typedef struct forge_param_doc {
    const char *name;
    const char *in; /* "path", "query", "header" */
    const char *description;
    const char *type; /* "string", "integer", ... */
    bool required;
} forge_param_doc;

typedef struct forge_route_opts {
    const char *name; /* operation id */
    const char *summary;
    const char *description;
    const char *const *tags; /* NULL-terminated, may be NULL */
    const forge_param_doc *params;
    size_t nparams;
    unsigned flags;  /* FORGE_ROUTE_* */
    size_t max_body; /* bytes; 0: the app's http.max_body_size */
    void *reserved[4];
} forge_route_opts;

/* What is kept of a registered route (read-only view). */
typedef struct forge_route_info {
    forge_method method;
    const char *pattern; /* full pattern including group prefixes */
    const forge_route_opts *opts;
} forge_route_info;

typedef struct forge_group forge_group;

/*
 * Register a handler. `method` is a method name ("GET"); `opts` may be NULL.
 * Errors: FORGE_EINVAL (unknown method, bad pattern), FORGE_ECONFLICT.
 */
FORGE_API int forge_app_route(forge_app *app, const char *method, const char *pattern,
                              forge_handler_fn fn, void *udata, const forge_route_opts *opts,
                              forge_error *err);

/* A group of routes under a path prefix, with its own middleware. App-owned. */
FORGE_API forge_group *forge_app_group(forge_app *app, const char *prefix);
FORGE_API forge_group *forge_group_group(forge_group *parent, const char *prefix);
FORGE_API int forge_group_use(forge_group *g, const forge_middleware *mw, forge_error *err);
FORGE_API int forge_group_route(forge_group *g, const char *method, const char *pattern,
                                forge_handler_fn fn, void *udata, const forge_route_opts *opts,
                                forge_error *err);

/* Visit registered routes (for OpenAPI, `forge routes`, /_/info). Stops on non-zero. */
typedef int (*forge_route_visit_fn)(const forge_route_info *info, void *udata);
FORGE_API int forge_app_routes(const forge_app *app, forge_route_visit_fn fn, void *udata);

#endif
