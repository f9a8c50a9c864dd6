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

/* "forge:" + r->uri, one allocation (apr_pstrcat walks its arguments twice) */
static char *forge_filename(request_rec *r)
{
    static const char prefix[] = "forge:";
    size_t n = strlen(r->uri);
    char *f = apr_palloc(r->pool, sizeof(prefix) + n);

    memcpy(f, prefix, sizeof(prefix) - 1);
    memcpy(f + sizeof(prefix) - 1, r->uri, n + 1);
    return f;
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
    r->filename = forge_filename(r);
    return OK;
}

int forge_ap_map_to_storage(request_rec *r)
{
    return forge_still_claimed(r) ? OK : DECLINED;
}

/* ---- the request into Forge ---- */

/* The body's framing headers, noted while the headers are copied. */
typedef struct {
    const char *content_length;
    const char *transfer_encoding;
} forge_framing;

/*
 * Every request header into Forge, in the table's order (httpd has already
 * joined repeats). The table's entries are read directly: apr_table_do
 * would make one indirect call per header for the same walk.
 */
static int forge_copy_headers(request_rec *r, forge_req *req, forge_framing *fr)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i, rc;

    for (i = 0; i < arr->nelts; i++) {
        const char *key = e[i].key, *val = e[i].val ? e[i].val : "";
        size_t kn;

        if (!key) {
            continue; /* apr_table_unset leaves none, but apr_table_do skips */
        }
        kn = strlen(key);
        rc = forge_req_add_header(req, key, kn, val, strlen(val));
        if (rc != FORGE_OK) {
            return rc;
        }
        if (kn == sizeof("Content-Length") - 1 && !fr->content_length &&
            strcasecmp(key, "Content-Length") == 0) {
            fr->content_length = val;
        }
        else if (kn == sizeof("Transfer-Encoding") - 1 &&
                 !fr->transfer_encoding &&
                 strcasecmp(key, "Transfer-Encoding") == 0) {
            fr->transfer_encoding = val;
        }
    }
    return FORGE_OK;
}

/* Apache's parsed method as Forge's when it is one of them: no text to scan. */
static void forge_translate_method(request_rec *r, forge_req *req)
{
    switch (r->method_number) {
        case M_GET:
            /* Apache parses HEAD as M_GET (and sets header_only) */
            forge_req_set_method_id(req, strcmp(r->method, "HEAD") == 0
                                             ? FORGE_METHOD_HEAD
                                             : FORGE_METHOD_GET);
            return;
        case M_POST:
            forge_req_set_method_id(req, FORGE_METHOD_POST);
            return;
        case M_PUT:
            forge_req_set_method_id(req, FORGE_METHOD_PUT);
            return;
        case M_DELETE:
            forge_req_set_method_id(req, FORGE_METHOD_DELETE);
            return;
        case M_OPTIONS:
            forge_req_set_method_id(req, FORGE_METHOD_OPTIONS);
            return;
        case M_PATCH:
            forge_req_set_method_id(req, FORGE_METHOD_PATCH);
            return;
        default:
            forge_req_set_method(req, r->method, strlen(r->method));
            return;
    }
}

/* Method, target, headers (repeats in order), peer and scheme. */
static int forge_translate(request_rec *r, forge_req *req, forge_framing *fr)
{
    const char *uri = r->unparsed_uri, *q, *ip = r->useragent_ip;
    const char *scheme = ap_http_scheme(r);
    char peer[128];
    int port, rc;

    forge_translate_method(r, req);
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

    rc = forge_copy_headers(r, req, fr);
    if (rc != FORGE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "mod_forge: request headers refused: %s",
                      forge_strerror(rc));
        return HTTP_BAD_REQUEST;
    }

    port = r->useragent_addr ? r->useragent_addr->port : 0;
    if (r->useragent_addr && (r->useragent_addr->family == APR_INET
#if APR_HAVE_IPV6
                              || r->useragent_addr->family == APR_INET6
#endif
                              )) {
        /* the address itself (mod_remoteip updates it with the text):
           formatted by Forge only if asked for */
        forge_req_set_peer_addr(
            req, (const struct sockaddr *)&r->useragent_addr->sa);
    }
    else if (ip && strchr(ip, ':') && strlen(ip) + 3 <= sizeof(peer)) {
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
static int forge_read_body(request_rec *r, forge_req *req,
                           const forge_framing *fr, char **bodyp)
{
    const char *te = fr->transfer_encoding, *cl = fr->content_length;
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
    forge_ap_waiter *w = ctx->waiter;
    int woken;

    pthread_mutex_lock(&w->mu);
    while (!ctx->woken) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += FORGE_WAIT_TICK_SEC;
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT &&
            !ctx->woken) {
            pthread_mutex_unlock(&w->mu);
            if (forge_client_gone(ctx->r)) {
                return 0;
            }
            pthread_mutex_lock(&w->mu);
        }
    }
    woken = ctx->woken;
    ctx->woken = 0;
    pthread_mutex_unlock(&w->mu);
    return woken;
}

/* ---- the thread's waiter ---- */

static pthread_key_t forge_waiter_key;

static void forge_waiter_free(void *data)
{
    forge_ap_waiter *w = data;

    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/*
 * The key goes with the child's pool, after the MPM has joined its worker
 * threads (their waiters were freed as they exited): no destructor of this
 * module can run once the module is unloaded.
 */
static apr_status_t forge_waiters_fini(void *data)
{
    pthread_key_delete(forge_waiter_key);
    return APR_SUCCESS;
}

int forge_ap_waiters_init(apr_pool_t *pchild)
{
    int rc = pthread_key_create(&forge_waiter_key, forge_waiter_free);

    if (rc == 0) {
        apr_pool_cleanup_register(pchild, NULL, forge_waiters_fini,
                                  apr_pool_cleanup_null);
    }
    return rc;
}

forge_ap_waiter *forge_ap_waiter_get(void)
{
    forge_ap_waiter *w = pthread_getspecific(forge_waiter_key);

    if (w) {
        return w;
    }
    w = malloc(sizeof(*w));
    if (!w) {
        return NULL;
    }
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return NULL;
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    if (pthread_setspecific(forge_waiter_key, w) != 0) {
        forge_waiter_free(w);
        return NULL;
    }
    return w;
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
    forge_framing fr = {NULL, NULL};
    forge_req *req = NULL;
    char *body = NULL;
    int rc, status;

    ctx->r = r;
    ctx->waiter = forge_ap_waiter_get();
    if (ctx->waiter) {
        req = forge_req_new(host, ctx);
    }
    if (!req) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "mod_forge: out of memory for a request");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    status = forge_translate(r, req, &fr);
    if (status == OK) {
        status = forge_read_body(r, req, &fr, &body);
    }
    if (status != OK) {
        forge_req_release(req);
        return status;
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
