/*
 * bench_hotpath: a fixed number of requests through the in-process test host,
 * untimed, for instruction counting with valgrind --tool=callgrind (whose
 * counts repeat on a loaded machine, unlike times).
 *
 *   bench_hotpath [SUITE [TARGET [N]]]
 *
 * SUITE: default (request id, access log, errors, metrics, tracing; the access
 * line dropped by the level), json (the same with a JSON access line into a
 * sink that discards it), bare (the built-in http middleware off, as
 * bench_dispatch's "no middleware": metrics and tracing still on), none
 * (metrics and tracing off too: the floor).
 * TARGET defaults to /hello, N to 10000. bench/callgrind.sh runs it twice
 * (N and 2N) and prints instructions per request (the difference over N), so
 * start-up costs cancel out. Without valgrind it prints ns per request.
 */
#include <forge/forge.h>
#include <forge/testhost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hello/hello.c"

static void null_sink(void *u, forge_log_level level, const char *line, size_t len) {}

static const char *suite_config(const char *suite)
{
    if (strcmp(suite, "default") == 0)
        return "log:\n  level: warn\n";
    if (strcmp(suite, "json") == 0)
        return "log:\n  level: info\n  format: json\n";
    if (strcmp(suite, "bare") == 0)
        return "log:\n  level: warn\nhttp:\n  middleware:\n    request_id: false\n"
               "    access_log: false\n    errors: false\n";
    if (strcmp(suite, "none") == 0)
        return "log:\n  level: warn\nhttp:\n  middleware:\n    request_id: false\n"
               "    access_log: false\n    errors: false\n"
               "observe:\n  metrics:\n    http: false\n  trace:\n    enabled: false\n";
    return NULL;
}

int main(int argc, char **argv)
{
    const char *suite = argc > 1 ? argv[1] : "default";
    const char *target = argc > 2 ? argv[2] : "/hello";
    long n = argc > 3 ? strtol(argv[3], NULL, 10) : 10000;
    const char *config = suite_config(suite);
    if (!config || n <= 0) {
        fprintf(stderr, "usage: bench_hotpath [default|json|bare|none [TARGET [N]]]\n");
        return 2;
    }
    forge_error err;
    forge_test_host *th = forge_test_host_new(&forge_app_entry, config, &err);
    if (!th) {
        fprintf(stderr, "test host: %s\n", err.message);
        return 1;
    }
    if (strcmp(suite, "json") == 0)
        forge_log_set_sink(forge_app_log(forge_test_host_app(th)), null_sink, NULL);
    static const char *const headers[] = {"Host: localhost", "User-Agent: bench/1.0", "Accept: */*",
                                          NULL};
    forge_test_response res;
    forge_test_response_init(&res);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++)
        if (forge_test_request(th, "GET", target, headers, NULL, 0, &res, &err) != 0 ||
            res.status >= 500) {
            fprintf(stderr, "%s %s -> %d %s\n", suite, target, res.status, err.message);
            return 1;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n;
    printf("bench_hotpath %s %s: %ld requests, %.0f ns/request, last status %d\n", suite, target, n,
           ns, res.status);
    forge_test_response_free(&res);
    forge_test_host_free(th);
    return 0;
}
