/*
 * Timers on the runtime thread, created and cancelled from any thread.
 *
 * A timer record is in exactly one of: rt->timers (live, findable by id),
 * rt->dead (cancelled, waiting for the loop thread to close its handle), or
 * owned by the loop thread alone (a one-shot that fired, being closed).
 * `cancelled` (under rt->mu) says which side owns the close: whoever sets it.
 * Records are freed only on the loop thread, in the handle's close callback
 * (or directly when the handle was never started).
 *
 * Guarantee of forge_runtime_timer_cancel: when it returns 0, fn is not
 * running and will not run again, so the caller may free arg. Off the loop
 * thread it waits for a running fn of that timer to return; on the loop
 * thread (even from inside fn itself) it does not wait.
 *
 * Timers are few (cron entries, health checks, lock retries), so the live
 * set is a list searched by id.
 */
#include "runtime_impl.h"

#include <stdlib.h>

struct forge__timer {
    uv_timer_t h; /* h.data = the record */
    forge_runtime *rt;
    int64_t id;
    uint64_t delay_ms, repeat_ms;
    forge_task_fn fn;
    void *arg;
    bool cancelled; /* under rt->mu */
    bool started;   /* loop thread: h was initialised */
    struct forge__timer *prev, *next;
};

static void unlink_live(forge_runtime *rt, struct forge__timer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        rt->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void close_timer(struct forge__timer *t)
{
    if (t->started)
        uv_close((uv_handle_t *)&t->h, on_closed);
    else
        free(t);
}

void forge__timers_sweep(forge_runtime *rt, struct forge__timer *dead)
{
    (void)rt;
    while (dead) {
        struct forge__timer *next = dead->next;
        close_timer(dead);
        dead = next;
    }
}

struct forge__timer *forge__timers_cancel_all_locked(forge_runtime *rt)
{
    struct forge__timer *dead = rt->dead;
    rt->dead = NULL;
    while (rt->timers) {
        struct forge__timer *t = rt->timers;
        unlink_live(rt, t);
        t->cancelled = true;
        t->next = dead;
        dead = t;
    }
    return dead;
}

static void on_fire(uv_timer_t *h)
{
    struct forge__timer *t = h->data;
    forge_runtime *rt = t->rt;
    pthread_mutex_lock(&rt->mu);
    if (t->cancelled) {
        pthread_mutex_unlock(&rt->mu);
        return;
    }
    rt->firing = t;
    pthread_mutex_unlock(&rt->mu);

    t->fn(t->arg);

    pthread_mutex_lock(&rt->mu);
    rt->firing = NULL;
    pthread_cond_broadcast(&rt->cv);
    bool done = t->repeat_ms == 0 && !t->cancelled;
    if (done) {
        unlink_live(rt, t);
        t->cancelled = true; /* ours to close, not the sweeper's */
    }
    pthread_mutex_unlock(&rt->mu);
    if (done)
        close_timer(t);
}

/* Loop thread: arm a live timer (a call posted by forge_runtime_timer, or direct). */
static void start_timer(void *arg)
{
    struct forge__timer *t = arg;
    forge_runtime *rt = t->rt;
    pthread_mutex_lock(&rt->mu);
    bool cancelled = t->cancelled;
    pthread_mutex_unlock(&rt->mu);
    if (cancelled)
        return; /* in rt->dead, the sweep frees it */
    uv_timer_init(&rt->loop, &t->h);
    t->h.data = t;
    t->started = true;
    uv_timer_start(&t->h, on_fire, t->delay_ms, t->repeat_ms);
}

int64_t forge_runtime_timer(forge_runtime *rt, uint64_t delay_ms, uint64_t repeat_ms,
                            forge_task_fn fn, void *arg)
{
    if (!rt || !fn)
        return FORGE_EINVAL;
    struct forge__timer *t = calloc(1, sizeof(*t));
    if (!t)
        return FORGE_ENOMEM;
    *t = (struct forge__timer){
        .rt = rt, .delay_ms = delay_ms, .repeat_ms = repeat_ms, .fn = fn, .arg = arg};
    bool here = forge_runtime_on_loop_thread(rt);
    pthread_mutex_lock(&rt->mu);
    int rc = rt->stopping ? FORGE_ESTATE : 0;
    /* Off the loop thread, queue the start in the same critical section as the insert. */
    if (rc == 0 && !here)
        rc = forge__runtime_post_locked(rt, start_timer, t);
    if (rc < 0) {
        pthread_mutex_unlock(&rt->mu);
        free(t);
        return rc;
    }
    t->id = ++rt->next_timer_id;
    t->next = rt->timers;
    if (rt->timers)
        rt->timers->prev = t;
    rt->timers = t;
    int64_t id = t->id;
    pthread_mutex_unlock(&rt->mu);
    if (here)
        start_timer(t);
    return id;
}

int forge_runtime_timer_cancel(forge_runtime *rt, int64_t id)
{
    if (!rt || id <= 0)
        return FORGE_EINVAL;
    bool here = forge_runtime_on_loop_thread(rt);
    pthread_mutex_lock(&rt->mu);
    struct forge__timer *t = rt->timers;
    while (t && t->id != id)
        t = t->next;
    if (!t) {
        pthread_mutex_unlock(&rt->mu);
        return FORGE_ENOENT;
    }
    unlink_live(rt, t);
    t->cancelled = true;
    t->next = rt->dead;
    rt->dead = t;
    if (!rt->sweep_pending && !rt->stopping) {
        rt->sweep_pending = true;
        uv_async_send(&rt->async);
    }
    while (!here && rt->firing == t)
        pthread_cond_wait(&rt->cv, &rt->mu);
    pthread_mutex_unlock(&rt->mu);
    return 0;
}
