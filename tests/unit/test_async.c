/*
 * Asynchronous paths on the test host with examples/hello: completion from
 * another thread, blocking routes on the pool (and in place on a host that
 * can block), many blocking requests in flight while dispatch keeps
 * answering, streaming with flushes, and clients that go away mid-request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"

#include "hello/hello.c"

#define SLOW_CFG HT_QUIET "runtime:\n  pool_threads: 4\n"

static void test_async_route(void **state)
{
    forge_test_host *th = ht_new(&forge_app_entry, SLOW_CFG);
    forge_test_response res;
    forge_test_response_init(&res);
    for (int i = 0; i < 20; i++) {
        ht_req(th, "GET", "/async", NULL, NULL, &res);
        assert_int_equal(res.status, 200);
        assert_string_equal(res.body, "async\n");
        assert_int_equal(res.content_length, 6);
        if (res.async)
            assert_int_equal(res.wakes, 1); /* one wake per completion */
    }
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

static void test_blocking_on_pool(void **state)
{
    forge_test_host *th = ht_new(&forge_app_entry, SLOW_CFG);
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "GET", "/slow?ms=5", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "slow\n");
    assert_true(res.async); /* the host cannot block: it went through the pool and wake */
    assert_int_equal(strlen(ht_header(&res, "X-Request-ID")), 28);
    ht_req(th, "GET", "/slow?ms=9999", NULL, NULL, &res); /* the handler's own 400, on the pool */
    assert_int_equal(res.status, 400);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

static void test_blocking_in_place(void **state)
{
    forge_test_opts o = {.entry = &forge_app_entry, .config_text = SLOW_CFG, .can_block = true};
    forge_test_host *th = ht_new_opts(&o);
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "GET", "/slow?ms=5", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_false(res.async);
    assert_int_equal(res.wakes, 0);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

#define NSLOW 16

static void test_concurrent_blocking(void **state)
{
    forge_test_host *th = ht_new(&forge_app_entry, SLOW_CFG);
    forge_test_response slow_res[NSLOW];
    forge_test_call *calls[NSLOW];
    forge_error err;
    for (int i = 0; i < NSLOW; i++) {
        forge_test_response_init(&slow_res[i]);
        calls[i] = forge_test_begin(th, "GET", "/slow?ms=150", NULL, NULL, 0, &slow_res[i], &err);
        assert_non_null(calls[i]);
    }
    /* 16 x 150 ms on 4 threads take 600 ms; meanwhile the host thread keeps answering. */
    forge_test_response res;
    forge_test_response_init(&res);
    for (int i = 0; i < 200; i++) {
        ht_req(th, "GET", i % 2 ? "/hello" : "/users/7", NULL, NULL, &res);
        assert_int_equal(res.status, 200);
        assert_false(res.async);
    }
    int pending = 0;
    for (int i = 0; i < NSLOW; i++)
        pending += !forge_test_call_poll(calls[i]);
    assert_true(pending > 0);
    for (int i = 0; i < NSLOW; i++) {
        assert_int_equal(forge_test_call_wait(calls[i], 0), 0);
        assert_int_equal(slow_res[i].status, 200);
        assert_string_equal(slow_res[i].body, "slow\n");
        forge_test_call_free(calls[i]);
        forge_test_response_free(&slow_res[i]);
    }
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

static void check_chunks(const forge_test_response *res)
{
    assert_int_equal(res->status, 200);
    assert_int_equal(res->content_length, -1);
    assert_string_equal(res->body, "chunk 1\nchunk 2\nchunk 3\n");
    assert_int_equal(res->nchunks, 3);
    assert_int_equal(res->chunk_ends[0], 8);
    assert_int_equal(res->chunk_ends[1], 16);
    assert_true(res->nflushes >= 2);
    assert_true(res->complete);
    assert_string_equal(ht_header(res, "Content-Type"), "text/plain; charset=utf-8");
    assert_int_equal(strlen(ht_header(res, "X-Request-ID")), 28);
}

static void test_streaming(void **state)
{
    forge_test_host *th = ht_new(&forge_app_entry, SLOW_CFG);
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "GET", "/stream", NULL, NULL, &res); /* written from the runtime thread */
    check_chunks(&res);
    assert_true(res.async);
    ht_req(th, "GET", "/stream?sync=1", NULL, NULL, &res); /* written inside the handler */
    check_chunks(&res);
    assert_false(res.async);
    ht_req(th, "HEAD", "/stream", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.content_length, -1);
    assert_int_equal(res.body_len, 0);
    assert_true(res.complete);

    /* Step by step: the head arrives before the chunks do. */
    forge_error err;
    forge_test_call *c = forge_test_begin(th, "GET", "/stream", NULL, NULL, 0, &res, &err);
    assert_non_null(c);
    size_t seen_partial = 0;
    while (!forge_test_call_poll(c)) {
        assert_int_equal(forge_test_call_wait_wake(c, 0), 0);
        if (res.status == 200 && !res.complete && res.nchunks < 3)
            seen_partial++;
    }
    assert_true(seen_partial > 0);
    check_chunks(&res);
    forge_test_call_free(c);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

static void test_abort_blocking(void **state)
{
    forge_test_host *th = ht_new(&forge_app_entry, SLOW_CFG);
    forge_test_response res, r2;
    forge_test_response_init(&res);
    forge_test_response_init(&r2);
    forge_error err;
    /* The client goes away while the handler sleeps on the pool: the core keeps the request
     * alive for the handler, then frees it without touching the (freed) host request. */
    for (int i = 0; i < 8; i++) {
        forge_test_call *c = forge_test_begin(th, "GET", "/slow?ms=50", NULL, NULL, 0, &res, &err);
        assert_non_null(c);
        forge_test_call_abort(c);
    }
    ht_req(th, "GET", "/hello", NULL, NULL, &r2);
    assert_int_equal(r2.status, 200);
    forge_test_host_free(th);        /* drains the pool: every aborted handler finishes */
    assert_int_equal(res.status, 0); /* nothing was sent for the aborted ones */
    forge_test_response_free(&res);
    forge_test_response_free(&r2);
}

static void test_abort_stream(void **state)
{
    forge_test_host *th = ht_new(&forge_app_entry, SLOW_CFG);
    forge_test_response res;
    forge_test_response_init(&res);
    forge_error err;
    forge_test_call *c = forge_test_begin(th, "GET", "/stream", NULL, NULL, 0, &res, &err);
    assert_non_null(c);
    assert_int_equal(forge_test_call_wait_wake(c, 0), 0);
    forge_test_call_abort(c); /* the producer sees FORGE_ECANCELED and ends the stream */
    forge_test_response res2;
    forge_test_response_init(&res2);
    ht_req(th, "GET", "/stream", NULL, NULL, &res2);
    check_chunks(&res2);
    forge_test_response_free(&res2);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

static void test_pool_full(void **state)
{
    forge_test_host *th =
        ht_new(&forge_app_entry, HT_QUIET "runtime:\n  pool_threads: 1\n  pool_queue_max: 1\n");
    forge_test_response res[6];
    forge_test_call *calls[6];
    forge_error err;
    int busy = 0;
    for (int i = 0; i < 6; i++) {
        forge_test_response_init(&res[i]);
        calls[i] = forge_test_begin(th, "GET", "/slow?ms=100", NULL, NULL, 0, &res[i], &err);
        assert_non_null(calls[i]);
    }
    for (int i = 0; i < 6; i++) {
        assert_int_equal(forge_test_call_wait(calls[i], 0), 0);
        if (res[i].status == 503) {
            busy++;
            assert_string_equal(ht_header(&res[i], "Retry-After"), "1");
        } else {
            assert_int_equal(res[i].status, 200);
        }
        forge_test_call_free(calls[i]);
        forge_test_response_free(&res[i]);
    }
    assert_true(busy >= 1); /* a full queue answers 503 rather than queueing without bound */
    forge_test_host_free(th);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_route),       cmocka_unit_test(test_blocking_on_pool),
        cmocka_unit_test(test_blocking_in_place), cmocka_unit_test(test_concurrent_blocking),
        cmocka_unit_test(test_streaming),         cmocka_unit_test(test_abort_blocking),
        cmocka_unit_test(test_abort_stream),      cmocka_unit_test(test_pool_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
