/*
 * bench_dispatch: the cost of one request through the core, measured on the
 * in-process test host (no sockets): forge_req_new, filling the request,
 * dispatch (routing, middleware, handler), the hand-over to send_head /
 * send_body and release. Prints ns per request (median and minimum over
 * batches) and heap allocations per request, for GET /hello and
 * GET /users/:id of examples/hello, with the default middleware (request id,
 * access log, errors; the access line dropped by the level, or formatted as
 * JSON into a sink that discards it) and with none.
 */
#include <forge/forge.h>
#include <forge/testhost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/unit/alloc_count.h"
#include "hello/hello.c"

#define BATCHES   15
#define PER_BATCH 20000

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run(const char *label, forge_test_host *th, const char *target)
{
    static const char *const headers[] = {"Host: localhost", "User-Agent: bench/1.0", "Accept: */*",
                                          NULL};
    forge_test_response res;
    forge_test_response_init(&res);
    forge_error err;
    for (int i = 0; i < 2000; i++)
        if (forge_test_request(th, "GET", target, headers, NULL, 0, &res, &err) != 0 ||
            res.status != 200) {
            fprintf(stderr, "%s: %s -> %d %s\n", label, target, res.status, err.message);
            exit(1);
        }
    double ns[BATCHES];
    size_t allocs = 0;
    for (int b = 0; b < BATCHES; b++) {
        forge_alloc_count_begin();
        double t0 = now_ns();
        for (int i = 0; i < PER_BATCH; i++)
            forge_test_request(th, "GET", target, headers, NULL, 0, &res, &err);
        ns[b] = (now_ns() - t0) / PER_BATCH;
        allocs += forge_alloc_count_end();
    }
    qsort(ns, BATCHES, sizeof(ns[0]), cmp);
    printf("%-40s %-10s median %7.0f ns  min %7.0f ns  %9.0f req/s  allocs/req %s%.3f\n", label,
           target, ns[BATCHES / 2], ns[0], 1e9 / ns[BATCHES / 2],
           FORGE_ALLOC_COUNT_ENABLED ? "" : "(not counted) ",
           (double)allocs / (BATCHES * (double)PER_BATCH));
    forge_test_response_free(&res);
}

static void null_sink(void *u, forge_log_level level, const char *line, size_t len) {}

static void suite(const char *label, const char *config, bool sink)
{
    forge_error err;
    forge_test_host *th = forge_test_host_new(&forge_app_entry, config, &err);
    if (!th) {
        fprintf(stderr, "test host: %s\n", err.message);
        exit(1);
    }
    if (sink)
        forge_log_set_sink(forge_app_log(forge_test_host_app(th)), null_sink, NULL);
    run(label, th, "/hello");
    run(label, th, "/users/42");
    forge_test_host_free(th);
}

int main(void)
{
    printf("bench_dispatch: %d batches x %d requests through the in-process test host\n", BATCHES,
           PER_BATCH);
    suite("default middleware, access line dropped", "log:\n  level: warn\n", false);
    suite("default middleware, JSON line to sink", "log:\n  level: info\n  format: json\n", true);
    suite("no middleware",
          "log:\n  level: warn\nhttp:\n  middleware:\n    request_id: false\n"
          "    access_log: false\n    errors: false\n",
          false);
    return 0;
}
