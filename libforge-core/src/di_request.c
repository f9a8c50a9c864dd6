/*
 * A request's DI scope: made on the first lookup through the request, kept
 * as the request value FORGE_DI_REQ_SCOPE_KEY and freed (with its scoped
 * instances, in reverse creation order) when the request ends.
 */
#include "di_impl.h"

static void scope_free(void *s)
{
    forge_di_scope_free(s);
}

forge_di_scope *forge_di_req_scope(forge_req *req, forge_error *err)
{
    forge_di_scope *s = forge_req_value(req, FORGE_DI_REQ_SCOPE_KEY);
    if (s)
        return s;
    forge_app *app = forge_req_app(req);
    if (!app) {
        forge_error_set(err, FORGE_ESTATE, "the request has no app");
        return NULL;
    }
    s = forge_di_scope_new(forge_app_container(app));
    if (!s || forge_req_set_value(req, FORGE_DI_REQ_SCOPE_KEY, s, scope_free) != 0) {
        forge_di_scope_free(s);
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    return s;
}

void *forge_di_req_get(forge_req *req, const char *name, const forge_type *type, forge_error *err)
{
    forge_di_scope *s = forge_di_req_scope(req, err);
    return s ? forge_di_scope_get(s, name, type, err) : NULL;
}
