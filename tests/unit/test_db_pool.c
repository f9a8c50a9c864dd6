/*
 * The connection pool: acquire timeouts, waiting, validation on borrow,
 * reconnect with backoff, health, idle eviction, min_conns, concurrency.
 *
 * The pool runs against the real SQLite driver. To make a server "go away"
 * the test registers the scheme "faulty": the SQLite driver's own table with
 * connect and ping wrapped so they fail while `down` is set (the pool code
 * under test is untouched; only the server's availability is simulated).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

#include "db_test_util.h"

static forge_db_driver faulty;
static const forge_db_driver *real;
static atomic_bool down;
static atomic_int connects;

static int f_connect(const forge_db_url *u, const forge_db_connect_opts *o, void **c,
                     forge_db_derr *e)
{
    if (atomic_load(&down))
        return forge_db_derr_set(e, FORGE_EIO, "connection refused (server down)");
    atomic_fetch_add(&connects, 1);
    return real->connect(u, o, c, e);
}

static int f_ping(void *c, forge_db_derr *e)
{
    if (atomic_load(&down))
        return forge_db_derr_set(e, FORGE_EIO, "server closed the connection");
    return real->ping(c, e);
}

static int group_setup(void **state)
{
    (void)state;
    void *h = dlopen(FORGE_BINARY_DIR "/lib/forge_db_sqlite.so", RTLD_NOW | RTLD_NODELETE);
    if (!h)
        return -1;
    const forge_db_driver *(*entry)(void) =
        (const forge_db_driver *(*)(void))dlsym(h, "forge_db_driver_entry");
    real = entry();
    faulty = *real;
    static const char *const schemes[] = {"faulty", NULL};
    faulty.name = "faulty";
    faulty.schemes = schemes;
    faulty.connect = f_connect;
    faulty.ping = f_ping;
    forge_error err;
    return forge_db_register_driver(&faulty, &err);
}

static forge_db *open_pool(char **dir, const forge_db_opts *o)
{
    *dir = dbt_tmpdir();
    char url[512];
    snprintf(url, sizeof(url), "faulty://%s/p.db", *dir);
    forge_db *db = NULL;
    forge_error err;
    atomic_store(&down, false);
    assert_int_equal(forge_db_open(url, o, &db, &err), 0);
    return db;
}

static void test_register_rules(void **state)
{
    (void)state;
    forge_error err;
    forge_db_driver bad = faulty;
    bad.abi = 99;
    assert_int_equal(forge_db_register_driver(&bad, &err), FORGE_EABI);
    assert_non_null(strstr(err.message, "99"));
    forge_db_driver dup = faulty;
    assert_int_equal(forge_db_register_driver(&dup, &err), FORGE_EEXIST);
    assert_int_equal(forge_db_register_driver(&faulty, &err), 0); /* same table again: no-op */
    assert_int_equal(forge_db_load_driver("/nonexistent/forge_db_x.so", &err), FORGE_ENOENT);
}

static void test_acquire_timeout(void **state)
{
    (void)state;
    char *dir;
    forge_db_opts o = {.max_conns = 1, .acquire_timeout_ms = 30};
    forge_db *db = open_pool(&dir, &o);
    forge_db_conn *c1, *c2;
    forge_error err;
    assert_int_equal(forge_db_acquire(db, 0, &c1, &err), 0);
    assert_int_equal(forge_db_acquire(db, 0, &c2, &err), FORGE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "1 of 1 in use"));
    forge_db_stats st;
    forge_db_stats_get(db, &st);
    assert_int_equal(st.in_use, 1);
    assert_int_equal(st.acquire_timeouts, 1);
    assert_int_equal(st.acquires, 1);
    forge_db_release(c1);
    forge_db_release(c1); /* a second release is ignored */
    forge_db_stats_get(db, &st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.idle, 1);
    assert_int_equal(forge_db_acquire(db, 0, &c2, &err), 0);
    assert_ptr_equal(c1, c2); /* reused, not reconnected */
    forge_db_release(c2);
    forge_db_close(db);
    dbt_rmdir(dir);
}

typedef struct waiter {
    forge_db *db;
    int rc;
} waiter;

static void *wait_for_conn(void *p)
{
    waiter *w = p;
    forge_db_conn *c;
    forge_error err;
    w->rc = forge_db_acquire(w->db, 5000, &c, &err);
    if (w->rc == 0)
        forge_db_release(c);
    return NULL;
}

static void test_waiter_gets_released_conn(void **state)
{
    (void)state;
    char *dir;
    forge_db_opts o = {.max_conns = 1};
    forge_db *db = open_pool(&dir, &o);
    forge_db_conn *c;
    forge_error err;
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), 0);
    waiter w = {db, -999};
    pthread_t t;
    pthread_create(&t, NULL, wait_for_conn, &w);
    forge_db_stats st;
    do {
        dbt_sleep_ms(1);
        forge_db_stats_get(db, &st);
    } while (st.waiting == 0);
    forge_db_release(c);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, 0);
    forge_db_close(db);
    dbt_rmdir(dir);
}

static void test_validation_on_borrow(void **state)
{
    (void)state;
    char *dir;
    forge_db_opts o = {.max_conns = 2, .validate_after_ms = 1, .backoff_min_ms = 10};
    forge_db *db = open_pool(&dir, &o);
    forge_db_conn *c;
    forge_error err;
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), 0);
    forge_db_release(c);
    dbt_sleep_ms(5);
    /* The server drops idle connections: the ping on borrow fails, a new one is made. */
    atomic_store(&down, true);
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), FORGE_EIO);
    assert_non_null(strstr(err.message, "connection refused"));
    forge_db_stats st;
    forge_db_stats_get(db, &st);
    assert_int_equal(st.validations_failed, 1);
    assert_false(st.up);
    assert_int_equal(st.idle, 0);
    /* Within the backoff window: fail fast with the last error. */
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), FORGE_EIO);
    assert_non_null(strstr(err.message, "retry in"));
    forge_error herr;
    assert_int_equal(forge_db_health(db, 100, &herr), FORGE_UNHEALTHY);
    assert_true(strstr(herr.message, "unreachable") || strstr(herr.message, "refused"));
    /* The server returns: after the backoff the pool reconnects by itself. */
    atomic_store(&down, false);
    dbt_sleep_ms(30);
    assert_int_equal(forge_db_health(db, 100, &herr), FORGE_HEALTHY);
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), 0);
    forge_db_stats_get(db, &st);
    assert_true(st.up);
    assert_true(st.connect_failures >= 1);
    forge_db_release(c);
    forge_db_close(db);
    dbt_rmdir(dir);
}

static void test_backoff_grows_and_caps(void **state)
{
    (void)state;
    char *dir;
    forge_db_opts o = {.backoff_min_ms = 10, .backoff_max_ms = 40};
    forge_db *db = open_pool(&dir, &o);
    atomic_store(&down, true);
    forge_db_conn *c;
    forge_error err;
    int fails = 0;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(forge_db_acquire(db, 0, &c, &err), FORGE_EIO);
        dbt_sleep_ms(45); /* past the largest window: the next acquire tries again */
        fails++;
    }
    forge_db_stats st;
    forge_db_stats_get(db, &st);
    assert_int_equal(st.connect_failures, fails);
    assert_true(db != NULL);
    atomic_store(&down, false);
    dbt_sleep_ms(45);
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), 0);
    forge_db_release(c);
    forge_db_close(db);
    dbt_rmdir(dir);
}

static void test_idle_eviction_and_min(void **state)
{
    (void)state;
    char *dir;
    forge_db_opts o = {.min_conns = 1, .max_conns = 4, .idle_timeout_ms = 20};
    forge_db *db = open_pool(&dir, &o);
    forge_db_stats st;
    forge_db_stats_get(db, &st);
    assert_int_equal(st.idle, 1); /* warmed up at open */
    forge_db_conn *c[3];
    forge_error err;
    for (int i = 0; i < 3; i++)
        assert_int_equal(forge_db_acquire(db, 0, &c[i], &err), 0);
    for (int i = 0; i < 3; i++)
        forge_db_release(c[i]);
    forge_db_stats_get(db, &st);
    assert_int_equal(st.idle, 3);
    forge_db_maintain(db); /* not stale yet */
    forge_db_stats_get(db, &st);
    assert_int_equal(st.idle, 3);
    dbt_sleep_ms(30);
    forge_db_maintain(db);
    forge_db_stats_get(db, &st);
    assert_int_equal(st.idle, 1); /* down to min_conns */
    assert_int_equal(st.evictions, 2);
    forge_db_close(db);
    dbt_rmdir(dir);
}

typedef struct worker {
    forge_db *db;
    int errors;
} worker;

static void *hammer(void *p)
{
    worker *w = p;
    for (int i = 0; i < 200; i++) {
        forge_db_conn *c;
        forge_error err;
        if (forge_db_acquire(w->db, 5000, &c, &err) != 0) {
            w->errors++;
            continue;
        }
        forge_db_rows *r;
        forge_db_value v[] = {FORGE_DB_INT(i)};
        if (forge_db_query(c, "SELECT ? + 1", v, 1, &r, &err) != 0 ||
            forge_db_rows_next(r, &err) != 1 || forge_db_int(r, 0) != i + 1)
            w->errors++;
        forge_db_rows_close(r);
        forge_db_release(c);
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    char *dir;
    forge_db_opts o = {.max_conns = 3};
    forge_db *db = open_pool(&dir, &o);
    atomic_store(&connects, 0);
    pthread_t t[8];
    worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){db, 0};
        pthread_create(&t[i], NULL, hammer, &w[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].errors, 0);
    }
    forge_db_stats st;
    forge_db_stats_get(db, &st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.acquires, 1600);
    assert_true(atomic_load(&connects) <= 3);
    assert_true(st.idle <= 3);
    forge_db_close(db);
    dbt_rmdir(dir);
}

static void test_close_with_lent_conn(void **state)
{
    (void)state;
    char *dir;
    forge_db *db = open_pool(&dir, NULL);
    forge_db_conn *c;
    forge_error err;
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), 0);
    forge_db_close(db);  /* the pool lives on until the connection comes back */
    forge_db_release(c); /* frees it (ASan checks) */
    dbt_rmdir(dir);
}

int main(void)
{
    dbt_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_rules),
        cmocka_unit_test(test_acquire_timeout),
        cmocka_unit_test(test_waiter_gets_released_conn),
        cmocka_unit_test(test_validation_on_borrow),
        cmocka_unit_test(test_backoff_grows_and_caps),
        cmocka_unit_test(test_idle_eviction_and_min),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_close_with_lent_conn),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
