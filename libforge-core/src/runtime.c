/*
 * The per-worker runtime: a thread running a libuv loop, a thread pool, and
 * the calls other threads make into the loop.
 *
 * Calls: forge_runtime_call appends to a FIFO under rt->mu and wakes the loop
 * with uv_async_send (only when the FIFO was empty: the loop takes the whole
 * FIFO each time). Call nodes are recycled, so steady-state calls do not
 * allocate.
 *
 * Stop (forge__runtime_free), in this order, each step complete before the
 * next:
 *   1. resign the machine lock: on_leader(app, false) runs on the loop thread
 *      while the pool and the loop still serve it, then the lock is released;
 *   2. the pool refuses new jobs (FORGE_ESTATE), runs every queued job, and its
 *      threads exit; jobs may still use forge_runtime_call and timers;
 *   3. the loop refuses new calls and timers (FORGE_ESTATE), runs every call
 *      queued before that, cancels every timer without running it, closes
 *      its handles and the thread exits.
 * So nothing accepted is dropped: submitted jobs and posted calls all run
 * exactly once; a timer's fn simply stops being called, as after
 * forge_runtime_timer_cancel. The runtime never owns `arg`s.
 */
#include "runtime_impl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_POOL_THREADS 4
#define MAX_POOL_THREADS     1024
#define DEFAULT_QUEUE_MAX    4096u
#define MAX_QUEUE_MAX        (1u << 24)
#define SPARE_MAX            1024u

static _Thread_local const forge_runtime *tls_loop_rt;

bool forge_runtime_on_loop_thread(const forge_runtime *rt)
{
    return rt && tls_loop_rt == rt;
}

bool forge_runtime_on_pool_thread(const forge_runtime *rt)
{
    return forge__pool_on_thread(rt);
}

int forge__runtime_post_locked(forge_runtime *rt, forge_task_fn fn, void *arg)
{
    if (rt->stopping)
        return FORGE_ESTATE;
    forge__call *c = rt->spare;
    if (c) {
        rt->spare = c->next;
        rt->nspare--;
    } else if (!(c = malloc(sizeof(*c)))) {
        return FORGE_ENOMEM;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = NULL;
    if (rt->tail) {
        rt->tail->next = c;
    } else {
        rt->head = c;
        uv_async_send(&rt->async); /* under mu: the handle cannot be closed meanwhile */
    }
    rt->tail = c;
    return 0;
}

int forge_runtime_call(forge_runtime *rt, forge_task_fn fn, void *arg)
{
    if (!rt || !fn)
        return FORGE_EINVAL;
    pthread_mutex_lock(&rt->mu);
    int rc = forge__runtime_post_locked(rt, fn, arg);
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

int forge_runtime_submit(forge_runtime *rt, forge_task_fn fn, void *arg)
{
    if (!rt || !fn)
        return FORGE_EINVAL;
    return forge__pool_submit(&rt->pool, fn, arg);
}

static void recycle(forge_runtime *rt, forge__call *c)
{
    pthread_mutex_lock(&rt->mu);
    while (c && rt->nspare < SPARE_MAX) {
        forge__call *next = c->next;
        c->next = rt->spare;
        rt->spare = c;
        rt->nspare++;
        c = next;
    }
    pthread_mutex_unlock(&rt->mu);
    while (c) {
        forge__call *next = c->next;
        free(c);
        c = next;
    }
}

/* Loop thread, once: everything queued before the stop has run. */
static void shutdown_loop(forge_runtime *rt)
{
    rt->shut = true;
    pthread_mutex_lock(&rt->mu);
    struct forge__timer *dead = forge__timers_cancel_all_locked(rt);
    pthread_mutex_unlock(&rt->mu);
    forge__timers_sweep(rt, dead);
    forge__lock_resign(rt);
    if (!uv_is_closing((uv_handle_t *)&rt->lock_timer))
        uv_close((uv_handle_t *)&rt->lock_timer, NULL);
    uv_close((uv_handle_t *)&rt->async, NULL);
}

static void on_async(uv_async_t *h)
{
    forge_runtime *rt = h->data;
    pthread_mutex_lock(&rt->mu);
    forge__call *calls = rt->head;
    rt->head = rt->tail = NULL;
    /*
     * Taken together with the calls: a dead timer's start call (if any) was
     * queued before it died, so it is in `calls` or has run already.
     */
    struct forge__timer *dead = rt->dead;
    rt->dead = NULL;
    rt->sweep_pending = false;
    bool stopping = rt->stopping;
    pthread_mutex_unlock(&rt->mu);

    for (forge__call *c = calls; c; c = c->next)
        c->fn(c->arg);
    if (calls)
        recycle(rt, calls);
    forge__timers_sweep(rt, dead);
    if (stopping && !rt->shut)
        shutdown_loop(rt);
}

static void *loop_main(void *arg)
{
    forge_runtime *rt = arg;
    tls_loop_rt = rt;
    forge__lock_start(rt);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    uv_loop_close(&rt->loop);
    return NULL;
}

static int check_opts(const forge__runtime_opts *o, int *threads, size_t *queue_max,
                      forge_error *err)
{
    *threads = o && o->pool_threads ? o->pool_threads : DEFAULT_POOL_THREADS;
    *queue_max = o && o->pool_queue_max ? o->pool_queue_max : DEFAULT_QUEUE_MAX;
    if (*threads < 1 || *threads > MAX_POOL_THREADS)
        return forge_error_setk(err, FORGE_ECONFIG, "runtime.pool_threads",
                                "runtime.pool_threads must be between 1 and %d, not %d",
                                MAX_POOL_THREADS, *threads);
    if (*queue_max > MAX_QUEUE_MAX)
        return forge_error_setk(err, FORGE_ECONFIG, "runtime.pool_queue_max",
                                "runtime.pool_queue_max must be at most %u, not %zu", MAX_QUEUE_MAX,
                                *queue_max);
    return 0;
}

static void free_spares(forge_runtime *rt)
{
    while (rt->spare) {
        forge__call *next = rt->spare->next;
        free(rt->spare);
        rt->spare = next;
    }
}

/* Everything but the threads; used by new's error paths and by free. */
static void release(forge_runtime *rt)
{
    forge__pool_destroy(&rt->pool);
    free_spares(rt);
    if (rt->lock_fd >= 0)
        close(rt->lock_fd);
    pthread_cond_destroy(&rt->cv);
    pthread_mutex_destroy(&rt->mu);
    if (rt->app && rt->app->runtime == rt)
        rt->app->runtime = NULL;
    free(rt->lock_path);
    free(rt);
}

static int init_loop(forge_runtime *rt, forge_error *err)
{
    int rc = uv_loop_init(&rt->loop);
    if (rc != 0)
        return forge_error_set(err, FORGE_ENOMEM, "runtime: uv_loop_init: %s", uv_strerror(rc));
    uv_async_init(&rt->loop, &rt->async, on_async);
    rt->async.data = rt;
    uv_timer_init(&rt->loop, &rt->lock_timer);
    rt->lock_timer.data = rt;
    return 0;
}

/* Error path before the loop thread ran: close the handles and the loop here. */
static void abandon_loop(forge_runtime *rt)
{
    uv_close((uv_handle_t *)&rt->async, NULL);
    uv_close((uv_handle_t *)&rt->lock_timer, NULL);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    uv_loop_close(&rt->loop);
}

static int start_thread(forge_runtime *rt, forge_error *err)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&rt->thread, NULL, loop_main, rt);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return forge_error_set(err, FORGE_ENOMEM, "runtime: cannot start the loop thread: %s",
                               strerror(rc));
    pthread_setname_np(rt->thread, "forge-runtime");
    rt->thread_started = true;
    return 0;
}

forge_runtime *forge__runtime_new(forge_app *app, const forge__runtime_opts *opts, forge_error *err)
{
    int threads;
    size_t queue_max;
    if (check_opts(opts, &threads, &queue_max, err) < 0)
        return NULL;
    forge_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt) {
        forge_error_set(err, FORGE_ENOMEM, "runtime: out of memory");
        return NULL;
    }
    rt->app = app;
    rt->lock_fd = -1;
    if (opts)
        rt->opts = *opts;
    rt->opts.pool_threads = threads;
    rt->opts.pool_queue_max = queue_max;
    pthread_mutex_init(&rt->mu, NULL);
    pthread_cond_init(&rt->cv, NULL);
    if (opts && opts->machine_lock_path) {
        rt->lock_path = strdup(opts->machine_lock_path);
        rt->opts.machine_lock_path = rt->lock_path;
        if (!rt->lock_path || forge__lock_open(rt, err) < 0) {
            if (!rt->lock_path)
                forge_error_set(err, FORGE_ENOMEM, "runtime: out of memory");
            release(rt);
            return NULL;
        }
    }
    if (forge__pool_init(&rt->pool, threads, queue_max, rt, err) < 0) {
        release(rt);
        return NULL;
    }
    if (init_loop(rt, err) < 0) {
        forge__pool_drain(&rt->pool);
        release(rt);
        return NULL;
    }
    /* Set before the loop thread runs: on_leader may already want forge_app_runtime(app). */
    if (app)
        app->runtime = rt;
    if (start_thread(rt, err) < 0) {
        forge__pool_drain(&rt->pool);
        abandon_loop(rt);
        release(rt);
        return NULL;
    }
    return rt;
}

static void resign_call(void *arg)
{
    forge_runtime *rt = arg;
    forge__lock_resign(rt);
    pthread_mutex_lock(&rt->mu);
    rt->resign_done = true;
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

void forge__runtime_free(forge_runtime *rt)
{
    if (!rt)
        return;
    if (rt->lock_fd >= 0) {
        pthread_mutex_lock(&rt->mu);
        if (forge__runtime_post_locked(rt, resign_call, rt) == 0)
            while (!rt->resign_done)
                pthread_cond_wait(&rt->cv, &rt->mu);
        pthread_mutex_unlock(&rt->mu);
    }
    forge__pool_drain(&rt->pool);
    pthread_mutex_lock(&rt->mu);
    rt->stopping = true;
    uv_async_send(&rt->async);
    pthread_mutex_unlock(&rt->mu);
    pthread_join(rt->thread, NULL);
    release(rt);
}

void *forge_runtime_loop(forge_runtime *rt)
{
    return forge_runtime_on_loop_thread(rt) ? &rt->loop : NULL;
}

int forge_runtime_pool_size(const forge_runtime *rt)
{
    return rt ? rt->opts.pool_threads : 0;
}

size_t forge_runtime_pool_queued(const forge_runtime *rt)
{
    /* The pool's mutex is the only mutable part read here. */
    return rt ? forge__pool_queued((forge__pool *)&rt->pool) : 0;
}

bool forge_runtime_machine_leader(const forge_runtime *rt)
{
    return rt && atomic_load_explicit(&rt->leader, memory_order_acquire);
}
