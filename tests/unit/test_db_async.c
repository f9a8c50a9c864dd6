/*
 * forge_db_async on the test host (which, like nginx, may not block): the
 * job runs on the runtime's pool with a borrowed connection and completes
 * the request; failures become problem+json; a pool that cannot lend a
 * connection answers 503 without calling the job.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <forge/testhost.h>
#include <stdatomic.h>
#include <time.h>

#include "db_test_util.h"

static atomic_bool ran_on_pool;

static int count_job(forge_req *req, forge_db_conn *c, void *udata)
{
    forge_runtime *rt = forge_app_runtime(forge_req_app(req));
    atomic_store(&ran_on_pool, rt && forge_runtime_on_pool_thread(rt));
    forge_db_rows *r;
    forge_error err;
    int rc = forge_db_query(c, "SELECT 6 * 7", NULL, 0, &r, &err);
    if (rc < 0)
        return rc;
    rc = forge_db_rows_next(r, &err);
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)forge_db_int(r, 0));
    forge_db_rows_close(r);
    return rc == 1 ? forge_res_text(req, 200, buf) : FORGE_EIO;
}

static int failing_job(forge_req *req, forge_db_conn *c, void *udata)
{
    return forge_db_exec(c, "INSERT INTO nowhere VALUES (1)", NULL, 0, NULL, NULL);
}

static int answer(forge_req *req, void *udata)
{
    forge_db *db = forge_app_db(forge_req_app(req), "main");
    return forge_db_async(req, db, udata ? failing_job : count_job, NULL);
}

static int hold(forge_req *req, void *udata)
{
    /* borrow the only connection and keep it while the next request runs */
    forge_db *db = forge_app_db(forge_req_app(req), "main");
    forge_db_conn *c;
    forge_error err;
    if (forge_db_acquire(db, 0, &c, &err) != 0)
        return forge_db_problem(req, FORGE_EIO, &err);
    forge_app_set_data(forge_req_app(req), c);
    return forge_res_text(req, 200, "held\n");
}

static int give_back(forge_req *req, void *udata)
{
    forge_db_release(forge_app_data(forge_req_app(req)));
    return forge_res_text(req, 200, "released\n");
}

FORGE_APP("dbasync", "1.0.0")
{
    int rc = forge_app_db_register(app, "main", NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/answer", answer, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/fail", answer, (void *)1, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/hold", hold, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/release", give_back, NULL, NULL, err);
    return rc;
}

static void test_async_jobs(void **state)
{
    (void)state;
    dbt_env();
    char *dir = dbt_tmpdir();
    char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "log:\n  level: fatal\ndb:\n  main:\n    url: sqlite://%s/a.db\n    max_conns: 1\n"
             "    acquire_timeout: 50ms\n",
             dir);
    forge_error err;
    forge_error_clear(&err);
    forge_test_host *th = forge_test_host_new(&forge_app_entry, cfg, &err);
    if (!th)
        fprintf(stderr, "%s\n", err.message);
    assert_non_null(th);
    forge_test_response res;
    forge_test_response_init(&res);
    assert_int_equal(forge_test_request(th, "GET", "/answer", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "42");
    assert_true(atomic_load(&ran_on_pool));
    assert_int_equal(forge_test_request(th, "GET", "/fail", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 500);
    assert_string_equal(forge_test_response_header(&res, "Content-Type"),
                        "application/problem+json");
    assert_null(strstr(res.body, "nowhere")); /* no SQL in the answer */
    /* the only connection is lent out: the job is not run, 503 */
    assert_int_equal(forge_test_request(th, "GET", "/hold", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(forge_test_request(th, "GET", "/answer", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 503);
    assert_non_null(forge_test_response_header(&res, "Retry-After"));
    assert_int_equal(forge_test_request(th, "GET", "/release", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(forge_test_request(th, "GET", "/answer", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 200);
    /*
     * Every job gave its connection back before its request finished. The
     * readiness check also borrows the pool's one connection from time to
     * time, so wait (bounded) for a moment when nobody holds it.
     */
    forge_db_stats st;
    for (int i = 0; i < 200; i++) {
        forge_db_stats_get(forge_app_db(forge_test_host_app(th), "main"), &st);
        if (st.in_use == 0)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    assert_int_equal(st.acquire_timeouts, 1);
    assert_int_equal(st.in_use, 0);
    forge_test_response_free(&res);
    forge_test_host_free(th);
    dbt_rmdir(dir);
}

static void test_register_errors(void **state)
{
    (void)state;
    dbt_env();
    forge_error err;
    forge_error_clear(&err);
    /* no URL anywhere: the start refuses, naming the key */
    assert_null(forge_test_host_new(&forge_app_entry, "log:\n  level: fatal\n", &err));
    char all[1200];
    snprintf(all, sizeof(all), "%s %s", err.message, err.cause);
    assert_non_null(strstr(all, "db.main.url: required but not set"));
    assert_non_null(strstr(all, "FORGE_DB__MAIN__URL"));
    assert_null(forge_test_host_new(
        &forge_app_entry, "log:\n  level: fatal\ndb:\n  main:\n    url: x\n    max_conns: 0\n",
        &err));
    snprintf(all, sizeof(all), "%s %s", err.message, err.cause);
    assert_non_null(strstr(all, "db.main.max_conns"));
    assert_null(forge_test_host_new(
        &forge_app_entry, "log:\n  level: fatal\ndb:\n  main:\n    url: \"nosuch://h/x\"\n", &err));
    snprintf(all, sizeof(all), "%s %s", err.message, err.cause);
    assert_non_null(strstr(all, "forge_db_nosuch.so"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_jobs),
        cmocka_unit_test(test_register_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
