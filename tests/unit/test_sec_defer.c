/*
 * Befores that defer blocking work (forge__mw_defer, used by Redis rate
 * limits and token introspection): on an event-loop host the work, the rest
 * of the chain, the handler and the afters run on the pool; on a host that
 * can block, in place. The deferred result decides: NEXT continues, DONE
 * answers, an error becomes a 500; two deferring befores chain.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "request_impl.h"

#include <forge/forge.h>
#include <forge/testhost.h>
#include <stdio.h>
#include <string.h>

static _Atomic int deferred_on_pool, handler_on_pool, afters;

static int work(forge_req *req, void *arg)
{
    forge_runtime *rt = forge_app_runtime(forge_req_app(req));
    deferred_on_pool += forge_runtime_on_pool_thread(rt);
    forge_str v;
    if (forge_req_header(req, "X-Mode", &v) && v.n == 4 && memcmp(v.p, "done", 4) == 0)
        return forge_res_text(req, 418, "answered by deferred work\n") < 0 ? FORGE_EIO : FORGE_DONE;
    if (forge_req_header(req, "X-Mode", &v) && v.n == 4 && memcmp(v.p, "fail", 4) == 0)
        return FORGE_EIO;
    forge_res_set_header(req, arg ? "X-Second" : "X-First", "yes");
    return FORGE_NEXT;
}

static int before1(forge_req *req, void *u)
{
    return forge__mw_defer(req, work, NULL);
}

static int before2(forge_req *req, void *u)
{
    return forge__mw_defer(req, work, (void *)1);
}

static void after(forge_req *req, void *u)
{
    afters++;
}

static int hello(forge_req *req, void *u)
{
    handler_on_pool += forge_runtime_on_pool_thread(forge_app_runtime(forge_req_app(req)));
    return forge_res_text(req, 200, "hello\n");
}

FORGE_APP("defer", "1.0")
{
    forge_middleware m1 = {.name = "d1", .before = before1, .after = after};
    forge_middleware m2 = {.name = "d2", .priority = 1, .before = before2, .after = after};
    int rc = forge_app_use(app, &m1, err);
    if (rc == 0)
        rc = forge_app_use(app, &m2, err);
    return rc < 0 ? rc : forge_app_route(app, "GET", "/hello", hello, NULL, NULL, err);
}

static void run(bool can_block)
{
    forge_error err;
    forge_test_opts o = {.entry = &forge_app_entry, .can_block = can_block};
    forge_test_host *th = forge_test_host_new_opts(&o, &err);
    assert_non_null(th);
    forge_test_response res;
    forge_test_response_init(&res);
    deferred_on_pool = handler_on_pool = afters = 0;

    assert_int_equal(forge_test_request(th, "GET", "/hello", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "hello\n");
    assert_string_equal(forge_test_response_header(&res, "X-First"), "yes");
    assert_string_equal(forge_test_response_header(&res, "X-Second"), "yes");
    assert_int_equal(afters, 2);
    assert_int_equal(deferred_on_pool, can_block ? 0 : 2);
    assert_int_equal(handler_on_pool, can_block ? 0 : 1);
    assert_int_equal(res.async, !can_block);

    const char *done[] = {"X-Mode: done", NULL};
    assert_int_equal(forge_test_request(th, "GET", "/hello", done, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 418);
    assert_null(forge_test_response_header(&res, "X-Second")); /* the second before never ran */
    assert_int_equal(afters, 3);

    const char *fail[] = {"X-Mode: fail", NULL};
    assert_int_equal(forge_test_request(th, "GET", "/hello", fail, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 500);

    /* unrouted requests run the app-wide chain too */
    assert_int_equal(forge_test_request(th, "GET", "/nowhere", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 404);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

static void test_event_loop_host(void **state)
{
    run(false);
}

static void test_blocking_host(void **state)
{
    run(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_loop_host),
        cmocka_unit_test(test_blocking_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
