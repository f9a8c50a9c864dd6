/*
 * The request API as handlers see it, on the test host: headers (case,
 * repeats, order), query decoding and repeats, route parameters, path
 * decoding, JSON bodies with the depth limit, request values and their free
 * callbacks, and the response builders (headers, bodies, problem+json).
 * Handlers assert directly: non-blocking routes run on the test's thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"

#include <arpa/inet.h>
#include <forge/host.h>

static int frees;

static void count_free(void *p)
{
    frees++;
    (void)p;
}

static int h_headers(forge_req *req, void *u)
{
    forge_str v;
    assert_true(forge_req_header(req, "x-multi", &v));
    assert_int_equal(v.n, 3);
    assert_memory_equal(v.p, "one", 3);
    forge_str all[4];
    assert_int_equal(forge_req_header_values(req, "X-MULTI", all, 4), 3);
    assert_memory_equal(all[1].p, "two", 3);
    assert_memory_equal(all[2].p, "three", 5);
    assert_int_equal(forge_req_header_values(req, "x-multi", all, 1), 3); /* total, 1 copied */
    assert_false(forge_req_header(req, "x-absent", &v));
    assert_false(forge_req_header(req, "x-mult", &v)); /* no prefix matches */
    assert_int_equal(forge_req_header_count(req), 4);
    forge_header h;
    assert_true(forge_req_header_at(req, 3, &h));
    assert_memory_equal(h.name.p, "Accept", 6);
    assert_false(forge_req_header_at(req, 4, &h));
    return forge_res_text(req, 200, "ok");
}

static int h_query(forge_req *req, void *u)
{
    forge_str v;
    assert_true(forge_req_query_param(req, "q", &v));
    assert_int_equal(v.n, 7);
    assert_memory_equal(v.p, "a b&c=d", 7);
    forge_str tags[3];
    assert_int_equal(forge_req_query_values(req, "tag", tags, 3), 2);
    assert_memory_equal(tags[0].p, "x", 1);
    assert_memory_equal(tags[1].p, "y z", 3);
    assert_true(forge_req_query_param(req, "empty", &v));
    assert_int_equal(v.n, 0);
    assert_true(forge_req_query_param(req, "ü", &v)); /* decoded key */
    assert_false(forge_req_query_param(req, "missing", &v));
    forge_str raw = forge_req_query(req);
    assert_true(raw.n > 0 && memchr(raw.p, '%', raw.n)); /* the raw query stays encoded */
    return forge_res_text(req, 200, "ok");
}

static int h_params(forge_req *req, void *u)
{
    forge_str org = forge_req_param(req, "org"), rest = forge_req_param(req, "rest");
    assert_int_equal(org.n, 5);
    assert_memory_equal(org.p, "a org", 5);
    assert_int_equal(rest.n, 7);
    assert_memory_equal(rest.p, "x/y z/w", 7);
    assert_null(forge_req_param(req, "nope").p);
    assert_string_equal(forge_req_route_pattern(req), "/orgs/:org/files/*rest");
    forge_str path = forge_req_path(req);
    assert_int_equal(path.n, strlen("/orgs/a org/files/x/y z/w"));
    assert_memory_equal(path.p, "/orgs/a org/files/x/y z/w", path.n);
    forge_str raw = forge_req_raw_path(req);
    assert_memory_equal(raw.p, "/orgs/a%20org/files/x/y%20z/w", raw.n);
    assert_int_equal(forge_req_method(req), FORGE_METHOD_GET);
    assert_memory_equal(forge_req_method_str(req).p, "GET", 3);
    assert_memory_equal(forge_req_peer(req).p, "127.0.0.1", 9);
    assert_memory_equal(forge_req_scheme(req).p, "http", 4);
    assert_string_equal(forge_req_host_kind(req), "test");
    assert_non_null(forge_req_app(req));
    return forge_res_text(req, 200, "ok");
}

static int h_json(forge_req *req, void *u)
{
    forge_error err;
    forge_error_clear(&err);
    json_t *j = forge_req_json(req, &err);
    if (!j)
        return forge_res_problem(req, err.code == FORGE_ETOOBIG ? 413 : 400, NULL, err.message);
    assert_ptr_equal(forge_req_json(req, NULL), j); /* parsed once, owned by the request */
    json_t *out = json_pack("{s:O}", "got", j);
    int rc = forge_res_json(req, 201, out);
    json_decref(out);
    return rc;
}

static int h_values(forge_req *req, void *u)
{
    static int a, b, c;
    assert_int_equal(forge_req_set_value(req, "k1", &a, count_free), 0);
    assert_int_equal(forge_req_set_value(req, "k2", &b, count_free), 0);
    assert_ptr_equal(forge_req_value(req, "k1"), &a);
    assert_int_equal(forge_req_set_value(req, "k1", &c, count_free), 0); /* frees &a */
    assert_int_equal(frees, 1);
    assert_ptr_equal(forge_req_value(req, "k1"), &c);
    assert_null(forge_req_value(req, "k3"));
    char *p = forge_req_alloc(req, 100);
    assert_non_null(p);
    memset(p, 1, 100);
    assert_ptr_equal(forge_req_arena(req) != NULL, 1);
    forge_req_set_trace_id(req, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(forge_req_trace_id(req), "4bf92f3577b34da6a3ce929d0e0e4736");
    return forge_res_text(req, 200, "ok");
}

static int h_builders(forge_req *req, void *u)
{
    assert_int_equal(forge_res_header(req, "X-A", "1"), 0);
    assert_int_equal(forge_res_header(req, "X-A", "2"), 0);
    assert_int_equal(forge_res_header(req, "X-B", "gone"), 0);
    forge_res_remove_header(req, "x-b");
    assert_false(forge_res_has_header(req, "X-B"));
    assert_int_equal(forge_res_set_header(req, "X-C", "1"), 0);
    assert_int_equal(forge_res_set_header(req, "x-c", "2"), 0);
    /* Refused: framing headers, response splitting, bad names. */
    assert_int_equal(forge_res_header(req, "Content-Length", "5"), FORGE_EINVAL);
    assert_int_equal(forge_res_header(req, "Transfer-Encoding", "chunked"), FORGE_EINVAL);
    assert_int_equal(forge_res_header(req, "X-Evil", "a\r\nSet-Cookie: x"), FORGE_EINVAL);
    assert_int_equal(forge_res_header(req, "Bad Name", "x"), FORGE_EINVAL);
    forge_res_status(req, 202);
    assert_int_equal(forge_res_get_status(req), 202);
    forge_res_status(req, 42); /* out of range: ignored */
    assert_int_equal(forge_res_get_status(req), 202);
    assert_int_equal(forge_res_body_static(req, "static", 6), 0);
    assert_int_equal(forge_res_append(req, "+more", 5), 0); /* copies the static part */
    for (int i = 0; i < 100; i++)
        assert_int_equal(forge_res_append(req, "0123456789", 10), 0);
    return FORGE_OK;
}

static int h_problem_ex(forge_req *req, void *u)
{
    json_t *extra = json_pack("{s:s,s:i}", "field", "email", "status", 999);
    int rc = forge_res_problem_ex(req, 422, "https://example.test/probs/invalid", NULL,
                                  "email is malformed", extra);
    json_decref(extra);
    return rc;
}

static int init(forge_app *app, forge_error *err)
{
    int rc = 0;
    if ((rc = forge_app_route(app, "GET", "/headers", h_headers, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/query", h_query, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/orgs/:org/files/*rest", h_params, NULL, NULL, err)) <
            0 ||
        (rc = forge_app_route(app, "POST", "/json", h_json, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/values", h_values, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/builders", h_builders, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/problem", h_problem_ex, NULL, NULL, err)) < 0)
        return rc;
    return 0;
}
HT_ENTRY(entry, "reqtest", init);

static int setup(void **state)
{
    *state = ht_new(&entry, HT_QUIET "http:\n  json_max_depth: 8\n");
    return 0;
}

static int teardown(void **state)
{
    forge_test_host_free(*state);
    return 0;
}

static void test_headers(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    const char *h[] = {"X-Multi: one", "x-multi: two", "X-MULTI:   three", "Accept: */*", NULL};
    ht_req(*state, "GET", "/headers", h, NULL, &res);
    assert_int_equal(res.status, 200);
    forge_test_response_free(&res);
}

static void test_query(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "GET", "/query?q=a+b%26c%3Dd&tag=x&tag=y%20z&empty&%C3%BC=1", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    forge_test_response_free(&res);
}

static void test_params_and_path(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "GET", "/orgs/a%20org/files/x/y%20z/w", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    forge_test_response_free(&res);
}

static void test_json_body(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "POST", "/json", NULL, "{\"a\":[1,2,{\"b\":\"]\"}]}", &res);
    assert_int_equal(res.status, 201);
    assert_string_equal(res.body, "{\"got\":{\"a\":[1,2,{\"b\":\"]\"}]}}");
    assert_string_equal(ht_header(&res, "Content-Type"), "application/json");

    ht_req(*state, "POST", "/json", NULL, "{\"a\":", &res);
    json_t *p = ht_problem(&res, 400, "/json");
    assert_non_null(strstr(json_string_value(json_object_get(p, "detail")), "invalid JSON"));
    json_decref(p);

    ht_req(*state, "POST", "/json", NULL, "", &res);
    assert_int_equal(res.status, 400);
    ht_req(*state, "POST", "/json", NULL, "{\"a\":1,\"a\":2}", &res); /* duplicate keys */
    assert_int_equal(res.status, 400);

    /* Depth 8 passes, 9 is refused before parsing; brackets in strings do not count. */
    ht_req(*state, "POST", "/json", NULL, "[[[[[[[[\"[[[[[[\"]]]]]]]]", &res);
    assert_int_equal(res.status, 201);
    ht_req(*state, "POST", "/json", NULL, "[[[[[[[[[1]]]]]]]]]", &res);
    p = ht_problem(&res, 413, "/json");
    assert_non_null(strstr(json_string_value(json_object_get(p, "detail")), "deeper than 8"));
    json_decref(p);
    forge_test_response_free(&res);
}

static void test_values_freed(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    frees = 0;
    ht_req(*state, "GET", "/values", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(frees, 3); /* the replaced one, then both at the request's end */
    forge_test_response_free(&res);
}

static void test_builders(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "GET", "/builders", NULL, NULL, &res);
    assert_int_equal(res.status, 202);
    assert_int_equal(res.body_len, 6 + 5 + 1000);
    assert_memory_equal(res.body, "static+more0123456789", 21);
    size_t na = 0;
    for (size_t i = 0; i < res.nheaders; i++) {
        if (strcmp(res.headers[i].name.p, "X-A") == 0)
            na++;
        assert_true(strcasecmp(res.headers[i].name.p, "X-B") != 0);
    }
    assert_int_equal(na, 2);
    assert_string_equal(ht_header(&res, "X-C"), "2");
    forge_test_response_free(&res);
}

static void test_problem_ex(void **state)
{
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(*state, "GET", "/problem", NULL, NULL, &res);
    assert_int_equal(res.status, 422);
    json_t *p = json_loads(res.body, 0, NULL);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "type")),
                        "https://example.test/probs/invalid");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Unprocessable Content");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 422); /* not overridden */
    assert_string_equal(json_string_value(json_object_get(p, "field")), "email");
    assert_string_equal(json_string_value(json_object_get(p, "instance")), "/problem");
    json_decref(p);
    forge_test_response_free(&res);
}

/* A host's socket address is formatted only when asked for, then kept; a parsed method. */
static void test_peer_addr(void **state)
{
    forge_req *req = forge_req_new(forge_test_host_host(*state), NULL);
    assert_non_null(req);
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(40001)};
    inet_pton(AF_INET, "192.0.2.105", &in4.sin_addr);
    forge_req_set_peer_addr(req, (const struct sockaddr *)&in4);
    assert_int_equal(forge_req_peer_port(req), 40001);
    forge_str p = forge_req_peer(req);
    assert_int_equal(p.n, strlen("192.0.2.105"));
    assert_memory_equal(p.p, "192.0.2.105", p.n);
    assert_ptr_equal(forge_req_peer(req).p, p.p); /* formatted once */
    in4.sin_addr.s_addr = htonl(0x0a00000a);      /* 10.0.0.10: digits 1 and 2 wide */
    forge_req_set_peer_addr(req, (const struct sockaddr *)&in4);
    p = forge_req_peer(req);
    assert_int_equal(p.n, strlen("10.0.0.10"));
    assert_memory_equal(p.p, "10.0.0.10", p.n);

    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(8443)};
    inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
    forge_req_set_peer_addr(req, (const struct sockaddr *)&in6);
    assert_int_equal(forge_req_peer_port(req), 8443);
    p = forge_req_peer(req);
    assert_int_equal(p.n, strlen("[2001:db8::1]"));
    assert_memory_equal(p.p, "[2001:db8::1]", p.n);

    struct sockaddr un = {.sa_family = AF_UNIX};
    forge_req_set_peer_addr(req, &un); /* not an IP: ignored */
    assert_memory_equal(forge_req_peer(req).p, "[2001:db8::1]", p.n);
    forge_req_set_method_id(req, FORGE_METHOD_PATCH); /* a host's parsed method */
    assert_int_equal(forge_req_method(req), FORGE_METHOD_PATCH);
    assert_int_equal(forge_req_method_str(req).n, 5);
    assert_memory_equal(forge_req_method_str(req).p, "PATCH", 5);
    forge_req_set_method_id(req, (forge_method)42);
    assert_int_equal(forge_req_method(req), FORGE_METHOD_UNKNOWN);
    forge_req_set_peer(req, "unix", 4, 0); /* text replaces the address */
    assert_memory_equal(forge_req_peer(req).p, "unix", 4);
    assert_int_equal(forge_req_peer_port(req), 0);
    forge_req_release(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),         cmocka_unit_test(test_query),
        cmocka_unit_test(test_params_and_path), cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_values_freed),    cmocka_unit_test(test_builders),
        cmocka_unit_test(test_problem_ex),      cmocka_unit_test(test_peer_addr),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
