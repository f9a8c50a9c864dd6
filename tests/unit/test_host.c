/*
 * The host object: loading apps (.so errors named clearly: missing file, no
 * entry symbol, another ABI), config and init errors, route registration
 * (conflicts, groups, metadata for OpenAPI), the ops table check, and the
 * worker lifecycle.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"

#define LIB FORGE_BINARY_DIR "/lib/"

static int nop_send_head(void *h, int s, const forge_header *hd, size_t n, int64_t cl)
{
    return 0;
}
static int nop_send_body(void *h, const void *d, size_t n, unsigned f)
{
    return 0;
}
static void nop_wake(void *h) {}

static forge_host_ops ops(void)
{
    return (forge_host_ops){.abi_version = FORGE_ABI_VERSION,
                            .size = sizeof(forge_host_ops),
                            .kind = "unit",
                            .send_head = nop_send_head,
                            .send_body = nop_send_body,
                            .wake = nop_wake};
}

static void test_ops_checked(void **state)
{
    forge_error err;
    forge_host_ops o = ops();
    o.abi_version = FORGE_ABI_VERSION + 1;
    assert_null(forge_host_new(&o, NULL, &err));
    assert_int_equal(err.code, FORGE_EABI);
    assert_non_null(strstr(err.message, "unit"));
    o = ops();
    o.size = 8;
    assert_null(forge_host_new(&o, NULL, &err));
    assert_int_equal(err.code, FORGE_EABI);
    o = ops();
    o.wake = NULL;
    assert_null(forge_host_new(&o, NULL, &err));
    assert_int_equal(err.code, FORGE_EINVAL);
}

static void test_load_missing_file(void **state)
{
    forge_error err;
    forge_host_ops o = ops();
    forge_host *h = forge_host_new(&o, NULL, &err);
    assert_non_null(h);
    assert_null(forge_host_load(h, LIB "does-not-exist.so", NULL, &err));
    assert_int_equal(err.code, FORGE_ENOENT);
    assert_non_null(strstr(err.message, "does-not-exist.so"));
    assert_non_null(strstr(err.message, "No such file"));
    assert_null(forge_host_app(h));
    forge_host_free(h);
}

static void test_load_no_symbol(void **state)
{
    forge_error err;
    forge_host_ops o = ops();
    forge_host *h = forge_host_new(&o, NULL, &err);
    assert_null(forge_host_load(h, LIB "forge_no_symbol.so", NULL, &err));
    assert_int_equal(err.code, FORGE_ENOENT);
    assert_non_null(strstr(err.message, "forge_no_symbol.so"));
    assert_non_null(strstr(err.message, "forge_app_entry"));
    forge_host_free(h);
}

static void test_load_wrong_abi(void **state)
{
    forge_error err;
    forge_host_ops o = ops();
    forge_host *h = forge_host_new(&o, NULL, &err);
    assert_null(forge_host_load(h, LIB "forge_bad_abi.so", NULL, &err));
    assert_int_equal(err.code, FORGE_EABI);
    char expect[96];
    snprintf(expect, sizeof(expect), "built for Forge ABI %u, this core has ABI %u",
             FORGE_ABI_VERSION + 41, FORGE_ABI_VERSION);
    if (!strstr(err.message, expect) || !strstr(err.message, "forge_bad_abi.so"))
        fail_msg("message: %s", err.message);
    forge_host_free(h);
}

static void test_load_not_an_so(void **state)
{
    forge_error err;
    forge_host_ops o = ops();
    forge_host *h = forge_host_new(&o, NULL, &err);
    assert_null(forge_host_load(h, FORGE_SOURCE_DIR "/examples/hello/hello.c", NULL, &err));
    assert_int_equal(err.code, FORGE_EIO);
    assert_non_null(strstr(err.message, "cannot be loaded"));
    forge_host_free(h);
}

static void test_load_hello_so(void **state)
{
    forge_error err;
    forge_test_host *th = forge_test_host_load(LIB "hello.so", HT_QUIET, &err);
    if (!th)
        fail_msg("%s", err.message);
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "GET", "/hello", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "hello\n");
    ht_req(th, "GET", "/slow?ms=1", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(forge_app_name(forge_test_host_app(th)), "hello");
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

/* ---- init, config and route errors ---- */

static int ok(forge_req *req, void *u)
{
    return forge_res_text(req, 200, u ? u : "ok");
}

static int conflict_init(forge_app *app, forge_error *err)
{
    int rc = forge_app_route(app, "GET", "/a/:x", ok, NULL, NULL, err);
    return rc < 0 ? rc : forge_app_route(app, "GET", "/a/:y", ok, NULL, NULL, err);
}
HT_ENTRY(conflict_entry, "conflict", conflict_init);

static int failing_init(forge_app *app, forge_error *err)
{
    return forge_error_set(err, FORGE_EDEPENDENCY, "database url missing");
}
HT_ENTRY(failing_entry, "failing", failing_init);

static int bad_method_init(forge_app *app, forge_error *err)
{
    return forge_app_route(app, "FETCH", "/x", ok, NULL, NULL, err);
}
HT_ENTRY(bad_method_entry, "badmethod", bad_method_init);

static void test_init_errors(void **state)
{
    forge_error err;
    forge_error_clear(&err);
    assert_null(forge_test_host_new(&conflict_entry, HT_QUIET, &err));
    assert_int_equal(err.code, FORGE_ECONFLICT);
    assert_non_null(strstr(err.cause, "/a/:y")); /* the router's message, under the app's */

    forge_error_clear(&err);
    assert_null(forge_test_host_new(&failing_entry, HT_QUIET, &err));
    assert_int_equal(err.code, FORGE_EDEPENDENCY);
    assert_non_null(strstr(err.message, "app failing: init failed"));
    assert_string_equal(err.cause, "database url missing");

    forge_error_clear(&err);
    assert_null(forge_test_host_new(&bad_method_entry, HT_QUIET, &err));
    assert_int_equal(err.code, FORGE_EINVAL);
    assert_non_null(strstr(err.cause, "FETCH"));
}

static int empty_init(forge_app *app, forge_error *err)
{
    return 0;
}
HT_ENTRY(empty_entry, "empty", empty_init);

static void test_config_errors(void **state)
{
    forge_error err;
    forge_error_clear(&err);
    assert_null(forge_test_host_new(&empty_entry, "http:\n  max_body_size: 0\n", &err));
    assert_int_equal(err.code, FORGE_ECONFIG);
    assert_string_equal(err.key, "http.max_body_size");
    forge_error_clear(&err);
    assert_null(forge_test_host_new(&empty_entry, "http:\n  json_max_depth: 0\n", &err));
    assert_string_equal(err.key, "http.json_max_depth");
    forge_error_clear(&err);
    assert_null(forge_test_host_new(&empty_entry, "runtime:\n  pool_threads: 0\n", &err));
    assert_int_equal(err.code, FORGE_ECONFIG);
    assert_string_equal(err.key, "runtime.pool_threads");
    forge_error_clear(&err);
    assert_null(forge_test_host_new(&empty_entry, "log:\n  level: loud\n", &err));
    assert_int_equal(err.code, FORGE_ECONFIG);
    assert_string_equal(err.key, "log.level");

    /* A key nobody declared (a typo) stops the load, named with a suggestion. */
    forge_error_clear(&err);
    assert_null(forge_test_host_new(&empty_entry, "http:\n  max_body_sise: 2m\n", &err));
    assert_int_equal(err.code, FORGE_ECONFIG);
    assert_string_equal(err.key, "http.max_body_sise");
    assert_non_null(strstr(err.message, "did you mean http.max_body_size?"));
    assert_non_null(strstr(err.message, "config.unknown_keys: warn"));
    /* ... unless the config asks for a warning only. */
    forge_error_clear(&err);
    forge_test_host *th = forge_test_host_new(
        &empty_entry, "config:\n  unknown_keys: warn\nhttp:\n  max_body_sise: 2m\n", &err);
    assert_non_null(th);
    forge_test_host_free(th);
    forge_error_clear(&err);
    assert_null(forge_test_host_new(&empty_entry, "config:\n  unknown_keys: maybe\n", &err));
    assert_string_equal(err.key, "config.unknown_keys");
}

/* ---- groups and metadata ---- */

static int groups_init(forge_app *app, forge_error *err)
{
    static const char *const tags[] = {"users", "admin", NULL};
    forge_param_doc pd[] = {{.name = "id", .in = "path", .type = "integer", .required = true}};
    char summary[32];
    snprintf(summary, sizeof(summary), "%s", "Delete a user"); /* copied: stack is fine */
    forge_route_opts o = {.name = "deleteUser",
                          .summary = summary,
                          .description = "Removes the user for good.",
                          .tags = tags,
                          .params = pd,
                          .nparams = 1};
    forge_group *api = forge_app_group(app, "/api/");
    forge_group *v1 = forge_group_group(api, "v1");
    int rc = 0;
    if ((rc = forge_group_route(v1, "DELETE", "/users/:id", ok, "deleted", &o, err)) < 0 ||
        (rc = forge_group_route(v1, "GET", "", ok, "v1 root", NULL, err)) < 0 ||
        (rc = forge_group_route(api, "GET", "/", ok, "api slash", NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/", ok, "root", NULL, err)) < 0)
        return rc;
    memset(summary, 0, sizeof(summary));
    return 0;
}
HT_ENTRY(groups_entry, "groups", groups_init);

static int visit(const forge_route_info *info, void *u)
{
    char *out = u;
    char line[128];
    if (info->opts->flags & FORGE_ROUTE_INTERNAL)
        return 0; /* built-in endpoints (/_/...) */
    snprintf(line, sizeof(line), "%s %s|", forge_method_name(info->method), info->pattern);
    strcat(out, line);
    if (info->opts->name) {
        assert_string_equal(info->opts->name, "deleteUser");
        assert_string_equal(info->opts->summary, "Delete a user");
        assert_string_equal(info->opts->tags[1], "admin");
        assert_null(info->opts->tags[2]);
        assert_int_equal(info->opts->nparams, 1);
        assert_string_equal(info->opts->params[0].type, "integer");
        assert_true(info->opts->params[0].required);
    }
    return 0;
}

static int stop_visit(const forge_route_info *info, void *u)
{
    (*(int *)u)++;
    return 7;
}

static void test_groups_and_metadata(void **state)
{
    forge_test_host *th = ht_new(&groups_entry, NULL);
    char out[512] = "";
    assert_int_equal(forge_app_routes(forge_test_host_app(th), visit, out), 0);
    assert_string_equal(out, "DELETE /api/v1/users/:id|GET /api/v1|GET /api/|GET /|");
    int n = 0;
    assert_int_equal(forge_app_routes(forge_test_host_app(th), stop_visit, &n), 7);
    assert_int_equal(n, 1);

    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "DELETE", "/api/v1/users/3", NULL, NULL, &res);
    assert_string_equal(res.body, "deleted");
    ht_req(th, "GET", "/api/v1", NULL, NULL, &res);
    assert_string_equal(res.body, "v1 root");
    ht_req(th, "GET", "/api/", NULL, NULL, &res);
    assert_string_equal(res.body, "api slash");
    ht_req(th, "GET", "/", NULL, NULL, &res);
    assert_string_equal(res.body, "root");

    /* Routes after init are refused. */
    forge_error err;
    assert_int_equal(forge_app_route(forge_test_host_app(th), "GET", "/late", ok, NULL, NULL, &err),
                     FORGE_ESTATE);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

/* ---- the worker lifecycle through the plain host API ---- */

static void test_worker_lifecycle(void **state)
{
    forge_error err;
    forge_host_ops o = ops();
    forge_host *h = forge_host_new(&o, NULL, &err);
    assert_int_equal(forge_host_worker_start(h, 0, 1, &err), FORGE_ESTATE); /* nothing loaded */
    forge_app *app = forge_host_load_entry(h, &empty_entry, NULL, &err);
    assert_non_null(app);
    assert_null(forge_host_load_entry(h, &empty_entry, NULL, &err)); /* one app per host */
    assert_int_equal(err.code, FORGE_ESTATE);
    assert_int_equal(forge_host_before_fork(h, &err), 0);
    assert_int_equal(forge_host_worker_start(h, 2, 2, &err), FORGE_EINVAL);
    assert_int_equal(forge_host_worker_start(h, 1, 2, &err), 0);
    assert_int_equal(forge_app_worker_id(app), 1);
    assert_int_equal(forge_app_worker_count(app), 2);
    assert_non_null(forge_app_runtime(app));
    assert_int_equal(forge_host_worker_start(h, 1, 2, &err), 0); /* idempotent */
    forge_host_worker_stop(h);
    assert_null(forge_app_runtime(app));
    forge_host_worker_stop(h);

    /* A request made and released without dispatch is recycled cleanly. */
    forge_req *req = forge_req_new(h, NULL);
    assert_non_null(req);
    forge_req_set_method(req, "GET", 3);
    forge_req_release(req);
    forge_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_checked),         cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_no_symbol),      cmocka_unit_test(test_load_wrong_abi),
        cmocka_unit_test(test_load_not_an_so),      cmocka_unit_test(test_load_hello_so),
        cmocka_unit_test(test_init_errors),         cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_groups_and_metadata), cmocka_unit_test(test_worker_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
