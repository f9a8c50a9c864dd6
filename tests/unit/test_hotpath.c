/*
 * The cheaper request path (ADR 0130) keeps its behaviour: the trace context
 * is made on first use and is the same as an eager one would be, request
 * ids and core-made headers reach the response, header checks still refuse
 * what they refused, the request setters' copies outlive the host's bytes,
 * and the synchronous path takes no lock while async, pool and streamed
 * requests still hand over correctly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"
#include "request_impl.h"

#include <ctype.h>
#include <pthread.h>
#include <strings.h>

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static bool all_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

/* ---- tracing made on first use ---- */

static int h_untouched(forge_req *req, void *u)
{
    /* Nothing read the trace context: nothing was made. */
    bool lazy = req->span == NULL && req->tracer != NULL && req->trace_id_lazy;
    return forge_res_text(req, 200, lazy ? "lazy" : "eager");
}

static int h_ids(forge_req *req, void *u)
{
    const char *tid = forge_req_trace_id(req);
    const char *sid = forge_req_span_id(req);
    forge_span *s = forge_req_span(req);
    char buf[128];
    snprintf(buf, sizeof(buf), "%s %s %d", tid ? tid : "-", sid ? sid : "-",
             s && tid && strcmp(forge_span_trace_id(s), tid) == 0);
    return forge_res_text(req, 200, buf);
}

static int h_set(forge_req *req, void *u)
{
    forge_req_set_trace_id(req, "0123456789abcdef0123456789abcdef");
    forge_span *s = forge_req_span(req); /* made after: keeps the explicit id */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s %d", forge_req_trace_id(req), s != NULL);
    return forge_res_text(req, 200, buf);
}

static int h_set_null(forge_req *req, void *u)
{
    forge_req_set_trace_id(req, NULL);
    return forge_res_text(req, 200, forge_req_trace_id(req) ? "id" : "none");
}

static int h_child(forge_req *req, void *u)
{
    forge_span *c = forge_req_span_start(req, "child");
    assert_non_null(c);
    char tp[64];
    assert_int_equal(forge_span_traceparent(c, tp, sizeof(tp)), 55);
    forge_span_end(c);
    return forge_res_text(req, 200, tp);
}

static int trace_init(forge_app *app, forge_error *err)
{
    int rc = forge_app_route(app, "GET", "/untouched", h_untouched, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/ids", h_ids, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/set", h_set, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/setnull", h_set_null, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/child", h_child, NULL, NULL, err);
    return rc;
}

HT_ENTRY(trace_entry, "lazytrace", trace_init);

static void test_trace_made_on_use(void **state)
{
    forge_test_host *th = ht_new(&trace_entry, NULL);
    forge_test_response res;
    forge_test_response_init(&res);

    ht_req(th, "GET", "/untouched", NULL, NULL, &res);
    assert_string_equal(res.body, "lazy");

    /* A new trace: 32 and 16 hex digits, the span's trace id is the request's. */
    ht_req(th, "GET", "/ids", NULL, NULL, &res);
    char tid[64], sid[64];
    int same = 0;
    assert_int_equal(sscanf(res.body, "%63s %63s %d", tid, sid, &same), 3);
    assert_true(all_hex(tid, 32));
    assert_true(all_hex(sid, 16));
    assert_int_equal(same, 1);

    /* An incoming traceparent is continued, made as late as it is. */
    ht_req(th, "GET", "/ids", (const char *const[]){"traceparent: " TP, NULL}, NULL, &res);
    assert_int_equal(sscanf(res.body, "%63s %63s %d", tid, sid, &same), 3);
    assert_string_equal(tid, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_not_equal(sid, "00f067aa0ba902b7"); /* our own span, child of the caller's */
    assert_int_equal(same, 1);

    /* A child span carries the trace and the parent's sampled flag. */
    ht_req(th, "GET", "/child", (const char *const[]){"traceparent: " TP, NULL}, NULL, &res);
    assert_memory_equal(res.body, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);
    assert_string_equal(res.body + 52, "-01");

    /* An explicit trace id wins over the lazy one, also after the span is made; NULL stays. */
    ht_req(th, "GET", "/set", NULL, NULL, &res);
    assert_string_equal(res.body, "0123456789abcdef0123456789abcdef 1");
    ht_req(th, "GET", "/setnull", NULL, NULL, &res);
    assert_string_equal(res.body, "none");

    forge_test_response_free(&res);
    forge_test_host_free(th);

    /* Tracing off: no context at all. */
    th = ht_new(&trace_entry, "log:\n  level: warn\nobserve:\n  trace:\n    enabled: false\n");
    forge_test_response_init(&res);
    ht_req(th, "GET", "/ids", NULL, NULL, &res);
    assert_string_equal(res.body, "- - 0");
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

/* ---- log lines still carry the trace id (made when the line is written) ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];

static void sink(void *u, forge_log_level lv, const char *line, size_t len)
{
    pthread_mutex_lock(&log_mu);
    size_t n = strlen(log_text);
    if (n + len + 2 < sizeof(log_text)) {
        memcpy(log_text + n, line, len);
        log_text[n + len] = '\n';
        log_text[n + len + 1] = '\0';
    }
    pthread_mutex_unlock(&log_mu);
}

static void test_access_line_has_ids(void **state)
{
    log_text[0] = '\0';
    forge_test_host *th = ht_new(&trace_entry, "log:\n  level: info\n  format: json\n");
    forge_log_set_sink(forge_app_log(forge_test_host_app(th)), sink, NULL);
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "GET", "/untouched", (const char *const[]){"traceparent: " TP, NULL}, NULL, &res);
    assert_string_equal(res.body, "lazy");
    const char *rid = ht_header(&res, "X-Request-ID");
    pthread_mutex_lock(&log_mu);
    const char *l = strstr(log_text, "\"msg\":\"request\"");
    assert_non_null(l);
    assert_non_null(strstr(log_text, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""));
    assert_non_null(strstr(log_text, "\"span_id\":\""));
    char want[96];
    snprintf(want, sizeof(want), "\"req_id\":\"%s\"", rid);
    if (!strstr(log_text, want))
        fail_msg("no %s in %s", want, log_text);
    pthread_mutex_unlock(&log_mu);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

/* ---- request ids and core-made headers ---- */

static int h_text(forge_req *req, void *u)
{
    return forge_res_text(req, 200, forge_req_id(req));
}

static int h_json(forge_req *req, void *u)
{
    json_t *o = json_pack("{s:s}", "scheme", forge_req_scheme(req).p);
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

static int h_headers(forge_req *req, void *u)
{
    /* Refused as before: bad names, CR/LF in values, framing headers. */
    assert_int_equal(forge_res_set_header(req, "Bad Name", "x"), FORGE_EINVAL);
    assert_int_equal(forge_res_set_header(req, "", "x"), FORGE_EINVAL);
    assert_int_equal(forge_res_set_header(req, "X-A", "a\r\nInjected: 1"), FORGE_EINVAL);
    assert_int_equal(forge_res_set_header(req, "X-A", "a\nb"), FORGE_EINVAL);
    assert_int_equal(forge_res_header(req, "Content-Length", "3"), FORGE_EINVAL);
    assert_int_equal(forge_res_header(req, "transfer-encoding", "chunked"), FORGE_EINVAL);
    assert_int_equal(forge_res_header(req, "X-\xc3\xa9", "x"), FORGE_EINVAL);
    assert_int_equal(forge_res_header(req, "X-\x7f", "x"), FORGE_EINVAL);
    assert_int_equal(forge_res_header(req, "X-(", "x"), FORGE_EINVAL);
    /* Every tchar is accepted, and values are copied. */
    char v[8] = "copied";
    assert_int_equal(forge_res_header(req, "!#$%&'*+-.^_`|~09azAZ", v), 0);
    memcpy(v, "XXXXXX", 6);
    /* Content-Type replaced, not repeated. */
    assert_int_equal(forge_res_set_header(req, "content-type", "text/x-first"), 0);
    return forge_res_text(req, 201, "ok");
}

static int h_fail(forge_req *req, void *u)
{
    return FORGE_EIO;
}

static int ids_init(forge_app *app, forge_error *err)
{
    int rc = forge_app_route(app, "GET", "/text", h_text, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/json", h_json, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/headers", h_headers, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/fail", h_fail, NULL, NULL, err);
    return rc;
}

HT_ENTRY(ids_entry, "ids", ids_init);

static size_t header_count(const forge_test_response *res, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < res->nheaders; i++)
        if (res->headers[i].name.n == strlen(name) &&
            strncasecmp(res->headers[i].name.p, name, strlen(name)) == 0)
            n++;
    return n;
}

static void test_ids_and_headers(void **state)
{
    forge_test_host *th = ht_new(&ids_entry, NULL);
    forge_test_response res;
    forge_test_response_init(&res);

    ht_req(th, "GET", "/text", NULL, NULL, &res);
    char first[64];
    snprintf(first, sizeof(first), "%s", ht_header(&res, "X-Request-ID"));
    assert_true(all_hex(first, 28));
    assert_string_equal(res.body, first); /* the header is the request's id */
    assert_string_equal(ht_header(&res, "Content-Type"), "text/plain; charset=utf-8");
    assert_int_equal(header_count(&res, "X-Request-ID"), 1);

    /* Consecutive ids: same process prefix, counter + 1. */
    ht_req(th, "GET", "/text", NULL, NULL, &res);
    const char *second = ht_header(&res, "X-Request-ID");
    assert_true(all_hex(second, 28));
    assert_memory_equal(first, second, 12);
    unsigned long long a = strtoull(first + 12, NULL, 16), b = strtoull(second + 12, NULL, 16);
    assert_true(b == a + 1);

    /* A valid incoming id is kept; an invalid one replaced. */
    ht_req(th, "GET", "/text", (const char *const[]){"x-request-id: abc-123:4@x", NULL}, NULL,
           &res);
    assert_string_equal(ht_header(&res, "X-Request-ID"), "abc-123:4@x");
    assert_string_equal(res.body, "abc-123:4@x");
    ht_req(th, "GET", "/text", (const char *const[]){"X-Request-ID: bad id", NULL}, NULL, &res);
    assert_true(all_hex(ht_header(&res, "X-Request-ID"), 28));

    ht_req(th, "GET", "/json", NULL, NULL, &res);
    assert_string_equal(ht_header(&res, "Content-Type"), "application/json");
    assert_string_equal(res.body, "{\"scheme\":\"http\"}");

    ht_req(th, "GET", "/headers", NULL, NULL, &res);
    assert_int_equal(res.status, 201);
    assert_string_equal(ht_header(&res, "!#$%&'*+-.^_`|~09azAZ"), "copied");
    assert_string_equal(ht_header(&res, "Content-Type"), "text/plain; charset=utf-8");
    assert_int_equal(header_count(&res, "Content-Type"), 1);

    /* A failing handler: problem+json naming the request id of the header. */
    ht_req(th, "GET", "/fail", NULL, NULL, &res);
    json_t *p = ht_problem(&res, 500, "/fail");
    assert_string_equal(json_string_value(json_object_get(p, "request_id")),
                        ht_header(&res, "X-Request-ID"));
    json_decref(p);

    forge_test_response_free(&res);
    forge_test_host_free(th);
}

/* ---- setters: copies outlive the host's bytes ---- */

static void test_setters_copy(void **state)
{
    forge_test_host *th = ht_new(&ids_entry, NULL);
    forge_req *req = forge_req_new(forge_test_host_host(th), NULL);
    assert_non_null(req);
    char method[] = "GET", other[] = "BREW", scheme[] = "https", odd[] = "coap";
    char name[] = "X-Thing", value[] = "v1";
    forge_req_set_method(req, method, 3);
    forge_req_add_header(req, name, strlen(name), value, strlen(value));
    forge_req_add_header(req, "Empty", 5, "", 0);
    forge_req_set_scheme(req, scheme, 5);
    memset(method, 'X', 3);
    memset(name, 'Y', strlen(name));
    memset(value, 'Z', strlen(value));
    memset(scheme, 'W', 5);
    assert_int_equal(forge_req_method(req), FORGE_METHOD_GET);
    forge_str m = forge_req_method_str(req);
    assert_int_equal(m.n, 3);
    assert_string_equal(m.p, "GET");
    forge_str v;
    assert_true(forge_req_header(req, "x-thing", &v));
    assert_int_equal(v.n, 2);
    assert_string_equal(v.p, "v1");
    forge_header h;
    assert_true(forge_req_header_at(req, 0, &h));
    assert_string_equal(h.name.p, "X-Thing");
    assert_true(forge_req_header(req, "Empty", &v));
    assert_int_equal(v.n, 0);
    assert_string_equal(forge_req_scheme(req).p, "https");
    forge_req_set_method(req, other, 4);
    forge_req_set_scheme(req, odd, 4);
    memset(other, 'X', 4);
    memset(odd, 'X', 4);
    assert_int_equal(forge_req_method(req), FORGE_METHOD_UNKNOWN);
    assert_string_equal(forge_req_method_str(req).p, "BREW");
    assert_string_equal(forge_req_scheme(req).p, "coap");
    forge_req_release(req);
    forge_test_host_free(th);
}

/* ---- the lock: skipped only while no other thread can see the request ---- */

static int h_sync(forge_req *req, void *u)
{
    return forge_res_text(req, 200, atomic_load(&req->shared) ? "shared" : "own");
}

static void *finisher(void *arg)
{
    forge_req *req = arg;
    forge_res_text(req, 200, "later");
    forge_req_finish(req);
    return NULL;
}

static int h_async(forge_req *req, void *u)
{
    pthread_t t;
    if (pthread_create(&t, NULL, finisher, req) != 0)
        return FORGE_EIO;
    pthread_detach(t);
    return FORGE_ASYNC;
}

static int h_pool(forge_req *req, void *u)
{
    return forge_res_text(req, 200, atomic_load(&req->shared) ? "pool shared" : "pool own");
}

static int h_stream(forge_req *req, void *u)
{
    int rc = forge_res_stream_begin(req);
    if (rc == 0)
        rc = forge_res_write(req, "a", 1);
    if (rc == 0)
        rc = forge_res_write(req, atomic_load(&req->shared) ? "s" : "o", 1);
    if (rc == 0)
        rc = forge_res_end(req);
    return rc < 0 ? rc : FORGE_ASYNC;
}

static int lock_init(forge_app *app, forge_error *err)
{
    int rc = forge_app_route(app, "GET", "/sync", h_sync, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/async", h_async, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/pool", h_pool, NULL,
                             &(forge_route_opts){.flags = FORGE_ROUTE_BLOCKING}, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/stream", h_stream, NULL, NULL, err);
    return rc;
}

HT_ENTRY(lock_entry, "locks", lock_init);

static void test_shared_only_when_handed_over(void **state)
{
    forge_test_host *th = ht_new(&lock_entry, NULL);
    forge_test_response res;
    forge_test_response_init(&res);
    for (int i = 0; i < 50; i++) {
        ht_req(th, "GET", "/sync", NULL, NULL, &res);
        assert_string_equal(res.body, "own");
        ht_req(th, "GET", "/async", NULL, NULL, &res);
        assert_int_equal(res.status, 200);
        assert_string_equal(res.body, "later");
        ht_req(th, "GET", "/pool", NULL, NULL, &res);
        assert_string_equal(res.body, "pool shared");
        ht_req(th, "GET", "/stream", NULL, NULL, &res);
        assert_string_equal(res.body, "as");
    }
    /* A recycled record starts unshared again. */
    ht_req(th, "GET", "/sync", NULL, NULL, &res);
    assert_string_equal(res.body, "own");
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_made_on_use),
        cmocka_unit_test(test_access_line_has_ids),
        cmocka_unit_test(test_ids_and_headers),
        cmocka_unit_test(test_setters_copy),
        cmocka_unit_test(test_shared_only_when_handed_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
