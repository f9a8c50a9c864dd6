/*
 * Built-in middleware: the access log and the error mapper. (The request id
 * middleware is in middleware_reqid.c.)
 */
#include "request_impl.h"

#include <string.h>

/* ---- access log: one structured line per request, written when it completes ---- */

/* Fields and destination (app log or JSON file) are the observe area's: accesslog.c. */
static void access_after(forge_req *req, void *udata)
{
    forge__accesslog_emit(req);
}

static const forge_middleware access_mw = {
    .name = "forge.access_log",
    .priority = FORGE_MW_PRIO_ACCESS_LOG,
    .after = access_after,
};

const forge_middleware *forge_mw_access_log(void)
{
    return &access_mw;
}

/* ---- errors: failures and empty error statuses become problem+json ---- */

static void errors_after(forge_req *req, void *udata)
{
    if (req->head_committed)
        return; /* a streamed head is gone already */
    if (req->handler_rc < 0) {
        forge_logf(req->app->log, FORGE_LOG_ERROR, req, "%s %s failed: %s (%s)",
                   forge_method_name(req->method), req->route ? req->route->pattern : "(no route)",
                   forge_err_name(req->handler_rc), forge_strerror(req->handler_rc));
        forge__res_problem_instance(req, 500, NULL,
                                    "The server could not handle the request; the request id "
                                    "identifies it in the server's log.",
                                    "request_id", forge_req_id(req));
        return;
    }
    if (req->status >= 400 && req->res_body_len == 0)
        forge__res_problem_instance(req, req->status, NULL, NULL, "request_id", forge_req_id(req));
}

static const forge_middleware errors_mw = {
    .name = "forge.errors",
    .priority = FORGE_MW_PRIO_ERRORS,
    .after = errors_after,
};

const forge_middleware *forge_mw_errors(void)
{
    return &errors_mw;
}
