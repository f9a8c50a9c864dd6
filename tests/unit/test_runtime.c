/*
 * The runtime: pool, calls, timers, stop semantics, machine lock takeover
 * (threads of one process, and forked processes killed with SIGKILL).
 *
 * No test measures time: each waits for a condition with a generous bound
 * (wait_until) and asserts what happened, never how long it took.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime_impl.h"

/* Counting allocator (not under sanitizers: the tests using it skip there). */
#include "alloc_count.h"
#define HAVE_ALLOC_COUNT FORGE_ALLOC_COUNT_ENABLED

#define BOUND_MS 30000

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll `cond(arg)` every millisecond for up to BOUND_MS. */
static bool wait_until(bool (*cond)(void *), void *arg)
{
    for (int i = 0; i < BOUND_MS; i++) {
        if (cond(arg))
            return true;
        sleep_ms(1);
    }
    return cond(arg);
}

static bool int_nonzero(void *p)
{
    return atomic_load((atomic_int *)p) != 0;
}

struct at_least {
    atomic_int *v;
    int n;
};

static bool reached(void *p)
{
    struct at_least *a = p;
    return atomic_load(a->v) >= a->n;
}

static forge_runtime *rt_new(int threads, size_t queue_max)
{
    forge__runtime_opts o = {.pool_threads = threads, .pool_queue_max = queue_max};
    forge_error err;
    forge_error_clear(&err);
    forge_runtime *rt = forge__runtime_new(NULL, &o, &err);
    if (!rt)
        fail_msg("runtime_new: %s", err.message);
    return rt;
}

/* ---- pool ---- */

static atomic_int counter;

static void count_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
}

static void test_pool_runs_jobs(void **state)
{
    (void)state;
    forge_runtime *rt = rt_new(4, 20000);
    assert_int_equal(forge_runtime_pool_size(rt), 4);
    atomic_store(&counter, 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(forge_runtime_submit(rt, count_job, NULL), 0);
    struct at_least a = {&counter, 10000};
    assert_true(wait_until(reached, &a));
    assert_int_equal(atomic_load(&counter), 10000);
    forge__runtime_free(rt);
}

/* Four jobs that can only finish together prove four threads run them at once. */
struct rendezvous {
    forge_runtime *rt;
    atomic_int arrived;
    atomic_int on_pool;
    atomic_int done;
    int need;
};

static void rendezvous_job(void *arg)
{
    struct rendezvous *r = arg;
    if (forge_runtime_on_pool_thread(r->rt) && !forge_runtime_on_loop_thread(r->rt))
        atomic_fetch_add(&r->on_pool, 1);
    atomic_fetch_add(&r->arrived, 1);
    for (int i = 0; i < BOUND_MS && atomic_load(&r->arrived) < r->need; i++)
        sleep_ms(1);
    atomic_fetch_add(&r->done, 1);
}

static bool rendezvous_done(void *p)
{
    struct rendezvous *r = p;
    return atomic_load(&r->done) == r->need;
}

static void test_pool_threads_run_concurrently(void **state)
{
    (void)state;
    forge_runtime *rt = rt_new(4, 16);
    struct rendezvous r = {.rt = rt, .need = 4};
    for (int i = 0; i < 4; i++)
        assert_int_equal(forge_runtime_submit(rt, rendezvous_job, &r), 0);
    assert_true(wait_until(rendezvous_done, &r));
    assert_int_equal(atomic_load(&r.arrived), 4);
    assert_int_equal(atomic_load(&r.on_pool), 4);
    assert_false(forge_runtime_on_pool_thread(rt));
    forge__runtime_free(rt);
}

struct gate {
    atomic_int entered;
    atomic_int open;
    atomic_int ran;
};

static void gated_job(void *arg)
{
    struct gate *g = arg;
    atomic_fetch_add(&g->entered, 1);
    while (!atomic_load(&g->open))
        sleep_ms(1);
    atomic_fetch_add(&g->ran, 1);
}

static void gate_count_job(void *arg)
{
    struct gate *g = arg;
    atomic_fetch_add(&g->ran, 1);
}

static void test_pool_queue_full(void **state)
{
    (void)state;
    forge_runtime *rt = rt_new(1, 2);
    struct gate g = {0};
    assert_int_equal(forge_runtime_submit(rt, gated_job, &g), 0);
    assert_true(wait_until(int_nonzero, &g.entered)); /* the only thread is busy */
    assert_int_equal(forge_runtime_pool_queued(rt), 0);
    assert_int_equal(forge_runtime_submit(rt, gate_count_job, &g), 0);
    assert_int_equal(forge_runtime_submit(rt, gate_count_job, &g), 0);
    assert_int_equal(forge_runtime_pool_queued(rt), 2);
    assert_int_equal(forge_runtime_submit(rt, gate_count_job, &g), FORGE_EBUSY);
    assert_int_equal(forge_runtime_submit(NULL, gate_count_job, &g), FORGE_EINVAL);
    assert_int_equal(forge_runtime_submit(rt, NULL, &g), FORGE_EINVAL);
    atomic_store(&g.open, 1);
    struct at_least a = {&g.ran, 3};
    assert_true(wait_until(reached, &a));
    assert_int_equal(forge_runtime_pool_queued(rt), 0);
    forge__runtime_free(rt);
    assert_int_equal(atomic_load(&g.ran), 3);
}

/* ---- stop drains ---- */

struct drain {
    forge_runtime *rt;
    struct gate g;
    atomic_int after_stop_rc; /* what submit returned from a job run during the stop */
    atomic_int calls_ran;
};

static void *free_in_thread(void *arg)
{
    forge__runtime_free(arg);
    return NULL;
}

static void call_count(void *arg)
{
    struct drain *d = arg;
    atomic_fetch_add(&d->calls_ran, 1);
}

static void submit_during_stop(void *arg)
{
    struct drain *d = arg;
    atomic_store(&d->after_stop_rc, forge_runtime_submit(d->rt, gate_count_job, &d->g));
    /* The loop still takes calls while the pool drains. */
    if (forge_runtime_call(d->rt, call_count, d) == 0)
        atomic_fetch_add(&d->g.ran, 1000);
}

static bool pool_stopping(void *p)
{
    forge__pool *pool = p;
    pthread_mutex_lock(&pool->mu);
    bool s = pool->stopping;
    pthread_mutex_unlock(&pool->mu);
    return s;
}

static void test_stop_drains_pool_and_calls(void **state)
{
    (void)state;
    struct drain d = {0};
    d.rt = rt_new(1, 100);
    atomic_store(&d.after_stop_rc, 1);
    assert_int_equal(forge_runtime_submit(d.rt, gated_job, &d.g), 0);
    assert_true(wait_until(int_nonzero, &d.g.entered));
    for (int i = 0; i < 50; i++)
        assert_int_equal(forge_runtime_submit(d.rt, gate_count_job, &d.g), 0);
    assert_int_equal(forge_runtime_submit(d.rt, submit_during_stop, &d), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(forge_runtime_call(d.rt, call_count, &d), 0);

    pthread_t stopper;
    assert_int_equal(pthread_create(&stopper, NULL, free_in_thread, d.rt), 0);
    assert_true(wait_until(pool_stopping, &d.rt->pool));
    atomic_store(&d.g.open, 1); /* only now can the queued jobs run */
    pthread_join(stopper, NULL);

    /* gated + 50 counted + the call accepted during the stop; the late submit refused. */
    assert_int_equal(atomic_load(&d.g.ran), 1 + 50 + 1000);
    assert_int_equal(atomic_load(&d.after_stop_rc), FORGE_ESTATE);
    assert_int_equal(atomic_load(&d.calls_ran), 21);
}

/* ---- calls ---- */

struct order {
    forge_runtime *rt;
    pthread_mutex_t mu;
    int seen[4000];
    int n;
    atomic_int wrong_thread;
};

struct order_item {
    struct order *o;
    int value;
};

static void record_call(void *arg)
{
    struct order_item *it = arg;
    struct order *o = it->o;
    if (!forge_runtime_on_loop_thread(o->rt) || forge_runtime_loop(o->rt) == NULL)
        atomic_fetch_add(&o->wrong_thread, 1);
    pthread_mutex_lock(&o->mu);
    o->seen[o->n++] = it->value;
    pthread_mutex_unlock(&o->mu);
}

static bool order_count(void *p)
{
    struct order *o = p;
    pthread_mutex_lock(&o->mu);
    bool full = o->n == 4000;
    pthread_mutex_unlock(&o->mu);
    return full;
}

struct poster {
    struct order *o;
    struct order_item items[1000];
    int base;
};

static void *post_thread(void *arg)
{
    struct poster *p = arg;
    for (int i = 0; i < 1000; i++) {
        p->items[i] = (struct order_item){p->o, p->base + i};
        if (forge_runtime_call(p->o->rt, record_call, &p->items[i]) != 0)
            abort();
    }
    return NULL;
}

static void test_calls_in_order_from_many_threads(void **state)
{
    (void)state;
    static struct order o;
    static struct poster posters[4];
    memset(&o, 0, sizeof(o));
    o.rt = rt_new(2, 16);
    pthread_mutex_init(&o.mu, NULL);
    assert_false(forge_runtime_on_loop_thread(o.rt));
    assert_null(forge_runtime_loop(o.rt));
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        posters[t] = (struct poster){.o = &o, .base = t * 1000};
        assert_int_equal(pthread_create(&th[t], NULL, post_thread, &posters[t]), 0);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    assert_true(wait_until(order_count, &o));
    assert_int_equal(atomic_load(&o.wrong_thread), 0);
    /* Each thread's calls ran in the order it made them. */
    int last[4] = {-1, -1, -1, -1};
    for (int i = 0; i < 4000; i++) {
        int t = o.seen[i] / 1000;
        assert_true(o.seen[i] > last[t]);
        last[t] = o.seen[i];
    }
    forge__runtime_free(o.rt);
    pthread_mutex_destroy(&o.mu);
}

struct inline_check {
    forge_runtime *rt;
    atomic_int step; /* 1: outer running, 2: outer returned, 3: inner ran after it */
};

static void inner_call(void *arg)
{
    struct inline_check *c = arg;
    atomic_store(&c->step, atomic_load(&c->step) == 2 ? 3 : -1);
}

static void outer_call(void *arg)
{
    struct inline_check *c = arg;
    atomic_store(&c->step, 1);
    if (forge_runtime_call(c->rt, inner_call, c) != 0)
        atomic_store(&c->step, -2);
    if (atomic_load(&c->step) == 1)
        atomic_store(&c->step, 2);
}

static bool step_final(void *p)
{
    int s = atomic_load(&((struct inline_check *)p)->step);
    return s == 3 || s < 0;
}

static void test_call_from_loop_is_not_inline(void **state)
{
    (void)state;
    struct inline_check c = {.rt = rt_new(1, 4)};
    assert_int_equal(forge_runtime_call(c.rt, outer_call, &c), 0);
    assert_true(wait_until(step_final, &c));
    assert_int_equal(atomic_load(&c.step), 3);
    assert_int_equal(forge_runtime_call(c.rt, NULL, NULL), FORGE_EINVAL);
    forge__runtime_free(c.rt);
}

#if HAVE_ALLOC_COUNT
static bool spares_at_least_101(void *p)
{
    forge_runtime *rt = p;
    pthread_mutex_lock(&rt->mu);
    bool ok = rt->nspare >= 101;
    pthread_mutex_unlock(&rt->mu);
    return ok;
}
#endif

static void test_steady_state_submit_and_call_do_not_allocate(void **state)
{
    (void)state;
#if HAVE_ALLOC_COUNT
    forge_runtime *rt = rt_new(1, 256);
    atomic_store(&counter, 0);
    struct at_least a = {&counter, 0};
    /*
     * Each round holds the loop in a gated call while 100 more calls queue, so
     * exactly 101 call nodes are in flight. Round 0 creates them; once they are
     * all recycled, round 1 must take every node from the cache.
     */
    for (int round = 0; round < 2; round++) {
        struct gate g = {0};
        a.n += 200;
        if (round == 1)
            forge_alloc_count_begin();
        assert_int_equal(forge_runtime_call(rt, gated_job, &g), 0);
        for (int i = 0; i < 100; i++) {
            assert_int_equal(forge_runtime_submit(rt, count_job, NULL), 0);
            assert_int_equal(forge_runtime_call(rt, count_job, NULL), 0);
        }
        size_t n = round == 1 ? forge_alloc_count_end() : 0;
        assert_int_equal(n, 0);
        atomic_store(&g.open, 1);
        assert_true(wait_until(reached, &a));
        assert_true(wait_until(spares_at_least_101, rt));
    }
    forge__runtime_free(rt);
#else
    skip();
#endif
}

/* ---- timers ---- */

struct fired {
    forge_runtime *rt;
    pthread_mutex_t mu;
    int order[16];
    int n;
    int64_t ids[16];
};

struct fire_item {
    struct fired *f;
    int tag;
};

static void record_fire(void *arg)
{
    struct fire_item *it = arg;
    pthread_mutex_lock(&it->f->mu);
    it->f->order[it->f->n++] = it->tag;
    pthread_mutex_unlock(&it->f->mu);
}

static int fired_count(struct fired *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static struct fire_item items[6];

/* On the loop thread, so all timers share one loop time and order is exact. */
static void arm_timers(void *arg)
{
    struct fired *f = arg;
    static const uint64_t delays[6] = {30, 10, 20, 0, 0, 0};
    for (int i = 0; i < 6; i++) {
        items[i] = (struct fire_item){f, i};
        f->ids[i] = forge_runtime_timer(f->rt, delays[i], 0, record_fire, &items[i]);
    }
}

static bool six_fired(void *p)
{
    return fired_count(p) == 6;
}

static void test_timers_fire_in_deadline_order(void **state)
{
    (void)state;
    static struct fired f;
    memset(&f, 0, sizeof(f));
    pthread_mutex_init(&f.mu, NULL);
    f.rt = rt_new(1, 4);
    assert_int_equal(forge_runtime_call(f.rt, arm_timers, &f), 0);
    assert_true(wait_until(six_fired, &f));
    /* Equal deadlines keep creation order; then by deadline. */
    static const int expect[6] = {3, 4, 5, 1, 2, 0};
    for (int i = 0; i < 6; i++) {
        assert_true(f.ids[i] > 0);
        assert_int_equal(f.order[i], expect[i]);
    }
    /* A fired one-shot's id is gone. */
    assert_int_equal(forge_runtime_timer_cancel(f.rt, f.ids[0]), FORGE_ENOENT);
    assert_int_equal(forge_runtime_timer_cancel(f.rt, 0), FORGE_EINVAL);
    forge__runtime_free(f.rt);
    pthread_mutex_destroy(&f.mu);
}

static void test_cancel_before_fire(void **state)
{
    (void)state;
    static struct fired f;
    memset(&f, 0, sizeof(f));
    pthread_mutex_init(&f.mu, NULL);
    f.rt = rt_new(1, 4);
    struct fire_item late = {&f, 99}, soon = {&f, 1};
    int64_t id = forge_runtime_timer(f.rt, 60000, 0, record_fire, &late);
    assert_true(id > 0);
    assert_int_equal(forge_runtime_timer_cancel(f.rt, id), 0);
    assert_int_equal(forge_runtime_timer_cancel(f.rt, id), FORGE_ENOENT);
    /* Cancelled right after creation, before the loop even armed it. */
    int64_t id2 = forge_runtime_timer(f.rt, 0, 0, record_fire, &late);
    assert_int_equal(forge_runtime_timer_cancel(f.rt, id2), 0);
    assert_true(forge_runtime_timer(f.rt, 1, 0, record_fire, &soon) > id2);
    for (int i = 0; i < BOUND_MS && fired_count(&f) < 1; i++)
        sleep_ms(1);
    forge__runtime_free(f.rt);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.order[0], 1);
    pthread_mutex_destroy(&f.mu);
}

struct repeater {
    forge_runtime *rt;
    atomic_int count;
    _Atomic int64_t id; /* stored by the test after forge_runtime_timer returns */
    int stop_at;        /* self-cancel from fn at this count (0: never) */
    atomic_int cancel_rc;
};

static void repeat_fn(void *arg)
{
    struct repeater *r = arg;
    int n = atomic_fetch_add(&r->count, 1) + 1;
    if (r->stop_at && n == r->stop_at) {
        while (atomic_load(&r->id) == 0)
            sleep_ms(1);
        atomic_store(&r->cancel_rc, forge_runtime_timer_cancel(r->rt, atomic_load(&r->id)));
    }
}

static void mark(void *arg)
{
    atomic_store((atomic_int *)arg, 1);
}

static void test_repeat_then_cancel(void **state)
{
    (void)state;
    struct repeater r = {.rt = rt_new(1, 4)};
    atomic_store(&r.id, forge_runtime_timer(r.rt, 0, 1, repeat_fn, &r));
    assert_true(atomic_load(&r.id) > 0);
    struct at_least a = {&r.count, 5};
    assert_true(wait_until(reached, &a));
    assert_int_equal(forge_runtime_timer_cancel(r.rt, atomic_load(&r.id)), 0);
    int after = atomic_load(&r.count);
    /* A later timer has fired, so the cancelled one had every chance to run again. */
    atomic_int later = 0;
    assert_true(forge_runtime_timer(r.rt, 20, 0, mark, &later) > 0);
    assert_true(wait_until(int_nonzero, &later));
    assert_int_equal(atomic_load(&r.count), after);
    forge__runtime_free(r.rt);
}

static void test_self_cancel_inside_fn(void **state)
{
    (void)state;
    struct repeater r = {.rt = rt_new(1, 4), .stop_at = 3};
    atomic_store(&r.cancel_rc, 1);
    atomic_store(&r.id, forge_runtime_timer(r.rt, 0, 1, repeat_fn, &r));
    struct at_least a = {&r.count, 3};
    assert_true(wait_until(reached, &a));
    atomic_int later = 0;
    assert_true(forge_runtime_timer(r.rt, 20, 0, mark, &later) > 0);
    assert_true(wait_until(int_nonzero, &later));
    assert_int_equal(atomic_load(&r.cancel_rc), 0);
    assert_int_equal(atomic_load(&r.count), 3);
    forge__runtime_free(r.rt);
}

struct slow_timer {
    atomic_int entered;
    atomic_int release;
    atomic_int finished;
};

static void slow_fn(void *arg)
{
    struct slow_timer *s = arg;
    atomic_store(&s->entered, 1);
    while (!atomic_load(&s->release))
        sleep_ms(1);
    atomic_store(&s->finished, 1);
}

struct canceller {
    forge_runtime *rt;
    int64_t id;
    struct slow_timer *s;
    atomic_int returned;
    atomic_int finished_at_return;
    int rc;
};

static void *cancel_thread(void *arg)
{
    struct canceller *c = arg;
    c->rc = forge_runtime_timer_cancel(c->rt, c->id);
    atomic_store(&c->finished_at_return, atomic_load(&c->s->finished));
    atomic_store(&c->returned, 1);
    return NULL;
}

static void test_cancel_waits_for_running_fn(void **state)
{
    (void)state;
    struct slow_timer s = {0};
    forge_runtime *rt = rt_new(1, 4);
    int64_t id = forge_runtime_timer(rt, 0, 0, slow_fn, &s);
    assert_true(wait_until(int_nonzero, &s.entered));
    struct canceller c = {.rt = rt, .id = id, .s = &s};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_thread, &c), 0);
    sleep_ms(20); /* give a wrong implementation the chance to return early */
    assert_int_equal(atomic_load(&c.returned), 0);
    atomic_store(&s.release, 1);
    pthread_join(th, NULL);
    assert_int_equal(c.rc, 0);
    assert_int_equal(atomic_load(&c.finished_at_return), 1);
    forge__runtime_free(rt);
}

static void test_stop_cancels_pending_timers(void **state)
{
    (void)state;
    atomic_int ran = 0;
    forge_runtime *rt = rt_new(1, 4);
    assert_true(forge_runtime_timer(rt, 60000, 0, mark, &ran) > 0);
    assert_true(forge_runtime_timer(rt, 60000, 60000, mark, &ran) > 0);
    forge__runtime_free(rt); /* returns without waiting a minute; fn never ran */
    assert_int_equal(atomic_load(&ran), 0);
}

/* ---- options and the app link ---- */

static void test_bad_options(void **state)
{
    (void)state;
    forge_error err;
    forge_error_clear(&err);
    forge__runtime_opts o = {.pool_threads = -2};
    assert_null(forge__runtime_new(NULL, &o, &err));
    assert_int_equal(err.code, FORGE_ECONFIG);
    assert_string_equal(err.key, "runtime.pool_threads");
    o = (forge__runtime_opts){.pool_queue_max = (size_t)1 << 40};
    assert_null(forge__runtime_new(NULL, &o, &err));
    assert_string_equal(err.key, "runtime.pool_queue_max");
    o = (forge__runtime_opts){.machine_lock_path = "/nonexistent-dir/forge.lock"};
    assert_null(forge__runtime_new(NULL, &o, &err));
    assert_int_equal(err.code, FORGE_EIO);
    assert_non_null(strstr(err.message, "/nonexistent-dir/forge.lock"));
    /* NULL opts: defaults. */
    forge_runtime *rt = forge__runtime_new(NULL, NULL, &err);
    assert_non_null(rt);
    assert_int_equal(forge_runtime_pool_size(rt), 4);
    assert_false(forge_runtime_machine_leader(rt));
    forge__runtime_free(rt);
    forge__runtime_free(NULL);
}

static void test_sets_and_clears_app_runtime(void **state)
{
    (void)state;
    forge_app *app = calloc(1, sizeof(*app));
    forge_runtime *rt = forge__runtime_new(app, NULL, NULL);
    assert_non_null(rt);
    assert_ptr_equal(app->runtime, rt);
    forge__runtime_free(rt);
    assert_null(app->runtime);
    free(app);
}

/* ---- machine lock, threads of one process ---- */

static char lock_dir[64];
static char lock_path[128];

static int lock_setup(void **state)
{
    (void)state;
    snprintf(lock_dir, sizeof(lock_dir), "/tmp/forge-lock-XXXXXX");
    if (!mkdtemp(lock_dir))
        return -1;
    snprintf(lock_path, sizeof(lock_path), "%s/machine.lock", lock_dir);
    return 0;
}

static int lock_teardown(void **state)
{
    (void)state;
    unlink(lock_path);
    rmdir(lock_dir);
    return 0;
}

struct leader_log {
    atomic_int gains;
    atomic_int losses;
    atomic_int leaders_now;
    atomic_int max_leaders;
    atomic_int wrong_thread;
};

static struct leader_log llog;
static forge_app apps[2];
static atomic_int is_leader[2]; /* by apps[] index */

static void on_leader(forge_app *app, bool leader)
{
    /* Leader is set before on_leader(true) and cleared after on_leader(false). */
    if (!app->runtime || !forge_runtime_on_loop_thread(app->runtime) ||
        !forge_runtime_machine_leader(app->runtime))
        atomic_fetch_add(&llog.wrong_thread, 1);
    if (leader) {
        atomic_fetch_add(&llog.gains, 1);
        int now = atomic_fetch_add(&llog.leaders_now, 1) + 1;
        int max = atomic_load(&llog.max_leaders);
        while (now > max && !atomic_compare_exchange_weak(&llog.max_leaders, &max, now))
            ;
        atomic_store(&is_leader[app - apps], 1);
    } else {
        atomic_fetch_add(&llog.losses, 1);
        atomic_fetch_sub(&llog.leaders_now, 1);
        atomic_store(&is_leader[app - apps], 0);
    }
}

static bool gains_reach(void *p)
{
    return atomic_load(&llog.gains) >= *(int *)p;
}

static void test_machine_lock_in_process(void **state)
{
    (void)state;
    memset(&llog, 0, sizeof(llog));
    memset(apps, 0, sizeof(apps));
    forge__runtime_opts o = {.pool_threads = 1,
                             .machine_lock_path = lock_path,
                             .on_leader = on_leader,
                             .lock_retry_ms = 10};
    forge_runtime *rt[2];
    for (int i = 0; i < 2; i++) {
        apps[i].worker_id = i;
        rt[i] = forge__runtime_new(&apps[i], &o, NULL);
        assert_non_null(rt[i]);
    }
    int one = 1, two = 2;
    assert_true(wait_until(gains_reach, &one));
    for (int i = 0; i < 20; i++) { /* the other keeps retrying and keeps failing */
        assert_int_equal(atomic_load(&llog.leaders_now), 1);
        sleep_ms(5);
    }
    int leader = forge_runtime_machine_leader(rt[0]) ? 0 : 1;
    assert_true(forge_runtime_machine_leader(rt[leader]));
    assert_false(forge_runtime_machine_leader(rt[1 - leader]));
    assert_int_equal(atomic_load(&is_leader[leader]), 1);
    assert_int_equal(atomic_load(&is_leader[1 - leader]), 0);

    forge__runtime_free(rt[leader]); /* on_leader(false), then unlock */
    assert_int_equal(atomic_load(&llog.losses), 1);
    assert_true(wait_until(gains_reach, &two));
    assert_true(forge_runtime_machine_leader(rt[1 - leader]));
    forge__runtime_free(rt[1 - leader]);
    assert_int_equal(atomic_load(&llog.losses), 2);
    assert_int_equal(atomic_load(&llog.max_leaders), 1);
    assert_int_equal(atomic_load(&llog.wrong_thread), 0);
}

/* ---- machine lock, forked worker processes ---- */

#define WORKERS 3

struct worker_board {
    atomic_int leader[WORKERS]; /* set by each worker's on_leader */
    atomic_int gains[WORKERS];
    atomic_int exit_now[WORKERS];
    atomic_int killed[WORKERS]; /* about to be SIGKILLed: its flag may lag */
    atomic_int violations;      /* a worker saw another live leader when it gained */
};

static struct worker_board *board;
static int my_slot;

static void worker_on_leader(forge_app *app, bool leader)
{
    (void)app;
    if (leader) {
        atomic_fetch_add(&board->gains[my_slot], 1);
        for (int i = 0; i < WORKERS; i++)
            if (i != my_slot && atomic_load(&board->leader[i]) && !atomic_load(&board->killed[i]))
                atomic_fetch_add(&board->violations, 1);
    }
    atomic_store(&board->leader[my_slot], leader ? 1 : 0);
}

static void worker_main(int slot)
{
    my_slot = slot;
    alarm(120);
    forge_app app;
    memset(&app, 0, sizeof(app));
    forge__runtime_opts o = {.pool_threads = 1,
                             .machine_lock_path = lock_path,
                             .on_leader = worker_on_leader,
                             .lock_retry_ms = 10};
    forge_runtime *rt = forge__runtime_new(&app, &o, NULL);
    if (!rt)
        _exit(2);
    while (!atomic_load(&board->exit_now[slot]))
        sleep_ms(1);
    forge__runtime_free(rt);
    _exit(atomic_load(&board->leader[slot]) ? 3 : 0);
}

static int count_leaders(int *which)
{
    int n = 0;
    for (int i = 0; i < WORKERS; i++)
        if (atomic_load(&board->leader[i])) {
            n++;
            *which = i;
        }
    return n;
}

/* Wait for exactly one leader among `alive`, checking there are never two. */
static int wait_one_leader(const bool *alive)
{
    for (int t = 0; t < BOUND_MS; t++) {
        int which = -1;
        int n = count_leaders(&which);
        assert_true(n <= 1);
        if (n == 1) {
            assert_true(alive[which]);
            return which;
        }
        sleep_ms(1);
    }
    fail_msg("no worker became leader");
    return -1;
}

static void reap(pid_t pid, int *status)
{
    for (int i = 0; i < BOUND_MS; i++) {
        if (waitpid(pid, status, WNOHANG) == pid)
            return;
        sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    fail_msg("worker %d did not exit", (int)pid);
}

static void test_machine_lock_across_processes(void **state)
{
    (void)state;
    board = mmap(NULL, sizeof(*board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(board != MAP_FAILED);
    pid_t pids[WORKERS];
    bool alive[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            worker_main(i);
        alive[i] = true;
    }

    /* 1. One leader; it is killed with SIGKILL, no chance to resign. */
    int first = wait_one_leader(alive);
    for (int i = 0; i < 50; i++) {
        int w;
        assert_int_equal(count_leaders(&w), 1);
        sleep_ms(2);
    }
    atomic_store(&board->killed[first], 1);
    kill(pids[first], SIGKILL);
    int status;
    reap(pids[first], &status);
    assert_true(WIFSIGNALED(status));
    alive[first] = false;
    atomic_store(&board->leader[first], 0); /* the dead cannot clear its own flag */

    /* 2. Another takes over; it then exits gracefully. */
    int second = wait_one_leader(alive);
    assert_int_not_equal(second, first);
    atomic_store(&board->exit_now[second], 1);
    reap(pids[second], &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* it resigned before exiting */
    alive[second] = false;

    /* 3. The last one takes over. */
    int third = wait_one_leader(alive);
    assert_int_not_equal(third, first);
    assert_int_not_equal(third, second);
    atomic_store(&board->exit_now[third], 1);
    reap(pids[third], &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_int_equal(atomic_load(&board->violations), 0);
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(atomic_load(&board->gains[i]), 1);
    munmap(board, sizeof(*board));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_jobs),
        cmocka_unit_test(test_pool_threads_run_concurrently),
        cmocka_unit_test(test_pool_queue_full),
        cmocka_unit_test(test_stop_drains_pool_and_calls),
        cmocka_unit_test(test_calls_in_order_from_many_threads),
        cmocka_unit_test(test_call_from_loop_is_not_inline),
        cmocka_unit_test(test_steady_state_submit_and_call_do_not_allocate),
        cmocka_unit_test(test_timers_fire_in_deadline_order),
        cmocka_unit_test(test_cancel_before_fire),
        cmocka_unit_test(test_repeat_then_cancel),
        cmocka_unit_test(test_self_cancel_inside_fn),
        cmocka_unit_test(test_cancel_waits_for_running_fn),
        cmocka_unit_test(test_stop_cancels_pending_timers),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_sets_and_clears_app_runtime),
        cmocka_unit_test_setup_teardown(test_machine_lock_in_process, lock_setup, lock_teardown),
        cmocka_unit_test_setup_teardown(test_machine_lock_across_processes, lock_setup,
                                        lock_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
