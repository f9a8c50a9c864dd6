
/*
 * ngx_http_forge_module: Forge's response into nginx's output filters.
 *
 * send_head fills r->headers_out and sends the header; send_body copies each
 * piece of the body into a buffer of the request (reused once nginx has
 * written it, so a long-lived stream does not grow r->pool) and passes it to
 * the output filters. A whole body has a Content-Length; a streamed one has
 * none, and nginx frames it (chunked on HTTP/1.1, DATA frames on HTTP/2).
 *
 * Both run only on the worker's event loop thread, inside
 * forge_req_dispatch or forge_req_resume.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_forge_module.h"


static ngx_int_t ngx_http_forge_set_status_line(
    ngx_http_request_t *r, int status);
static ngx_int_t ngx_http_forge_set_header(
    ngx_http_request_t *r, const forge_header *fh);
static void ngx_http_forge_write_handler(ngx_http_request_t *r);


#define ngx_http_forge_is(fh, s)                                               \
    ((fh)->name.n == sizeof(s) - 1                                             \
        && ngx_strncasecmp(                                                    \
               (u_char *) (fh)->name.p, (u_char *) s, sizeof(s) - 1)           \
            == 0)


int
ngx_http_forge_send_head(void *hreq, int status, const forge_header *headers,
    size_t nheaders, int64_t content_length)
{
    ngx_http_forge_ctx_t *ctx = hreq;

    size_t              i;
    ngx_int_t           rc;
    ngx_http_request_t *r;

    r = ctx->request;

    if (ctx->header_sent) {
        return FORGE_ESTATE;
    }

    if (r->connection->error) {
        return FORGE_EIO;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = content_length;

    if (ngx_http_forge_set_status_line(r, status) != NGX_OK) {
        return FORGE_ENOMEM;
    }

    for (i = 0; i < nheaders; i++) {
        if (ngx_http_forge_set_header(r, &headers[i]) != NGX_OK) {
            return FORGE_ENOMEM;
        }
    }

    ctx->header_sent = 1;

    if (content_length < 0) {
        /* a stream may stay open: it does not hold a graceful shutdown */
        ctx->streaming = 1;
        ngx_http_forge_unhold(ctx);
    }

    rc = ngx_http_send_header(r);
    ctx->rc = rc;

    if (rc == NGX_ERROR || rc > NGX_OK) {
        ctx->rc = NGX_ERROR;
        return FORGE_EIO;
    }

    if (r->header_only) {
        ctx->header_only = 1;
    }

    return 0;
}


/*
 * nginx writes the reason phrase of the statuses it knows (HTTP/1.x); for
 * the others (418, 422, 451...) it would send the code alone, so Forge's
 * reason phrase goes into the status line.
 */
static ngx_int_t
ngx_http_forge_set_status_line(ngx_http_request_t *r, int status)
{
    u_char     *p;
    size_t      len;
    const char *reason;

    if ((status >= 200 && status <= 206) || (status >= 301 && status <= 304)
        || status == 307 || status == 308 || (status >= 400 && status <= 416)
        || status == 421 || status == 429 || (status >= 500 && status <= 504)
        || status == 507 || status < 200 || status > 599)
    {
        return NGX_OK;
    }

    reason = forge_status_reason(status);

    if (ngx_strcmp(reason, "Unknown") == 0) {
        return NGX_OK;
    }

    len = ngx_strlen(reason);

    p = ngx_pnalloc(r->pool, sizeof("000 ") - 1 + len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.status_line.data = p;
    r->headers_out.status_line.len =
        ngx_sprintf(p, "%03d %s", status, reason) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_forge_set_header(ngx_http_request_t *r, const forge_header *fh)
{
    u_char          *p;
    ngx_table_elt_t *h;

    if (fh->name.n == 0) {
        return NGX_OK;
    }

    if (ngx_http_forge_is(fh, "Content-Length")
        || ngx_http_forge_is(fh, "Transfer-Encoding")
        || ngx_http_forge_is(fh, "Keep-Alive"))
    {
        /* nginx frames the body and manages the connection */
        return NGX_OK;
    }

    if (ngx_http_forge_is(fh, "Connection")) {
        if (ngx_strlcasestrn((u_char *) fh->value.p,
                (u_char *) fh->value.p + fh->value.n, (u_char *) "close",
                sizeof("close") - 2)
            != NULL)
        {
            r->keepalive = 0;
        }

        return NGX_OK;
    }

    /* the header filters may read headers_out after this call: copy */
    p = ngx_pnalloc(r->pool, fh->name.n + fh->value.n);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, fh->name.p, fh->name.n);
    ngx_memcpy(p + fh->name.n, fh->value.p, fh->value.n);

    if (ngx_http_forge_is(fh, "Content-Type")) {
        r->headers_out.content_type.len = fh->value.n;
        r->headers_out.content_type.data = p + fh->name.n;
        r->headers_out.content_type_len = fh->value.n;
        r->headers_out.content_type_lowcase = NULL;
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.len = fh->name.n;
    h->key.data = p;
    h->value.len = fh->value.n;
    h->value.data = p + fh->name.n;
    h->lowcase_key = NULL;

    if (ngx_http_forge_is(fh, "Content-Encoding")) {
        /* gzip and gunzip filters look here */
        r->headers_out.content_encoding = h;
    }

    return NGX_OK;
}


int
ngx_http_forge_send_body(
    void *hreq, const void *data, size_t len, unsigned flags)
{
    ngx_http_forge_ctx_t *ctx = hreq;

    u_char             *p;
    ngx_buf_t          *b;
    ngx_int_t           rc;
    ngx_chain_t        *cl;
    ngx_http_request_t *r;

    r = ctx->request;

    if (!ctx->header_sent || ctx->last) {
        return FORGE_ESTATE;
    }

    if (ctx->rc == NGX_ERROR) {
        return FORGE_EIO;
    }

    if (ctx->header_only) {
        ctx->last = (flags & FORGE_SEND_LAST) ? 1 : 0;
        return 0;
    }

    if (len == 0 && flags == 0) {
        return 0;
    }

    cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
    if (cl == NULL) {
        return FORGE_ENOMEM;
    }

    b = cl->buf;

    if (len > (size_t) (b->end - b->start)) {
        if (b->start) {
            ngx_pfree(r->pool, b->start);
        }

        p = ngx_palloc(r->pool, len);
        if (p == NULL) {
            return FORGE_ENOMEM;
        }

        b->start = p;
        b->end = p + len;
    }

    b->pos = b->start;
    b->last = len ? ngx_cpymem(b->start, data, len) : b->start;
    b->temporary = len ? 1 : 0;
    b->tag = (ngx_buf_tag_t) &ngx_http_forge_module;

    b->flush = (flags & FORGE_SEND_FLUSH) ? 1 : 0;
    b->last_in_chain = (flags & FORGE_SEND_LAST) ? 1 : 0;
    b->last_buf = (b->last_in_chain && r == r->main) ? 1 : 0;

    if (len == 0 && !b->flush && !b->last_buf && !b->last_in_chain) {
        b->sync = 1;
    }

    rc = ngx_http_output_filter(r, cl);

    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &cl, b->tag);

    ctx->rc = rc;

    if (flags & FORGE_SEND_LAST) {
        ctx->last = 1;
    }

    if (rc == NGX_ERROR) {
        return FORGE_EIO;
    }

    return 0;
}


/*
 * A response still open (FORGE_ASYNC after a resume) whose bytes nginx could
 * not all write yet: finish writing them when the socket is writable, with
 * nginx's send_timeout. Once the response is complete, the request is
 * finalized and nginx's own writer takes over.
 */
void
ngx_http_forge_output_pending(ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx)
{
    ngx_event_t              *wev;
    ngx_connection_t         *c;
    ngx_http_core_loc_conf_t *clcf;

    c = r->connection;
    wev = c->write;

    if (!ctx->header_sent || ctx->rc == NGX_ERROR) {
        return;
    }

    if (!r->buffered && !c->buffered && !r->postponed) {
        if (wev->timer_set && !wev->delayed) {
            ngx_del_timer(wev);
        }

        r->write_event_handler = ngx_http_request_empty_handler;
        return;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    r->write_event_handler = ngx_http_forge_write_handler;

    if (!wev->delayed) {
        ngx_add_timer(wev, clcf->send_timeout);
    }

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        ctx->rc = NGX_ERROR;
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


static void
ngx_http_forge_write_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_chain_t          *out;
    ngx_event_t          *wev;
    ngx_connection_t     *c;
    ngx_http_forge_ctx_t *ctx;

    c = r->connection;
    wev = c->write;
    ctx = ngx_http_get_module_ctx(r, ngx_http_forge_module);

    if (wev->timedout) {
        ngx_log_error(
            NGX_LOG_INFO, c->log, NGX_ETIMEDOUT, "forge: client timed out");
        c->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    rc = ngx_http_output_filter(r, NULL);

    out = NULL;
    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
        (ngx_buf_tag_t) &ngx_http_forge_module);

    if (rc == NGX_ERROR) {
        ctx->rc = NGX_ERROR;
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    ngx_http_forge_output_pending(r, ctx);
}
