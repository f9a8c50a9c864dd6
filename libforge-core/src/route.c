/*
 * Route records and groups: registration on the app (single-threaded, while
 * the app's init runs), metadata copies for OpenAPI, and the visitor.
 * Each route is added to the router at once, so a conflict is reported by
 * the call that causes it, with the router's message naming both patterns.
 */
#include "request_impl.h"

#include <stdlib.h>
#include <string.h>

struct forge__routes *forge__routes_new(void)
{
    struct forge__routes *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->max_body = 1024 * 1024;
    r->json_max_depth = 64;
    return r;
}

static void free_opts(forge_route_opts *o)
{
    free((char *)o->name);
    free((char *)o->summary);
    free((char *)o->description);
    if (o->tags) {
        for (size_t i = 0; o->tags[i]; i++)
            free((char *)o->tags[i]);
        free((void *)o->tags);
    }
    for (size_t i = 0; i < o->nparams; i++) {
        forge_param_doc *p = (forge_param_doc *)&o->params[i];
        free((char *)p->name);
        free((char *)p->in);
        free((char *)p->description);
        free((char *)p->type);
    }
    free((void *)o->params);
}

void forge__mw_list_free(forge__mw_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i]->mw.name);
        free(l->v[i]);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

void forge__routes_free(struct forge__routes *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nroutes; i++) {
        forge__route *rt = r->routes[i];
        free(rt->pattern);
        free_opts(&rt->opts);
        free(rt->chain.v);
        free(rt);
    }
    free(r->routes);
    for (size_t i = 0; i < r->ngroups; i++) {
        forge__mw_list_free(&r->groups[i]->mws);
        free(r->groups[i]->prefix);
        free(r->groups[i]);
    }
    free(r->groups);
    forge__mw_list_free(&r->app_mws);
    free(r->app_chain.v);
    free(r->start_order);
    free(r);
}

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *nv = realloc(*v, ncap * elem);
    if (!nv)
        return FORGE_ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Deep copy of route options; on failure what was copied is freed. */
static int copy_opts(forge_route_opts *dst, const forge_route_opts *src)
{
    memset(dst, 0, sizeof(*dst));
    if (!src)
        return 0;
    dst->flags = src->flags;
    dst->max_body = src->max_body;
    dst->name = dup0(src->name);
    dst->summary = dup0(src->summary);
    dst->description = dup0(src->description);
    bool oom = (src->name && !dst->name) || (src->summary && !dst->summary) ||
               (src->description && !dst->description);
    if (!oom && src->tags) {
        size_t n = 0;
        while (src->tags[n])
            n++;
        char **tags = calloc(n + 1, sizeof(*tags));
        oom = !tags;
        for (size_t i = 0; tags && i < n; i++)
            oom |= !(tags[i] = strdup(src->tags[i]));
        dst->tags = (const char *const *)tags;
    }
    if (!oom && src->params && src->nparams) {
        forge_param_doc *p = calloc(src->nparams, sizeof(*p));
        oom = !p;
        dst->params = p;
        dst->nparams = p ? src->nparams : 0;
        for (size_t i = 0; p && i < src->nparams; i++) {
            const forge_param_doc *s = &src->params[i];
            p[i].name = dup0(s->name);
            p[i].in = dup0(s->in);
            p[i].description = dup0(s->description);
            p[i].type = dup0(s->type);
            p[i].required = s->required;
            oom |= (s->name && !p[i].name) || (s->in && !p[i].in) ||
                   (s->description && !p[i].description) || (s->type && !p[i].type);
        }
    }
    if (oom) {
        free_opts(dst);
        memset(dst, 0, sizeof(*dst));
        return FORGE_ENOMEM;
    }
    return 0;
}

/*
 * Join a group prefix and a route pattern: "/api" + "/users" = "/api/users",
 * "/api/" + "/users" too; an empty pattern means the prefix itself.
 */
static char *join_pattern(const char *prefix, const char *pattern)
{
    size_t pl = prefix ? strlen(prefix) : 0;
    while (pl > 0 && prefix[pl - 1] == '/')
        pl--;
    size_t n = strlen(pattern);
    bool need_slash = n == 0 ? pl == 0 : pattern[0] != '/';
    char *s = malloc(pl + n + 2);
    if (!s)
        return NULL;
    memcpy(s, prefix, pl);
    size_t o = pl;
    if (need_slash)
        s[o++] = '/';
    memcpy(s + o, pattern, n);
    s[o + n] = '\0';
    return s;
}

static int add_route(forge_app *app, struct forge_group *g, const char *method, const char *pattern,
                     forge_handler_fn fn, void *udata, const forge_route_opts *opts,
                     forge_error *err)
{
    struct forge__routes *rs = app->routes;
    if (rs->finalized)
        return forge_error_set(err, FORGE_ESTATE,
                               "routes can only be added while the app's init function runs");
    if (!method || !pattern || !fn)
        return forge_error_set(err, FORGE_EINVAL,
                               "route: method, pattern and handler are required");
    forge_method m = forge_method_parse(method, strlen(method));
    if (m == FORGE_METHOD_UNKNOWN)
        return forge_error_setk(err, FORGE_EINVAL, pattern, "route %s: unknown method \"%s\"",
                                pattern, method);
    if (grow((void **)&rs->routes, &rs->cap_routes, rs->nroutes, sizeof(*rs->routes)))
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    forge__route *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    rt->method = m;
    rt->fn = fn;
    rt->udata = udata;
    rt->group = g;
    rt->pattern = g ? join_pattern(g->prefix, pattern) : strdup(pattern);
    if (!rt->pattern || copy_opts(&rt->opts, opts) != 0) {
        free(rt->pattern);
        free(rt);
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    }
    int rc = forge_router_add(app->router, m, rt->pattern, rt, err);
    if (rc < 0) {
        free(rt->pattern);
        free_opts(&rt->opts);
        free(rt);
        return rc;
    }
    rt->info.method = m;
    rt->info.pattern = rt->pattern;
    rt->info.opts = &rt->opts;
    rs->routes[rs->nroutes++] = rt;
    return FORGE_OK;
}

int forge_app_route(forge_app *app, const char *method, const char *pattern, forge_handler_fn fn,
                    void *udata, const forge_route_opts *opts, forge_error *err)
{
    if (!app)
        return forge_error_set(err, FORGE_EINVAL, "route: app is NULL");
    return add_route(app, NULL, method, pattern, fn, udata, opts, err);
}

static struct forge_group *new_group(forge_app *app, struct forge_group *parent, const char *prefix)
{
    struct forge__routes *rs = app->routes;
    if (rs->finalized || !prefix)
        return NULL;
    if (grow((void **)&rs->groups, &rs->cap_groups, rs->ngroups, sizeof(*rs->groups)))
        return NULL;
    struct forge_group *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->app = app;
    g->parent = parent;
    g->prefix = join_pattern(parent ? parent->prefix : "", prefix);
    if (!g->prefix) {
        free(g);
        return NULL;
    }
    /* A prefix of "/" joins to "" + "/": keep groups' prefixes without a trailing slash. */
    size_t n = strlen(g->prefix);
    while (n > 0 && g->prefix[n - 1] == '/')
        g->prefix[--n] = '\0';
    rs->groups[rs->ngroups++] = g;
    return g;
}

forge_group *forge_app_group(forge_app *app, const char *prefix)
{
    return app ? new_group(app, NULL, prefix) : NULL;
}

forge_group *forge_group_group(forge_group *parent, const char *prefix)
{
    return parent ? new_group(parent->app, parent, prefix) : NULL;
}

int forge_group_route(forge_group *g, const char *method, const char *pattern, forge_handler_fn fn,
                      void *udata, const forge_route_opts *opts, forge_error *err)
{
    if (!g)
        return forge_error_set(err, FORGE_EINVAL, "route: group is NULL");
    return add_route(g->app, g, method, pattern, fn, udata, opts, err);
}

int forge_app_routes(const forge_app *app, forge_route_visit_fn fn, void *udata)
{
    const struct forge__routes *rs = app->routes;
    for (size_t i = 0; i < rs->nroutes; i++) {
        int rc = fn(&rs->routes[i]->info, udata);
        if (rc)
            return rc;
    }
    return 0;
}
