/*
 * Tracing: traceparent parsing (valid and invalid forms), formatting,
 * ratio sampling, trace and span ids on requests and in log lines, export
 * of spans with the right parents to a real OTLP/HTTP receiver (a small
 * HTTP server on a thread of this test), and the JSON access log file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_parse(void **state)
{
    forge_trace_ctx c;
    assert_int_equal(forge_traceparent_parse(TP, strlen(TP), &c), 0);
    assert_int_equal(c.trace_id[0], 0x4b);
    assert_int_equal(c.trace_id[15], 0x36);
    assert_int_equal(c.span_id[7], 0xb7);
    assert_int_equal(c.flags, 1);
    char buf[64];
    assert_int_equal(forge_traceparent_format(&c, buf, sizeof(buf)), 55);
    assert_string_equal(buf, TP);
    assert_int_equal(forge_traceparent_format(&c, buf, 55), FORGE_ERANGE);
    /* A later version may append fields after a '-'. */
    const char *v1 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra";
    assert_int_equal(forge_traceparent_parse(v1, strlen(v1), &c), 0);
    assert_int_equal(c.flags, 0);
    static const char *const bad[] = {
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* uppercase */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero span id */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 with more */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  /* no '-' after */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    /* short */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",   /* flags */
        "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version */
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (forge_traceparent_parse(bad[i], strlen(bad[i]), &c) != FORGE_EPARSE)
            fail_msg("accepted %s", bad[i]);
}

static void test_sampling(void **state)
{
    uint8_t id[16] = {0};
    int hits = 0, n = 20000;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 16; k++)
            id[k] = (uint8_t)rand();
        assert_false(forge_trace_sampled_by_ratio(id, 0));
        assert_true(forge_trace_sampled_by_ratio(id, 1));
        bool s = forge_trace_sampled_by_ratio(id, 0.25);
        assert_true(s == forge_trace_sampled_by_ratio(id, 0.25)); /* decided by the id */
        hits += s;
    }
    assert_in_range(hits, n / 4 - 1000, n / 4 + 1000);
    memset(id, 0, 16);
    assert_true(forge_trace_sampled_by_ratio(id, 0.001));
    memset(id + 8, 0xff, 8);
    assert_false(forge_trace_sampled_by_ratio(id, 0.999));
}

/* ---- an app with a child span, and a log sink to look at lines ---- */

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

static int h_work(forge_req *req, void *u)
{
    forge_span *s = forge_req_span_start(req, "db.query");
    forge_span_set_str(s, "db.system", "postgresql");
    forge_span_set_int(s, "rows", 3);
    char tp[64];
    assert_int_equal(forge_span_traceparent(s, tp, sizeof(tp)), 55);
    forge_span_end(s);
    forge_logf(forge_app_log(forge_req_app(req)), FORGE_LOG_WARN, req, "working");
    return forge_res_text(req, 200, forge_req_trace_id(req));
}

static int app_init(forge_app *app, forge_error *err)
{
    forge_log_set_sink(forge_app_log(app), sink, NULL);
    return forge_app_route(app, "GET", "/work/:n", h_work, NULL, NULL, err);
}

static const struct forge_app_entry entry = {
    FORGE_ABI_VERSION, sizeof(struct forge_app_entry), "tr", "1.0", app_init, {0}};

static void test_request_ids_and_logs(void **state)
{
    log_text[0] = '\0';
    forge_test_host *th = ht_new(&entry, "log:\n  level: warn\n  format: json\n");
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "GET", "/work/1", (const char *const[]){"traceparent: " TP, NULL}, NULL, &res);
    assert_string_equal(res.body, "4bf92f3577b34da6a3ce929d0e0e4736");
    ht_req(th, "GET", "/work/2", NULL, NULL, &res);
    assert_int_equal(strlen(res.body), 32);
    assert_string_not_equal(res.body, "4bf92f3577b34da6a3ce929d0e0e4736");
    /* Two traceparent headers, or a bad one: a new trace. */
    ht_req(th, "GET", "/work/3",
           (const char *const[]){"traceparent: " TP, "traceparent: " TP, NULL}, NULL, &res);
    assert_string_not_equal(res.body, "4bf92f3577b34da6a3ce929d0e0e4736");
    ht_req(th, "GET", "/work/4",
           (const char *const[]){"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-zz", NULL}, NULL,
           &res);
    assert_int_equal(strlen(res.body), 32);
    pthread_mutex_lock(&log_mu);
    const char *l = strstr(log_text, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"");
    assert_non_null(l);
    assert_non_null(strstr(l, "\"span_id\":\""));
    pthread_mutex_unlock(&log_mu);
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

/* ---- a real OTLP/HTTP receiver ---- */

typedef struct receiver {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    char *bodies; /* all bodies received, one per line */
    size_t len;
    int posts;
} receiver;

static void *serve(void *arg)
{
    receiver *r = arg;
    for (;;) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char *buf = malloc(1 << 20);
        size_t n = 0, want = 0, hdr = 0;
        while (n < (1 << 20) - 1) {
            ssize_t k = read(c, buf + n, (1 << 20) - 1 - n);
            if (k <= 0)
                break;
            n += (size_t)k;
            buf[n] = '\0';
            char *e = strstr(buf, "\r\n\r\n");
            if (e && !hdr) {
                hdr = (size_t)(e - buf) + 4;
                char *cl = strcasestr(buf, "content-length:");
                want = cl ? (size_t)atol(cl + 15) : 0;
            }
            if (hdr && n >= hdr + want)
                break;
        }
        const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        ssize_t w = write(c, ok, sizeof(ok) - 1);
        (void)w;
        close(c);
        pthread_mutex_lock(&r->mu);
        if (hdr) {
            r->bodies = realloc(r->bodies, r->len + (n - hdr) + 2);
            memcpy(r->bodies + r->len, buf + hdr, n - hdr);
            r->len += n - hdr;
            r->bodies[r->len++] = '\n';
            r->bodies[r->len] = '\0';
            r->posts++;
        }
        pthread_mutex_unlock(&r->mu);
        free(buf);
    }
}

static void receiver_start(receiver *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(r->fd, (struct sockaddr *)&a, &al);
    r->port = ntohs(a.sin_port);
    listen(r->fd, 16);
    pthread_create(&r->thread, NULL, serve, r);
}

static void receiver_stop(receiver *r)
{
    shutdown(r->fd, SHUT_RDWR);
    close(r->fd);
    pthread_join(r->thread, NULL);
    free(r->bodies);
    pthread_mutex_destroy(&r->mu);
}

/* The span named `name` in trace `trace` from everything received, or NULL. */
static json_t *find_span(receiver *r, const char *trace, const char *name)
{
    pthread_mutex_lock(&r->mu);
    char *copy = r->bodies ? strdup(r->bodies) : NULL;
    pthread_mutex_unlock(&r->mu);
    json_t *found = NULL;
    for (char *line = copy, *next; line && *line && !found; line = next) {
        next = strchr(line, '\n');
        *next++ = '\0';
        json_t *doc = json_loads(line, 0, NULL);
        assert_non_null(doc);
        json_t *rs = json_array_get(json_object_get(doc, "resourceSpans"), 0);
        json_t *spans =
            json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "spans");
        size_t i;
        json_t *s;
        json_array_foreach(spans, i, s)
        {
            if (strcmp(json_string_value(json_object_get(s, "traceId")), trace) == 0 &&
                strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
                found = json_incref(s);
        }
        json_decref(doc);
    }
    free(copy);
    return found;
}

static json_t *wait_span(receiver *r, const char *trace, const char *name)
{
    json_t *s = NULL;
    for (int i = 0; i < 1000 && !(s = find_span(r, trace, name)); i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    return s;
}

static void test_export_with_parents(void **state)
{
    receiver r;
    receiver_start(&r);
    char cfg[512];
    snprintf(cfg, sizeof(cfg),
             HT_QUIET "observe:\n  trace:\n    endpoint: http://127.0.0.1:%d/v1/traces\n"
                      "    flush_interval: 20ms\n    service_name: svc-a\n",
             r.port);
    forge_test_host *th = ht_new(&entry, cfg);
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "GET", "/work/7",
           (const char *const[]){"traceparent: " TP, "tracestate: vendor=abc", NULL}, NULL, &res);
    /* Not sampled by the parent: not exported. */
    ht_req(th, "GET", "/work/8",
           (const char *const[]){
               "traceparent: 00-11111111111111111111111111111111-2222222222222222-00", NULL},
           NULL, &res);
    json_t *server = wait_span(&r, "4bf92f3577b34da6a3ce929d0e0e4736", "GET /work/:n");
    json_t *child = wait_span(&r, "4bf92f3577b34da6a3ce929d0e0e4736", "db.query");
    assert_non_null(server);
    assert_non_null(child);
    assert_string_equal(json_string_value(json_object_get(server, "parentSpanId")),
                        "00f067aa0ba902b7");
    assert_string_equal(json_string_value(json_object_get(child, "parentSpanId")),
                        json_string_value(json_object_get(server, "spanId")));
    assert_string_equal(json_string_value(json_object_get(server, "traceState")), "vendor=abc");
    assert_int_equal(json_integer_value(json_object_get(server, "kind")), 2);
    const char *start = json_string_value(json_object_get(server, "startTimeUnixNano"));
    const char *end = json_string_value(json_object_get(server, "endTimeUnixNano"));
    assert_true(strtoull(end, NULL, 10) >= strtoull(start, NULL, 10));
    char *attrs = json_dumps(json_object_get(server, "attributes"), JSON_COMPACT);
    assert_non_null(
        strstr(attrs, "{\"key\":\"http.route\",\"value\":{\"stringValue\":\"/work/:n\"}}"));
    assert_non_null(
        strstr(attrs, "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"200\"}}"));
    free(attrs);
    pthread_mutex_lock(&r.mu);
    assert_non_null(strstr(r.bodies, "\"stringValue\":\"svc-a\""));
    assert_null(strstr(r.bodies, "11111111111111111111111111111111"));
    pthread_mutex_unlock(&r.mu);
    json_decref(server);
    json_decref(child);
    forge_test_response_free(&res);
    forge_test_host_free(th);
    receiver_stop(&r);
}

static void test_access_log_file(void **state)
{
    char path[] = "/tmp/forge_access_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char cfg[256];
    snprintf(cfg, sizeof(cfg), HT_QUIET "observe:\n  access_log:\n    path: %s\n", path);
    forge_test_host *th = ht_new(&entry, cfg);
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(
        th, "GET", "/work/9",
        (const char *const[]){"traceparent: " TP, "X-Request-ID: rq-1", "User-Agent: t\"x", NULL},
        NULL, &res);
    forge_test_response_free(&res);
    forge_test_host_free(th);
    FILE *f = fopen(path, "r");
    char line[4096];
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    unlink(path);
    json_t *j = json_loads(line, 0, NULL);
    if (!j)
        fail_msg("not JSON: %s", line);
    assert_string_equal(json_string_value(json_object_get(j, "route")), "/work/:n");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/work/9");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "bytes")), 32);
    assert_string_equal(json_string_value(json_object_get(j, "request_id")), "rq-1");
    assert_string_equal(json_string_value(json_object_get(j, "trace_id")),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(strlen(json_string_value(json_object_get(j, "span_id"))), 16);
    assert_string_equal(json_string_value(json_object_get(j, "user_agent")), "t\"x");
    assert_true(json_number_value(json_object_get(j, "duration_ms")) >= 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_request_ids_and_logs),
        cmocka_unit_test(test_export_with_parents),
        cmocka_unit_test(test_access_log_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
