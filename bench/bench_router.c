/*
 * Router benchmark on the GitHub API table (203 routes, bench/github_routes.h),
 * the table Go's router benchmarks use: lookups per second and ns per lookup
 * over several batches (median and minimum), for every route in turn ("all",
 * the GithubAll benchmark), one static route, one parameterised route, a 404
 * and a 405; then heap allocations per lookup, counted with
 * tests/unit/alloc_count.h.
 *
 * Reference measured on this machine (docs/adr/0010-router.md): Go's
 * httprouter on the same table about 92 to 163 ns per lookup, 0 allocations.
 *
 * Usage: bench_router [batches] [lookups per batch] [only]
 * `only` runs one case ("github-all", "static", ...), e.g. for
 *   valgrind --tool=callgrind --toggle-collect=forge_router_lookup \
 *       build/bench/bench_router 1 203000 github-all
 * which makes (203000 / 4 + 203) + 203000 lookups: divide Ir by that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <forge/router.h>

#include "github_routes.h"
#include "../tests/unit/alloc_count.h"

typedef struct req {
    forge_method method;
    const char *path;
    size_t len;
    int want; /* expected lookup result */
} req;

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
    return (x > y) - (x < y);
}

/* Runs `total` lookups cycling over reqs; returns ns per lookup. Aborts on a wrong result. */
static double run_batch(const forge_router *r, const req *reqs, size_t nreqs, size_t total)
{
    char buf[256];
    forge_match m;
    m.buf = buf;
    m.cap = sizeof(buf);
    uintptr_t acc = 0;
    size_t rounds = total / nreqs;
    double t0 = now_ns();
    for (size_t k = 0; k < rounds; k++) {
        for (size_t i = 0; i < nreqs; i++) {
            int rc = forge_router_lookup(r, reqs[i].method, reqs[i].path, reqs[i].len, &m);
            if (rc != reqs[i].want) {
                fprintf(stderr, "bench_router: %s %s gave %s\n", forge_method_name(reqs[i].method),
                        reqs[i].path, forge_err_name(rc));
                exit(1);
            }
            acc += (uintptr_t)m.value + m.nparams;
        }
    }
    double t1 = now_ns();
    sink = acc;
    return (t1 - t0) / (double)(rounds * nreqs);
}

static const char *only;

static void bench(const char *name, const forge_router *r, const req *reqs, size_t nreqs,
                  int batches, size_t per_batch)
{
    if (only && strcmp(only, name) != 0)
        return;
    double *ns = malloc(sizeof(double) * (size_t)batches);
    run_batch(r, reqs, nreqs, per_batch / 4 + nreqs); /* warm up */
    for (int b = 0; b < batches; b++)
        ns[b] = run_batch(r, reqs, nreqs, per_batch);
    qsort(ns, (size_t)batches, sizeof(double), cmp_double);
    double med = (batches % 2) ? ns[batches / 2] : (ns[batches / 2 - 1] + ns[batches / 2]) / 2;
    printf("router %-14s median %7.1f ns/lookup  min %7.1f ns/lookup  %6.2f M lookups/s (median)\n",
           name, med, ns[0], 1e3 / med);
    free(ns);
}

static void count_allocs(const forge_router *r, const req *reqs, size_t nreqs)
{
    if (only)
        return;
    if (!FORGE_ALLOC_COUNT_ENABLED) {
        printf("router allocations: not measured (sanitizer build)\n");
        return;
    }
    size_t rounds = 100;
    forge_alloc_count_begin();
    run_batch(r, reqs, nreqs, rounds * nreqs);
    size_t n = forge_alloc_count_end();
    printf("router allocations: %zu in %zu lookups (%.3f per lookup)\n", n, rounds * nreqs,
           (double)n / (double)(rounds * nreqs));
}

int main(int argc, char **argv)
{
    int batches = argc > 1 ? atoi(argv[1]) : 9;
    size_t per_batch = argc > 2 ? (size_t)atol(argv[2]) : 2000000;
    only = argc > 3 ? argv[3] : NULL;
    if (batches < 1 || per_batch < GITHUB_ROUTES_COUNT) {
        fprintf(stderr, "usage: bench_router [batches>=1] [lookups per batch>=%zu] [only]\n",
                (size_t)GITHUB_ROUTES_COUNT);
        return 2;
    }

    forge_router *r = forge_router_new();
    forge_error err;
    double t0 = now_ns();
    for (size_t i = 0; i < GITHUB_ROUTES_COUNT; i++) {
        if (forge_router_add(r, github_routes[i].method, github_routes[i].pattern,
                             (void *)&github_routes[i], &err) != 0) {
            fprintf(stderr, "bench_router: %s\n", err.message);
            return 1;
        }
    }
    double build_us = (now_ns() - t0) / 1e3;

    req all[GITHUB_ROUTES_COUNT];
    for (size_t i = 0; i < GITHUB_ROUTES_COUNT; i++)
        all[i] = (req){github_routes[i].method, github_routes[i].path,
                       strlen(github_routes[i].path), FORGE_OK};
    const req stat[] = {{FORGE_METHOD_GET, "/user/repos", 11, FORGE_OK}};
    const char *pp = "/repos/julienschmidt/httprouter/stargazers";
    const req param[] = {{FORGE_METHOD_GET, pp, strlen(pp), FORGE_OK}};
    const char *deep = "/repos/octocat/hello-world/issues/42/labels/good%20first%20issue";
    const req deepp[] = {{FORGE_METHOD_DELETE, deep, strlen(deep), FORGE_OK}};
    const req miss[] = {{FORGE_METHOD_GET, "/repos/a/b/nothing-here", 23, FORGE_ENOENT}};
    const req notallowed[] = {{FORGE_METHOD_PATCH, "/user/repos", 11, FORGE_EMETHOD}};

    printf("router: GitHub API table, %zu routes, built in %.0f us; %d batches of %zu lookups\n",
           (size_t)GITHUB_ROUTES_COUNT, build_us, batches, per_batch);
    bench("github-all", r, all, GITHUB_ROUTES_COUNT, batches, per_batch);
    bench("static", r, stat, 1, batches, per_batch);
    bench("param-2", r, param, 1, batches, per_batch);
    bench("param-4-enc", r, deepp, 1, batches, per_batch);
    bench("404", r, miss, 1, batches, per_batch);
    bench("405", r, notallowed, 1, batches, per_batch);
    count_allocs(r, all, GITHUB_ROUTES_COUNT);
    printf("reference: Go httprouter on this table, this machine: 92-163 ns/lookup, 0 allocs\n");
    forge_router_free(r);
    return 0;
}
