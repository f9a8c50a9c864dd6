
/*
 * ngx_http_forge_module: waking the worker's event loop from Forge's
 * threads.
 *
 * Forge calls ops->wake(hreq) from any thread (a pool thread finishing a
 * blocking route, a thread writing to a stream). Each worker has one
 * eventfd in its event loop and a queue of requests to resume, guarded by a
 * mutex. wake() queues the request once and writes the eventfd when the
 * queue was empty; the event handler drains the queue on the loop thread
 * and calls forge_req_resume for each request. A request leaves the queue
 * when it is resumed or, from its cleanup, when nginx ends it first; Forge
 * never wakes a request after forge_req_release, so no stale entry remains.
 *
 * nginx's own ngx_notify() is not used: it has one handler slot per worker,
 * which nginx's thread pools set on every call.
 *
 * A graceful shutdown (reload, quit) lets a worker exit once no
 * uncancelable timer is left. Requests waiting for Forge hold one such timer
 * so they complete before the worker exits; streams already sending do not,
 * so a reload is not held up by a long-lived stream.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <pthread.h>
#include <sys/eventfd.h>

#include "ngx_http_forge_module.h"


/* the most requests one wake event resumes before the loop runs others */
#define NGX_HTTP_FORGE_WAKE_BATCH 256

/* any period will do: the timer only has to exist */
#define NGX_HTTP_FORGE_HOLD_MSEC 60000


typedef struct {
    int               fd; /* the eventfd; constant while workers run */
    ngx_connection_t *conn;

    pthread_mutex_t lock;
    ngx_queue_t     queue; /* of ngx_http_forge_ctx_t, under lock */

    ngx_uint_t  pending; /* requests holding a graceful shutdown */
    ngx_event_t hold;
} ngx_http_forge_worker_t;


static void ngx_http_forge_wake_handler(ngx_event_t *rev);
static void ngx_http_forge_signal(ngx_http_forge_worker_t *w);
static void ngx_http_forge_hold_handler(ngx_event_t *ev);


static ngx_http_forge_worker_t ngx_http_forge_worker;


ngx_int_t
ngx_http_forge_wake_init(ngx_cycle_t *cycle)
{
    int                      fd;
    ngx_event_t             *rev;
    ngx_connection_t        *c;
    ngx_http_forge_worker_t *w;

    w = &ngx_http_forge_worker;

    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        return NGX_ERROR;
    }

    ngx_queue_init(&w->queue);

    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd == -1) {
        ngx_log_error(
            NGX_LOG_EMERG, cycle->log, ngx_errno, "forge: eventfd() failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        (void) close(fd);
        return NGX_ERROR;
    }

    c->log = cycle->log;

    rev = c->read;
    rev->log = cycle->log;
    rev->handler = ngx_http_forge_wake_handler;
    c->write->log = cycle->log;

    if (ngx_add_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    w->fd = fd;
    w->conn = c;

    w->hold.handler = ngx_http_forge_hold_handler;
    w->hold.log = cycle->log;
    w->hold.data = w;
    w->hold.cancelable = 0;

    return NGX_OK;
}


void
ngx_http_forge_wake_done(ngx_cycle_t *cycle)
{
    ngx_http_forge_worker_t *w;

    w = &ngx_http_forge_worker;

    if (w->hold.timer_set) {
        ngx_del_timer(&w->hold);
    }

    if (w->conn) {
        /* closed here, or nginx reports it as a socket left open */
        ngx_close_connection(w->conn);
        w->conn = NULL;
        w->fd = -1;
    }
}


/* Any thread. */
void
ngx_http_forge_wake(void *hreq)
{
    ngx_http_forge_ctx_t *ctx = hreq;

    ngx_uint_t               was_empty;
    ngx_http_forge_worker_t *w;

    w = &ngx_http_forge_worker;
    was_empty = 0;

    pthread_mutex_lock(&w->lock);

    if (!ctx->queued) {
        was_empty = ngx_queue_empty(&w->queue);
        ngx_queue_insert_tail(&w->queue, &ctx->queue);
        ctx->queued = 1;
    }

    pthread_mutex_unlock(&w->lock);

    if (was_empty) {
        ngx_http_forge_signal(w);
    }
}


static void
ngx_http_forge_signal(ngx_http_forge_worker_t *w)
{
    uint64_t one = 1;

    /*
     * EAGAIN means the counter is saturated: a wake is pending anyway. Any
     * other failure leaves queued requests until the next wake; it cannot
     * happen with a valid eventfd.
     */
    if (write(w->fd, &one, sizeof(one)) != (ssize_t) sizeof(one)) {
        return;
    }
}


void
ngx_http_forge_wake_cancel(ngx_http_forge_ctx_t *ctx)
{
    ngx_http_forge_worker_t *w;

    w = &ngx_http_forge_worker;

    pthread_mutex_lock(&w->lock);

    if (ctx->queued) {
        ngx_queue_remove(&ctx->queue);
        ctx->queued = 0;
    }

    pthread_mutex_unlock(&w->lock);
}


static void
ngx_http_forge_wake_handler(ngx_event_t *rev)
{
    uint64_t                 n;
    ngx_uint_t               i, more;
    ngx_queue_t             *q;
    ngx_http_forge_ctx_t    *ctx;
    ngx_http_forge_worker_t *w;

    w = &ngx_http_forge_worker;

    /* reset the counter before draining: a wake after this signals again */
    if (read(w->fd, &n, sizeof(n)) == -1 && ngx_errno != NGX_EAGAIN) {
        ngx_log_error(NGX_LOG_ALERT, rev->log, ngx_errno,
            "forge: reading the wake eventfd failed");
    }

    more = 0;

    for (i = 0; /* void */; i++) {

        pthread_mutex_lock(&w->lock);

        if (ngx_queue_empty(&w->queue)) {
            pthread_mutex_unlock(&w->lock);
            break;
        }

        if (i == NGX_HTTP_FORGE_WAKE_BATCH) {
            pthread_mutex_unlock(&w->lock);
            more = 1;
            break;
        }

        q = ngx_queue_head(&w->queue);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_forge_ctx_t, queue);
        ctx->queued = 0;

        pthread_mutex_unlock(&w->lock);

        /* released requests were taken off the queue by their cleanup */
        ngx_http_forge_resume(ctx);
    }

    if (more) {
        /* let other events run, then come back for the rest */
        ngx_http_forge_signal(w);
    }
}


void
ngx_http_forge_hold(ngx_http_forge_ctx_t *ctx)
{
    ngx_http_forge_worker_t *w;

    if (ctx->holding) {
        return;
    }

    w = &ngx_http_forge_worker;

    ctx->holding = 1;

    if (w->pending++ == 0 && !w->hold.timer_set && w->hold.handler) {
        ngx_add_timer(&w->hold, NGX_HTTP_FORGE_HOLD_MSEC);
    }
}


void
ngx_http_forge_unhold(ngx_http_forge_ctx_t *ctx)
{
    ngx_http_forge_worker_t *w;

    if (!ctx->holding) {
        return;
    }

    w = &ngx_http_forge_worker;

    ctx->holding = 0;

    if (--w->pending == 0 && w->hold.timer_set) {
        ngx_del_timer(&w->hold);
    }
}


static void
ngx_http_forge_hold_handler(ngx_event_t *ev)
{
    ngx_http_forge_worker_t *w = ev->data;

    if (w->pending) {
        ngx_add_timer(ev, NGX_HTTP_FORGE_HOLD_MSEC);
    }
}
