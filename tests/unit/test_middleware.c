/*
 * Middleware semantics on the test host: priority order, app-wide outside
 * group middleware, nested groups, short-circuit, after-halves on error and
 * after async completion, on_start/on_stop, and the built-ins (request id,
 * access log, error mapping) with their config switches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"

#include <pthread.h>

static char trace[512];

static void tr(const char *s)
{
    strncat(trace, s, sizeof(trace) - strlen(trace) - 1);
}

static int mw_before(forge_req *req, void *u)
{
    const char *name = u;
    tr(name);
    tr(" ");
    forge_str v;
    if (forge_req_header(req, "X-Stop-At", &v) && v.n == strlen(name) &&
        memcmp(v.p, name, v.n) == 0) {
        forge_res_text(req, 401, "stopped\n");
        return FORGE_DONE;
    }
    if (forge_req_header(req, "X-Fail-At", &v) && v.n == strlen(name) &&
        memcmp(v.p, name, v.n) == 0)
        return FORGE_EIO;
    return FORGE_NEXT;
}

static void mw_after(forge_req *req, void *u)
{
    tr("/");
    tr(u);
    tr(" ");
}

static int started, stopped;
static int mw_start(forge_app *app, void *u, forge_error *err)
{
    started++;
    if (strcmp(u, "FAILSTART") == 0)
        return forge_error_set(err, FORGE_EIO, "cannot start");
    return 0;
}

static void mw_stop(forge_app *app, void *u)
{
    stopped++;
}

#define MW(name_, prio_)                                                                           \
    (&(forge_middleware){.name = name_,                                                            \
                         .priority = prio_,                                                        \
                         .before = mw_before,                                                      \
                         .after = mw_after,                                                        \
                         .on_start = mw_start,                                                     \
                         .on_stop = mw_stop,                                                       \
                         .udata = (void *)name_})

static int handler(forge_req *req, void *u)
{
    tr("H ");
    forge_str v;
    if (forge_req_header(req, "X-Handler-Fail", &v)) {
        forge_res_set_header(req, "Content-Type", "text/html"); /* thrown away on failure */
        forge_res_body(req, "partial", 7);
        return FORGE_EIO;
    }
    if (forge_req_header(req, "X-Empty-Status", &v))
        return forge_res_status(req, 404), FORGE_OK;
    return forge_res_text(req, 200, "ok\n");
}

static void *finisher(void *arg)
{
    forge_req *req = arg;
    forge_res_text(req, 200, "later\n");
    forge_req_finish(req);
    return NULL;
}

static int async_handler(forge_req *req, void *u)
{
    tr("H ");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, finisher, req), 0);
    pthread_detach(t);
    return FORGE_ASYNC;
}

/* Finishing before returning FORGE_ASYNC is allowed: dispatch completes it. */
static int early_finish(forge_req *req, void *u)
{
    forge_res_text(req, 200, "early\n");
    forge_req_finish(req);
    return FORGE_ASYNC;
}

static int app_init(forge_app *app, forge_error *err)
{
    int rc = 0;
    forge_group *g = forge_app_group(app, "/g");
    forge_group *h = forge_group_group(g, "/h/");
    if (!g || !h)
        return forge_error_set(err, FORGE_ENOMEM, "group");
    if ((rc = forge_app_use(app, MW("A", 10), err)) < 0 ||
        (rc = forge_app_use(app, MW("B", -5), err)) < 0 ||
        (rc = forge_app_use(app, MW("C", 10), err)) < 0 ||
        (rc = forge_group_use(h, MW("H2", 0), err)) < 0 ||
        (rc = forge_group_use(g, MW("G2", 5), err)) < 0 ||
        (rc = forge_group_use(g, MW("G1", -100), err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/plain", handler, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/async", async_handler, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/early", early_finish, NULL, NULL, err)) < 0 ||
        (rc = forge_group_route(g, "GET", "/x", handler, NULL, NULL, err)) < 0 ||
        (rc = forge_group_route(h, "GET", "x", handler, NULL, NULL, err)) < 0)
        return rc;
    return 0;
}
HT_ENTRY(entry, "mwtest", app_init);

/* Built-ins off: the trace shows only ours. */
#define NO_BUILTINS                                                                                \
    HT_QUIET "http:\n  middleware:\n    request_id: false\n    access_log: false\n    errors: "    \
             "false\n"

static forge_test_response res;

static void run(forge_test_host *th, const char *target, const char *hdr)
{
    trace[0] = '\0';
    const char *h[] = {hdr, NULL};
    ht_req(th, "GET", target, hdr ? h : NULL, NULL, &res);
}

static void test_order(void **state)
{
    forge_test_host *th = ht_new(&entry, NO_BUILTINS);
    run(th, "/plain", NULL);
    assert_string_equal(trace, "B A C H /C /A /B ");
    run(th, "/g/x", NULL);
    assert_string_equal(trace, "B A C G1 G2 H /G2 /G1 /C /A /B ");
    run(th, "/g/h/x", NULL);
    assert_string_equal(trace, "B A C G1 G2 H2 H /H2 /G2 /G1 /C /A /B ");
    /* A 404 runs the app-wide middleware only. */
    run(th, "/g/nothing", NULL);
    assert_string_equal(trace, "B A C /C /A /B ");
    assert_int_equal(res.status, 404);
    forge_test_host_free(th);
}

static void test_short_circuit(void **state)
{
    forge_test_host *th = ht_new(&entry, NO_BUILTINS);
    run(th, "/g/h/x", "X-Stop-At: G1");
    assert_string_equal(trace, "B A C G1 /G1 /C /A /B ");
    assert_int_equal(res.status, 401);
    assert_string_equal(res.body, "stopped\n");
    forge_test_host_free(th);
}

static void test_before_error(void **state)
{
    forge_test_host *th = ht_new(&entry, HT_QUIET);
    run(th, "/g/x", "X-Fail-At: A");
    assert_string_equal(trace, "B A /A /B ");
    json_t *p = ht_problem(&res, 500, "/g/x");
    json_decref(p);
    forge_test_host_free(th);
}

static void test_handler_error_mapped(void **state)
{
    forge_test_host *th = ht_new(&entry, "log:\n  level: off\n");
    run(th, "/g/x", "X-Handler-Fail: 1");
    assert_string_equal(trace, "B A C G1 G2 H /G2 /G1 /C /A /B ");
    json_t *p = ht_problem(&res, 500, "/g/x");
    const char *rid = ht_header(&res, "X-Request-ID"); /* set by a before: kept */
    assert_int_equal(strlen(rid), 28);
    assert_string_equal(json_string_value(json_object_get(p, "request_id")), rid);
    assert_null(strstr(res.body, "partial"));
    json_decref(p);

    /* A 4xx without a body gets one. */
    run(th, "/plain", "X-Empty-Status: 1");
    json_decref(ht_problem(&res, 404, "/plain"));
    forge_test_host_free(th);
}

static void test_errors_off(void **state)
{
    forge_test_host *th = ht_new(&entry, NO_BUILTINS);
    run(th, "/plain", "X-Handler-Fail: 1");
    assert_int_equal(res.status, 500); /* still a response, never a dropped connection */
    assert_int_equal(res.body_len, 0);
    assert_null(forge_test_response_header(&res, "Content-Type"));
    run(th, "/plain", "X-Empty-Status: 1");
    assert_int_equal(res.status, 404);
    assert_int_equal(res.body_len, 0);
    forge_test_host_free(th);
}

static void test_after_on_async(void **state)
{
    forge_test_host *th = ht_new(&entry, NO_BUILTINS);
    run(th, "/async", NULL); /* the finisher may win the race with the handler's return */
    assert_string_equal(res.body, "later\n");
    assert_string_equal(trace, "B A C H /C /A /B ");
    run(th, "/early", NULL);
    assert_false(res.async);
    assert_string_equal(res.body, "early\n");
    forge_test_host_free(th);
}

static void test_start_stop(void **state)
{
    started = stopped = 0;
    forge_test_host *th = ht_new(&entry, NO_BUILTINS);
    assert_int_equal(started, 6); /* A B C H2 G2 G1: each entry once */
    assert_int_equal(stopped, 0);
    forge_test_host_free(th);
    assert_int_equal(stopped, 6);
}

static int failing_init(forge_app *app, forge_error *err)
{
    int rc = forge_app_use(app, MW("OK1", 0), err);
    if (rc == 0)
        rc = forge_app_use(app, MW("FAILSTART", 1), err);
    if (rc == 0)
        rc = forge_app_use(app, MW("NEVER", 2), err);
    return rc;
}
HT_ENTRY(failing_entry, "failing", failing_init);

static void test_start_failure(void **state)
{
    started = stopped = 0;
    forge_error err;
    forge_error_clear(&err);
    forge_test_host *th = forge_test_host_new(&failing_entry, HT_QUIET, &err);
    assert_null(th);
    assert_int_equal(err.code, FORGE_EIO);
    if (!strstr(err.message, "FAILSTART") && !strstr(err.cause, "FAILSTART"))
        fail_msg("message: %s / cause: %s", err.message, err.cause);
    assert_int_equal(started, 2);
    assert_int_equal(stopped, 1); /* only the one that started */
}

/* ---- request ids ---- */

static void test_request_id(void **state)
{
    forge_test_host *th = ht_new(&entry, HT_QUIET);
    run(th, "/plain", "X-Request-ID: abc-123_x.y:z");
    assert_string_equal(ht_header(&res, "X-Request-ID"), "abc-123_x.y:z");
    run(th, "/plain", "X-Request-ID: bad id");
    assert_int_equal(strlen(ht_header(&res, "X-Request-ID")), 28);
    run(th, "/plain", "X-Request-ID: ");
    assert_int_equal(strlen(ht_header(&res, "X-Request-ID")), 28);
    char longid[200] = "X-Request-ID: ";
    memset(longid + strlen(longid), 'a', 129);
    run(th, "/plain", longid);
    assert_int_equal(strlen(ht_header(&res, "X-Request-ID")), 28);
    longid[14 + 128] = '\0'; /* 128 is the maximum kept */
    run(th, "/plain", longid);
    assert_int_equal(strlen(ht_header(&res, "X-Request-ID")), 128);

    /* Generated ids are distinct. */
    char seen[64][29];
    for (int i = 0; i < 64; i++) {
        run(th, "/plain", NULL);
        snprintf(seen[i], sizeof(seen[i]), "%s", ht_header(&res, "X-Request-ID"));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
    }
    forge_test_host_free(th);

    th = ht_new(&entry, NO_BUILTINS);
    run(th, "/plain", "X-Request-ID: abc");
    assert_null(forge_test_response_header(&res, "X-Request-ID"));
    forge_test_host_free(th);
}

/* ---- access log ---- */

static char logbuf[4096];
static int nlines;

static void sink(void *u, forge_log_level level, const char *line, size_t len)
{
    nlines++;
    snprintf(logbuf, sizeof(logbuf), "%.*s", (int)len, line);
}

static void test_access_log(void **state)
{
    forge_test_host *th = ht_new(&entry, "log:\n  level: info\n  format: json\n");
    forge_log_set_sink(forge_app_log(forge_test_host_app(th)), sink, NULL);
    nlines = 0;
    run(th, "/g/h/x?q=1", "X-Request-ID: log-me");
    assert_int_equal(nlines, 1);
    json_t *j = json_loads(logbuf, 0, NULL);
    if (!j)
        fail_msg("not JSON: %s", logbuf);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/g/h/x");
    assert_string_equal(json_string_value(json_object_get(j, "route")), "/g/h/x");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "bytes")), 3);
    assert_true(json_is_number(json_object_get(j, "duration_ms")));
    assert_non_null(strstr(logbuf, "log-me"));
    json_decref(j);

    nlines = 0;
    run(th, "/missing", NULL);
    assert_int_equal(nlines, 1);
    assert_non_null(strstr(logbuf, "404"));
    forge_test_host_free(th);
}

static int teardown(void **state)
{
    forge_test_response_free(&res);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),        cmocka_unit_test(test_short_circuit),
        cmocka_unit_test(test_before_error), cmocka_unit_test(test_handler_error_mapped),
        cmocka_unit_test(test_errors_off),   cmocka_unit_test(test_after_on_async),
        cmocka_unit_test(test_start_stop),   cmocka_unit_test(test_start_failure),
        cmocka_unit_test(test_request_id),   cmocka_unit_test(test_access_log),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
