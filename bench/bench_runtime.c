/*
 * Runtime costs: a forge_runtime_submit round trip (submit, a pool thread
 * runs the job, the submitter sees it done), a forge_runtime_call round trip
 * (the same through the loop thread), the throughput of pipelined submits,
 * and forge_arena_alloc against malloc/free.
 *
 * Each figure is ns per operation over BATCHES batches; prints the median
 * and the minimum. Round trips include the thread wake-ups on both sides, the
 * cost a blocking route pays once per request.
 */
#include <forge/arena.h>
#include <forge/runtime.h>

#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCHES 9

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *ns, int n)
{
    qsort(ns, (size_t)n, sizeof(*ns), cmp_double);
    printf("%-44s median %9.1f ns   min %9.1f ns\n", what, ns[n / 2], ns[0]);
}

/* A one-shot completion the submitter waits on (mutex + condition variable). */
struct done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int flag;
};

static void signal_done(void *arg)
{
    struct done *d = arg;
    pthread_mutex_lock(&d->mu);
    d->flag = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void wait_done(struct done *d)
{
    pthread_mutex_lock(&d->mu);
    while (!d->flag)
        pthread_cond_wait(&d->cv, &d->mu);
    d->flag = 0;
    pthread_mutex_unlock(&d->mu);
}

typedef int (*post_fn)(forge_runtime *rt, forge_task_fn fn, void *arg);

static void bench_round_trip(forge_runtime *rt, const char *what, post_fn post, int iters)
{
    struct done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    double ns[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            if (post(rt, signal_done, &d) != 0)
                abort();
            wait_done(&d);
        }
        ns[b] = (now_ns() - t0) / iters;
    }
    report(what, ns, BATCHES);
}

/*
 * Reference: the floor for any cross-thread round trip on this machine, one
 * dedicated thread woken through a condition variable that answers the same
 * way. The pool's round trip is this plus its queue.
 */
struct pingpong {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int request; /* 1: work, -1: quit */
    struct done *reply;
};

static void *pong_main(void *arg)
{
    struct pingpong *pp = arg;
    pthread_mutex_lock(&pp->mu);
    for (;;) {
        while (pp->request == 0)
            pthread_cond_wait(&pp->cv, &pp->mu);
        if (pp->request < 0)
            break;
        pp->request = 0;
        pthread_mutex_unlock(&pp->mu);
        signal_done(pp->reply);
        pthread_mutex_lock(&pp->mu);
    }
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

static void bench_reference(int iters)
{
    struct done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct pingpong pp = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, &d};
    pthread_t th;
    pthread_create(&th, NULL, pong_main, &pp);
    double ns[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            pthread_mutex_lock(&pp.mu);
            pp.request = 1;
            pthread_cond_signal(&pp.cv);
            pthread_mutex_unlock(&pp.mu);
            wait_done(&d);
        }
        ns[b] = (now_ns() - t0) / iters;
    }
    pthread_mutex_lock(&pp.mu);
    pp.request = -1;
    pthread_cond_signal(&pp.cv);
    pthread_mutex_unlock(&pp.mu);
    pthread_join(th, NULL);
    report("reference: bare condvar round trip", ns, BATCHES);
}

static atomic_long ran;

static void count_job(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
}

static void bench_pipelined_submit(forge_runtime *rt, int iters)
{
    double ns[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        atomic_store(&ran, 0);
        double t0 = now_ns();
        for (int i = 0; i < iters; i++)
            while (forge_runtime_submit(rt, count_job, NULL) == FORGE_EBUSY)
                sched_yield();
        while (atomic_load(&ran) < iters)
            sched_yield();
        ns[b] = (now_ns() - t0) / iters;
    }
    report("submit, pipelined (per job, 2 threads)", ns, BATCHES);
}

static void bench_arena(int iters)
{
    double ns[BATCHES];
    forge_arena *a = forge_arena_new(64 * 1024);
    volatile char sink = 0;
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            char *p = forge_arena_alloc(a, (size_t)(i & 63) + 16);
            p[0] = (char)i;
            sink = (char)(sink + p[0]);
            if ((i & 255) == 255)
                forge_arena_reset(a);
        }
        ns[b] = (now_ns() - t0) / iters;
    }
    report("forge_arena_alloc 16..79 B (reset every 256)", ns, BATCHES);
    forge_arena_free(a);

    char *ptrs[256];
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            char *p = malloc((size_t)(i & 63) + 16);
            p[0] = (char)i;
            sink = (char)(sink + p[0]);
            ptrs[i & 255] = p;
            if ((i & 255) == 255)
                for (int j = 0; j < 256; j++)
                    free(ptrs[j]);
        }
        ns[b] = (now_ns() - t0) / iters;
    }
    report("malloc+free 16..79 B (free every 256)", ns, BATCHES);
}

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1)
        scale = 1;
    forge__runtime_opts o = {.pool_threads = 2, .pool_queue_max = 4096};
    forge_error err;
    forge_runtime *rt = forge__runtime_new(NULL, &o, &err);
    if (!rt) {
        fprintf(stderr, "runtime: %s\n", err.message);
        return 1;
    }
    printf("bench_runtime: %d batches each\n", BATCHES);
    bench_reference(20000 * scale);
    bench_round_trip(rt, "forge_runtime_submit round trip", forge_runtime_submit, 20000 * scale);
    bench_round_trip(rt, "forge_runtime_call round trip", forge_runtime_call, 20000 * scale);
    bench_pipelined_submit(rt, 200000 * scale);
    forge__runtime_free(rt);
    bench_arena(2000000 * scale);
    return 0;
}
