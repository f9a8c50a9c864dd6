/*
 * mod_forge: which requests are Forge's, and serving them.
 *
 * A request is Forge's when its location says `Forge On`, or `SetHandler
 * forge`. Both are seen in pre_translate_name (after the first <Location>
 * walk), where the request is claimed: map_to_storage then answers OK for it,
 * so core's <Directory> walk and the stat() of a file that does not exist are
 * skipped (a third or more of Apache's per-request work for a small
 * response). <Location> sections still apply: Require, headers, filters.
 * A `SetHandler forge` that only a <Directory> or .htaccess would reveal is
 * still served, by the handler, after the usual walk.
 *
 * The handler runs on an Apache worker thread, which may block: it reads the
 * body, dispatches, and when Forge answers FORGE_ASYNC (a response finished
 * later, a stream) waits on the request's condition variable for Forge's
 * wake, then resumes on this same thread, until the response is complete.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_expr.h"

#include "apr_strings.h"
#include "apr_portable.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <forge/request.h>

#include "mod_forge.h"

APLOG_USE_MODULE(forge);

/* The value stored in r->request_config for a claimed request. */
static const char forge_claimed = 1;

/* How often a waiting request checks that its client is still there. */
#define FORGE_WAIT_TICK_SEC 1

#define FORGE_BODY_READ (64 * 1024)

/* ---- claiming ---- */

static int forge_wants(request_rec *r, const forge_dir_conf *dc)
{
    core_dir_config *cd;
    const char *handler, *err = NULL;

    if (dc->enabled != FORGE_UNSET) {
        return dc->enabled;
    }
    cd = ap_get_core_module_config(r->per_dir_config);
    if (!cd->expr_handler) {
        return 0;
    }
    handler = ap_expr_str_exec(r, cd->expr_handler, &err);
    return handler && !err && strcmp(handler, FORGE_HANDLER_NAME) == 0;
}

static int forge_is_claimed(request_rec *r)
{
    return ap_get_module_config(r->request_config, &forge_module) != NULL;
}

static void forge_claim(request_rec *r)
{
    ap_set_module_config(r->request_config, &forge_module,
                         (void *)&forge_claimed);
    r->handler = FORGE_HANDLER_NAME;
}

/*
 * A module that took the request over after the claim (a RewriteRule with
 * [P] sets the proxy handler) wins: the claim is dropped.
 */
static int forge_still_claimed(request_rec *r)
{
    if (!forge_is_claimed(r)) {
        return 0;
    }
    if (r->handler && strcmp(r->handler, FORGE_HANDLER_NAME) == 0) {
        return 1;
    }
    ap_set_module_config(r->request_config, &forge_module, NULL);
    return 0;
}

/*
 * Before Apache percent-decodes the path: Forge decodes it itself, so the
 * path stays as sent (DONE skips the decoding). An encoded NUL then gets
 * Forge's 400 rather than Apache's 404, and %2F reaches route parameters
 * whatever AllowEncodedSlashes says.
 */
int forge_ap_pre_translate_name(request_rec *r)
{
    forge_dir_conf *dc = ap_get_module_config(r->per_dir_config, &forge_module);

    if (!forge_wants(r, dc)) {
        return DECLINED;
    }
    forge_claim(r);
    return DONE;
}

int forge_ap_translate_name(request_rec *r)
{
    if (!forge_still_claimed(r)) {
        forge_dir_conf *dc =
            ap_get_module_config(r->per_dir_config, &forge_module);
        if (!forge_wants(r, dc)) {
            return DECLINED;
        }
        forge_claim(r);
    }
    /* no file stands behind the URI; a name for logs and other modules */
    r->filename = apr_pstrcat(r->pool, "forge:", r->uri, NULL);
    return OK;
}

int forge_ap_map_to_storage(request_rec *r)
{
    return forge_still_claimed(r) ? OK : DECLINED;
}

/* ---- the request into Forge ---- */

typedef struct {
    forge_req *req;
    int rc;
} forge_hdr_walk;

static int forge_add_header(void *data, const char *key, const char *value)
{
    forge_hdr_walk *w = data;

    w->rc =
        forge_req_add_header(w->req, key, strlen(key), value, strlen(value));
    return w->rc == FORGE_OK;
}

/* Method, target, headers (repeats in order), peer and scheme. */
static int forge_translate(request_rec *r, forge_req *req)
{
    const char *uri = r->unparsed_uri, *q, *ip = r->useragent_ip;
    const char *scheme = ap_http_scheme(r);
    forge_hdr_walk w = {req, FORGE_OK};
    char peer[128];
    int port;

    forge_req_set_method(req, r->method, strlen(r->method));
    if (uri && uri[0] == '/') {
        q = strchr(uri, '?');
        if (q) {
            forge_req_set_target(req, uri, (size_t)(q - uri), q + 1,
                                 strlen(q + 1));
        }
        else {
            forge_req_set_target(req, uri, strlen(uri), NULL, 0);
        }
    }
    else {
        /* absolute-form ("http://host/path?q") or "*": the parsed parts */
        const char *path = r->parsed_uri.path ? r->parsed_uri.path : "/";
        const char *query = r->parsed_uri.query;
        forge_req_set_target(req, path, strlen(path), query,
                             query ? strlen(query) : 0);
    }

    apr_table_do(forge_add_header, &w, r->headers_in, NULL);
    if (w.rc != FORGE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "mod_forge: request headers refused: %s",
                      forge_strerror(w.rc));
        return HTTP_BAD_REQUEST;
    }

    port = r->useragent_addr ? r->useragent_addr->port : 0;
    if (ip && strchr(ip, ':') && strlen(ip) + 3 <= sizeof(peer)) {
        size_t n = strlen(ip);
        peer[0] = '[';
        memcpy(peer + 1, ip, n);
        peer[n + 1] = ']';
        forge_req_set_peer(req, peer, n + 2, port);
    }
    else if (ip) {
        forge_req_set_peer(req, ip, strlen(ip), port);
    }
    forge_req_set_scheme(req, scheme, strlen(scheme));
    return OK;
}

/*
 * Read the request body (Content-Length or chunked; Apache's input filters
 * dechunk it and apply LimitRequestBody). A body over Forge's limit for the
 * route is not read: a declared length is refused by dispatch from the
 * header alone, a chunked one is read up to the limit and then marked
 * oversized; either way Forge answers 413 and Apache closes the connection
 * rather than reading the rest. The body is malloc'd: Forge borrows it only
 * until dispatch returns (it copies what a handler keeps).
 */
static int forge_read_body(request_rec *r, forge_req *req, char **bodyp)
{
    const char *te = apr_table_get(r->headers_in, "Transfer-Encoding");
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t length = 0;
    size_t limit, size = 0, cap;
    apr_bucket_brigade *bb;
    char *body;
    int seen_eos = 0;

    *bodyp = NULL;
    if (r->main) {
        return OK; /* a subrequest has no body of its own */
    }
    if (!te && (!cl || !ap_parse_strict_length(&length, cl) || length == 0)) {
        return OK;
    }
    limit = forge_req_body_limit(req);
    if (!te && (apr_uint64_t)length > limit) {
        return OK; /* dispatch answers 413 from the Content-Length */
    }
    cap = te ? (limit < FORGE_BODY_READ ? limit + 1 : FORGE_BODY_READ)
             : (size_t)length;
    body = malloc(cap ? cap : 1);
    if (!body) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        apr_bucket *b;
        apr_status_t rv =
            ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                           APR_BLOCK_READ, FORGE_BODY_READ);
        if (rv != APR_SUCCESS) {
            free(body);
            apr_brigade_destroy(bb);
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;

            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                free(body);
                apr_brigade_destroy(bb);
                return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
            }
            if (size + len > limit) {
                /* over the route's limit: stop reading, Forge answers 413 */
                free(body);
                apr_brigade_destroy(bb);
                r->connection->keepalive = AP_CONN_CLOSE;
                forge_req_set_body(req, NULL, limit + 1);
                return OK;
            }
            if (size + len > cap) {
                size_t ncap = cap * 2 > size + len ? cap * 2 : size + len;
                char *nb = realloc(body, ncap);
                if (!nb) {
                    free(body);
                    apr_brigade_destroy(bb);
                    return HTTP_INTERNAL_SERVER_ERROR;
                }
                body = nb;
                cap = ncap;
            }
            memcpy(body + size, data, len);
            size += len;
        }
        apr_brigade_cleanup(bb);
    }
    apr_brigade_destroy(bb);
    forge_req_set_body(req, body, size);
    *bodyp = body;
    return OK;
}

/* ---- waiting for Forge ---- */

/* The client hung up (or the connection failed) while Forge was working. */
static int forge_client_gone(request_rec *r)
{
    conn_rec *c = r->connection;
    apr_socket_t *sock = ap_get_conn_socket(c);
    apr_os_sock_t fd;
    struct pollfd pfd;

    if (c->aborted) {
        return 1;
    }
    if (!sock || apr_os_sock_get(&fd, sock) != APR_SUCCESS) {
        return 0;
    }
    pfd.fd = fd;
    pfd.events = POLLRDHUP;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) == 1 &&
        (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        return 1;
    }
    return 0;
}

/* Wait for a wake. 1 when woken, 0 when the client went away instead. */
static int forge_wait(forge_ap_ctx *ctx)
{
    int woken;

    pthread_mutex_lock(&ctx->mu);
    while (!ctx->woken) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += FORGE_WAIT_TICK_SEC;
        if (pthread_cond_timedwait(&ctx->cv, &ctx->mu, &until) == ETIMEDOUT &&
            !ctx->woken) {
            pthread_mutex_unlock(&ctx->mu);
            if (forge_client_gone(ctx->r)) {
                return 0;
            }
            pthread_mutex_lock(&ctx->mu);
        }
    }
    woken = ctx->woken;
    ctx->woken = 0;
    pthread_mutex_unlock(&ctx->mu);
    return woken;
}

/* ---- the handler ---- */

static forge_host *forge_host_of(request_rec *r)
{
    forge_server_conf *sc =
        ap_get_module_config(r->server->module_config, &forge_module);

    return sc->main->host;
}

static int forge_serve(request_rec *r, forge_host *host)
{
    forge_ap_ctx *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    forge_req *req;
    char *body = NULL;
    int rc, status;

    ctx->r = r;
    pthread_mutex_init(&ctx->mu, NULL);
    pthread_cond_init(&ctx->cv, NULL);

    req = forge_req_new(host, ctx);
    if (!req) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "mod_forge: out of memory for a request");
        status = HTTP_SERVICE_UNAVAILABLE;
        goto done;
    }
    status = forge_translate(r, req);
    if (status == OK) {
        status = forge_read_body(r, req, &body);
    }
    if (status != OK) {
        forge_req_release(req);
        goto done;
    }

    rc = forge_req_dispatch(req);
    free(body);
    while (rc == FORGE_ASYNC) {
        if (!forge_wait(ctx)) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                          "mod_forge: client went away before the response "
                          "was complete");
            r->connection->aborted = 1;
            break;
        }
        rc = forge_req_resume(req);
    }
    /* no wake can come once this returns: ctx may go */
    forge_req_release(req);

    if (!ctx->head_sent && !r->connection->aborted) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "mod_forge: the request completed without a response");
        status = HTTP_INTERNAL_SERVER_ERROR;
    }
done:
    pthread_cond_destroy(&ctx->cv);
    pthread_mutex_destroy(&ctx->mu);
    return status;
}

int forge_ap_handler(request_rec *r)
{
    forge_host *host;

    if (!forge_is_claimed(r)) {
        /* not claimed early: a <Directory> or .htaccess turned Forge on */
        forge_dir_conf *dc =
            ap_get_module_config(r->per_dir_config, &forge_module);

        if (dc->enabled == 0) {
            return DECLINED; /* `Forge Off` wins over SetHandler */
        }
        if (dc->enabled == FORGE_UNSET &&
            (!r->handler || strcmp(r->handler, FORGE_HANDLER_NAME) != 0)) {
            return DECLINED;
        }
    }
    host = forge_host_of(r);
    if (!host) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "mod_forge: SetHandler forge, but no ForgeApp is set");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return forge_serve(r, host);
}
