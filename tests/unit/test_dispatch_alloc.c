/*
 * The hot path allocates nothing: after warm-up, a request through the test
 * host (new, fill, dispatch, middleware, handler, send, release) makes no
 * heap allocation, with the default middleware (request id, access log at a
 * level that drops the line, errors) and without it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alloc_count.h"
#include "http_test.h"

#include "hello/hello.c"

static size_t allocs_per_batch(forge_test_host *th, const char *method, const char *target,
                               const char *const *headers, const char *body)
{
    forge_test_response res;
    forge_test_response_init(&res);
    forge_error err;
    for (int i = 0; i < 100; i++) /* warm-up: free list, arena block, response buffers */
        assert_int_equal(forge_test_request(th, method, target, headers, body,
                                            body ? strlen(body) : 0, &res, &err),
                         0);
    forge_alloc_count_begin();
    for (int i = 0; i < 1000; i++)
        forge_test_request(th, method, target, headers, body, body ? strlen(body) : 0, &res, &err);
    size_t n = forge_alloc_count_end();
    assert_int_equal(res.status, 200);
    forge_test_response_free(&res);
    return n;
}

static void test_hello_zero_alloc(void **state)
{
    if (!FORGE_ALLOC_COUNT_ENABLED)
        skip();
    const char *h[] = {"Host: localhost", "User-Agent: bench/1.0", "Accept: */*", NULL};
    forge_test_host *th = ht_new(&forge_app_entry, HT_QUIET);
    assert_int_equal(allocs_per_batch(th, "GET", "/hello", h, NULL), 0);
    assert_int_equal(allocs_per_batch(th, "HEAD", "/hello", h, NULL), 0);
    const char *e[] = {"Content-Type: text/plain", NULL};
    assert_int_equal(allocs_per_batch(th, "POST", "/echo", e, "a small body"), 0);
    /* The counter is live: building a Jansson object allocates (the app's choice). */
    assert_true(allocs_per_batch(th, "GET", "/users/7", h, NULL) >= 1000);
    forge_test_host_free(th);

    th = ht_new(&forge_app_entry,
                HT_QUIET "http:\n  middleware:\n    request_id: false\n    access_log: false\n"
                         "    errors: false\n");
    assert_int_equal(allocs_per_batch(th, "GET", "/hello", h, NULL), 0);
    forge_test_host_free(th);
}

static void sink(void *u, forge_log_level level, const char *line, size_t len)
{
    (*(size_t *)u)++;
}

/* With the access line written (to a sink), still no allocation per request. */
static void test_hello_logged_zero_alloc(void **state)
{
    if (!FORGE_ALLOC_COUNT_ENABLED)
        skip();
    forge_test_host *th = ht_new(&forge_app_entry, "log:\n  level: info\n");
    size_t lines = 0;
    forge_log_set_sink(forge_app_log(forge_test_host_app(th)), sink, &lines);
    size_t n = allocs_per_batch(th, "GET", "/hello", NULL, NULL);
    assert_int_equal(lines, 1100);
    if (n)
        fail_msg("%zu allocations in 1000 logged requests", n);
    forge_test_host_free(th);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_zero_alloc),
        cmocka_unit_test(test_hello_logged_zero_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
