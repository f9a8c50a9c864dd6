/*
 * examples/notes on the test host with SQLite: CRUD, validation answers,
 * injection attempts stored as data, the cache (hits, negative entries,
 * invalidation), health, and a database that cannot be reached.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "db_test_util.h"

#include <forge/testhost.h>

#define NOTES_MIGRATIONS FORGE_SOURCE_DIR "/examples/notes/migrations/{driver}"
#include "notes/notes.c"

typedef struct fx {
    char *dir;
    forge_test_host *th;
    forge_test_response res;
} fx;

static int setup(void **state)
{
    dbt_env();
    fx *f = calloc(1, sizeof(*f));
    f->dir = dbt_tmpdir();
    char cfg[1024];
    snprintf(cfg, sizeof(cfg), "log:\n  level: error\napp:\n  notes:\n    data_dir: %s\n", f->dir);
    forge_error err;
    forge_error_clear(&err);
    f->th = forge_test_host_new(&forge_app_entry, cfg, &err);
    if (!f->th) {
        fprintf(stderr, "host: %s (%s)\n", err.message, err.cause);
        return -1;
    }
    forge_test_response_init(&f->res);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    forge_test_response_free(&f->res);
    forge_test_host_free(f->th);
    dbt_rmdir(f->dir);
    free(f);
    return 0;
}

static const char *const json_hdr[] = {"Content-Type: application/json", NULL};

static int req(fx *f, const char *method, const char *target, const char *body)
{
    forge_error err;
    int rc = forge_test_request(f->th, method, target, body ? json_hdr : NULL, body,
                                body ? strlen(body) : 0, &f->res, &err);
    assert_int_equal(rc, 0);
    return f->res.status;
}

static json_t *body_json(fx *f)
{
    json_error_t je;
    json_t *j = json_loadb(f->res.body, f->res.body_len, 0, &je);
    assert_non_null(j);
    return j;
}

static void assert_problem(fx *f, int status)
{
    assert_int_equal(f->res.status, status);
    const char *ct = forge_test_response_header(&f->res, "Content-Type");
    assert_non_null(ct);
    assert_string_equal(ct, "application/problem+json");
}

static void test_crud(void **state)
{
    fx *f = *state;
    assert_int_equal(req(f, "POST", "/notes", "{\"title\":\"first\",\"body\":\"hello\"}"), 201);
    json_t *j = body_json(f);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "title")), "first");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "hello");
    assert_non_null(json_object_get(j, "created_at"));
    json_decref(j);
    assert_string_equal(forge_test_response_header(&f->res, "Location"), "/notes/1");

    assert_int_equal(req(f, "GET", "/notes/1", NULL), 200);
    j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "title")), "first");
    json_decref(j);
    assert_int_equal(req(f, "POST", "/notes", "{\"title\":\"second\",\"body\":\"\"}"), 201);
    assert_int_equal(req(f, "GET", "/notes", NULL), 200);
    j = body_json(f);
    json_t *arr = json_object_get(j, "notes");
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "title")),
                        "second");
    json_decref(j);
    assert_int_equal(req(f, "GET", "/notes?after=1&limit=5", NULL), 200);
    j = body_json(f);
    assert_int_equal(json_array_size(json_object_get(j, "notes")), 1);
    json_decref(j);
    assert_int_equal(req(f, "GET", "/notes?limit=0", NULL), 400);

    assert_int_equal(req(f, "DELETE", "/notes/1", NULL), 204);
    assert_int_equal(f->res.body_len, 0);
    req(f, "GET", "/notes/1", NULL);
    assert_problem(f, 404);
    req(f, "DELETE", "/notes/1", NULL);
    assert_problem(f, 404);
    req(f, "GET", "/notes/abc", NULL);
    assert_problem(f, 404);
    req(f, "GET", "/notes/99999999999999999999", NULL);
    assert_problem(f, 404);
}

static void test_validation(void **state)
{
    fx *f = *state;
    req(f, "POST", "/notes", "{\"title\": ");
    assert_problem(f, 400);
    req(f, "POST", "/notes", "");
    assert_problem(f, 400);
    req(f, "POST", "/notes", "[1,2]");
    assert_problem(f, 422);
    req(f, "POST", "/notes", "{\"title\":5,\"body\":\"x\"}");
    assert_problem(f, 422);
    json_t *j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "field")), "title");
    json_decref(j);
    req(f, "POST", "/notes", "{\"title\":\"x\"}");
    assert_problem(f, 422);
    req(f, "POST", "/notes", "{\"title\":\"\",\"body\":\"x\"}");
    assert_problem(f, 422);
    char big[400];
    snprintf(big, sizeof(big), "{\"title\":\"%0250d\",\"body\":\"x\"}", 0);
    req(f, "POST", "/notes", big);
    assert_problem(f, 422);
    assert_int_equal(req(f, "GET", "/notes", NULL), 200);
    assert_non_null(strstr(f->res.body, "\"notes\":[]")); /* nothing stored */
}

static void test_injection_is_data(void **state)
{
    fx *f = *state;
    const char *evil = "{\"title\":\"x'); DROP TABLE notes; --\",\"body\":\"' OR '1'='1\"}";
    assert_int_equal(req(f, "POST", "/notes", evil), 201);
    assert_int_equal(req(f, "GET", "/notes/1", NULL), 200);
    json_t *j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "title")),
                        "x'); DROP TABLE notes; --");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "' OR '1'='1");
    json_decref(j);
    assert_int_equal(req(f, "GET", "/notes", NULL), 200); /* the table is still there */
    req(f, "GET", "/notes/1%20OR%201=1", NULL);
    assert_problem(f, 404);
}

static void test_cache(void **state)
{
    fx *f = *state;
    forge_cache *c = atomic_load(&g_notes.cache);
    assert_non_null(c);
    forge_cache_stats s0, s1;
    forge_cache_stats_get(c, &s0);
    req(f, "GET", "/notes/1", NULL); /* absent: loaded once, cached as negative */
    assert_problem(f, 404);
    req(f, "GET", "/notes/1", NULL);
    assert_problem(f, 404);
    forge_cache_stats_get(c, &s1);
    assert_int_equal(s1.loads - s0.loads, 1);
    assert_int_equal(s1.negative_hits - s0.negative_hits, 1);
    /* creating the note replaces the negative entry */
    assert_int_equal(req(f, "POST", "/notes", "{\"title\":\"t\",\"body\":\"b\"}"), 201);
    assert_int_equal(req(f, "GET", "/notes/1", NULL), 200);
    assert_int_equal(req(f, "GET", "/notes/1", NULL), 200);
    forge_cache_stats_get(c, &s0);
    assert_int_equal(s0.loads, s1.loads);
    assert_true(s0.hits - s1.hits >= 2);
    /* delete invalidates */
    assert_int_equal(req(f, "DELETE", "/notes/1", NULL), 204);
    req(f, "GET", "/notes/1", NULL);
    assert_problem(f, 404);
}

static void test_health(void **state)
{
    fx *f = *state;
    forge_error err;
    forge_db *db = forge_app_db(forge_test_host_app(f->th), "main");
    assert_non_null(db);
    assert_string_equal(forge_db_driver_name(db), "sqlite");
    assert_int_equal(forge_db_health(db, 0, &err), FORGE_HEALTHY);
    assert_int_equal(forge_app_health(forge_test_host_app(f->th), NULL, NULL), FORGE_HEALTHY);
    assert_null(forge_app_db(forge_test_host_app(f->th), "other"));
}

static void test_unreachable_database(void **state)
{
    (void)state;
    dbt_env();
    forge_error err;
    forge_error_clear(&err);
    /* with migrations: the start fails with a clear error, no crash */
    const char *cfg = "log:\n  level: fatal\ndb:\n  main:\n    url: sqlite:///nonexistent/d/n.db\n";
    forge_test_host *th = forge_test_host_new(&forge_app_entry, cfg, &err);
    assert_null(th);
    char all[2048];
    snprintf(all, sizeof(all), "%s %s", err.message, err.cause);
    assert_non_null(strstr(all, "db.main"));
    if (!strstr(all, "nonexistent"))
        fprintf(stderr, "message: %s\n", all);
    assert_non_null(strstr(all, "nonexistent"));
    /* without migrations: the app serves, not ready, database calls answer 503 */
    cfg = "log:\n  level: fatal\ndb:\n  main:\n    url: sqlite:///nonexistent/d/n.db\n"
          "    migrations: \"\"\n";
    th = forge_test_host_new(&forge_app_entry, cfg, &err);
    assert_non_null(th);
    assert_int_equal(forge_app_health(forge_test_host_app(th), NULL, NULL), FORGE_UNHEALTHY);
    forge_test_response res;
    forge_test_response_init(&res);
    assert_int_equal(forge_test_request(th, "POST", "/notes", json_hdr,
                                        "{\"title\":\"a\",\"body\":\"b\"}", 24, &res, &err),
                     0);
    assert_int_equal(res.status, 503);
    assert_string_equal(forge_test_response_header(&res, "Content-Type"),
                        "application/problem+json");
    assert_non_null(forge_test_response_header(&res, "Retry-After"));
    assert_null(strstr(res.body, "nonexistent")); /* no internals in the answer */
    assert_int_equal(forge_test_request(th, "GET", "/notes/1", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 503);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injection_is_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test(test_unreachable_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
