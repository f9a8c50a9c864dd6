/*
 * Dispatch: from a filled request to a response handed to the host.
 *
 * Routing is done once per request (forge_req_body_limit may do it before
 * dispatch so the host can refuse a large body without reading it). The
 * match and its parameter buffer live in the request record, so a lookup
 * allocates nothing. Responses Forge makes itself (404, 405, OPTIONS, 413,
 * 400, 501, 503) run as handlers behind the app-wide middleware, so they get
 * request ids and access log lines like any other.
 *
 * Threads: dispatch runs on the host thread. A FORGE_ROUTE_BLOCKING route on
 * a host without FORGE_HOST_CAN_BLOCK runs its handler and the after-halves
 * on the runtime pool; the befores have run here already. A before that
 * defers blocking work (forge__mw_defer: Redis rate limits, token
 * introspection) moves the rest of the request (its work, the remaining
 * befores, the handler, the afters) to the pool the same way.
 */
#include "request_impl.h"

#include <stdio.h>
#include <string.h>

static bool ishex(char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Every '%' starts a two-digit escape, and none encodes NUL. */
static bool pct_valid(forge_str s)
{
    const char *p = s.n ? memchr(s.p, '%', s.n) : NULL;
    if (!p)
        return true;
    const char *end = s.p + s.n;
    for (; p < end; p++) {
        if (*p != '%')
            continue;
        if (end - p < 3 || !ishex(p[1]) || !ishex(p[2]) || (p[1] == '0' && p[2] == '0'))
            return false;
        p += 2;
    }
    return true;
}

int forge__req_route(forge_req *req)
{
    if (req->routed)
        return req->route_rc;
    req->routed = true;
    req->route = NULL;
    if (req->method == FORGE_METHOD_UNKNOWN || !req->raw_path.p)
        return req->route_rc = FORGE_EINVAL;
    forge_match *m = &req->match;
    m->buf = req->param_buf;
    m->cap = sizeof(req->param_buf);
    if (req->raw_path.n >= m->cap) {
        /* Decoded parameters are never longer than the raw path. */
        m->buf = forge_arena_alloc(req->arena, req->raw_path.n + 1);
        m->cap = req->raw_path.n + 1;
        if (!m->buf)
            return req->route_rc = FORGE_ENOMEM;
    }
    int rc =
        forge_router_lookup(req->app->router, req->method, req->raw_path.p, req->raw_path.n, m);
    if (rc == FORGE_OK)
        req->route = m->value;
    return req->route_rc = rc;
}

size_t forge_req_body_limit(forge_req *req)
{
    forge__req_route(req);
    return req->route ? req->route->max_body : req->app->routes->max_body;
}

/* ---- responses Forge makes itself ---- */

static int allow_header(forge_req *req)
{
    char buf[96];
    size_t n = 0;
    uint32_t mask = req->match.allowed;
    if (mask & (1u << FORGE_METHOD_GET))
        mask |= 1u << FORGE_METHOD_HEAD;
    mask |= 1u << FORGE_METHOD_OPTIONS;
    for (int m = 0; m < FORGE_METHOD_COUNT; m++) {
        if (!(mask & (1u << m)))
            continue;
        int w = snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? ", " : "",
                         forge_method_name((forge_method)m));
        if (w < 0 || (size_t)w >= sizeof(buf) - n)
            break;
        n += (size_t)w;
    }
    return forge_res_set_header(req, "Allow", buf);
}

static int h_not_found(forge_req *req, void *u)
{
    return forge_res_problem(req, 404, NULL, "No route matches the request path.");
}

static int h_method_not_allowed(forge_req *req, void *u)
{
    int rc = allow_header(req);
    return rc < 0 ? rc
                  : forge_res_problem(req, 405, NULL,
                                      "The method is not allowed for this path; see Allow.");
}

static int h_options(forge_req *req, void *u)
{
    forge_res_status(req, 204);
    return allow_header(req);
}

static int h_too_large(forge_req *req, void *u)
{
    char detail[96];
    snprintf(detail, sizeof(detail), "The request body exceeds the limit of %zu bytes.",
             forge_req_body_limit(req));
    return forge_res_problem(req, 413, NULL, detail);
}

static int h_bad_field(forge_req *req, void *u)
{
    return forge_res_problem(req, 400, NULL,
                             "A request header value contains a control character.");
}

static int h_bad_target(forge_req *req, void *u)
{
    return forge_res_problem(req, 400, NULL,
                             "The request target contains malformed percent-encoding.");
}

static int h_not_implemented(forge_req *req, void *u)
{
    return forge_res_problem(req, 501, NULL, "The request method is not supported.");
}

static int h_unavailable(forge_req *req, void *u)
{
    forge_res_set_header(req, "Retry-After", "1");
    return forge_res_problem(req, 503, NULL, "The server is busy; try again shortly.");
}

/* The declared or received body size exceeds the route's limit. */
static bool body_too_large(forge_req *req, size_t limit)
{
    if (req->body_len_claimed > limit || req->body.n > limit)
        return true;
    if (!req->hdr_content_length)
        return false;
    forge_str cl = req->headers[req->hdr_content_length - 1].value;
    uint64_t v = 0;
    for (size_t i = 0; i < cl.n; i++) {
        if (cl.p[i] < '0' || cl.p[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false; /* malformed lengths are the host's to refuse */
        v = v * 10 + (uint64_t)(cl.p[i] - '0');
    }
    return v > limit;
}

static int h_no_memory(forge_req *req, void *u)
{
    return FORGE_ENOMEM;
}

/*
 * The handler may outlive the host's memory (pool, FORGE_ASYNC, client gone):
 * give it a body of its own. Copied once, after the size check.
 */
static int own_body(forge_req *req)
{
    if (req->body_owned || req->body.n == 0)
        return FORGE_OK;
    char *b = forge_arena_alloc(req->arena, req->body.n + 1);
    if (!b)
        return FORGE_ENOMEM;
    memcpy(b, req->body.p, req->body.n);
    b[req->body.n] = '\0';
    req->body.p = b;
    req->body_owned = true;
    return FORGE_OK;
}

typedef struct target {
    forge_handler_fn fn;
    void *udata;
    bool pool; /* run fn and the afters on the runtime pool */
} target;

static target choose(forge_req *req)
{
    const struct forge__routes *rs = req->app->routes;
    req->chain = &rs->app_chain;
    if (req->oom)
        return (target){h_no_memory, NULL, false};
    if (req->method == FORGE_METHOD_UNKNOWN)
        return (target){h_not_implemented, NULL, false};
    if (req->bad_field)
        return (target){h_bad_field, NULL, false};
    if (!pct_valid(req->raw_path) || !pct_valid(req->query))
        return (target){h_bad_target, NULL, false};
    switch (forge__req_route(req)) {
    case FORGE_OK:
        break;
    case FORGE_EMETHOD:
        if (req->method == FORGE_METHOD_OPTIONS)
            return (target){h_options, NULL, false};
        return (target){h_method_not_allowed, NULL, false};
    case FORGE_EPARSE:
    case FORGE_EINVAL:
        return (target){h_bad_target, NULL, false};
    default:
        return (target){h_not_found, NULL, false};
    }
    const forge__route *rt = req->route;
    if (body_too_large(req, rt->max_body))
        return (target){h_too_large, NULL, false};
    if (own_body(req) < 0)
        return (target){h_no_memory, NULL, false};
    req->chain = &rt->chain;
    bool pool = (rt->opts.flags & FORGE_ROUTE_BLOCKING) &&
                !(req->host->ops.flags & FORGE_HOST_CAN_BLOCK) && req->app->runtime;
    return (target){rt->fn, rt->udata, pool};
}

/*
 * A handler or a before failed: throw away what the handler built (keeping
 * the headers the befores set) and leave a 500 for the error mapper.
 */
static void fail(forge_req *req, int rc, size_t headers_mark)
{
    req->handler_rc = rc;
    if (req->head_committed)
        return;
    req->status = 500;
    if (req->nres_headers > headers_mark)
        req->nres_headers = headers_mark;
    forge_res_remove_header(req, "Content-Type");
    req->res_body = NULL;
    req->res_body_len = 0;
    req->res_body_cap = 0;
}

/* Returns true when the response is complete (the caller completes it). */
static bool handler_returned(forge_req *req, int rc, size_t headers_mark)
{
    if (rc == FORGE_ASYNC) {
        pthread_mutex_lock(&req->mu);
        forge__req_share(req); /* whoever got the request may finish it from now on */
        bool fin = req->finish_requested;
        if (!fin) {
            req->phase = FORGE__ASYNC;
            req->inline_run = false;
        }
        pthread_mutex_unlock(&req->mu);
        return fin;
    }
    if (rc < 0)
        fail(req, rc, headers_mark);
    return true;
}

static void pool_task(void *arg)
{
    forge_req *req = arg;
    const forge__route *rt = req->route;
    size_t mark = req->nres_headers;
    if (handler_returned(req, rt->fn(req, rt->udata), mark)) {
        forge__req_complete(req);
        forge__req_unref(req);
    }
}

/* Complete on the host thread, hand the response over, drop the work reference. */
static int finish_inline(forge_req *req)
{
    forge__req_complete(req);
    int rc = forge__req_drain(req);
    bool locked = forge__req_lock(req);
    req->inline_run = false;
    forge__req_unlock(req, locked);
    forge__req_unref(req);
    return rc;
}

int forge__mw_defer(forge_req *req, int (*fn)(forge_req *req, void *arg), void *arg)
{
    if (!req || !fn || req->defer_fn)
        return FORGE_ESTATE;
    req->defer_fn = fn;
    req->defer_arg = arg;
    return FORGE_ASYNC;
}

/* Run deferred work and the befores after it until none defers. */
static int run_deferred(forge_req *req, int rc)
{
    while (rc == FORGE_ASYNC && req->defer_fn) {
        int (*fn)(forge_req *, void *) = req->defer_fn;
        req->defer_fn = NULL;
        rc = fn(req, req->defer_arg);
        if (rc == FORGE_NEXT || rc == FORGE_OK)
            rc = forge__mw_run_before(req);
    }
    return rc == FORGE_ASYNC ? FORGE_EINVAL : rc; /* deferred work cannot itself go async */
}

/* On the pool: the deferred work, the rest of the befores, the handler, the afters. */
static void defer_task(void *arg)
{
    forge_req *req = arg;
    int rc = run_deferred(req, FORGE_ASYNC);
    size_t mark = req->nres_headers;
    if (rc == FORGE_NEXT) {
        if (!handler_returned(req, req->target_fn(req, req->target_udata), mark))
            return;
    } else if (rc < 0) {
        fail(req, rc, mark);
    }
    forge__req_complete(req);
    forge__req_unref(req);
}

int forge_req_dispatch(forge_req *req)
{
    if (!req || req->phase != FORGE__NEW)
        return FORGE_ESTATE;
    atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed); /* the work reference */
    clock_gettime(CLOCK_MONOTONIC, &req->t_start);
    /* No other thread knows the request yet: plain stores. */
    req->phase = FORGE__RUNNING;
    req->inline_run = true;
    req->inline_thread = pthread_self();
    req->status = 200;
    req->head_only = req->method == FORGE_METHOD_HEAD;

    target t = choose(req);
    req->defer_fn = NULL;
    req->target_fn = t.fn;
    req->target_udata = t.udata;
    int rc = forge__mw_run_before(req);
    if (rc == FORGE_ASYNC) {
        bool can_block = (req->host->ops.flags & FORGE_HOST_CAN_BLOCK) || !req->app->runtime;
        if (!can_block) {
            pthread_mutex_lock(&req->mu);
            req->inline_run = false;
            pthread_mutex_unlock(&req->mu);
            if (forge_runtime_submit(req->app->runtime, defer_task, req) == FORGE_OK)
                return FORGE_ASYNC;
            pthread_mutex_lock(&req->mu);
            req->inline_run = true;
            pthread_mutex_unlock(&req->mu);
            req->defer_fn = NULL;
            rc = FORGE_NEXT;
            t = (target){h_unavailable, NULL, false};
        } else {
            rc = run_deferred(req, rc);
        }
    }
    size_t mark = req->nres_headers;
    if (rc == FORGE_NEXT) {
        if (t.pool) {
            forge__req_share(req); /* before the pool can see it */
            pthread_mutex_lock(&req->mu);
            req->inline_run = false;
            pthread_mutex_unlock(&req->mu);
            if (forge_runtime_submit(req->app->runtime, pool_task, req) == FORGE_OK)
                return FORGE_ASYNC;
            pthread_mutex_lock(&req->mu);
            req->inline_run = true;
            pthread_mutex_unlock(&req->mu);
            t.fn = h_unavailable;
        }
        if (!handler_returned(req, t.fn(req, t.udata), mark))
            return FORGE_ASYNC;
    } else if (rc < 0) {
        fail(req, rc, mark);
    }
    return finish_inline(req);
}
