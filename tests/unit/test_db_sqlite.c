/*
 * The database API on SQLite: URLs and drivers, bound parameters (injection
 * attempts stay data), typed getters and NULLs, errors, transactions with
 * savepoints, the statement cache, statement timeouts and cancellation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include "db_test_util.h"

typedef struct fx {
    char *dir;
    forge_db *db;
    forge_db_conn *c;
} fx;

static int setup(void **state)
{
    dbt_env();
    fx *f = calloc(1, sizeof(*f));
    f->dir = dbt_tmpdir();
    char url[512];
    forge_error err;
    forge_error_clear(&err);
    forge_db_opts o = {.max_conns = 2};
    int rc = forge_db_open(dbt_url(url, sizeof(url), f->dir, "t.db"), &o, &f->db, &err);
    if (rc != 0) {
        fprintf(stderr, "open: %s\n", err.message);
        return -1;
    }
    if (forge_db_acquire(f->db, 0, &f->c, &err) != 0)
        return -1;
    rc = forge_db_exec(f->c,
                       "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, "
                       "body TEXT, score REAL, data BLOB)",
                       NULL, 0, NULL, &err);
    *state = f;
    return rc;
}

static int teardown(void **state)
{
    fx *f = *state;
    forge_db_release(f->c);
    forge_db_close(f->db);
    dbt_rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t count(forge_db_conn *c, const char *sql)
{
    forge_db_rows *r;
    forge_error err;
    assert_int_equal(forge_db_query(c, sql, NULL, 0, &r, &err), 0);
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    int64_t n = forge_db_int(r, 0);
    forge_db_rows_close(r);
    return n;
}

static void test_open_errors(void **state)
{
    (void)state;
    dbt_env();
    forge_db *db = NULL;
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_db_open("not a url", NULL, &db, &err), FORGE_EINVAL);
    assert_null(db);
    assert_int_equal(forge_db_open("nosuch://app:hunter2@127.0.0.1:5/x", NULL, &db, &err),
                     FORGE_ENOENT);
    assert_non_null(strstr(err.message, "forge_db_nosuch.so"));
    assert_null(strstr(err.message, "hunter2"));
    assert_int_equal(forge_db_open("sqlite://h:99999/x", NULL, &db, &err), FORGE_EINVAL);
    /* connect_now on a path that cannot be created: a clear error, no pool */
    forge_db_opts o = {.connect_now = true};
    assert_int_equal(forge_db_open("sqlite:///nonexistent-dir/x/y.db", &o, &db, &err), FORGE_EIO);
    assert_non_null(strstr(err.message, "nonexistent-dir"));
    assert_null(db);
}

static void test_redacted_url(void **state)
{
    fx *f = *state;
    assert_string_equal(forge_db_driver_name(f->db), "sqlite");
    forge_db *db;
    forge_error err;
    char url[600];
    snprintf(url, sizeof(url), "sqlite://%s/r.db?x=1", f->dir);
    assert_int_equal(forge_db_open(url, NULL, &db, &err), 0);
    assert_string_equal(forge_db_url_redacted(db), url); /* nothing secret in it */
    forge_db_close(db);
}

static void test_crud_types_nulls(void **state)
{
    fx *f = *state;
    forge_error err;
    const char blob[] = {'a', 0, 'b', (char)0xff};
    forge_db_value p[] = {forge_db_text("first"), FORGE_DB_NULL, FORGE_DB_DOUBLE(2.5),
                          FORGE_DB_BLOB(blob, sizeof(blob))};
    int64_t n = 0;
    assert_int_equal(forge_db_exec(f->c,
                                   "INSERT INTO notes (title, body, score, data) VALUES "
                                   "(?, ?, ?, ?)",
                                   p, 4, &n, &err),
                     0);
    assert_int_equal(n, 1);
    int64_t id = forge_db_last_insert_id(f->c);
    assert_true(id > 0);

    forge_db_rows *r;
    forge_db_value k[] = {FORGE_DB_INT(id)};
    assert_int_equal(forge_db_query(f->c,
                                    "SELECT id, title, body, score, data, NULL FROM notes "
                                    "WHERE id = ?",
                                    k, 1, &r, &err),
                     0);
    assert_int_equal(forge_db_rows_ncols(r), 6);
    assert_string_equal(forge_db_rows_name(r, 1), "title");
    assert_null(forge_db_rows_name(r, 6));
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    assert_int_equal(forge_db_int(r, 0), id);
    forge_str t = forge_db_str(r, 1);
    assert_int_equal(t.n, 5);
    assert_memory_equal(t.p, "first", 5);
    assert_true(forge_db_is_null(r, 2));
    assert_null(forge_db_str(r, 2).p);
    assert_int_equal(forge_db_int(r, 2), 0);
    assert_true(forge_db_double(r, 3) == 2.5);
    assert_int_equal(forge_db_int(r, 3), 2);
    forge_str b = forge_db_str(r, 4);
    assert_int_equal(b.n, sizeof(blob));
    assert_memory_equal(b.p, blob, sizeof(blob));
    assert_int_equal(forge_db_get(r, 4).type, FORGE_DB_T_BLOB);
    assert_true(forge_db_is_null(r, 5));
    assert_true(forge_db_is_null(r, 99)); /* out of range: the NULL result */
    assert_int_equal(forge_db_rows_next(r, &err), 0);
    forge_db_rows_close(r);

    forge_db_value u[] = {forge_db_text("edited"), FORGE_DB_INT(id)};
    assert_int_equal(forge_db_exec(f->c, "UPDATE notes SET body = ? WHERE id = ?", u, 2, &n, &err),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(forge_db_exec(f->c, "DELETE FROM notes WHERE id = ?", k, 1, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(forge_db_exec(f->c, "DELETE FROM notes WHERE id = ?", k, 1, &n, &err), 0);
    assert_int_equal(n, 0);
}

static void test_injection_stays_data(void **state)
{
    fx *f = *state;
    forge_error err;
    const char *evil[] = {"x'); DROP TABLE notes; --", "' OR '1'='1", "\"; DELETE FROM notes; --",
                          "Robert'); DROP TABLE notes;--"};
    for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
        forge_db_value p[] = {forge_db_text(evil[i]), forge_db_text(evil[i])};
        assert_int_equal(
            forge_db_exec(f->c, "INSERT INTO notes (title, body) VALUES (?, ?)", p, 2, NULL, &err),
            0);
    }
    assert_int_equal(count(f->c, "SELECT count(*) FROM notes"), 4);
    forge_db_rows *r;
    forge_db_value q[] = {forge_db_text("' OR '1'='1")};
    assert_int_equal(
        forge_db_query(f->c, "SELECT title FROM notes WHERE title = ?", q, 1, &r, &err), 0);
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    forge_str t = forge_db_str(r, 0);
    assert_int_equal(t.n, strlen("' OR '1'='1"));
    assert_int_equal(forge_db_rows_next(r, &err), 0); /* exactly the one row, not all */
    forge_db_rows_close(r);
    forge_db_value q2[] = {forge_db_text("nothing' OR 1=1 --")};
    assert_int_equal(
        forge_db_query(f->c, "SELECT title FROM notes WHERE title = ?", q2, 1, &r, &err), 0);
    assert_int_equal(forge_db_rows_next(r, &err), 0);
    forge_db_rows_close(r);
}

static void test_errors(void **state)
{
    fx *f = *state;
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_db_exec(f->c, "SELEC nonsense", NULL, 0, NULL, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "syntax"));
    forge_db_value p[] = {forge_db_text("a")};
    assert_int_equal(forge_db_exec(f->c, "INSERT INTO notes (title) VALUES (?)", p, 0, NULL, &err),
                     FORGE_EINVAL); /* parameter count */
    assert_int_equal(forge_db_exec(f->c, "INSERT INTO notes (title) VALUES (?)", p, 1, NULL, &err),
                     0);
    assert_int_equal(forge_db_exec(f->c, "INSERT INTO notes (title) VALUES (?)", p, 1, NULL, &err),
                     FORGE_ECONFLICT);
    assert_non_null(strstr(err.message, "UNIQUE"));
    assert_int_equal(forge_db_exec(f->c, "SELECT 1; SELECT 2", NULL, 0, NULL, &err), FORGE_EINVAL);
    /* one open result at a time */
    forge_db_rows *r, *r2;
    assert_int_equal(forge_db_query(f->c, "SELECT 1", NULL, 0, &r, &err), 0);
    assert_int_equal(forge_db_query(f->c, "SELECT 2", NULL, 0, &r2, &err), FORGE_ESTATE);
    forge_db_rows_close(r);
    assert_int_equal(forge_db_rows_next(r, &err), FORGE_ESTATE);
    /* the connection still works */
    assert_int_equal(count(f->c, "SELECT count(*) FROM notes"), 1);
}

static void insert(forge_db_conn *c, const char *title)
{
    forge_error err;
    forge_db_value p[] = {forge_db_text(title)};
    assert_int_equal(forge_db_exec(c, "INSERT INTO notes (title) VALUES (?)", p, 1, NULL, &err), 0);
}

static void test_transactions_savepoints(void **state)
{
    fx *f = *state;
    forge_error err;
    assert_int_equal(forge_db_commit(f->c, &err), FORGE_ESTATE);
    assert_int_equal(forge_db_begin(f->c, &err), 0);
    insert(f->c, "rolled back");
    assert_int_equal(forge_db_rollback(f->c, &err), 0);
    assert_int_equal(count(f->c, "SELECT count(*) FROM notes"), 0);

    assert_int_equal(forge_db_begin(f->c, &err), 0);
    insert(f->c, "outer");
    assert_int_equal(forge_db_begin(f->c, &err), 0); /* savepoint */
    assert_int_equal(forge_db_tx_depth(f->c), 2);
    insert(f->c, "inner undone");
    assert_int_equal(forge_db_begin(f->c, &err), 0);
    insert(f->c, "innermost");
    assert_int_equal(forge_db_rollback(f->c, &err), 0); /* undoes innermost */
    assert_int_equal(count(f->c, "SELECT count(*) FROM notes"), 2);
    assert_int_equal(forge_db_rollback(f->c, &err), 0); /* undoes inner */
    assert_int_equal(forge_db_begin(f->c, &err), 0);
    insert(f->c, "inner kept");
    assert_int_equal(forge_db_commit(f->c, &err), 0);
    assert_int_equal(forge_db_commit(f->c, &err), 0);
    assert_int_equal(forge_db_tx_depth(f->c), 0);
    assert_int_equal(count(f->c, "SELECT count(*) FROM notes"), 2);
    assert_int_equal(count(f->c, "SELECT count(*) FROM notes WHERE title LIKE 'inner%'"), 1);

    /* release with an open transaction rolls it back */
    forge_db_conn *c2;
    assert_int_equal(forge_db_acquire(f->db, 0, &c2, &err), 0);
    assert_int_equal(forge_db_begin(c2, &err), 0);
    insert(c2, "abandoned");
    forge_db_release(c2);
    assert_int_equal(count(f->c, "SELECT count(*) FROM notes"), 2);
    assert_int_equal(forge_db_acquire(f->db, 0, &c2, &err), 0);
    assert_int_equal(forge_db_tx_depth(c2), 0);
    insert(c2, "after");
    forge_db_release(c2);
    assert_int_equal(count(f->c, "SELECT count(*) FROM notes"), 3);
}

static void test_stmt_cache(void **state)
{
    fx *f = *state;
    forge_db_stats s0, s1;
    forge_db_stats_get(f->db, &s0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(count(f->c, "SELECT count(*) FROM notes WHERE id > 0"), 0);
    forge_db_stats_get(f->db, &s1);
    assert_int_equal(s1.stmt_cache_misses - s0.stmt_cache_misses, 1);
    assert_int_equal(s1.stmt_cache_hits - s0.stmt_cache_hits, 9);
}

static void test_stmt_cache_eviction(void **state)
{
    (void)state;
    dbt_env();
    forge_db *db;
    forge_db_conn *c;
    forge_error err;
    forge_db_opts o = {.stmt_cache = 2};
    assert_int_equal(forge_db_open("sqlite://:memory:", &o, &db, &err), 0);
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), 0);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 5; i++) {
            char sql[64];
            snprintf(sql, sizeof(sql), "SELECT %d", i);
            assert_int_equal(count(c, sql), i);
        }
    forge_db_stats st;
    forge_db_stats_get(db, &st);
    assert_int_equal(st.stmt_cache_misses, 15); /* 5 statements cycling through 2 slots */
    forge_db_release(c);
    forge_db_close(db);
}

#define SLOW_SQL                                                                                   \
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"

static void test_statement_timeout(void **state)
{
    fx *f = *state;
    forge_error err;
    assert_int_equal(forge_db_set_timeout(f->c, 50, &err), 0);
    assert_int_equal(forge_db_exec(f->c, SLOW_SQL, NULL, 0, NULL, &err), FORGE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "timeout"));
    assert_int_equal(count(f->c, "SELECT 7"), 7); /* usable afterwards */
    assert_int_equal(forge_db_set_timeout(f->c, 0, &err), 0);
}

typedef struct cancel_arg {
    forge_db_conn *c;
} cancel_arg;

static void *canceller(void *p)
{
    cancel_arg *a = p;
    dbt_sleep_ms(50);
    forge_db_cancel(a->c);
    return NULL;
}

static void test_cancel(void **state)
{
    fx *f = *state;
    forge_error err;
    pthread_t t;
    cancel_arg a = {f->c};
    pthread_create(&t, NULL, canceller, &a);
    assert_int_equal(forge_db_exec(f->c, SLOW_SQL, NULL, 0, NULL, &err), FORGE_ECANCELED);
    pthread_join(t, NULL);
    assert_int_equal(count(f->c, "SELECT 8"), 8);
}

static void test_script(void **state)
{
    fx *f = *state;
    forge_error err;
    assert_int_equal(forge_db_exec_script(f->c,
                                          "CREATE TABLE a (x INT); INSERT INTO a VALUES (1);\n"
                                          "INSERT INTO a VALUES (2);",
                                          &err),
                     0);
    assert_int_equal(count(f->c, "SELECT sum(x) FROM a"), 3);
    assert_int_equal(forge_db_exec_script(f->c, "INSERT INTO nope VALUES (1)", &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "nope"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test_setup_teardown(test_redacted_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crud_types_nulls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injection_stays_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions_savepoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stmt_cache, setup, teardown),
        cmocka_unit_test(test_stmt_cache_eviction),
        cmocka_unit_test_setup_teardown(test_statement_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
