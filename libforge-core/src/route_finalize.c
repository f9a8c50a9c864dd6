/*
 * Finishing an app's routes after its init: installing the built-in
 * middleware the config asks for, and resolving each route's middleware
 * chain once, so dispatch walks a flat array.
 *
 * Chain order: app-wide middleware sorted by priority (ties in registration
 * order), then each enclosing group's middleware from the outermost group in,
 * each sorted the same way.
 */
#include "request_impl.h"

#include <stdlib.h>
#include <string.h>

static int by_priority(const void *a, const void *b)
{
    const forge__mw_entry *x = *(const forge__mw_entry *const *)a;
    const forge__mw_entry *y = *(const forge__mw_entry *const *)b;
    if (x->mw.priority != y->mw.priority)
        return x->mw.priority < y->mw.priority ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void sort_list(forge__mw_list *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), by_priority);
}

static size_t group_depth_count(const struct forge_group *g)
{
    size_t n = 0;
    for (; g; g = g->parent)
        n += g->mws.n;
    return n;
}

static void append_group(const forge_middleware **v, size_t *n, const struct forge_group *g)
{
    if (!g)
        return;
    append_group(v, n, g->parent);
    for (size_t i = 0; i < g->mws.n; i++)
        v[(*n)++] = &g->mws.v[i]->mw;
}

static int resolve_chain(struct forge__routes *rs, forge__route *rt)
{
    size_t total = rs->app_mws.n + group_depth_count(rt->group);
    rt->chain.v = calloc(total ? total : 1, sizeof(*rt->chain.v));
    if (!rt->chain.v)
        return FORGE_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < rs->app_mws.n; i++)
        rt->chain.v[n++] = &rs->app_mws.v[i]->mw;
    append_group(rt->chain.v, &n, rt->group);
    rt->chain.n = n;
    return FORGE_OK;
}

static int install_builtins(forge_app *app, forge_error *err)
{
    const forge_config *cfg = app->config;
    struct {
        const char *key;
        const forge_middleware *mw;
    } b[] = {
        {"http.middleware.request_id", forge_mw_request_id()},
        {"http.middleware.access_log", forge_mw_access_log()},
        {"http.middleware.errors", forge_mw_errors()},
    };
    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
        if (!forge_config_bool(cfg, b[i].key, true))
            continue;
        int rc = forge_app_use(app, b[i].mw, err);
        if (rc < 0)
            return rc;
        if (b[i].mw == forge_mw_errors())
            app->routes->errors_mw = true;
    }
    return FORGE_OK;
}

static int read_limits(forge_app *app, forge_error *err)
{
    struct forge__routes *rs = app->routes;
    uint64_t max_body = forge_config_size(app->config, "http.max_body_size", 1024 * 1024);
    if (max_body == 0 || max_body > (uint64_t)1 << 40)
        return forge_error_setk(err, FORGE_ECONFIG, "http.max_body_size",
                                "http.max_body_size must be between 1 byte and 1 TiB");
    rs->max_body = (size_t)max_body;
    int64_t depth = forge_config_int(app->config, "http.json_max_depth", 64);
    if (depth < 1 || depth > 2048)
        return forge_error_setk(err, FORGE_ECONFIG, "http.json_max_depth",
                                "http.json_max_depth must be between 1 and 2048");
    rs->json_max_depth = (int)depth;
    return FORGE_OK;
}

int forge__routes_finalize(forge_app *app, forge_error *err)
{
    struct forge__routes *rs = app->routes;
    if (rs->finalized)
        return FORGE_OK;
    int rc = read_limits(app, err);
    if (rc < 0 || (rc = install_builtins(app, err)) < 0 ||
        (rc = forge__observe_install(app, err)) < 0)
        return rc;

    sort_list(&rs->app_mws);
    size_t nstart = rs->app_mws.n;
    for (size_t i = 0; i < rs->ngroups; i++) {
        sort_list(&rs->groups[i]->mws);
        nstart += rs->groups[i]->mws.n;
    }
    rs->start_order = calloc(nstart ? nstart : 1, sizeof(*rs->start_order));
    rs->app_chain.v = calloc(rs->app_mws.n ? rs->app_mws.n : 1, sizeof(*rs->app_chain.v));
    if (!rs->start_order || !rs->app_chain.v)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    for (size_t i = 0; i < rs->app_mws.n; i++) {
        rs->app_chain.v[i] = &rs->app_mws.v[i]->mw;
        rs->start_order[rs->nstart++] = rs->app_mws.v[i];
    }
    rs->app_chain.n = rs->app_mws.n;
    for (size_t i = 0; i < rs->ngroups; i++)
        for (size_t j = 0; j < rs->groups[i]->mws.n; j++)
            rs->start_order[rs->nstart++] = rs->groups[i]->mws.v[j];

    for (size_t i = 0; i < rs->nroutes; i++) {
        forge__route *rt = rs->routes[i];
        if (resolve_chain(rs, rt) < 0)
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        rt->max_body = rt->opts.max_body ? rt->opts.max_body : rs->max_body;
    }
    rs->finalized = true;
    return FORGE_OK;
}
