/*
 * mod_forge: Forge's response into Apache's output filters.
 *
 * send_head fills r->status and r->headers_out (strings copied into r->pool:
 * Forge lends them for the call only); send_body passes the bytes down the
 * output filters as a transient bucket (a filter that keeps them sets them
 * aside, copying), with a FLUSH bucket when Forge flushes and EOS at the end.
 * A whole body gets a Content-Length; a streamed one gets none, so Apache
 * frames it (chunked on HTTP/1.1). Date, Server and Connection are Apache's.
 *
 * Both run only on the request's Apache thread, inside forge_req_dispatch
 * or forge_req_resume. forge_ap_wake runs on any thread.
 */
#include "httpd.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "util_filter.h"

#include "apr_buckets.h"
#include "apr_strings.h"

#include <stdlib.h>
#include <string.h>

#include "mod_forge.h"

APLOG_USE_MODULE(forge);

/* `h` is named `lit` (an ASCII letter first); length and first letter first */
#define FORGE_IS(h, lit)                                                       \
    ((h)->name.n == sizeof(lit) - 1 &&                                         \
     ((h)->name.p[0] | 0x20) == (lit[0] | 0x20) &&                             \
     strncasecmp((h)->name.p, lit, sizeof(lit) - 1) == 0)

/*
 * A status Apache has no line for keeps its own code and Forge's reason.
 * Apache answers an unknown code with its class's first line ("500 ..." for
 * 599): the line is Apache's own when its three digits are the code's.
 */
static void forge_status_line(request_rec *r, int status)
{
    const char *line = ap_get_status_line(status);

    if (status < 100 || status > 999 || line[0] != '0' + status / 100 ||
        line[1] != '0' + status / 10 % 10 || line[2] != '0' + status % 10) {
        r->status_line = apr_psprintf(r->pool, "%03d %s", status,
                                      forge_status_reason(status));
    }
}

/* "close" among the comma-separated tokens of a Connection value. */
static int forge_says_close(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i + 5 <= n; i++) {
        if (strncasecmp(p + i, "close", 5) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Forge lends the strings for this call only; r->headers_out is read after
 * the request is released (the log, other modules): a copy in r->pool, name
 * and value in one block.
 */
static void forge_set_header(request_rec *r, const forge_header *h)
{
    char *name, *value;

    if (h->name.n == 0 || FORGE_IS(h, "Content-Length") ||
        FORGE_IS(h, "Transfer-Encoding") || FORGE_IS(h, "Keep-Alive")) {
        return; /* Apache frames the body and manages the connection */
    }
    if (FORGE_IS(h, "Connection")) {
        if (forge_says_close(h->value.p, h->value.n)) {
            r->connection->keepalive = AP_CONN_CLOSE;
        }
        return;
    }
    if (FORGE_IS(h, "Content-Type")) {
        ap_set_content_type(r, apr_pstrmemdup(r->pool, h->value.p, h->value.n));
        return;
    }
    name = apr_palloc(r->pool, h->name.n + h->value.n + 2);
    memcpy(name, h->name.p, h->name.n);
    name[h->name.n] = '\0';
    value = name + h->name.n + 1;
    memcpy(value, h->value.p, h->value.n);
    value[h->value.n] = '\0';
    apr_table_addn(r->headers_out, name, value);
}

/* Hand `bb` to the output filters and empty it. */
static int forge_pass(forge_ap_ctx *ctx)
{
    request_rec *r = ctx->r;
    apr_status_t rv = ap_pass_brigade(r->output_filters, ctx->bb);

    apr_brigade_cleanup(ctx->bb);
    if (rv != APR_SUCCESS || r->connection->aborted) {
        ctx->failed = 1;
        return FORGE_EIO;
    }
    return 0;
}

int forge_ap_send_head(void *hreq, int status, const forge_header *headers,
                       size_t nheaders, int64_t content_length)
{
    forge_ap_ctx *ctx = hreq;
    request_rec *r = ctx->r;
    size_t i;

    if (ctx->head_sent) {
        return FORGE_ESTATE;
    }
    if (r->connection->aborted) {
        return FORGE_EIO;
    }
    r->status = status;
    forge_status_line(r, status);
    for (i = 0; i < nheaders; i++) {
        forge_set_header(r, &headers[i]);
    }
    ctx->head_sent = 1;
    ctx->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);

    if (content_length >= 0) {
        ap_set_content_length(r, (apr_off_t)content_length);
        return 0; /* the head goes out with the body */
    }
    if (r->header_only) {
        return 0;
    }
    /* a stream: the head goes out now, the body as it comes */
    APR_BRIGADE_INSERT_TAIL(ctx->bb,
                            apr_bucket_flush_create(ctx->bb->bucket_alloc));
    return forge_pass(ctx);
}

int forge_ap_send_body(void *hreq, const void *data, size_t len, unsigned flags)
{
    forge_ap_ctx *ctx = hreq;
    request_rec *r = ctx->r;
    apr_bucket_alloc_t *ba;

    if (!ctx->head_sent || ctx->last_sent) {
        return FORGE_ESTATE;
    }
    if (ctx->failed || r->connection->aborted) {
        return FORGE_EIO;
    }
    ba = ctx->bb->bucket_alloc;
    if (len && !r->header_only) {
        APR_BRIGADE_INSERT_TAIL(ctx->bb,
                                apr_bucket_transient_create(data, len, ba));
    }
    if (flags & FORGE_SEND_LAST) {
        ctx->last_sent = 1;
        APR_BRIGADE_INSERT_TAIL(ctx->bb, apr_bucket_eos_create(ba));
    }
    else if (flags & FORGE_SEND_FLUSH) {
        APR_BRIGADE_INSERT_TAIL(ctx->bb, apr_bucket_flush_create(ba));
    }
    if (APR_BRIGADE_EMPTY(ctx->bb)) {
        return 0;
    }
    return forge_pass(ctx);
}

void forge_ap_wake(void *hreq)
{
    forge_ap_ctx *ctx = hreq;
    forge_ap_waiter *w = ctx->waiter;

    pthread_mutex_lock(&w->mu);
    ctx->woken = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}
