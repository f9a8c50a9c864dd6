/*
 * bench_metrics: nanoseconds per metric update.
 *
 * Single thread: counter inc (no labels), counter inc on a cached labelled
 * series, counter inc looking the label set up every time (lock-free hash
 * probe), histogram observation (14 buckets). Contention: 2 threads of one
 * process on the same series (they share the process's row: the same cache
 * line bounces) and 2 forked processes with a row each (the production
 * layout: one row per worker, nothing shared on the update path).
 * Each case: 5 batches, median and minimum printed.
 */
#include <forge/forge.h>
#include <forge/testhost.h>

#include "metrics_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ITERS   5000000
#define BATCHES 5

static forge_metric *c_plain, *c_lab, *h_lat;

static int init(forge_app *app, forge_error *err)
{
    forge_metrics *m = forge_app_metrics(app);
    static const double b[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    c_plain = forge_metrics_counter(m, &(forge_metric_opts){.name = "plain_total"}, err);
    c_lab = forge_metrics_counter(
        m,
        &(forge_metric_opts){.name = "lab_total",
                             .labels = (const char *const[]){"method", "route", "status", NULL}},
        err);
    h_lat = forge_metrics_histogram(
        m, &(forge_metric_opts){.name = "lat_seconds", .buckets = b, .nbuckets = 14}, err);
    return c_plain && c_lab && h_lat ? 0 : err->code;
}

static const struct forge_app_entry entry = {
    FORGE_ABI_VERSION, sizeof(struct forge_app_entry), "bench", "1", init, {0}};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const char *const labels[] = {"GET", "/users/:id", "200"};

static void run_case(int which, long n)
{
    forge_series s = forge_metric_labels(c_lab, labels);
    for (long i = 0; i < n; i++) {
        switch (which) {
        case 0:
            forge_counter_inc(c_plain);
            break;
        case 1:
            forge_series_inc(s);
            break;
        case 2:
            forge_series_inc(forge_metric_labels(c_lab, labels));
            break;
        default:
            forge_histogram_observe(h_lat, (double)(i & 1023) * 1e-4);
            break;
        }
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *v)
{
    qsort(v, BATCHES, sizeof(double), cmp);
    printf("%-52s median %6.2f ns  min %6.2f ns\n", name, v[BATCHES / 2], v[0]);
}

typedef struct targ {
    int which;
} targ;

static void *thread_main(void *p)
{
    run_case(((targ *)p)->which, ITERS);
    return NULL;
}

int main(void)
{
    forge_error err;
    forge_error_clear(&err);
    forge_test_host *th = forge_test_host_new(&entry, "log:\n  level: warn\n", &err);
    if (!th) {
        fprintf(stderr, "bench_metrics: %s\n", err.message);
        return 1;
    }
    forge_metrics *m = forge_app_metrics(forge_test_host_app(th));
    static const char *const names[] = {"counter inc, no labels", "counter inc, cached series",
                                        "counter inc, label lookup each time",
                                        "histogram observe (14 buckets)"};
    double v[BATCHES];
    printf("single thread, %d updates per batch\n", ITERS);
    for (int c = 0; c < 4; c++) {
        for (int b = 0; b < BATCHES; b++) {
            double t0 = now_ns();
            run_case(c, ITERS);
            v[b] = (now_ns() - t0) / ITERS;
        }
        report(names[c], v);
    }

    printf("2 threads, one process (shared row: same cache line), per update\n");
    for (int c = 1; c < 4; c += 2) {
        for (int b = 0; b < BATCHES; b++) {
            pthread_t t[2];
            targ a = {c};
            double t0 = now_ns();
            for (int i = 0; i < 2; i++)
                pthread_create(&t[i], NULL, thread_main, &a);
            for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
            v[b] = (now_ns() - t0) / ITERS; /* wall time per update of one thread */
        }
        report(names[c], v);
    }

    printf("2 worker processes, a row each (production layout), per update\n");
    for (int c = 1; c < 4; c += 2) {
        for (int b = 0; b < BATCHES; b++) {
            double t0 = now_ns();
            pid_t p[2];
            for (int i = 0; i < 2; i++) {
                if ((p[i] = fork()) == 0) {
                    forge__metrics_set_worker(m, i + 1);
                    run_case(c, ITERS);
                    _exit(0);
                }
            }
            for (int i = 0; i < 2; i++)
                waitpid(p[i], NULL, 0);
            v[b] = (now_ns() - t0) / ITERS;
        }
        report(names[c], v);
    }
    double expect = (double)ITERS * BATCHES * (1 + 1 + 2 + 2);
    double got = forge_metric_value(c_lab, labels, NULL);
    printf("check: labelled counter %.0f, expected %.0f (%s)\n", got, expect,
           got == expect ? "exact" : "MISMATCH");
    forge_test_host_free(th);
    return got == expect ? 0 : 1;
}
