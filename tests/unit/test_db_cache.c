/*
 * Caches: LRU bounds and TTL, negative entries, get-or-load with one load
 * per key under concurrent callers, errors not cached, early refresh, and
 * the shared-memory store seen from forked processes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <forge/cache.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "db_test_util.h"
#include "internal.h"

static void test_lru_basics(void **state)
{
    (void)state;
    forge_error err;
    forge_cache_opts o = {.max_entries = 3, .ttl_ms = 60000};
    forge_cache *c = forge_cache_lru_new(&o, &err);
    assert_non_null(c);
    char *v;
    size_t n;
    bool neg;
    assert_int_equal(forge_cache_get(c, "a", 1, &v, &n, &neg), FORGE_ENOENT);
    assert_false(neg);
    assert_int_equal(forge_cache_set(c, "a", 1, "one", 3, 0), 0);
    assert_int_equal(forge_cache_get(c, "a", 1, &v, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v, "one");
    free(v);
    assert_int_equal(forge_cache_set(c, "a", 1, "uno", 3, 0), 0); /* replace */
    assert_int_equal(forge_cache_get(c, "a", 1, &v, &n, NULL), 0);
    assert_string_equal(v, "uno");
    free(v);
    /* binary keys and values */
    assert_int_equal(forge_cache_set(c, "k\0x", 3, "\0\1\2", 3, 0), 0);
    assert_int_equal(forge_cache_get(c, "k\0y", 3, &v, &n, NULL), FORGE_ENOENT);
    assert_int_equal(forge_cache_get(c, "k\0x", 3, &v, &n, NULL), 0);
    assert_memory_equal(v, "\0\1\2", 3);
    free(v);
    /* LRU: touching "a" keeps it; "k\0x" is the oldest */
    assert_int_equal(forge_cache_get(c, "a", 1, &v, &n, NULL), 0);
    free(v);
    assert_int_equal(forge_cache_set(c, "b", 1, "2", 1, 0), 0);
    assert_int_equal(forge_cache_set(c, "c", 1, "3", 1, 0), 0);
    assert_int_equal(forge_cache_get(c, "k\0x", 3, &v, &n, NULL), FORGE_ENOENT);
    assert_int_equal(forge_cache_get(c, "a", 1, &v, &n, NULL), 0);
    free(v);
    forge_cache_stats st;
    forge_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(forge_cache_del(c, "a", 1), 0);
    assert_int_equal(forge_cache_del(c, "a", 1), 0);
    assert_int_equal(forge_cache_get(c, "a", 1, &v, &n, NULL), FORGE_ENOENT);
    assert_int_equal(forge_cache_clear(c), 0);
    forge_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    forge_cache_free(c);
}

static void test_lru_bytes_bound(void **state)
{
    (void)state;
    forge_error err;
    forge_cache_opts o = {.max_entries = 100, .max_bytes = 100};
    forge_cache *c = forge_cache_lru_new(&o, &err);
    char val[40] = {0};
    for (int i = 0; i < 10; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(forge_cache_set(c, k, strlen(k), val, sizeof(val), 0), 0);
    }
    forge_cache_stats st;
    forge_cache_stats_get(c, &st);
    assert_true(st.bytes <= 100);
    assert_int_equal(st.entries, 2);
    char big[200] = {0};
    assert_int_equal(forge_cache_set(c, "big", 3, big, sizeof(big), 0), FORGE_ETOOBIG);
    forge_cache_free(c);
}

static void test_ttl_and_negative(void **state)
{
    (void)state;
    forge_error err;
    forge_cache *c = forge_cache_lru_new(NULL, &err);
    char *v;
    size_t n;
    bool neg;
    assert_int_equal(forge_cache_set(c, "t", 1, "x", 1, 20), 0);
    assert_int_equal(forge_cache_set_negative(c, "gone", 4, 20), 0);
    assert_int_equal(forge_cache_get(c, "t", 1, &v, &n, NULL), 0);
    free(v);
    assert_int_equal(forge_cache_get(c, "gone", 4, &v, &n, &neg), FORGE_ENOENT);
    assert_true(neg);
    dbt_sleep_ms(30);
    assert_int_equal(forge_cache_get(c, "t", 1, &v, &n, NULL), FORGE_ENOENT);
    assert_int_equal(forge_cache_get(c, "gone", 4, &v, &n, &neg), FORGE_ENOENT);
    assert_false(neg);
    forge_cache_stats st;
    forge_cache_stats_get(c, &st);
    assert_int_equal(st.expirations, 2);
    assert_int_equal(st.negative_hits, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 2);
    forge_cache_free(c);
}

/* ---- get-or-load ---- */

typedef struct loader {
    atomic_int calls;
    int delay_ms;
    int result; /* 0, FORGE_ENOENT or an error */
    atomic_int version;
} loader;

static int load(void *udata, const void *key, size_t klen, char **val, size_t *vlen,
                uint32_t *ttl_ms, forge_error *err)
{
    loader *l = udata;
    atomic_fetch_add(&l->calls, 1);
    if (l->delay_ms)
        dbt_sleep_ms(l->delay_ms);
    if (l->result == FORGE_ENOENT)
        return FORGE_ENOENT;
    if (l->result < 0)
        return forge_error_set(err, l->result, "backend down");
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%.*s=v%d", (int)klen, (const char *)key,
                     atomic_load(&l->version));
    *val = malloc((size_t)n);
    memcpy(*val, buf, (size_t)n); /* not NUL-terminated on purpose */
    *vlen = (size_t)n;
    return 0;
}

typedef struct caller {
    forge_cache *c;
    loader *l;
    int rc;
    char val[64];
} caller;

static void *call(void *p)
{
    caller *k = p;
    char *v = NULL;
    size_t n;
    forge_error err;
    k->rc = forge_cache_get_or_load(k->c, "key", 3, load, k->l, &v, &n, &err);
    if (k->rc == 0) {
        snprintf(k->val, sizeof(k->val), "%s", v);
        free(v);
    }
    return NULL;
}

static void run_callers(forge_cache *c, loader *l, caller *k, int nthreads)
{
    pthread_t t[16];
    for (int i = 0; i < nthreads; i++) {
        k[i] = (caller){c, l, -999, ""};
        pthread_create(&t[i], NULL, call, &k[i]);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
}

static void test_single_flight(void **state)
{
    (void)state;
    forge_error err;
    forge_cache_opts o = {.refresh_ahead = -1};
    forge_cache *c = forge_cache_lru_new(&o, &err);
    loader l = {.delay_ms = 100};
    caller k[16];
    run_callers(c, &l, k, 16);
    assert_int_equal(atomic_load(&l.calls), 1);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(k[i].rc, 0);
        assert_string_equal(k[i].val, "key=v0");
    }
    forge_cache_stats st;
    forge_cache_stats_get(c, &st);
    assert_int_equal(st.loads, 1);
    assert_int_equal(st.coalesced + st.hits, 15);
    /* cached now: no further loads */
    run_callers(c, &l, k, 4);
    assert_int_equal(atomic_load(&l.calls), 1);
    forge_cache_free(c);
}

static void test_negative_and_errors(void **state)
{
    (void)state;
    forge_error err;
    forge_cache_opts o = {.negative_ttl_ms = 40, .refresh_ahead = -1};
    forge_cache *c = forge_cache_lru_new(&o, &err);
    loader l = {.delay_ms = 50, .result = FORGE_ENOENT};
    caller k[8];
    run_callers(c, &l, k, 8);
    assert_int_equal(atomic_load(&l.calls), 1);
    for (int i = 0; i < 8; i++)
        assert_int_equal(k[i].rc, FORGE_ENOENT);
    l.delay_ms = 0;
    run_callers(c, &l, k, 2); /* negative entry: no load */
    assert_int_equal(atomic_load(&l.calls), 1);
    dbt_sleep_ms(50); /* negative entry expired */
    l.result = FORGE_EIO;
    char *v;
    size_t n;
    forge_error_clear(&err);
    assert_int_equal(forge_cache_get_or_load(c, "key", 3, load, &l, &v, &n, &err), FORGE_EIO);
    assert_string_equal(err.message, "backend down");
    /* errors are not cached: the next call loads again */
    l.result = 0;
    assert_int_equal(forge_cache_get_or_load(c, "key", 3, load, &l, &v, &n, &err), 0);
    assert_string_equal(v, "key=v0");
    free(v);
    assert_int_equal(atomic_load(&l.calls), 3);
    forge_cache_stats st;
    forge_cache_stats_get(c, &st);
    assert_int_equal(st.load_errors, 1);
    forge_cache_free(c);
}

static void test_early_refresh(void **state)
{
    (void)state;
    forge_error err;
    forge_cache_opts o = {.ttl_ms = 1000, .refresh_ahead = 0.5};
    forge_cache *c = forge_cache_lru_new(&o, &err);
    loader l = {0};
    char *v;
    size_t n;
    assert_int_equal(forge_cache_get_or_load(c, "key", 3, load, &l, &v, &n, &err), 0);
    free(v);
    atomic_store(&l.version, 1);
    /* early in the TTL: served from the cache */
    assert_int_equal(forge_cache_get_or_load(c, "key", 3, load, &l, &v, &n, &err), 0);
    assert_string_equal(v, "key=v0");
    free(v);
    assert_int_equal(atomic_load(&l.calls), 1);
    /* in the last half (jitter: within the last 250..500 ms): one caller refreshes */
    dbt_sleep_ms(800);
    assert_int_equal(forge_cache_get_or_load(c, "key", 3, load, &l, &v, &n, &err), 0);
    assert_string_equal(v, "key=v1");
    free(v);
    assert_int_equal(atomic_load(&l.calls), 2);
    forge_cache_stats st;
    forge_cache_stats_get(c, &st);
    assert_int_equal(st.refreshes, 1);
    /* a failing refresh keeps serving the current value */
    dbt_sleep_ms(800);
    l.result = FORGE_EIO;
    assert_int_equal(forge_cache_get_or_load(c, "key", 3, load, &l, &v, &n, &err), 0);
    assert_string_equal(v, "key=v1");
    free(v);
    forge_cache_free(c);
}

/* ---- shared memory ---- */

static forge_app *shm_app(void)
{
    forge_app *app = calloc(1, sizeof(*app));
    app->shm = forge__shm_new();
    return app;
}

static void test_shm_cache_across_processes(void **state)
{
    (void)state;
    forge_app *app = shm_app();
    forge_error err;
    forge_cache_opts o = {.max_entries = 64, .max_bytes = 64, .ttl_ms = 60000};
    assert_null(forge_cache_shm_open(app, "t", &err)); /* not reserved */
    assert_int_equal(forge_cache_shm_reserve(app, "t", &o, &err), 0);
    assert_null(forge_cache_shm_open(app, "t", &err)); /* not mapped yet */
    assert_non_null(strstr(err.message, "not mapped"));
    assert_int_equal(forge__shm_map_all(app->shm, NULL, NULL, &err), 0);
    forge_cache *c = forge_cache_shm_open(app, "t", &err);
    assert_non_null(c);
    char big[100] = {0};
    assert_int_equal(forge_cache_set(c, "big", 3, big, sizeof(big), 0), FORGE_ETOOBIG);
    pid_t pid = fork();
    if (pid == 0) {
        forge_cache *cc = forge_cache_shm_open(app, "t", &err);
        int ok = cc && forge_cache_set(cc, "from-child", 10, "hello", 5, 0) == 0 &&
                 forge_cache_set_negative(cc, "missing", 7, 0) == 0;
        for (int i = 0; i < 200 && ok; i++) { /* more keys than slots: evictions */
            char k[16];
            snprintf(k, sizeof(k), "k%d", i);
            ok = forge_cache_set(cc, k, strlen(k), "v", 1, 0) == 0;
        }
        ok = ok && forge_cache_set(cc, "from-child", 10, "hello", 5, 0) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *v;
    size_t n;
    bool neg = false;
    assert_int_equal(forge_cache_get(c, "from-child", 10, &v, &n, NULL), 0);
    assert_string_equal(v, "hello");
    free(v);
    forge_cache_stats st;
    forge_cache_stats_get(c, &st);
    assert_true(st.evictions > 0);
    assert_true(st.entries <= 64);
    forge_cache_get(c, "missing", 7, &v, &n, &neg); /* may have been evicted; if not, negative */
    assert_int_equal(forge_cache_del(c, "from-child", 10), 0);
    assert_int_equal(forge_cache_get(c, "from-child", 10, &v, &n, NULL), FORGE_ENOENT);
    forge_cache_free(c);
    forge__shm_free(app->shm);
    free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_basics),
        cmocka_unit_test(test_lru_bytes_bound),
        cmocka_unit_test(test_ttl_and_negative),
        cmocka_unit_test(test_single_flight),
        cmocka_unit_test(test_negative_and_errors),
        cmocka_unit_test(test_early_refresh),
        cmocka_unit_test(test_shm_cache_across_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
