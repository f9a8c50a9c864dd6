/*
 * Data layer costs in process, on SQLite (no server needed):
 *  - pool acquire + release of an idle connection (1 thread, and 4 threads
 *    sharing a pool of 4);
 *  - a point query (SELECT by primary key) through forge_db (cached
 *    prepared statement), side by side with the same prepared statement
 *    driven through the driver table alone (sqlite3 bind/step/reset);
 *  - cache get hits: LRU and shared memory.
 * Prints ns per operation. Driver plugins come from FORGE_DB_DRIVER_PATH or
 * the build's lib directory.
 */
#include <forge/forge.h>
#include <forge/cache.h>
#include <forge/db.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db_impl.h"
#include "internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define N 200000

static forge_db *g_db;

static void *acq_loop(void *arg)
{
    long n = (long)(intptr_t)arg;
    forge_error err;
    for (long i = 0; i < n; i++) {
        forge_db_conn *c;
        if (forge_db_acquire(g_db, 0, &c, &err) != 0)
            abort();
        forge_db_release(c);
    }
    return NULL;
}

int main(void)
{
    if (!getenv("FORGE_DB_DRIVER_PATH")) {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
            exe[n] = '\0';
            char *slash = strrchr(exe, '/');
            if (slash) {
                strcpy(slash, "/../lib");
                setenv("FORGE_DB_DRIVER_PATH", exe, 1);
            }
        }
    }
    char dir[] = "/tmp/forge-bench-db-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char url[256];
    snprintf(url, sizeof(url), "sqlite://%s/b.db", dir);
    forge_error err;
    forge_db_opts o = {.max_conns = 4, .validate_after_ms = 60000};
    if (forge_db_open(url, &o, &g_db, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    forge_db_conn *c;
    forge_db_acquire(g_db, 0, &c, &err);
    forge_db_exec_script(c,
                         "CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT);"
                         "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i < "
                         "1000) INSERT INTO kv SELECT i, 'value ' || i FROM r;",
                         &err);
    forge_db_release(c);

    double t0 = now_s();
    acq_loop((void *)(intptr_t)N);
    double t1 = now_s();
    printf("pool acquire+release, 1 thread:            %8.1f ns/op\n", (t1 - t0) * 1e9 / N);
    pthread_t th[4];
    t0 = now_s();
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, acq_loop, (void *)(intptr_t)(N / 4));
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    t1 = now_s();
    printf("pool acquire+release, 4 threads, 4 conns:  %8.1f ns/op (wall per op)\n",
           (t1 - t0) * 1e9 / N);

    /* point query through the API */
    forge_db_acquire(g_db, 0, &c, &err);
    long sum = 0;
    t0 = now_s();
    for (int i = 0; i < N; i++) {
        forge_db_rows *r;
        forge_db_value p[] = {FORGE_DB_INT(i % 1000 + 1)};
        if (forge_db_query(c, "SELECT v FROM kv WHERE id = ?", p, 1, &r, &err) != 0 ||
            forge_db_rows_next(r, &err) != 1)
            abort();
        sum += (long)forge_db_str(r, 0).n;
        forge_db_rows_close(r);
    }
    t1 = now_s();
    double api = (t1 - t0) * 1e9 / N;
    /* acquire + query + release, as a handler does */
    t0 = now_s();
    forge_db_release(c);
    for (int i = 0; i < N; i++) {
        forge_db_rows *r;
        forge_db_value p[] = {FORGE_DB_INT(i % 1000 + 1)};
        if (forge_db_acquire(g_db, 0, &c, &err) != 0 ||
            forge_db_query(c, "SELECT v FROM kv WHERE id = ?", p, 1, &r, &err) != 0 ||
            forge_db_rows_next(r, &err) != 1)
            abort();
        sum += (long)forge_db_str(r, 0).n;
        forge_db_rows_close(r);
        forge_db_release(c);
    }
    t1 = now_s();
    double full = (t1 - t0) * 1e9 / N;
    printf("point query via forge_db (conn held):      %8.1f ns/op\n", api);
    printf("point query via forge_db (acquire each):   %8.1f ns/op\n", full);

    /* the same through the driver table directly (what a hand-written sqlite3 loop costs) */
    forge_db_acquire(g_db, 0, &c, &err);
    const forge_db_driver *drv = g_db->drv;
    void *st;
    forge_db_derr de = {0};
    drv->prepare(c->h, "SELECT v FROM kv WHERE id = ?", &st, &de);
    t0 = now_s();
    for (int i = 0; i < N; i++) {
        forge_db_value p[] = {FORGE_DB_INT(i % 1000 + 1)};
        forge_db_value v;
        if (drv->execute(st, p, 1, &de) != 0 || drv->next(st, &de) != 1)
            abort();
        drv->get(st, 0, &v);
        sum += (long)v.v.s.n;
        drv->reset(st);
    }
    t1 = now_s();
    drv->finalize(st);
    double raw = (t1 - t0) * 1e9 / N;
    printf("point query via the driver (no pool/cache):%8.1f ns/op  (API overhead %.1f ns)\n", raw,
           api - raw);
    forge_db_release(c);

    forge_cache_opts co = {.max_entries = 4096};
    forge_cache *lru = forge_cache_lru_new(&co, &err);
    forge_cache_set(lru, "note:1", 6, "{\"id\":1,\"title\":\"t\",\"body\":\"b\"}", 32, 0);
    t0 = now_s();
    for (int i = 0; i < N; i++) {
        char *v;
        size_t n;
        forge_cache_get(lru, "note:1", 6, &v, &n, NULL);
        free(v);
    }
    t1 = now_s();
    printf("cache get hit, LRU:                        %8.1f ns/op\n", (t1 - t0) * 1e9 / N);
    forge_cache_free(lru);

    forge_app *app = calloc(1, sizeof(*app));
    app->shm = forge__shm_new();
    forge_cache_shm_reserve(app, "b", &co, &err);
    forge__shm_map_all(app->shm, NULL, NULL, &err);
    forge_cache *shm = forge_cache_shm_open(app, "b", &err);
    forge_cache_set(shm, "note:1", 6, "{\"id\":1,\"title\":\"t\",\"body\":\"b\"}", 32, 0);
    t0 = now_s();
    for (int i = 0; i < N; i++) {
        char *v;
        size_t n;
        forge_cache_get(shm, "note:1", 6, &v, &n, NULL);
        free(v);
    }
    t1 = now_s();
    printf("cache get hit, shared memory:              %8.1f ns/op\n", (t1 - t0) * 1e9 / N);
    forge_cache_free(shm);
    forge__shm_free(app->shm);
    free(app);

    forge_db_close(g_db);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return sum == 0;
}
