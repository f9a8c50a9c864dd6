/*
 * DI lookup costs, in ns per operation (median and minimum of 7 batches),
 * next to a reference measured in the same run: a naive thread-safe
 * container (a mutex around a linear strcmp scan of the same 64 names).
 */
#include <forge/di.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NENTRIES 64
#define BATCHES  7

static FORGE_TYPE_DEFINE(t_svc, "bench.svc");

static char names[NENTRIES][16];
static int values[NENTRIES];
static volatile uintptr_t sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void (*op_fn)(void *ctx, long n);

static void measure(const char *label, op_fn fn, void *ctx, long n)
{
    double r[BATCHES];
    fn(ctx, n / 10); /* warm up */
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        fn(ctx, n);
        r[b] = (now_ns() - t0) / (double)n;
    }
    qsort(r, BATCHES, sizeof(r[0]), cmp_double);
    printf("%-44s median %8.1f ns/op  min %8.1f ns/op\n", label, r[BATCHES / 2], r[0]);
}

/* The reference: what a container without a hash table or lock-free reads would cost. */
static pthread_mutex_t naive_mu = PTHREAD_MUTEX_INITIALIZER;

static void *naive_get(const char *name)
{
    void *v = NULL;
    pthread_mutex_lock(&naive_mu);
    for (int i = 0; i < NENTRIES && !v; i++)
        if (strcmp(names[i], name) == 0)
            v = &values[i];
    pthread_mutex_unlock(&naive_mu);
    return v;
}

static void op_naive(void *ctx, long n)
{
    for (long i = 0; i < n; i++)
        sink += (uintptr_t)naive_get(names[i % NENTRIES]);
}

static void op_value(void *ctx, long n)
{
    for (long i = 0; i < n; i++)
        sink += (uintptr_t)forge_di_get(ctx, names[i % NENTRIES], &t_svc, NULL);
}

static void op_singleton(void *ctx, long n)
{
    for (long i = 0; i < n; i++)
        sink += (uintptr_t)forge_di_get(ctx, "single", &t_svc, NULL);
}

static void op_transient(void *ctx, long n)
{
    for (long i = 0; i < n; i++) {
        void *v = forge_di_get(ctx, "trans", &t_svc, NULL);
        forge_di_release(ctx, v);
    }
}

static void op_scope(void *ctx, long n)
{
    for (long i = 0; i < n; i++) {
        forge_di_scope *s = forge_di_scope_new(ctx);
        sink += (uintptr_t)forge_di_scope_get(s, "scoped", &t_svc, NULL);
        sink += (uintptr_t)forge_di_scope_get(s, "scoped", &t_svc, NULL);
        sink += (uintptr_t)forge_di_scope_get(s, "single", &t_svc, NULL);
        forge_di_scope_free(s);
    }
}

static void *make(forge_resolver *r, void *udata, forge_error *err)
{
    return malloc(16);
}

struct par {
    op_fn fn;
    void *ctx;
    long n;
};

static void *par_main(void *arg)
{
    struct par *p = arg;
    p->fn(p->ctx, p->n);
    return NULL;
}

static void op_two_threads(void *ctx, long n)
{
    struct par p = {op_singleton, ctx, n};
    pthread_t t;
    pthread_create(&t, NULL, par_main, &p);
    op_singleton(ctx, n);
    pthread_join(t, NULL);
}

static void op_two_threads_naive(void *ctx, long n)
{
    struct par p = {op_naive, ctx, n};
    pthread_t t;
    pthread_create(&t, NULL, par_main, &p);
    op_naive(ctx, n);
    pthread_join(t, NULL);
}

int main(void)
{
    forge_container *c = forge_di_new();
    for (int i = 0; i < NENTRIES; i++) {
        snprintf(names[i], sizeof(names[i]), "svc.%d", i);
        forge_di_value(c, names[i], &t_svc, &values[i], NULL, NULL);
    }
    forge_di_singleton(c, "single", &t_svc, make, free, NULL, NULL);
    forge_di_transient(c, "trans", &t_svc, make, free, NULL, NULL);
    forge_di_scoped(c, "scoped", &t_svc, make, free, NULL, NULL);

    printf("bench_di: %d entries, %d batches\n", NENTRIES + 3, BATCHES);
    measure("reference: mutex + linear strcmp lookup", op_naive, NULL, 2000000);
    measure("forge_di_get, value", op_value, c, 2000000);
    measure("forge_di_get, singleton (built)", op_singleton, c, 2000000);
    measure("reference, 2 threads at once (per op/thread)", op_two_threads_naive, NULL, 1000000);
    measure("singleton, 2 threads at once (per op/thread)", op_two_threads, c, 1000000);
    measure("transient get + forge_di_release (malloc)", op_transient, c, 500000);
    measure("scope new + 2 scoped + 1 singleton + free", op_scope, c, 500000);
    forge_di_free(c);
    return 0;
}
