/*
 * The in-process test host: a full binding of host.h over function calls.
 * It is the reference binding: what it does with each op is what nginx and
 * Apache must do with theirs.
 *
 * Each request is a forge_test_call (the `hreq`). wake() only sets a flag and
 * signals the call's condition variable, from whatever thread; the thread
 * that owns the call then runs forge_req_resume, as an event loop would.
 */
#include "request_impl.h"

#include <forge/testhost.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct forge_test_host {
    forge_host *host;
    uint32_t timeout_ms;
};

struct forge_test_call {
    forge_test_host *th;
    forge_req *req;
    forge_test_response *res;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken;
    size_t wakes;
    bool done;
    bool heap;   /* allocated by forge_test_begin (owns `owned`) */
    char *owned; /* copies of the request's strings and body */
    const char **hdrs;
};

/* ---- response collection ---- */

void forge_test_response_init(forge_test_response *res)
{
    memset(res, 0, sizeof(*res));
}

void forge_test_response_free(forge_test_response *res)
{
    if (!res)
        return;
    free(res->headers);
    free(res->hbuf);
    free(res->body);
    free(res->chunk_ends);
    forge_test_response_init(res);
}

static void response_reset(forge_test_response *res)
{
    res->status = 0;
    res->content_length = 0;
    res->nheaders = 0;
    res->body_len = 0;
    if (res->body)
        res->body[0] = '\0';
    res->nchunks = 0;
    res->nflushes = 0;
    res->complete = false;
    res->async = false;
    res->wakes = 0;
}

static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return FORGE_ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

const char *forge_test_response_header(const forge_test_response *res, const char *name)
{
    forge_str n = forge_str_c(name);
    for (size_t i = 0; i < res->nheaders; i++)
        if (forge_str_ieq(res->headers[i].name, n))
            return res->headers[i].value.p;
    return NULL;
}

static int th_send_head(void *hreq, int status, const forge_header *h, size_t n, int64_t cl)
{
    forge_test_response *res = ((forge_test_call *)hreq)->res;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += h[i].name.n + h[i].value.n + 2;
    if (reserve((void **)&res->headers, &res->headers_cap, n ? n : 1, sizeof(*res->headers)) ||
        reserve((void **)&res->hbuf, &res->hbuf_cap, bytes ? bytes : 1, 1))
        return FORGE_ENOMEM;
    char *o = res->hbuf;
    for (size_t i = 0; i < n; i++) {
        forge_header *d = &res->headers[i];
        memcpy(o, h[i].name.p, h[i].name.n);
        o[h[i].name.n] = '\0';
        d->name = (forge_str){o, h[i].name.n};
        o += h[i].name.n + 1;
        memcpy(o, h[i].value.p, h[i].value.n);
        o[h[i].value.n] = '\0';
        d->value = (forge_str){o, h[i].value.n};
        o += h[i].value.n + 1;
    }
    res->nheaders = n;
    res->status = status;
    res->content_length = cl;
    return 0;
}

static int th_send_body(void *hreq, const void *data, size_t len, unsigned flags)
{
    forge_test_response *res = ((forge_test_call *)hreq)->res;
    if (res->complete)
        return FORGE_ESTATE; /* nothing may follow the last part */
    if (len) {
        if (reserve((void **)&res->body, &res->body_cap, res->body_len + len + 1, 1) ||
            reserve((void **)&res->chunk_ends, &res->chunks_cap, res->nchunks + 1,
                    sizeof(*res->chunk_ends)))
            return FORGE_ENOMEM;
        memcpy(res->body + res->body_len, data, len);
        res->body_len += len;
        res->body[res->body_len] = '\0';
        res->chunk_ends[res->nchunks++] = res->body_len;
    }
    if (flags & FORGE_SEND_FLUSH)
        res->nflushes++;
    if (flags & FORGE_SEND_LAST)
        res->complete = true;
    return 0;
}

static void th_wake(void *hreq)
{
    forge_test_call *c = hreq;
    pthread_mutex_lock(&c->mu);
    c->woken = true;
    c->wakes++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- host ---- */

forge_test_host *forge_test_host_new_opts(const forge_test_opts *opts, forge_error *err)
{
    if (!opts || (!opts->entry == !opts->so_path)) {
        forge_error_set(err, FORGE_EINVAL, "test host: give exactly one of entry and so_path");
        return NULL;
    }
    forge_host_ops ops = {
        .abi_version = FORGE_ABI_VERSION,
        .size = sizeof(forge_host_ops),
        .kind = "test",
        .version = FORGE_VERSION_STRING,
        .flags = opts->can_block ? FORGE_HOST_CAN_BLOCK : 0,
        .send_head = th_send_head,
        .send_body = th_send_body,
        .wake = th_wake,
    };
    forge_test_host *th = calloc(1, sizeof(*th));
    if (!th) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    th->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 30000;
    th->host = forge_host_new(&ops, th, err);
    forge_app *app = NULL;
    if (th->host && opts->entry)
        app = forge__host_load(th->host, opts->entry, NULL, NULL, opts->config_path,
                               opts->config_text, err);
    else if (th->host)
        app =
            forge__host_load_so(th->host, opts->so_path, opts->config_path, opts->config_text, err);
    if (app && forge_host_before_fork(th->host, err) == FORGE_OK &&
        (opts->no_worker || forge_host_worker_start(th->host, 0, 1, err) == FORGE_OK))
        return th;
    forge_host_free(th->host);
    free(th);
    return NULL;
}

forge_test_host *forge_test_host_new(const struct forge_app_entry *entry, const char *config_text,
                                     forge_error *err)
{
    forge_test_opts o = {.entry = entry, .config_text = config_text};
    return forge_test_host_new_opts(&o, err);
}

forge_test_host *forge_test_host_load(const char *so_path, const char *config_text,
                                      forge_error *err)
{
    forge_test_opts o = {.so_path = so_path, .config_text = config_text};
    return forge_test_host_new_opts(&o, err);
}

void forge_test_host_free(forge_test_host *th)
{
    if (!th)
        return;
    forge_host_free(th->host);
    free(th);
}

forge_app *forge_test_host_app(forge_test_host *th)
{
    return forge_host_app(th->host);
}

forge_host *forge_test_host_host(forge_test_host *th)
{
    return th->host;
}

/* ---- calls ---- */

static void call_init(forge_test_call *c, forge_test_host *th, forge_test_response *res)
{
    c->th = th;
    c->res = res;
    c->req = NULL;
    c->woken = false;
    c->wakes = 0;
    c->done = false;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void call_destroy(forge_test_call *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

/* Fill and dispatch. Strings are borrowed: they must outlive the call. */
static int call_start(forge_test_call *c, const char *method, const char *target,
                      const char *const *headers, const void *body, size_t body_len,
                      forge_error *err)
{
    if (!method || !target)
        return forge_error_set(err, FORGE_EINVAL, "test request: method and target required");
    response_reset(c->res);
    forge_req *req = forge_req_new(c->th->host, c);
    if (!req)
        return forge_error_set(err, FORGE_ENOMEM, "test request: out of memory");
    c->req = req;
    forge_req_set_method(req, method, strlen(method));
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    forge_req_set_target(req, target, plen, q ? q + 1 : NULL, q ? strlen(q + 1) : 0);
    for (size_t i = 0; headers && headers[i]; i++) {
        const char *h = headers[i], *colon = strchr(h, ':');
        if (!colon)
            continue;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        forge_req_add_header(req, h, (size_t)(colon - h), v, strlen(v));
    }
    forge_req_set_peer(req, "127.0.0.1", 9, 40000);
    forge_req_set_scheme(req, "http", 4);
    if (body)
        forge_req_set_body(req, body, body_len);
    int rc = forge_req_dispatch(req);
    if (rc == FORGE_DONE) {
        c->done = true;
        forge_req_release(req);
        c->req = NULL;
    } else if (rc == FORGE_ASYNC) {
        c->res->async = true;
    } else {
        forge_req_release(req);
        c->req = NULL;
        return forge_error_set(err, rc, "test request: dispatch failed: %s", forge_err_name(rc));
    }
    return FORGE_OK;
}

/* Run one resume if woken. */
static void call_step(forge_test_call *c, bool woken)
{
    if (!woken || c->done)
        return;
    if (forge_req_resume(c->req) == FORGE_DONE) {
        c->done = true;
        forge_req_release(c->req);
        c->req = NULL;
    }
}

static bool take_wake(forge_test_call *c, const struct timespec *deadline)
{
    pthread_mutex_lock(&c->mu);
    while (!c->woken && deadline) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, deadline) == ETIMEDOUT)
            break;
    }
    bool w = c->woken;
    c->woken = false;
    c->res->wakes = c->wakes;
    pthread_mutex_unlock(&c->mu);
    return w;
}

static void deadline_in(struct timespec *ts, uint32_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool forge_test_call_poll(forge_test_call *c)
{
    call_step(c, take_wake(c, NULL));
    return c->done;
}

int forge_test_call_wait(forge_test_call *c, uint32_t timeout_ms)
{
    struct timespec dl;
    deadline_in(&dl, timeout_ms ? timeout_ms : c->th->timeout_ms);
    while (!c->done) {
        bool w = take_wake(c, &dl);
        if (!w)
            return FORGE_ETIMEDOUT;
        call_step(c, w);
    }
    return FORGE_OK;
}

int forge_test_call_wait_wake(forge_test_call *c, uint32_t timeout_ms)
{
    if (c->done)
        return FORGE_OK;
    struct timespec dl;
    deadline_in(&dl, timeout_ms ? timeout_ms : c->th->timeout_ms);
    bool w = take_wake(c, &dl);
    if (!w)
        return FORGE_ETIMEDOUT;
    call_step(c, w);
    return FORGE_OK;
}

int forge_test_request(forge_test_host *th, const char *method, const char *target,
                       const char *const *headers, const void *body, size_t body_len,
                       forge_test_response *res, forge_error *err)
{
    forge_test_call c;
    call_init(&c, th, res);
    int rc = call_start(&c, method, target, headers, body, body_len, err);
    if (rc == FORGE_OK && !c.done) {
        rc = forge_test_call_wait(&c, 0);
        if (rc < 0) {
            forge_error_set(err, rc, "test request %s %s: no complete response within %u ms",
                            method, target, th->timeout_ms);
            forge_req_release(c.req); /* as a client that gives up */
        }
    }
    call_destroy(&c);
    return rc;
}

static char *copy_into(char **o, const char *s, size_t n)
{
    char *d = *o;
    memcpy(d, s, n);
    d[n] = '\0';
    *o += n + 1;
    return d;
}

forge_test_call *forge_test_begin(forge_test_host *th, const char *method, const char *target,
                                  const char *const *headers, const void *body, size_t body_len,
                                  forge_test_response *res, forge_error *err)
{
    if (!method || !target) {
        forge_error_set(err, FORGE_EINVAL, "test request: method and target required");
        return NULL;
    }
    size_t nh = 0, bytes = strlen(method) + strlen(target) + body_len + 3;
    for (; headers && headers[nh]; nh++)
        bytes += strlen(headers[nh]) + 1;
    forge_test_call *c = calloc(1, sizeof(*c));
    char *buf = malloc(bytes);
    const char **hdrs = calloc(nh + 1, sizeof(*hdrs));
    if (!c || !buf || !hdrs) {
        free(c);
        free(buf);
        free(hdrs);
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    call_init(c, th, res);
    c->heap = true;
    c->owned = buf;
    c->hdrs = hdrs;
    char *o = buf;
    const char *m = copy_into(&o, method, strlen(method));
    const char *t = copy_into(&o, target, strlen(target));
    for (size_t i = 0; i < nh; i++)
        hdrs[i] = copy_into(&o, headers[i], strlen(headers[i]));
    const char *b = body ? copy_into(&o, body, body_len) : NULL;
    if (call_start(c, m, t, hdrs, b, body_len, err) < 0) {
        forge_test_call_free(c);
        return NULL;
    }
    return c;
}

void forge_test_call_abort(forge_test_call *c)
{
    if (!c)
        return;
    if (c->req)
        forge_req_release(c->req);
    c->req = NULL;
    call_destroy(c);
    free(c->owned);
    free(c->hdrs);
    free(c);
}

void forge_test_call_free(forge_test_call *c)
{
    forge_test_call_abort(c);
}
