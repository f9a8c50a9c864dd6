/*
 * Middleware order, recorded in the response.
 *
 * Two app-wide middleware (outer, priority 10; inner, priority 20) and one
 * group middleware (group) on /c/mw. Each before appends "name>", the
 * handler "handler", each after "<name"; the after-halves copy the trace to
 * X-Mw-Trace, so the header the client sees is the whole trace:
 *
 *   GET /c/mw              outer>inner>group>handler<group<inner<outer
 *   GET /c/mw?stop=inner   outer>inner!<inner<outer   (inner answers 403)
 *
 * The app-wide ones act only on paths under /c/mw, so other checks see no
 * trace header.
 */
#include "conformance.h"

#include <string.h>

#define TRACE_KEY "conformance.trace"
#define TRACE_MAX 256

static bool under_mw(const forge_req *req)
{
    forge_str p = forge_req_raw_path(req);
    return p.n >= 5 && memcmp(p.p, "/c/mw", 5) == 0 && (p.n == 5 || p.p[5] == '/');
}

/* The trace buffer lives in the request arena: no free function. */
static char *trace(forge_req *req)
{
    char *t = forge_req_value(req, TRACE_KEY);
    if (t)
        return t;
    t = forge_req_alloc(req, TRACE_MAX);
    if (!t || forge_req_set_value(req, TRACE_KEY, t, NULL) < 0)
        return NULL;
    t[0] = '\0';
    return t;
}

static void append(char *t, const char *a, const char *b)
{
    size_t n = strlen(t);
    size_t la = strlen(a), lb = strlen(b);
    if (n + la + lb < TRACE_MAX) {
        memcpy(t + n, a, la);
        memcpy(t + n + la, b, lb + 1);
    }
}

static int before(forge_req *req, void *udata)
{
    const char *name = udata;
    if (!under_mw(req))
        return FORGE_NEXT;
    char *t = trace(req);
    if (!t)
        return FORGE_ENOMEM;
    forge_str stop;
    if (forge_req_query_param(req, "stop", &stop) && stop.n == strlen(name) &&
        memcmp(stop.p, name, stop.n) == 0) {
        append(t, name, "!");
        int rc = forge_res_problem(req, 403, NULL, "Stopped by middleware.");
        return rc < 0 ? rc : FORGE_DONE;
    }
    append(t, name, ">");
    return FORGE_NEXT;
}

static void after(forge_req *req, void *udata)
{
    char *t = under_mw(req) ? forge_req_value(req, TRACE_KEY) : NULL;
    if (!t)
        return;
    append(t, "<", udata);
    forge_res_set_header(req, "X-Mw-Trace", t);
}

static int handler(forge_req *req, void *udata)
{
    char *t = trace(req);
    if (!t)
        return FORGE_ENOMEM;
    append(t, "handler", "");
    return forge_res_text(req, 200, "middleware\n");
}

int conf_mw_register(forge_app *app, forge_error *err)
{
    forge_middleware outer = {
        .name = "outer", .priority = 10, .before = before, .after = after, .udata = "outer"};
    forge_middleware inner = {
        .name = "inner", .priority = 20, .before = before, .after = after, .udata = "inner"};
    forge_middleware group = {.name = "group", .before = before, .after = after, .udata = "group"};
    /* Registered inner first: the order must come from the priorities. */
    int rc;
    if ((rc = forge_app_use(app, &inner, err)) < 0 || (rc = forge_app_use(app, &outer, err)) < 0)
        return rc;
    forge_group *g = forge_app_group(app, "/c/mw");
    if (!g)
        return forge_error_set(err, FORGE_ENOMEM, "conformance: no memory for the /c/mw group");
    if ((rc = forge_group_use(g, &group, err)) < 0 ||
        (rc = forge_group_route(g, "GET", "", handler, NULL, NULL, err)) < 0)
        return rc;
    return 0;
}
