/*
 * Meeting points between requests, in shared memory so that they work
 * across worker processes (a second request may reach another worker).
 *
 *   GET  /c/barrier?key=K&n=N   blocking route: waits until N requests with
 *                               key K have arrived (200), or 10 s (504). N
 *                               requests can only meet if the host runs N
 *                               blocking handlers at once: the check needs no
 *                               clock on the client side.
 *   GET  /c/barrier/:key/count  how many have arrived so far (never blocks).
 *   GET  /c/gate/:key           streams "first\n" at once, then "second\n"
 *                               once the gate is opened (or "timeout\n" after
 *                               10 s). A client that reads "first\n" before it
 *                               opens the gate has seen the stream flushed.
 *   POST /c/gate/:key/open      opens the gate (204), before or after the GET.
 *
 * Slots are claimed by a 64-bit hash of the key and never released: keys are
 * meant to be unique per run (the runner adds a random token), and the table
 * lives as long as the server.
 */
#include "conformance.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS        512
#define WAIT_MS      10000
#define BARRIER_POLL 2
#define GATE_POLL    5

typedef struct slot {
    _Atomic uint64_t key;
    atomic_int count;
    atomic_int opened;
} slot;

typedef struct sync_table {
    slot slots[SLOTS];
} sync_table;

static uint64_t hash(forge_str s)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s.n; i++)
        h = (h ^ (unsigned char)s.p[i]) * 1099511628211ull;
    return h ? h : 1;
}

/* The slot for `key`, claimed if new; NULL when the table is full or unmapped. */
static slot *find_slot(forge_req *req, forge_str key)
{
    sync_table *t = forge_shm_get(forge_req_app(req), "conformance.sync");
    if (!t || key.n == 0)
        return NULL;
    uint64_t h = hash(key);
    for (size_t i = 0; i < SLOTS; i++) {
        slot *s = &t->slots[(h + i) % SLOTS];
        uint64_t k = atomic_load(&s->key);
        if (k == h)
            return s;
        if (k == 0 && (atomic_compare_exchange_strong(&s->key, &k, h) || k == h))
            return s;
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int barrier(forge_req *req, void *udata)
{
    forge_str key;
    long n = conf_query_long(req, "n", 2, 2, 16);
    if (!forge_req_query_param(req, "key", &key) || n < 0)
        return forge_res_problem(req, 400, NULL, "barrier needs ?key= and n between 2 and 16.");
    slot *s = find_slot(req, key);
    if (!s)
        return forge_res_problem(req, 503, NULL, "No free barrier slot.");
    int arrived = atomic_fetch_add(&s->count, 1) + 1;
    for (long waited = 0; arrived < n && waited < WAIT_MS; waited += BARRIER_POLL) {
        sleep_ms(BARRIER_POLL);
        arrived = atomic_load(&s->count);
    }
    if (arrived < n) {
        char detail[96];
        snprintf(detail, sizeof(detail), "Only %d of %ld requests met within 10 s.", arrived, n);
        return forge_res_problem(req, 504, NULL, detail);
    }
    json_t *o = json_pack("{s:i}", "n", (json_int_t)n);
    if (!o)
        return FORGE_ENOMEM;
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

static int barrier_count(forge_req *req, void *udata)
{
    slot *s = find_slot(req, forge_req_param(req, "key"));
    if (!s)
        return forge_res_problem(req, 503, NULL, "No free barrier slot.");
    json_t *o = json_pack("{s:i}", "count", (json_int_t)atomic_load(&s->count));
    if (!o)
        return FORGE_ENOMEM;
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

typedef struct gate_state {
    forge_req *req;
    forge_runtime *rt;
    slot *s;
    long waited;
} gate_state;

/* Runtime thread: one-shot timers re-armed until the gate opens or time runs out. */
static void gate_tick(void *arg)
{
    gate_state *g = arg;
    bool opened = atomic_load(&g->s->opened) != 0;
    g->waited += GATE_POLL;
    if (!opened && g->waited < WAIT_MS && !forge_req_aborted(g->req) &&
        forge_runtime_timer(g->rt, GATE_POLL, 0, gate_tick, g) > 0)
        return;
    const char *last = opened ? "second\n" : "timeout\n";
    forge_res_write(g->req, last, strlen(last));
    forge_res_end(g->req);
    free(g);
}

static int gate(forge_req *req, void *udata)
{
    forge_runtime *rt = forge_app_runtime(forge_req_app(req));
    slot *s = find_slot(req, forge_req_param(req, "key"));
    if (!rt || !s)
        return forge_res_problem(req, 503, NULL, "No runtime thread or no free gate slot.");
    gate_state *g = malloc(sizeof(*g));
    if (!g)
        return FORGE_ENOMEM;
    *g = (gate_state){req, rt, s, 0};
    int rc;
    if ((rc = forge_res_set_header(req, "Content-Type", "text/plain; charset=utf-8")) < 0 ||
        (rc = forge_res_stream_begin(req)) < 0 || (rc = forge_res_write(req, "first\n", 6)) < 0 ||
        (rc = forge_res_flush(req)) < 0) {
        free(g);
        return rc;
    }
    if (forge_runtime_timer(rt, GATE_POLL, 0, gate_tick, g) > 0)
        return FORGE_ASYNC;
    free(g);
    forge_res_end(req);
    return FORGE_OK;
}

static int gate_open(forge_req *req, void *udata)
{
    slot *s = find_slot(req, forge_req_param(req, "key"));
    if (!s)
        return forge_res_problem(req, 503, NULL, "No free gate slot.");
    atomic_store(&s->opened, 1);
    forge_res_status(req, 204);
    return FORGE_OK;
}

int conf_sync_register(forge_app *app, forge_error *err)
{
    static const forge_route_opts blocking = {.summary = "Waits for its peers",
                                              .flags = FORGE_ROUTE_BLOCKING};
    int rc;
    if ((rc = forge_shm_reserve(app, "conformance.sync", sizeof(sync_table), err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/c/barrier", barrier, NULL, &blocking, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/c/barrier/:key/count", barrier_count, NULL, NULL,
                              err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/c/gate/:key", gate, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "POST", "/c/gate/:key/open", gate_open, NULL, NULL, err)) < 0)
        return rc;
    return 0;
}
