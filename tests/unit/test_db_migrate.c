/*
 * Migrations on SQLite: create, up/down/status, a failing step rolled back,
 * a changed applied file stopping the run, malformed names, and concurrent
 * runs applying each step exactly once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <forge/migrate.h>
#include <sys/stat.h>
#include <pthread.h>

#include "db_test_util.h"

typedef struct fx {
    char *dir;
    char mig[600];
    char url[600];
    forge_db *db;
} fx;

static void put(const char *dir, const char *name, const char *text)
{
    char path[800];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    dbt_env();
    fx *f = calloc(1, sizeof(*f));
    f->dir = dbt_tmpdir();
    snprintf(f->mig, sizeof(f->mig), "%s/migrations", f->dir);
    mkdir(f->mig, 0755);
    dbt_url(f->url, sizeof(f->url), f->dir, "m.db");
    forge_error err;
    if (forge_db_open(f->url, NULL, &f->db, &err) != 0)
        return -1;
    put(f->mig, "0001_create_notes.up.sql",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n"
        "CREATE INDEX notes_title ON notes (title);\n");
    put(f->mig, "0001_create_notes.down.sql", "DROP TABLE notes;\n");
    put(f->mig, "0002_add_tag.up.sql", "ALTER TABLE notes ADD COLUMN tag TEXT;\n");
    put(f->mig, "0002_add_tag.down.sql", "ALTER TABLE notes DROP COLUMN tag;\n");
    put(f->mig, "README.md", "not a migration\n");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    forge_db_close(f->db);
    dbt_rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t scalar(forge_db *db, const char *sql)
{
    forge_db_conn *c;
    forge_db_rows *r;
    forge_error err;
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), 0);
    int rc = forge_db_query(c, sql, NULL, 0, &r, &err);
    int64_t v = -1;
    if (rc == 0 && forge_db_rows_next(r, &err) == 1)
        v = forge_db_int(r, 0);
    if (rc == 0)
        forge_db_rows_close(r);
    forge_db_release(c);
    return v;
}

static void test_up_down_status(void **state)
{
    fx *f = *state;
    forge_error err;
    forge_migrate_result res;
    assert_int_equal(forge_migrate_up(f->db, f->mig, 0, &res, &err), 0);
    assert_int_equal(res.applied, 2);
    assert_int_equal(res.version, 2);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM forge_migrations"), 2);
    assert_int_equal(scalar(f->db, "SELECT count(tag) FROM notes"), 0); /* column exists */
    assert_int_equal(forge_migrate_up(f->db, f->mig, 0, &res, &err), 0);
    assert_int_equal(res.applied, 0);

    forge_migration *m;
    size_t n;
    assert_int_equal(forge_migrate_status(f->db, f->mig, &m, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(m[0].version, 1);
    assert_string_equal(m[0].name, "create_notes");
    assert_true(m[0].applied && m[1].applied);
    assert_false(m[0].changed);
    assert_string_equal(m[0].checksum, m[0].recorded);
    assert_int_equal(strlen(m[0].applied_at), 20);
    free(m);

    assert_int_equal(forge_migrate_down(f->db, f->mig, 1, &res, &err), 0);
    assert_int_equal(res.applied, 1);
    assert_int_equal(res.version, 1);
    assert_int_equal(scalar(f->db, "SELECT count(tag) FROM notes"), -1); /* column gone */
    assert_int_equal(forge_migrate_status(f->db, f->mig, &m, &n, &err), 0);
    assert_true(m[0].applied);
    assert_false(m[1].applied);
    assert_string_equal(m[1].recorded, "");
    free(m);
    assert_int_equal(forge_migrate_down(f->db, f->mig, 5, &res, &err), 0);
    assert_int_equal(res.applied, 1);
    assert_int_equal(res.version, 0);
    assert_int_equal(forge_migrate_up(f->db, f->mig, 1, &res, &err), 0); /* target */
    assert_int_equal(res.applied, 1);
    assert_int_equal(res.version, 1);
}

static void test_failing_step_rolls_back(void **state)
{
    fx *f = *state;
    forge_error err;
    forge_migrate_result res;
    put(f->mig, "0003_broken.up.sql",
        "CREATE TABLE t3 (x INT);\nINSERT INTO no_such_table VALUES (1);\n");
    assert_int_equal(forge_migrate_up(f->db, f->mig, 0, &res, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "0003_broken.up.sql"));
    assert_non_null(strstr(err.cause, "no_such_table"));
    assert_int_equal(res.applied, 2);
    assert_int_equal(res.version, 2);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM sqlite_master WHERE name = 't3'"), 0);
    assert_int_equal(scalar(f->db, "SELECT max(version) FROM forge_migrations"), 2);
}

static void test_changed_file_stops(void **state)
{
    fx *f = *state;
    forge_error err;
    assert_int_equal(forge_migrate_up(f->db, f->mig, 1, NULL, &err), 0);
    put(f->mig, "0001_create_notes.up.sql", "CREATE TABLE notes (id INTEGER PRIMARY KEY);\n");
    forge_migrate_result res;
    assert_int_equal(forge_migrate_up(f->db, f->mig, 0, &res, &err), FORGE_ECONFLICT);
    assert_non_null(strstr(err.message, "0001_create_notes.up.sql was changed"));
    assert_string_equal(err.key, "0001_create_notes.up.sql");
    assert_int_equal(res.applied, 0); /* 0002 was not applied */
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM forge_migrations"), 1);
    forge_migration *m;
    size_t n;
    assert_int_equal(forge_migrate_status(f->db, f->mig, &m, &n, &err), 0);
    assert_true(m[0].changed);
    free(m);
    assert_int_equal(forge_migrate_down(f->db, f->mig, 1, NULL, &err), FORGE_ECONFLICT);
}

static void test_bad_directories(void **state)
{
    fx *f = *state;
    forge_error err;
    assert_int_equal(forge_migrate_up(f->db, "/nonexistent/migrations", 0, NULL, &err),
                     FORGE_ENOENT);
    put(f->mig, "0001_other.up.sql", "SELECT 1;");
    assert_int_equal(forge_migrate_up(f->db, f->mig, 0, NULL, &err), FORGE_EPARSE);
    assert_non_null(strstr(err.message, "used twice"));
    char p[800];
    snprintf(p, sizeof(p), "%s/0001_other.up.sql", f->mig);
    unlink(p);
    put(f->mig, "x1_bad.up.sql", "SELECT 1;");
    assert_int_equal(forge_migrate_up(f->db, f->mig, 0, NULL, &err), FORGE_EPARSE);
    assert_non_null(strstr(err.message, "x1_bad.up.sql"));
    snprintf(p, sizeof(p), "%s/x1_bad.up.sql", f->mig);
    unlink(p);
    put(f->mig, "0009_lonely.down.sql", "SELECT 1;");
    assert_int_equal(forge_migrate_up(f->db, f->mig, 0, NULL, &err), FORGE_EPARSE);
    assert_non_null(strstr(err.message, "no .up.sql"));
    /* nothing was applied by any of these */
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM sqlite_master WHERE name = 'notes'"), 0);
}

static void test_create(void **state)
{
    fx *f = *state;
    forge_error err;
    char path[800];
    assert_int_equal(forge_migrate_create(f->mig, "add_index", path, sizeof(path), &err), 0);
    assert_non_null(strstr(path, "/0003_add_index.up.sql"));
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(forge_migrate_create(f->mig, "bad name;", path, sizeof(path), &err),
                     FORGE_EINVAL);
    char fresh[800];
    snprintf(fresh, sizeof(fresh), "%s/fresh", f->dir);
    assert_int_equal(forge_migrate_create(fresh, "init", path, sizeof(path), &err), 0);
    assert_non_null(strstr(path, "/0001_init.up.sql"));
    /* the new (comment-only) step applies */
    assert_int_equal(forge_migrate_up(f->db, f->mig, 0, NULL, &err), 0);
    assert_int_equal(scalar(f->db, "SELECT max(version) FROM forge_migrations"), 3);
}

typedef struct runner {
    const char *url, *dir;
    int rc;
    char msg[600];
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
    snprintf(r->msg, sizeof(r->msg), "%s", err.message);
    return NULL;
}

static void test_concurrent_runs_apply_once(void **state)
{
    fx *f = *state;
    put(f->mig, "0003_log.up.sql", "CREATE TABLE log (n INT);\n");
    for (int i = 4; i <= 9; i++) {
        char name[64], sql[64];
        snprintf(name, sizeof(name), "%04d_entry.up.sql", i);
        snprintf(sql, sizeof(sql), "INSERT INTO log VALUES (%d);\n", i);
        put(f->mig, name, sql);
    }
    pthread_t t[4];
    runner r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (runner){f->url, f->mig, -999, ""};
        pthread_create(&t[i], NULL, run_up, &r[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        if (r[i].rc != 0)
            fprintf(stderr, "runner %d: %s\n", i, r[i].msg);
        assert_int_equal(r[i].rc, 0);
    }
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM log"), 6);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM forge_migrations"), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_up_down_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_step_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_file_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_runs_apply_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
