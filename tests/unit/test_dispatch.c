/*
 * Dispatch on the test host: routing outcomes (200, 404, 405 + Allow,
 * automatic OPTIONS and HEAD, 400 for bad escapes, 501, 413) and the
 * examples/hello routes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"

#include "hello/hello.c"

static int setup(void **state)
{
    *state = ht_new(&forge_app_entry, HT_QUIET "http:\n  max_body_size: 64\n");
    return 0;
}

static int teardown(void **state)
{
    forge_test_host_free(*state);
    return 0;
}

static void test_hello(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "GET", "/hello", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "hello\n");
    assert_int_equal(res.content_length, 6);
    assert_string_equal(ht_header(&res, "content-type"), "text/plain; charset=utf-8");
    assert_int_equal(strlen(ht_header(&res, "X-Request-ID")), 28);
    assert_false(res.async);
    /* The core leaves framing and Date/Server to the host. */
    assert_null(forge_test_response_header(&res, "Content-Length"));
    assert_null(forge_test_response_header(&res, "Date"));
    forge_test_response_free(&res);
}

/* Generated ids: 28 lowercase hex digits, one process prefix, the counter's 16 digits. */
static void test_request_ids(void **state)
{
    char prev[29] = "";
    for (int i = 0; i < 300; i++) {
        forge_test_response res;
        forge_test_response_init(&res);
        ht_req(*state, "GET", "/hello", NULL, NULL, &res);
        const char *id = ht_header(&res, "X-Request-ID");
        assert_int_equal(strlen(id), 28);
        assert_int_equal(strspn(id, "0123456789abcdef"), 28);
        if (prev[0]) {
            assert_memory_equal(id, prev, 12); /* the prefix */
            unsigned long long a = strtoull(prev + 12, NULL, 16), b = strtoull(id + 12, NULL, 16);
            assert_true(b == a + 1); /* the counter, in order, as hex */
        }
        memcpy(prev, id, 29);
        forge_test_response_free(&res);
    }
}

/* Control bytes in a header value (not HTAB): 400 problem+json, wherever they sit. */
static void test_header_control_bytes(void **state)
{
    static const struct {
        const char *header;
        int status;
    } cases[] = {
        {"X-T: a\x01b", 400},
        {"X-T: abcdefgh\x7f", 400},             /* DEL, in the tail after a whole word */
        {"X-T: abcdefg\x1fhijklmnop", 400},     /* inside the first word */
        {"X-T: abcdefghijklmno\x0bp", 400},     /* inside the second word */
        {"X-T: tab\there, tab\tthere", 200},    /* HTAB is allowed */
        {"X-T: caf\xc3\xa9 \xff\xfe ~ !", 200}, /* obs-text and VCHAR */
        {"X-T: ", 200},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        forge_test_response res;
        forge_test_response_init(&res);
        const char *h[] = {cases[i].header, NULL};
        ht_req(*state, "GET", "/hello", h, NULL, &res);
        if (res.status != cases[i].status)
            fail_msg("case %zu: status %d, expected %d", i, res.status, cases[i].status);
        if (cases[i].status == 400)
            assert_string_equal(ht_header(&res, "content-type"), "application/problem+json");
        forge_test_response_free(&res);
    }
}

static void test_user_param(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "GET", "/users/42", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "{\"id\":\"42\"}");
    assert_string_equal(ht_header(&res, "Content-Type"), "application/json");
    ht_req(*state, "GET", "/users/a%20b%2Fc", NULL, NULL, &res);
    assert_string_equal(res.body, "{\"id\":\"a b/c\"}");
    forge_test_response_free(&res);
}

static void test_echo(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    const char *h[] = {"Content-Type: application/x-thing", NULL};
    ht_req(*state, "POST", "/echo", h, "some bytes", &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "some bytes");
    assert_string_equal(ht_header(&res, "Content-Type"), "application/x-thing");
    ht_req(*state, "POST", "/echo", NULL, "", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body_len, 0);
    assert_string_equal(ht_header(&res, "Content-Type"), "application/octet-stream");
    forge_test_response_free(&res);
}

static void test_error_route(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "GET", "/error", NULL, NULL, &res);
    json_t *p = ht_problem(&res, 418, "/error");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "I'm a teapot");
    assert_string_equal(json_string_value(json_object_get(p, "detail")),
                        "This server brews no coffee.");
    json_decref(p);
    forge_test_response_free(&res);
}

static void test_not_found(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "GET", "/nope/x", NULL, NULL, &res);
    json_t *p = ht_problem(&res, 404, "/nope/x");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Not Found");
    json_decref(p);
    /* 404s still pass through app-wide middleware: they carry a request id. */
    assert_int_equal(strlen(ht_header(&res, "X-Request-ID")), 28);
    forge_test_response_free(&res);
}

static void test_method_not_allowed(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "DELETE", "/hello", NULL, NULL, &res);
    json_decref(ht_problem(&res, 405, "/hello"));
    assert_string_equal(ht_header(&res, "Allow"), "GET, HEAD, OPTIONS");
    ht_req(*state, "GET", "/echo", NULL, NULL, &res);
    json_decref(ht_problem(&res, 405, "/echo"));
    assert_string_equal(ht_header(&res, "Allow"), "POST, OPTIONS");
    forge_test_response_free(&res);
}

static void test_options(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "OPTIONS", "/users/7", NULL, NULL, &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(res.body_len, 0);
    assert_string_equal(ht_header(&res, "Allow"), "GET, HEAD, OPTIONS");
    ht_req(*state, "OPTIONS", "/missing", NULL, NULL, &res);
    json_decref(ht_problem(&res, 404, "/missing"));
    forge_test_response_free(&res);
}

static void test_head(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "HEAD", "/hello", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.content_length, 6); /* the GET length */
    assert_int_equal(res.body_len, 0);       /* and no body bytes */
    assert_string_equal(ht_header(&res, "Content-Type"), "text/plain; charset=utf-8");
    ht_req(*state, "HEAD", "/missing", NULL, NULL, &res);
    assert_int_equal(res.status, 404);
    assert_true(res.content_length > 0);
    assert_int_equal(res.body_len, 0);
    forge_test_response_free(&res);
}

static void test_bad_encoding(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    const char *bad[] = {"/users/%zz", "/users/%4", "/hello?q=%g1", "/users/a%00b", "/hel%"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ht_req(*state, "GET", bad[i], NULL, NULL, &res);
        assert_int_equal(res.status, 400);
        json_decref(ht_problem(&res, 400, NULL));
    }
    forge_test_response_free(&res);
}

static void test_unknown_method(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "BREW", "/hello", NULL, NULL, &res);
    json_decref(ht_problem(&res, 501, "/hello"));
    ht_req(*state, "get", "/hello", NULL, NULL, &res); /* methods are case-sensitive */
    assert_int_equal(res.status, 501);
    forge_test_response_free(&res);
}

static void test_body_limit(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    char big[200];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ht_req(*state, "POST", "/echo", NULL, big, &res);
    json_t *p = ht_problem(&res, 413, "/echo");
    assert_non_null(strstr(json_string_value(json_object_get(p, "detail")), "64 bytes"));
    json_decref(p);
    /* A declared length over the limit is refused without the body (the host may skip reading). */
    const char *h[] = {"Content-Length: 100000", NULL};
    ht_req(*state, "POST", "/echo", h, NULL, &res);
    assert_int_equal(res.status, 413);
    /* At the limit it passes. */
    big[64] = '\0';
    ht_req(*state, "POST", "/echo", NULL, big, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body_len, 64);
    forge_test_response_free(&res);
}

/* ---- a per-route limit and the default limit ---- */

static int small(forge_req *req, void *u)
{
    return forge_res_text(req, 200, "ok");
}

static int small_init(forge_app *app, forge_error *err)
{
    forge_route_opts o = {.max_body = 4};
    int rc = forge_app_route(app, "PUT", "/small", small, NULL, &o, err);
    return rc < 0 ? rc : forge_app_route(app, "PUT", "/big", small, NULL, NULL, err);
}
HT_ENTRY(small_entry, "small", small_init);

static void test_route_body_limit(void **state)
{
    forge_test_host *th = ht_new(&small_entry, NULL);
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "PUT", "/small", NULL, "12345", &res);
    assert_int_equal(res.status, 413);
    ht_req(th, "PUT", "/small", NULL, "1234", &res);
    assert_int_equal(res.status, 200);
    /* Default 1 MiB. */
    assert_int_equal(forge_app_config(forge_test_host_app(th)) != NULL, 1);
    static char mib[1024 * 1024 + 2];
    memset(mib, 'a', sizeof(mib) - 1);
    ht_req(th, "PUT", "/big", NULL, mib, &res);
    assert_int_equal(res.status, 413);
    mib[1024 * 1024] = '\0';
    ht_req(th, "PUT", "/big", NULL, mib, &res);
    assert_int_equal(res.status, 200);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_header_control_bytes),
        cmocka_unit_test(test_user_param),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_error_route),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_bad_encoding),
        cmocka_unit_test(test_unknown_method),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_route_body_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
