
/*
 * ngx_http_forge_module: Forge inside nginx.
 *
 * The module translates between nginx's request and Forge's host contract
 * (forge/host.h) and holds no business logic: routing, middleware, handlers
 * and their responses are Forge's. One app is loaded per http{} block in the
 * master before fork; a location with `forge;` hands its requests to the
 * app's router.
 *
 * Threads: everything here runs on the worker's event loop thread, except
 * ngx_http_forge_wake(), which Forge calls from any thread, and the log sink.
 */

#ifndef _NGX_HTTP_FORGE_MODULE_H_INCLUDED_
#define _NGX_HTTP_FORGE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <forge/host.h>
#include <forge/log.h>


typedef struct {
    ngx_str_t  app; /* forge_app: the app .so, full path */
    ngx_str_t  config; /* forge_config: the app's config file, or empty */
    ngx_str_t  app_file; /* where forge_app was set, for messages */
    ngx_uint_t app_line;
    ngx_uint_t used; /* some location says `forge;` */

    forge_host *host; /* owned: freed with the cycle's pool */
    forge_app  *fapp; /* owned by host */
} ngx_http_forge_main_conf_t;


typedef struct {
    ngx_flag_t enable;
} ngx_http_forge_loc_conf_t;


/*
 * Per request, allocated from r->pool; Forge's request handle (hreq) is a
 * pointer to it. Forge's borrowed request strings are copies in Forge's own
 * request arena (not r->pool): a blocking handler may still read them on a
 * pool thread after the client has gone and nginx has freed the request.
 */
typedef struct {
    ngx_http_request_t *request;
    forge_req          *freq;

    /*
     * The worker's queue of requests to resume. `queue` and `queued` are
     * guarded by the worker's wake lock; everything else belongs to the
     * event loop thread.
     */
    ngx_queue_t queue;
    ngx_uint_t  queued;

    ngx_chain_t *free; /* output buffers to reuse */
    ngx_chain_t *busy; /* output buffers nginx still holds */
    ngx_int_t    rc; /* the last send_header/output filter result */

    unsigned async : 1; /* dispatch returned FORGE_ASYNC */
    unsigned holding : 1; /* counted in the worker's pending requests */
    unsigned header_sent : 1;
    unsigned header_only : 1; /* HEAD: nginx sends no body */
    unsigned streaming : 1; /* head sent without a Content-Length */
    unsigned last : 1; /* the last body bytes were handed to nginx */
    unsigned released : 1; /* forge_req_release was called */
} ngx_http_forge_ctx_t;


extern ngx_module_t   ngx_http_forge_module;
extern forge_host_ops ngx_http_forge_ops;


/* ngx_http_forge_handler.c */
ngx_int_t ngx_http_forge_handler(ngx_http_request_t *r);
void      ngx_http_forge_resume(ngx_http_forge_ctx_t *ctx);

/* ngx_http_forge_output.c */
int ngx_http_forge_send_head(void *hreq, int status,
    const forge_header *headers, size_t nheaders, int64_t content_length);
int ngx_http_forge_send_body(
    void *hreq, const void *data, size_t len, unsigned flags);
void ngx_http_forge_output_pending(
    ngx_http_request_t *r, ngx_http_forge_ctx_t *ctx);

/* ngx_http_forge_wake.c */
ngx_int_t ngx_http_forge_wake_init(ngx_cycle_t *cycle);
void      ngx_http_forge_wake_done(ngx_cycle_t *cycle);
void      ngx_http_forge_wake(void *hreq);
void      ngx_http_forge_wake_cancel(ngx_http_forge_ctx_t *ctx);
void      ngx_http_forge_hold(ngx_http_forge_ctx_t *ctx);
void      ngx_http_forge_unhold(ngx_http_forge_ctx_t *ctx);


#endif /* _NGX_HTTP_FORGE_MODULE_H_INCLUDED_ */
