/*
 * Middleware: registration (app-wide and per group), running the before and
 * after halves around a handler, and on_start/on_stop.
 *
 * Invariant: req->mw_ran counts the befores of req->chain that ran; the
 * afters run for exactly those, innermost first, once.
 */
#include "request_impl.h"

#include <stdlib.h>
#include <string.h>

static int list_add(struct forge__routes *rs, forge__mw_list *l, const forge_middleware *mw,
                    forge_error *err)
{
    if (rs->finalized)
        return forge_error_set(err, FORGE_ESTATE,
                               "middleware can only be added while the app's init function runs");
    if (!mw || (!mw->before && !mw->after && !mw->on_start && !mw->on_stop))
        return forge_error_set(err, FORGE_EINVAL, "middleware %s has no callbacks",
                               mw && mw->name ? mw->name : "(unnamed)");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        forge__mw_entry **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    forge__mw_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    e->mw = *mw;
    e->mw.name = strdup(mw->name ? mw->name : "middleware");
    if (!e->mw.name) {
        free(e);
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    }
    e->seq = rs->mw_seq++;
    l->v[l->n++] = e;
    return FORGE_OK;
}

int forge_app_use(forge_app *app, const forge_middleware *mw, forge_error *err)
{
    if (!app)
        return forge_error_set(err, FORGE_EINVAL, "middleware: app is NULL");
    return list_add(app->routes, &app->routes->app_mws, mw, err);
}

int forge_group_use(forge_group *g, const forge_middleware *mw, forge_error *err)
{
    if (!g)
        return forge_error_set(err, FORGE_EINVAL, "middleware: group is NULL");
    return list_add(g->app->routes, &g->mws, mw, err);
}

int forge__mw_run_before(forge_req *req)
{
    const forge__chain *c = req->chain;
    while (req->mw_ran < c->n) {
        const forge_middleware *mw = c->v[req->mw_ran];
        req->mw_ran++;
        if (!mw->before)
            continue;
        int rc = mw->before(req, mw->udata);
        if (rc == FORGE_NEXT || rc == FORGE_OK)
            continue;
        if (rc == FORGE_DONE || rc < 0 || (rc == FORGE_ASYNC && req->defer_fn))
            return rc;
        forge_logf(req->app->log, FORGE_LOG_ERROR, req,
                   "middleware %s: before returned %d (expected FORGE_NEXT, FORGE_DONE, an "
                   "error, or FORGE_ASYNC from forge__mw_defer)",
                   mw->name, rc);
        return FORGE_EINVAL;
    }
    return FORGE_NEXT;
}

void forge__mw_run_after(forge_req *req)
{
    const forge__chain *c = req->chain;
    while (req->mw_ran > 0) {
        const forge_middleware *mw = c->v[--req->mw_ran];
        if (mw->after)
            mw->after(req, mw->udata);
    }
}

int forge__middleware_start(forge_app *app, forge_error *err)
{
    struct forge__routes *rs = app->routes;
    if (rs->mw_started)
        return FORGE_OK;
    rs->mw_nstarted = 0;
    for (size_t i = 0; i < rs->nstart; i++) {
        const forge_middleware *mw = &rs->start_order[i]->mw;
        if (mw->on_start) {
            int rc = mw->on_start(app, mw->udata, err);
            if (rc < 0) {
                forge_error_wrap(err, rc, "middleware %s failed to start", mw->name);
                rs->mw_started = true;
                forge__middleware_stop(app);
                return rc;
            }
        }
        rs->mw_nstarted = i + 1;
    }
    rs->mw_started = true;
    return FORGE_OK;
}

void forge__middleware_stop(forge_app *app)
{
    struct forge__routes *rs = app->routes;
    if (!rs || !rs->mw_started)
        return;
    while (rs->mw_nstarted > 0) {
        const forge_middleware *mw = &rs->start_order[--rs->mw_nstarted]->mw;
        if (mw->on_stop)
            mw->on_stop(app, mw->udata);
    }
    rs->mw_started = false;
}
