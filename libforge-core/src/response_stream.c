/*
 * Output hand-over between the thread producing a response and the host
 * thread sending it: streaming, async completion and the drain that calls
 * the host's send_head/send_body.
 *
 * Rules kept here:
 * - send_head/send_body run only in forge__req_drain, which runs only on the
 *   host thread (inside forge_req_dispatch or forge_req_resume).
 * - ops->wake runs under req->mu and only while `released` is false, so it is
 *   never called for a request the host has let go of. At most one wake is
 *   outstanding (wake_pending), cleared when the host drains.
 * - Producers on the host thread itself (a handler running inside dispatch)
 *   drain directly instead of waking: there is no loop turn to wait for.
 * - mu is skipped while the request is not `shared` (request_impl.h): the
 *   synchronous path takes no lock.
 */
#include "request_impl.h"

#include <stdlib.h>
#include <string.h>

static bool on_inline_thread(const forge_req *req)
{
    return req->inline_run && pthread_equal(pthread_self(), req->inline_thread);
}

/* With mu held: ask the host for a resume unless one is already due. */
static void wake_locked(forge_req *req)
{
    if (req->wake_pending || atomic_load_explicit(&req->released, memory_order_relaxed))
        return;
    req->wake_pending = true;
    req->host->ops.wake(req->hreq);
}

/* Output is due: drain now on the host thread, else wake the host. */
static void deliver(forge_req *req)
{
    pthread_mutex_lock(&req->mu);
    bool direct = on_inline_thread(req);
    if (!direct)
        wake_locked(req);
    pthread_mutex_unlock(&req->mu);
    if (direct)
        forge__req_drain(req);
}

int forge_res_stream_begin(forge_req *req)
{
    pthread_mutex_lock(&req->mu);
    if (req->streaming || req->head_committed || req->phase == FORGE__FINISHED) {
        pthread_mutex_unlock(&req->mu);
        return FORGE_ESTATE;
    }
    req->streaming = true;
    req->head_committed = true;
    forge__req_share(req); /* chunks may come from any thread */
    pthread_mutex_unlock(&req->mu);
    deliver(req);
    return FORGE_OK;
}

int forge_res_write(forge_req *req, const void *data, size_t len)
{
    if (len == 0)
        return FORGE_OK;
    if (!data)
        return FORGE_EINVAL;
    forge__chunk *c = malloc(sizeof(*c) + len);
    if (!c)
        return FORGE_ENOMEM;
    memcpy(c->data, data, len);
    c->len = len;
    c->flush = false;
    c->next = NULL;
    int rc = FORGE_OK;
    pthread_mutex_lock(&req->mu);
    if (!req->streaming || req->stream_ended)
        rc = FORGE_ESTATE;
    else if (req->host_gone || atomic_load_explicit(&req->released, memory_order_relaxed))
        rc = FORGE_ECANCELED;
    if (rc == FORGE_OK) {
        *req->chunks_tail = c;
        req->chunks_tail = &c->next;
        req->bytes_sent += len;
    }
    pthread_mutex_unlock(&req->mu);
    if (rc != FORGE_OK)
        free(c);
    return rc;
}

int forge_res_flush(forge_req *req)
{
    pthread_mutex_lock(&req->mu);
    int rc = FORGE_OK;
    if (!req->streaming)
        rc = FORGE_ESTATE;
    else if (req->host_gone || atomic_load_explicit(&req->released, memory_order_relaxed))
        rc = FORGE_ECANCELED;
    else
        req->flush_pending = true;
    pthread_mutex_unlock(&req->mu);
    if (rc == FORGE_OK)
        deliver(req);
    return rc;
}

/* A finish came (forge_req_finish or forge_res_end): complete now if the handler has already
 * returned FORGE_ASYNC. */
static int request_finish(forge_req *req, bool end_stream)
{
    pthread_mutex_lock(&req->mu);
    if (end_stream && (!req->streaming || req->stream_ended)) {
        pthread_mutex_unlock(&req->mu);
        return FORGE_ESTATE;
    }
    if (req->finish_requested && !end_stream) {
        pthread_mutex_unlock(&req->mu);
        return FORGE_ESTATE;
    }
    if (end_stream)
        req->stream_ended = true;
    bool was_requested = req->finish_requested;
    req->finish_requested = true;
    bool now = req->phase == FORGE__ASYNC && !was_requested;
    pthread_mutex_unlock(&req->mu);
    if (now) {
        forge__req_complete(req);
        forge__req_unref(req); /* the work reference the async handler held */
    }
    return FORGE_OK;
}

int forge_res_end(forge_req *req)
{
    return request_finish(req, true);
}

void forge_req_finish(forge_req *req)
{
    if (request_finish(req, false) == FORGE_ESTATE)
        forge_logf(req->app->log, FORGE_LOG_WARN, req,
                   "forge_req_finish called twice for %.*s (ignored)", (int)req->raw_path.n,
                   req->raw_path.p);
}

void forge__req_complete(forge_req *req)
{
    forge__mw_run_after(req);
    bool locked = forge__req_lock(req);
    req->phase = FORGE__FINISHED;
    req->head_committed = true;
    if (req->streaming)
        req->stream_ended = true;
    if (!on_inline_thread(req))
        wake_locked(req);
    forge__req_unlock(req, locked);
}

static int send_head(forge_req *req, const forge_host_ops *ops, bool streaming)
{
    int64_t cl = streaming ? -1 : (int64_t)req->res_body_len;
    int rc = ops->send_head(req->hreq, req->status, req->res_headers, req->nres_headers, cl);
    req->head_sent = true;
    return rc;
}

static void free_chunks(forge__chunk *c)
{
    while (c) {
        forge__chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* Streamed output: queued chunks, then the end marker once the response is complete. */
static int send_stream(forge_req *req, const forge_host_ops *ops, forge__chunk *c, bool flush,
                       bool finished)
{
    int rc = 0;
    bool sent = false;
    while (c) {
        forge__chunk *next = c->next;
        if (rc >= 0 && !req->head_only) {
            unsigned fl = (!next && flush && !finished) ? FORGE_SEND_FLUSH : 0;
            rc = ops->send_body(req->hreq, c->data, c->len, fl);
            sent = true;
        }
        free(c);
        c = next;
    }
    if (rc >= 0 && finished)
        rc = ops->send_body(req->hreq, NULL, 0, FORGE_SEND_LAST);
    else if (rc >= 0 && flush && !sent)
        rc = ops->send_body(req->hreq, NULL, 0, FORGE_SEND_FLUSH);
    return rc;
}

int forge__req_drain(forge_req *req)
{
    const forge_host_ops *ops = &req->host->ops;
    bool locked = forge__req_lock(req);
    req->wake_pending = false;
    bool finished = req->phase == FORGE__FINISHED;
    bool need_head = !req->head_sent && (req->streaming || finished);
    forge__chunk *chunks = req->chunks;
    req->chunks = NULL;
    req->chunks_tail = &req->chunks;
    bool flush = req->flush_pending;
    req->flush_pending = false;
    bool gone = req->host_gone || atomic_load_explicit(&req->released, memory_order_relaxed);
    bool streaming = req->streaming;
    forge__req_unlock(req, locked);

    int rc = 0;
    if (!gone && need_head)
        rc = send_head(req, ops, streaming);
    if (streaming) {
        if (gone || rc < 0)
            free_chunks(chunks);
        else
            rc = send_stream(req, ops, chunks, flush, finished);
    } else if (!gone && rc >= 0 && finished) {
        if (req->head_only || req->res_body_len == 0)
            rc = ops->send_body(req->hreq, NULL, 0, FORGE_SEND_LAST);
        else
            rc = ops->send_body(req->hreq, req->res_body, req->res_body_len, FORGE_SEND_LAST);
    }
    if (rc < 0 && !gone) {
        locked = forge__req_lock(req);
        req->host_gone = true;
        forge__req_unlock(req, locked);
    }
    return finished ? FORGE_DONE : FORGE_ASYNC;
}

int forge_req_resume(forge_req *req)
{
    return forge__req_drain(req);
}
