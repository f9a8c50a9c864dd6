
/*
 * ngx_http_forge_module: the content handler of `forge;` locations.
 *
 * A request is translated into a forge_req (method, raw target, headers,
 * peer, scheme, body), dispatched, and either completes at once or, when
 * Forge answers FORGE_ASYNC (a blocking route on Forge's pool, a stream, a
 * handler finishing later), stays open with r->main->count held until
 * Forge wakes the worker (ngx_http_forge_wake.c) and a resume completes it.
 *
 * A forge request is released exactly once: when it completes, or from the
 * request's cleanup handler when nginx ends the request first (the client
 * went away, a timeout, a body that could not be read).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <forge/request.h>

#include "ngx_http_forge_module.h"


static ngx_int_t ngx_http_forge_translate(
    ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx);
static ngx_int_t ngx_http_forge_run(
    ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx);
static ngx_int_t ngx_http_forge_has_body(ngx_http_request_t *r);
static void      ngx_http_forge_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_forge_set_body(
    ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx);
static ngx_int_t ngx_http_forge_dispatch(
    ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx);
static ngx_int_t ngx_http_forge_done(
    ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx);
static void ngx_http_forge_release(ngx_http_forge_ctx_t *ctx);
static void ngx_http_forge_cleanup(void *data);


ngx_int_t
ngx_http_forge_handler(ngx_http_request_t *r)
{
    off_t                       limit;
    ngx_int_t                   rc;
    ngx_http_cleanup_t         *cln;
    ngx_http_forge_ctx_t       *ctx;
    ngx_http_forge_main_conf_t *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_forge_module);
    if (mcf->host == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_forge_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->freq = forge_req_new(mcf->host, ctx);
    if (ctx->freq == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_forge_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_forge_module);

    rc = ngx_http_forge_translate(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!ngx_http_forge_has_body(r)) {
        return ngx_http_forge_run(r, ctx);
    }

    limit = (off_t) forge_req_body_limit(ctx->freq);

    if (r->headers_in.content_length_n > limit) {
        /*
         * Refused without reading: Forge answers 413 (problem+json) from
         * the claimed length, nginx discards the body.
         */
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        forge_req_set_body(
            ctx->freq, NULL, (size_t) r->headers_in.content_length_n);

        return ngx_http_forge_run(r, ctx);
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_forge_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* Dispatch from the content handler, no body to read. */
static ngx_int_t
ngx_http_forge_run(ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx)
{
    ngx_int_t rc;

    rc = ngx_http_forge_dispatch(r, ctx);

    if (rc == NGX_DONE) {
        /* held until the resume that completes the request */
        r->main->count++;
        ngx_http_forge_output_pending(r, ctx);
    }

    return rc;
}


/*
 * Forge copies the request line, headers and peer into its request arena as
 * they are set (a handler on Forge's pool may outlive r->pool when the
 * client goes away), so they are handed over straight from nginx's buffers.
 * The method goes over as Forge's id when nginx parsed it into one of
 * Forge's, the peer as the socket address (formatted only if asked for).
 */
static ngx_int_t
ngx_http_forge_translate(ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx)
{
    int               rc;
    u_char           *uri, *end, *qm;
    ngx_uint_t        i;
    forge_req        *req;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_connection_t *c;

    c = r->connection;
    req = ctx->freq;

    switch (r->method) {
    case NGX_HTTP_GET:
        forge_req_set_method_id(req, FORGE_METHOD_GET);
        break;
    case NGX_HTTP_HEAD:
        forge_req_set_method_id(req, FORGE_METHOD_HEAD);
        break;
    case NGX_HTTP_POST:
        forge_req_set_method_id(req, FORGE_METHOD_POST);
        break;
    case NGX_HTTP_PUT:
        forge_req_set_method_id(req, FORGE_METHOD_PUT);
        break;
    case NGX_HTTP_DELETE:
        forge_req_set_method_id(req, FORGE_METHOD_DELETE);
        break;
    case NGX_HTTP_PATCH:
        forge_req_set_method_id(req, FORGE_METHOD_PATCH);
        break;
    case NGX_HTTP_OPTIONS:
        forge_req_set_method_id(req, FORGE_METHOD_OPTIONS);
        break;
    default:
        forge_req_set_method(
            req, (char *) r->method_name.data, r->method_name.len);
        break;
    }

    uri = r->unparsed_uri.data;
    end = uri + r->unparsed_uri.len;
    qm = ngx_strlchr(uri, end, '?');

    if (qm) {
        forge_req_set_target(
            req, (char *) uri, qm - uri, (char *) qm + 1, end - qm - 1);

    } else {
        forge_req_set_target(req, (char *) uri, end - uri, NULL, 0);
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        rc = forge_req_add_header(req, (char *) h[i].key.data, h[i].key.len,
            (char *) h[i].value.data, h[i].value.len);

        if (rc != 0) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                "forge: request header \"%V\" refused: %s", &h[i].key,
                forge_strerror(rc));
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    switch (c->sockaddr->sa_family) {
    case AF_INET:
#if (NGX_HAVE_INET6)
    case AF_INET6:
#endif
        forge_req_set_peer_addr(req, c->sockaddr);
        break;
    default:
        forge_req_set_peer(req, (char *) c->addr_text.data, c->addr_text.len,
            (int) ngx_inet_get_port(c->sockaddr));
        break;
    }

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        forge_req_set_scheme(req, "https", sizeof("https") - 1);

    } else
#endif
    {
        forge_req_set_scheme(req, "http", sizeof("http") - 1);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_forge_has_body(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    if (r->stream) {
        return 1;
    }
#endif

    return r->headers_in.content_length_n > 0 || r->headers_in.chunked;
}


static void
ngx_http_forge_body_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_http_forge_ctx_t *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_forge_module);

    rc = ngx_http_forge_set_body(r, ctx);

    if (rc == NGX_OK) {
        rc = ngx_http_forge_dispatch(r, ctx);

        if (rc == NGX_DONE) {
            /* r->main->count taken by reading the body stays held */
            ngx_http_forge_output_pending(r, ctx);
            return;
        }
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * The body nginx read (client_max_body_size applied) may sit in memory
 * buffers, a temporary file, or both: it is gathered into one contiguous
 * copy in Forge's arena.
 */
static ngx_int_t
ngx_http_forge_set_body(ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx)
{
    off_t                    size, len, limit;
    u_char                  *start, *p;
    ssize_t                  n;
    ngx_buf_t               *b;
    ngx_chain_t             *cl;
    ngx_http_request_body_t *rb;

    rb = r->request_body;

    if (rb == NULL) {
        return NGX_OK;
    }

    size = 0;

    for (cl = rb->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size == 0) {
        return NGX_OK;
    }

    limit = (off_t) forge_req_body_limit(ctx->freq);

    if (size > limit) {
        /* a chunked body past the route's limit: Forge answers 413 */
        forge_req_set_body(ctx->freq, NULL, (size_t) size);
        return NGX_OK;
    }

    start = forge_req_alloc(ctx->freq, (size_t) size);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = start;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        len = b->file_last - b->file_pos;

        if (len == 0) {
            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) len, b->file_pos);

        if (n != (ssize_t) len) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                "forge: reading the request body from \"%V\" "
                "returned %z of %O bytes",
                &b->file->name, n, len);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += len;
    }

    forge_req_set_body(ctx->freq, start, (size_t) size);

    return NGX_OK;
}


/*
 * Returns what the content phase should finalize the request with, or
 * NGX_DONE when Forge completes the request later.
 */
static ngx_int_t
ngx_http_forge_dispatch(ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx)
{
    int rc;

    rc = forge_req_dispatch(ctx->freq);

    if (rc != FORGE_ASYNC) {
        return ngx_http_forge_done(r, ctx);
    }

    ctx->async = 1;

    if (!ctx->streaming) {
        ngx_http_forge_hold(ctx);
    }

    /* notice a client that goes away while Forge works */
    r->read_event_handler = ngx_http_test_reading;

    return NGX_DONE;
}


void
ngx_http_forge_resume(ngx_http_forge_ctx_t *ctx)
{
    int                 rc;
    ngx_connection_t   *c;
    ngx_http_request_t *r;

    r = ctx->request;
    c = r->connection;

    ngx_log_debug1(
        NGX_LOG_DEBUG_HTTP, c->log, 0, "forge resume \"%V\"", &r->uri);

    rc = forge_req_resume(ctx->freq);

    if (rc == FORGE_ASYNC) {
        ngx_http_forge_output_pending(r, ctx);

    } else {
        ngx_http_finalize_request(r, ngx_http_forge_done(r, ctx));
    }

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_forge_done(ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx)
{
    ngx_http_forge_release(ctx);

    if (!ctx->header_sent) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
            "forge: request completed without a response");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->rc == NGX_ERROR || ctx->header_only) {
        return ctx->rc;
    }

    if (!ctx->last) {
        /* ended without FORGE_SEND_LAST: end the body for the client */
        ctx->rc = ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    return ctx->rc;
}


static void
ngx_http_forge_release(ngx_http_forge_ctx_t *ctx)
{
    if (ctx->released) {
        return;
    }

    ngx_http_forge_wake_cancel(ctx);
    ngx_http_forge_unhold(ctx);

    ctx->released = 1;
    forge_req_release(ctx->freq);
}


static void
ngx_http_forge_cleanup(void *data)
{
    ngx_http_forge_ctx_t *ctx = data;

    if (!ctx->released) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
            "forge request ended by nginx before completion");
    }

    ngx_http_forge_release(ctx);
}
