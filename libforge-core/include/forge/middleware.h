/*
 * Forge: middleware.
 *
 * Middleware runs around handlers, ordered by priority (lower first; equal
 * priorities keep registration order). App-wide middleware (forge_app_use)
 * runs outside group middleware. For each request, `before` runs in order; it
 * returns FORGE_NEXT to continue, FORGE_DONE to short-circuit (it has set the
 * response), or a negative code (turned into a problem+json 500). Then the
 * handler, then `after` in reverse order for every middleware whose `before`
 * ran (also on short-circuit and error, also after async completion).
 * `on_start`/`on_stop` are called when the app's services start and stop.
 */
#ifndef FORGE_MIDDLEWARE_H
#define FORGE_MIDDLEWARE_H

#include <forge/common.h>
#include <forge/error.h>

typedef struct forge_middleware {
    const char *name;
    int priority;
    int (*before)(forge_req *req, void *udata);
    void (*after)(forge_req *req, void *udata);
    int (*on_start)(forge_app *app, void *udata, forge_error *err);
    void (*on_stop)(forge_app *app, void *udata);
    void *udata;
    void *reserved[4];
} forge_middleware;

/* Priorities of the built-ins; app middleware defaults to 0. */
#define FORGE_MW_PRIO_REQUEST_ID (-1000)
#define FORGE_MW_PRIO_ACCESS_LOG (-900)
#define FORGE_MW_PRIO_ERRORS     (-800)

/* Add app-wide middleware. The struct is copied. */
FORGE_API int forge_app_use(forge_app *app, const forge_middleware *mw, forge_error *err);

/*
 * Built-in middleware, installed by default (config `http.middleware.*` turns
 * them off): request id (honours a valid incoming X-Request-ID, else makes
 * one, and echoes it in the response), access log (one structured line per
 * request), error mapping (a handler's negative result or a 5xx without a
 * body becomes a problem+json body).
 */
FORGE_API const forge_middleware *forge_mw_request_id(void);
FORGE_API const forge_middleware *forge_mw_access_log(void);
FORGE_API const forge_middleware *forge_mw_errors(void);

#endif
