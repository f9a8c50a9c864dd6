/*
 * The database API against real servers: the same checks on every SQL
 * driver whose URL is given, plus Redis.
 *
 *   FORGE_TEST_PG_URL     postgres://...   (tests/integration/data_test.sh sets them,
 *   FORGE_TEST_MYSQL_URL  mysql://...       starting the servers with scripts/services.sh)
 *   FORGE_TEST_REDIS_URL  redis://...
 *
 * Without a URL a group is skipped (reported as skipped by cmocka); under
 * data_test.sh every URL is set, so nothing is skipped there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <forge/cache.h>
#include <forge/migrate.h>
#include <pthread.h>
#include <sys/stat.h>

#include "db_test_util.h"

typedef struct fx {
    const char *url;
    bool pg;
    forge_db *db;
    forge_db_conn *c;
    char *dir;
} fx;

static int open_fx(void **state, const char *env)
{
    dbt_env();
    const char *url = getenv(env);
    fx *f = calloc(1, sizeof(*f));
    f->url = url;
    *state = f;
    if (!url || !*url)
        return 0;
    f->pg = strncmp(url, "postgres", 8) == 0;
    forge_error err;
    forge_error_clear(&err);
    forge_db_opts o = {.max_conns = 4, .connect_now = true};
    if (forge_db_open(url, &o, &f->db, &err) != 0) {
        fprintf(stderr, "%s: %s\n", env, err.message);
        return -1;
    }
    if (forge_db_acquire(f->db, 0, &f->c, &err) != 0)
        return -1;
    forge_db_exec(f->c, "DROP TABLE IF EXISTS t_items", NULL, 0, NULL, &err);
    forge_db_exec(f->c, "DROP TABLE IF EXISTS forge_migrations", NULL, 0, NULL, &err);
    forge_db_exec(f->c, "DROP TABLE IF EXISTS m_log", NULL, 0, NULL, &err);
    const char *ddl = f->pg ? "CREATE TABLE t_items (id BIGINT GENERATED ALWAYS AS IDENTITY "
                              "PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE, qty INT, price "
                              "DOUBLE PRECISION, ok BOOLEAN, data BYTEA)"
                            : "CREATE TABLE t_items (id BIGINT AUTO_INCREMENT PRIMARY KEY, name "
                              "VARCHAR(100) NOT NULL UNIQUE, qty INT, price DOUBLE, ok BOOLEAN, "
                              "data BLOB) ENGINE=InnoDB";
    if (forge_db_exec(f->c, ddl, NULL, 0, NULL, &err) != 0) {
        fprintf(stderr, "ddl: %s\n", err.message);
        return -1;
    }
    f->dir = dbt_tmpdir();
    return 0;
}

static int pg_setup(void **state)
{
    return open_fx(state, "FORGE_TEST_PG_URL");
}

static int my_setup(void **state)
{
    return open_fx(state, "FORGE_TEST_MYSQL_URL");
}

static int close_fx(void **state)
{
    fx *f = *state;
    forge_error err;
    if (f->c && f->dir) /* leave the server as found (other tests use its database) */
        forge_db_exec_script(f->c,
                             "DROP TABLE IF EXISTS t_items; DROP TABLE IF EXISTS m_log; "
                             "DROP TABLE IF EXISTS forge_migrations",
                             &err);
    forge_db_release(f->c);
    forge_db_close(f->db);
    dbt_rmdir(f->dir);
    free(f);
    return 0;
}

#define NEED(f)                                                                                    \
    do {                                                                                           \
        if (!(f)->url || !*(f)->url) {                                                             \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static int64_t scalar(forge_db_conn *c, const char *sql)
{
    forge_db_rows *r;
    forge_error err;
    if (forge_db_query(c, sql, NULL, 0, &r, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return -999;
    }
    int64_t v = forge_db_rows_next(r, &err) == 1 ? forge_db_int(r, 0) : -1;
    forge_db_rows_close(r);
    return v;
}

static void test_crud_types(void **state)
{
    fx *f = *state;
    NEED(f);
    forge_error err;
    const char blob[] = {'x', 0, 'y', (char)0xfe};
    forge_db_value p[] = {forge_db_text("widget"), FORGE_DB_INT(7), FORGE_DB_DOUBLE(2.25),
                          FORGE_DB_BOOL(true), FORGE_DB_BLOB(blob, sizeof(blob))};
    forge_db_rows *r;
    assert_int_equal(forge_db_query(f->c,
                                    "INSERT INTO t_items (name, qty, price, ok, data) VALUES "
                                    "(?, ?, ?, ?, ?) RETURNING id",
                                    p, 5, &r, &err),
                     0);
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    int64_t id = forge_db_int(r, 0);
    assert_true(id > 0);
    forge_db_rows_close(r);
    forge_db_value n[] = {forge_db_text("nulls"), FORGE_DB_NULL, FORGE_DB_NULL, FORGE_DB_NULL,
                          FORGE_DB_NULL};
    int64_t aff = 0;
    assert_int_equal(forge_db_exec(f->c,
                                   "INSERT INTO t_items (name, qty, price, ok, data) VALUES "
                                   "(?, ?, ?, ?, ?)",
                                   n, 5, &aff, &err),
                     0);
    assert_int_equal(aff, 1);
    forge_db_value k[] = {FORGE_DB_INT(id)};
    assert_int_equal(forge_db_query(f->c,
                                    "SELECT name, qty, price, ok, data FROM t_items WHERE id = ?",
                                    k, 1, &r, &err),
                     0);
    assert_int_equal(forge_db_rows_ncols(r), 5);
    assert_string_equal(forge_db_rows_name(r, 2), "price");
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    forge_str s = forge_db_str(r, 0);
    assert_int_equal(s.n, 6);
    assert_memory_equal(s.p, "widget", 6);
    assert_int_equal(forge_db_int(r, 1), 7);
    assert_true(forge_db_double(r, 2) == 2.25);
    assert_true(forge_db_bool(r, 3));
    forge_str b = forge_db_str(r, 4);
    assert_int_equal(b.n, sizeof(blob));
    assert_memory_equal(b.p, blob, sizeof(blob));
    assert_int_equal(forge_db_rows_next(r, &err), 0);
    forge_db_rows_close(r);
    forge_db_value q[] = {forge_db_text("nulls")};
    assert_int_equal(forge_db_query(f->c, "SELECT qty, price, ok, data FROM t_items WHERE name = ?",
                                    q, 1, &r, &err),
                     0);
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    for (size_t i = 0; i < 4; i++)
        assert_true(forge_db_is_null(r, i));
    forge_db_rows_close(r);
    forge_db_value u[] = {FORGE_DB_INT(9), FORGE_DB_INT(id)};
    assert_int_equal(
        forge_db_exec(f->c, "UPDATE t_items SET qty = ? WHERE id = ?", u, 2, &aff, &err), 0);
    assert_int_equal(aff, 1);
    assert_int_equal(scalar(f->c, "SELECT sum(qty) FROM t_items"), 9);
}

static void test_injection_and_errors(void **state)
{
    fx *f = *state;
    NEED(f);
    forge_error err;
    const char *evil = "x'); DROP TABLE t_items; --";
    forge_db_value p[] = {forge_db_text(evil)};
    assert_int_equal(forge_db_exec(f->c, "INSERT INTO t_items (name) VALUES (?)", p, 1, NULL, &err),
                     0);
    forge_db_value q[] = {forge_db_text("' OR '1'='1")};
    forge_db_rows *r;
    assert_int_equal(
        forge_db_query(f->c, "SELECT count(*) FROM t_items WHERE name = ?", q, 1, &r, &err), 0);
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    assert_int_equal(forge_db_int(r, 0), 0);
    forge_db_rows_close(r);
    assert_int_equal(scalar(f->c, "SELECT count(*) FROM t_items"), 1);
    /* a '?' inside a string literal is not a placeholder */
    assert_int_equal(scalar(f->c, "SELECT count(*) FROM t_items WHERE name <> 'what?'"), 1);
    assert_int_equal(forge_db_exec(f->c, "INSERT INTO t_items (name) VALUES (?)", p, 1, NULL, &err),
                     FORGE_ECONFLICT);
    assert_int_equal(forge_db_exec(f->c, "SELEC 1", NULL, 0, NULL, &err), FORGE_EINVAL);
    assert_int_equal(forge_db_exec(f->c, "SELECT * FROM no_such_table", NULL, 0, NULL, &err),
                     FORGE_EINVAL);
    assert_int_equal(forge_db_exec(f->c, "INSERT INTO t_items (name) VALUES (?)", p, 0, NULL, &err),
                     FORGE_EINVAL);
    assert_int_equal(scalar(f->c, "SELECT 41 + 1"), 42); /* still usable */
}

static void test_transactions(void **state)
{
    fx *f = *state;
    NEED(f);
    forge_error err;
    forge_db_value a[] = {forge_db_text("a")}, b[] = {forge_db_text("b")},
                   c[] = {forge_db_text("c")};
    const char *ins = "INSERT INTO t_items (name) VALUES (?)";
    assert_int_equal(forge_db_begin(f->c, &err), 0);
    assert_int_equal(forge_db_exec(f->c, ins, a, 1, NULL, &err), 0);
    assert_int_equal(forge_db_begin(f->c, &err), 0);
    assert_int_equal(forge_db_exec(f->c, ins, b, 1, NULL, &err), 0);
    assert_int_equal(forge_db_rollback(f->c, &err), 0);
    assert_int_equal(forge_db_begin(f->c, &err), 0);
    assert_int_equal(forge_db_exec(f->c, ins, c, 1, NULL, &err), 0);
    assert_int_equal(forge_db_commit(f->c, &err), 0);
    assert_int_equal(forge_db_commit(f->c, &err), 0);
    assert_int_equal(scalar(f->c, "SELECT count(*) FROM t_items"), 2);
    assert_int_equal(forge_db_begin(f->c, &err), 0);
    assert_int_equal(forge_db_exec(f->c, ins, b, 1, NULL, &err), 0);
    assert_int_equal(forge_db_rollback(f->c, &err), 0);
    assert_int_equal(scalar(f->c, "SELECT count(*) FROM t_items WHERE name = 'b'"), 0);
}

static void test_timeout_and_cancel(void **state)
{
    fx *f = *state;
    NEED(f);
    forge_error err;
    const char *sleep_sql = f->pg ? "SELECT pg_sleep(5)" : "SELECT SLEEP(5)";
    assert_int_equal(forge_db_set_timeout(f->c, 200, &err), 0);
    int rc = forge_db_exec(f->c, sleep_sql, NULL, 0, NULL, &err);
    if (!f->pg && rc == 0) {
        /* MariaDB answers SLEEP interrupted by max_statement_time with 1, not an error */
        forge_db_rows *r;
        assert_int_equal(forge_db_query(f->c, sleep_sql, NULL, 0, &r, &err), 0);
        assert_int_equal(forge_db_rows_next(r, &err), 1);
        assert_int_equal(forge_db_int(r, 0), 1);
        forge_db_rows_close(r);
    } else {
        assert_int_equal(rc, FORGE_ETIMEDOUT);
    }
    assert_int_equal(forge_db_set_timeout(f->c, 0, &err), 0);
    assert_int_equal(scalar(f->c, "SELECT 5"), 5);
}

typedef struct canc {
    forge_db_conn *c;
} canc;

static void *cancel_later(void *p)
{
    dbt_sleep_ms(200);
    forge_db_cancel(((canc *)p)->c);
    return NULL;
}

static void test_cancel(void **state)
{
    fx *f = *state;
    NEED(f);
    forge_error err;
    pthread_t t;
    canc a = {f->c};
    pthread_create(&t, NULL, cancel_later, &a);
    int rc;
    if (f->pg) {
        rc = forge_db_exec(f->c, "SELECT pg_sleep(10)", NULL, 0, NULL, &err);
        assert_int_equal(rc, FORGE_ECANCELED);
    } else {
        forge_db_rows *r;
        rc = forge_db_query(f->c, "SELECT SLEEP(10)", NULL, 0, &r, &err);
        /* KILL QUERY interrupts SLEEP, which then returns 1 */
        assert_true(rc == FORGE_ECANCELED || rc == 0);
        if (rc == 0) {
            assert_int_equal(forge_db_rows_next(r, &err), 1);
            assert_int_equal(forge_db_int(r, 0), 1);
            forge_db_rows_close(r);
        }
    }
    pthread_join(t, NULL);
    assert_int_equal(scalar(f->c, "SELECT 6"), 6);
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[800];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

typedef struct runner {
    const char *url, *dir;
    int rc;
    char msg[1100];
} runner;

static void *run_up(void *p)
{
    runner *r = p;
    forge_db *db;
    forge_error err;
    forge_error_clear(&err);
    r->rc = forge_db_open(r->url, NULL, &db, &err);
    if (r->rc == 0) {
        r->rc = forge_migrate_up(db, r->dir, 0, NULL, &err);
        forge_db_close(db);
    }
    snprintf(r->msg, sizeof(r->msg), "%s %s", err.message, err.cause);
    return NULL;
}

static void test_migrations_locked(void **state)
{
    fx *f = *state;
    NEED(f);
    put(f->dir, "0001_log.up.sql", "CREATE TABLE m_log (n INT);\n");
    put(f->dir, "0001_log.down.sql", "DROP TABLE m_log;\n");
    for (int i = 2; i <= 6; i++) {
        char name[64], sql[96];
        snprintf(name, sizeof(name), "%04d_entry.up.sql", i);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO m_log VALUES (%d);\nINSERT INTO m_log VALUES (%d);\n", i, -i);
        put(f->dir, name, sql);
    }
    pthread_t t[4];
    runner r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (runner){f->url, f->dir, -999, ""};
        pthread_create(&t[i], NULL, run_up, &r[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        if (r[i].rc)
            fprintf(stderr, "runner %d: %s\n", i, r[i].msg);
        assert_int_equal(r[i].rc, 0);
    }
    assert_int_equal(scalar(f->c, "SELECT count(*) FROM m_log"), 10);
    assert_int_equal(scalar(f->c, "SELECT count(*) FROM forge_migrations"), 6);
    /* a failing step is rolled back with its record (PostgreSQL DDL is transactional) */
    put(f->dir, "0007_bad.up.sql", "INSERT INTO m_log VALUES (7);\nINSERT INTO nope VALUES (1);\n");
    forge_error err;
    forge_db *db2;
    assert_int_equal(forge_db_open(f->url, NULL, &db2, &err), 0);
    assert_int_equal(forge_migrate_up(db2, f->dir, 0, NULL, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "0007_bad.up.sql"));
    assert_int_equal(scalar(f->c, "SELECT count(*) FROM m_log"), 10);
    /* a changed applied file stops the run */
    char p7[800];
    snprintf(p7, sizeof(p7), "%s/0007_bad.up.sql", f->dir);
    unlink(p7);
    put(f->dir, "0002_entry.up.sql", "INSERT INTO m_log VALUES (222);\n");
    assert_int_equal(forge_migrate_up(db2, f->dir, 0, NULL, &err), FORGE_ECONFLICT);
    assert_non_null(strstr(err.message, "0002_entry.up.sql was changed"));
    forge_db_close(db2);
}

/* ---- Redis ---- */

static int redis_setup(void **state)
{
    dbt_env();
    fx *f = calloc(1, sizeof(*f));
    f->url = getenv("FORGE_TEST_REDIS_URL");
    *state = f;
    if (!f->url || !*f->url)
        return 0;
    forge_error err;
    forge_db_opts o = {.max_conns = 4, .connect_now = true};
    if (forge_db_open(f->url, &o, &f->db, &err) != 0) {
        fprintf(stderr, "redis: %s\n", err.message);
        return -1;
    }
    if (forge_db_acquire(f->db, 0, &f->c, &err) != 0)
        return -1;
    return forge_db_exec(f->c, "FLUSHDB", NULL, 0, NULL, &err);
}

static void test_redis_commands(void **state)
{
    fx *f = *state;
    NEED(f);
    forge_error err;
    const char val[] = {'a', 0, ' ', 'b', '\r', '\n'};
    forge_db_value p[] = {forge_db_text("key with spaces"), FORGE_DB_BLOB(val, sizeof(val))};
    assert_int_equal(forge_db_exec(f->c, "SET ? ?", p, 2, NULL, &err), 0);
    forge_db_rows *r;
    assert_int_equal(forge_db_query(f->c, "GET ?", p, 1, &r, &err), 0);
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    forge_str s = forge_db_str(r, 0);
    assert_int_equal(s.n, sizeof(val));
    assert_memory_equal(s.p, val, sizeof(val));
    assert_int_equal(forge_db_rows_next(r, &err), 0);
    forge_db_rows_close(r);
    assert_int_equal(
        forge_db_query(f->c, "INCRBY counter ?", (forge_db_value[]){FORGE_DB_INT(5)}, 1, &r, &err),
        0);
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    assert_int_equal(forge_db_int(r, 0), 5);
    forge_db_rows_close(r);
    assert_int_equal(forge_db_exec(f->c, "RPUSH l a b c", NULL, 0, NULL, &err), 0);
    assert_int_equal(forge_db_query(f->c, "LRANGE l 0 -1", NULL, 0, &r, &err), 0);
    int rows = 0;
    while (forge_db_rows_next(r, &err) == 1)
        rows++;
    forge_db_rows_close(r);
    assert_int_equal(rows, 3);
    assert_int_equal(forge_db_query(f->c, "GET missing", NULL, 0, &r, &err), 0);
    assert_int_equal(forge_db_rows_next(r, &err), 1);
    assert_true(forge_db_is_null(r, 0));
    forge_db_rows_close(r);
    assert_int_equal(forge_db_exec(f->c, "INCR ?", p, 1, NULL, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "not an integer"));
    assert_int_equal(forge_db_exec(f->c, "INCR l", NULL, 0, NULL, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "WRONGTYPE"));
    assert_int_equal(forge_db_exec(f->c, "NOSUCHCOMMAND", NULL, 0, NULL, &err), FORGE_EINVAL);
    assert_int_equal(forge_db_exec(f->c, "GET ? ?", p, 1, NULL, &err), FORGE_EINVAL);
}

static int load_n;
static int loader(void *udata, const void *key, size_t klen, char **val, size_t *vlen,
                  uint32_t *ttl, forge_error *err)
{
    load_n++;
    if (klen == 4 && memcmp(key, "none", 4) == 0)
        return FORGE_ENOENT;
    *val = strdup("loaded");
    *vlen = 6;
    return 0;
}

static void test_redis_cache(void **state)
{
    fx *f = *state;
    NEED(f);
    forge_error err;
    forge_cache_opts o = {.prefix = "t:", .ttl_ms = 60000, .negative_ttl_ms = 60000};
    forge_cache *c = forge_cache_redis_new(f->db, &o, &err);
    assert_non_null(c);
    char *v;
    size_t n;
    bool neg;
    assert_int_equal(forge_cache_get(c, "a", 1, &v, &n, &neg), FORGE_ENOENT);
    assert_int_equal(forge_cache_set(c, "a", 1, "va\0l", 4, 0), 0);
    assert_int_equal(forge_cache_get(c, "a", 1, &v, &n, &neg), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(v, "va\0l", 4);
    free(v);
    assert_int_equal(scalar(f->c, "EXISTS t:a"), 1); /* the prefix is applied */
    load_n = 0;
    assert_int_equal(forge_cache_get_or_load(c, "b", 1, loader, NULL, &v, &n, &err), 0);
    free(v);
    assert_int_equal(forge_cache_get_or_load(c, "b", 1, loader, NULL, &v, &n, &err), 0);
    assert_string_equal(v, "loaded");
    free(v);
    assert_int_equal(forge_cache_get_or_load(c, "none", 4, loader, NULL, &v, &n, &err),
                     FORGE_ENOENT);
    assert_int_equal(forge_cache_get_or_load(c, "none", 4, loader, NULL, &v, &n, &err),
                     FORGE_ENOENT);
    assert_int_equal(load_n, 2);
    assert_int_equal(forge_cache_get(c, "none", 4, &v, &n, &neg), FORGE_ENOENT);
    assert_true(neg);
    assert_int_equal(forge_cache_set(c, "ttl", 3, "x", 1, 50), 0);
    dbt_sleep_ms(120);
    assert_int_equal(forge_cache_get(c, "ttl", 3, &v, &n, NULL), FORGE_ENOENT);
    assert_int_equal(forge_cache_del(c, "a", 1), 0);
    assert_int_equal(forge_cache_get(c, "a", 1, &v, &n, NULL), FORGE_ENOENT);
    assert_int_equal(forge_cache_clear(c), 0);
    assert_int_equal(forge_cache_get(c, "b", 1, &v, &n, NULL), FORGE_ENOENT);
    assert_int_equal(scalar(f->c, "EXISTS counter"), 0); /* FLUSHDB at setup; clear kept prefix */
    forge_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest sql[] = {
        cmocka_unit_test(test_crud_types),   cmocka_unit_test(test_injection_and_errors),
        cmocka_unit_test(test_transactions), cmocka_unit_test(test_timeout_and_cancel),
        cmocka_unit_test(test_cancel),       cmocka_unit_test(test_migrations_locked),
    };
    struct CMUnitTest pg[6], my[6];
    for (int i = 0; i < 6; i++) {
        pg[i] = sql[i];
        pg[i].setup_func = pg_setup;
        pg[i].teardown_func = close_fx;
        my[i] = sql[i];
        my[i].setup_func = my_setup;
        my[i].teardown_func = close_fx;
    }
    const struct CMUnitTest redis[] = {
        cmocka_unit_test_setup_teardown(test_redis_commands, redis_setup, close_fx),
        cmocka_unit_test_setup_teardown(test_redis_cache, redis_setup, close_fx),
    };
    int fails = 0;
    fprintf(stderr, "== PostgreSQL (%s)\n",
            getenv("FORGE_TEST_PG_URL") ? "set" : "not set: skipped");
    fails += _cmocka_run_group_tests("postgres", pg, 6, NULL, NULL);
    fprintf(stderr, "== MariaDB (%s)\n",
            getenv("FORGE_TEST_MYSQL_URL") ? "set" : "not set: skipped");
    fails += _cmocka_run_group_tests("mysql", my, 6, NULL, NULL);
    fprintf(stderr, "== Redis (%s)\n", getenv("FORGE_TEST_REDIS_URL") ? "set" : "not set: skipped");
    fails += cmocka_run_group_tests_name("redis", redis, NULL, NULL);
    return fails;
}
