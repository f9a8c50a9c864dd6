/*
 * Logging: text and JSON lines, typed and secret fields, request and trace
 * ids, level filtering, configuration, the default sink, and whole lines
 * under concurrent emission.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "config_internal.h"
#include "log_internal.h"
#include "request_impl.h"

/* ---- a capturing sink ---- */

typedef struct capture {
    char *lines[64];
    forge_log_level levels[64];
    size_t n;
} capture;

static void capture_sink(void *udata, forge_log_level level, const char *line, size_t len)
{
    capture *c = udata;
    assert_int_equal(strlen(line), len); /* line[len] is NUL */
    if (c->n < 64) {
        c->levels[c->n] = level;
        c->lines[c->n++] = strndup(line, len);
    }
}

static void capture_clear(capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->lines[i]);
    c->n = 0;
}

static forge_log *new_log(capture *c, forge_log_format fmt)
{
    forge_log *log = forge_log_new();
    assert_non_null(log);
    forge_log_set_sink(log, capture_sink, c);
    forge_log_set_format(log, fmt);
    return log;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("\"%s\" contains \"%s\"", hay, needle);
}

/* ---- formats ---- */

static void test_text_format(void **state)
{
    capture c = {0};
    forge_log *log = new_log(&c, FORGE_LOG_TEXT);
    forge_log_emit(log, FORGE_LOG_WARN, NULL, "disk low\nreally",
                   FORGE_LOG_FIELDS(FORGE_F_STR("path", "/var/lib"), FORGE_F_INT("free", -12),
                                    FORGE_F_DBL("ratio", 0.1), FORGE_F_BOOL("ok", false),
                                    FORGE_F_STR("note", "two words \"q\""),
                                    FORGE_F_STR("empty", ""), FORGE_F_STR("nul", NULL),
                                    FORGE_F_SECRET("password", "hunter2")));
    assert_int_equal(c.n, 1);
    const char *l = c.lines[0];
    /* 2024-05-01T12:00:00.123Z */
    assert_true(strlen(l) > 24 && l[4] == '-' && l[10] == 'T' && l[19] == '.' && l[23] == 'Z');
    assert_string_equal(l + 24,
                        " WARN  disk low\\nreally path=/var/lib free=-12 ratio=0.1 ok=false "
                        "note=\"two words \\\"q\\\"\" empty=\"\" nul=null password=***");
    assert_int_equal(c.levels[0], FORGE_LOG_WARN);
    assert_null(strchr(l, '\n'));
    assert_lacks(l, "hunter2");
    capture_clear(&c);
    forge_logf(log, FORGE_LOG_ERROR, NULL, "code %d: %s", 42, "tab\there");
    assert_string_equal(c.lines[0] + 24, " ERROR code 42: tab\\there");
    capture_clear(&c);
    forge_log_free(log);
}

static void test_json_format(void **state)
{
    capture c = {0};
    forge_log *log = new_log(&c, FORGE_LOG_JSON);
    forge_log_emit(log, FORGE_LOG_INFO, NULL, "hi \"there\"\n\x01\xff\xc3\xa9",
                   FORGE_LOG_FIELDS(FORGE_F_STR("s", "a\\b"), FORGE_F_INT("i", INT64_MIN),
                                    FORGE_F_DBL("d", 1e300), FORGE_F_DBL("nan", NAN),
                                    FORGE_F_BOOL("b", true), FORGE_F_SECRET("token", "abc123"),
                                    FORGE_F_STR("null", NULL)));
    assert_int_equal(c.n, 1);
    assert_lacks(c.lines[0], "abc123");
    json_error_t je;
    json_t *o = json_loads(c.lines[0], 0, &je);
    if (!o)
        fail_msg("not JSON: %s (%s)", c.lines[0], je.text);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "msg")),
                        "hi \"there\"\n\x01\xef\xbf\xbd\xc3\xa9");
    assert_int_equal(strlen(json_string_value(json_object_get(o, "ts"))), 24);
    assert_string_equal(json_string_value(json_object_get(o, "s")), "a\\b");
    assert_true(json_integer_value(json_object_get(o, "i")) == INT64_MIN);
    assert_true(json_real_value(json_object_get(o, "d")) == 1e300);
    assert_string_equal(json_string_value(json_object_get(o, "nan")), "NaN");
    assert_true(json_is_true(json_object_get(o, "b")));
    assert_string_equal(json_string_value(json_object_get(o, "token")), "***");
    assert_true(json_is_null(json_object_get(o, "null")));
    assert_null(json_object_get(o, "req_id"));
    json_decref(o);
    capture_clear(&c);
    forge_log_free(log);
}

static void test_long_lines(void **state)
{
    capture c = {0};
    forge_log *log = new_log(&c, FORGE_LOG_JSON);
    size_t n = 100000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    forge_log_emit(log, FORGE_LOG_INFO, NULL, big, FORGE_LOG_FIELDS(FORGE_F_STR("big", big)));
    forge_logf(log, FORGE_LOG_INFO, NULL, "%s", big);
    assert_int_equal(c.n, 2);
    json_t *o = json_loads(c.lines[0], 0, NULL);
    assert_non_null(o);
    assert_int_equal(strlen(json_string_value(json_object_get(o, "big"))), n);
    json_decref(o);
    o = json_loads(c.lines[1], 0, NULL);
    assert_non_null(o);
    assert_int_equal(strlen(json_string_value(json_object_get(o, "msg"))), n);
    json_decref(o);
    free(big);
    capture_clear(&c);
    forge_log_free(log);
}

static void test_request_ids(void **state)
{
    capture c = {0};
    forge_log *log = new_log(&c, FORGE_LOG_JSON);
    forge_req *req = forge__req_alloc(NULL);
    assert_non_null(req);
    snprintf(req->id, sizeof(req->id), "req-42");
    forge_log_emit(log, FORGE_LOG_INFO, req, "no trace", NULL, 0);
    forge_req_set_trace_id(req, "4bf92f3577b34da6a3ce929d0e0e4736");
    forge_log_emit(log, FORGE_LOG_INFO, req, "traced", NULL, 0);
    forge_log_set_format(log, FORGE_LOG_TEXT);
    forge_log_emit(log, FORGE_LOG_INFO, req, "traced", FORGE_LOG_FIELDS(FORGE_F_INT("n", 1)));
    assert_int_equal(c.n, 3);
    json_t *o = json_loads(c.lines[0], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "req_id")), "req-42");
    assert_null(json_object_get(o, "trace_id"));
    json_decref(o);
    o = json_loads(c.lines[1], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "trace_id")),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    json_decref(o);
    assert_contains(c.lines[2],
                    " traced req_id=req-42 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 n=1");
    forge__req_destroy(req);
    capture_clear(&c);
    forge_log_free(log);
}

/* ---- levels ---- */

static void test_levels(void **state)
{
    capture c = {0};
    forge_log *log = new_log(&c, FORGE_LOG_TEXT);
    assert_int_equal(forge_log_get_level(log), FORGE_LOG_INFO);
    assert_false(forge_log_enabled(log, FORGE_LOG_DEBUG));
    assert_true(forge_log_enabled(log, FORGE_LOG_INFO));
    assert_false(forge_log_enabled(log, FORGE_LOG_OFF));
    assert_false(forge_log_enabled(NULL, FORGE_LOG_FATAL));
    forge_log_emit(log, FORGE_LOG_DEBUG, NULL, "hidden", NULL, 0);
    forge_logf(log, FORGE_LOG_TRACE, NULL, "hidden %d", 1);
    forge_log_emit(log, FORGE_LOG_ERROR, NULL, "shown", NULL, 0);
    assert_int_equal(c.n, 1);
    forge_log_set_level(log, FORGE_LOG_TRACE);
    forge_logf(log, FORGE_LOG_TRACE, NULL, "now %s", "shown");
    assert_int_equal(c.n, 2);
    forge_log_set_level(log, FORGE_LOG_OFF);
    forge_log_emit(log, FORGE_LOG_FATAL, NULL, "off", NULL, 0);
    assert_int_equal(c.n, 2);
    forge_log_set_level(log, (forge_log_level)99); /* ignored */
    assert_int_equal(forge_log_get_level(log), FORGE_LOG_OFF);
    forge_log_set_level(log, FORGE_LOG_TRACE);
    forge_log_emit(log, (forge_log_level)-1, NULL, "bad level", NULL, 0);
    forge_log_emit(log, FORGE_LOG_OFF, NULL, "off is not a level to log at", NULL, 0);
    assert_int_equal(c.n, 2);
    capture_clear(&c);
    forge_log_free(log);
}

static void test_level_and_format_names(void **state)
{
    forge_log_level l;
    assert_int_equal(forge_log_level_parse("DEBUG", &l), 0);
    assert_int_equal(l, FORGE_LOG_DEBUG);
    assert_int_equal(forge_log_level_parse("warning", &l), 0);
    assert_int_equal(l, FORGE_LOG_WARN);
    assert_int_equal(forge_log_level_parse("off", &l), 0);
    assert_int_equal(l, FORGE_LOG_OFF);
    assert_int_equal(forge_log_level_parse("loud", &l), FORGE_EINVAL);
    assert_int_equal(forge_log_level_parse(NULL, &l), FORGE_EINVAL);
    assert_string_equal(forge_log_level_name(FORGE_LOG_FATAL), "fatal");
    assert_string_equal(forge_log_level_name((forge_log_level)42), "unknown");
    forge_log_format f;
    assert_int_equal(forge_log_format_parse("JSON", &f), 0);
    assert_int_equal(f, FORGE_LOG_JSON);
    assert_int_equal(forge_log_format_parse("xml", &f), FORGE_EINVAL);
    assert_string_equal(forge_log_format_name(FORGE_LOG_TEXT), "text");
}

/* ---- configuration ---- */

static void test_configure(void **state)
{
    capture c = {0};
    forge_log *log = new_log(&c, FORGE_LOG_TEXT);
    forge_config *cfg = forge_config_new();
    forge_error err;
    forge_error_clear(&err);
    const char *y = "log:\n  level: debug\n  format: json\n";
    assert_int_equal(forge_config_load_string(cfg, y, strlen(y), FORGE_CONFIG_YAML, &err), 0);
    assert_int_equal(forge_log_configure(log, cfg, &err), 0);
    assert_int_equal(forge_log_get_level(log), FORGE_LOG_DEBUG);
    forge_log_emit(log, FORGE_LOG_DEBUG, NULL, "x", NULL, 0);
    assert_int_equal(c.n, 1);
    assert_true(c.lines[0][0] == '{');
    assert_int_equal(forge_config_check_unknown(cfg, &err), 0); /* keys declared */
    /* The environment wins (FORGE_LOG_LEVEL matches the declared key). */
    setenv("FORGE_LOG_LEVEL", "error", 1);
    assert_int_equal(forge_log_configure(log, cfg, &err), 0);
    assert_int_equal(forge_log_get_level(log), FORGE_LOG_ERROR);
    unsetenv("FORGE_LOG_LEVEL");
    forge_config_free(cfg);
    /* Bad values name the key and change nothing. */
    cfg = forge_config_new();
    y = "log:\n  level: loud\n";
    assert_int_equal(forge_config_load_string(cfg, y, strlen(y), FORGE_CONFIG_YAML, &err), 0);
    assert_int_equal(forge_log_configure(log, cfg, &err), FORGE_ECONFIG);
    assert_string_equal(err.key, "log.level");
    assert_contains(err.message, "log.level: expected one of trace");
    assert_contains(err.message, "\"loud\"");
    assert_int_equal(forge_log_get_level(log), FORGE_LOG_ERROR);
    forge_config_free(cfg);
    cfg = forge_config_new();
    y = "log:\n  format: [json]\n";
    assert_int_equal(forge_config_load_string(cfg, y, strlen(y), FORGE_CONFIG_YAML, &err), 0);
    assert_int_equal(forge_log_configure(log, cfg, &err), FORGE_ETYPE);
    assert_contains(err.message, "log.format: expected a string, got a list");
    forge_config_free(cfg);
    capture_clear(&c);
    forge_log_free(log);
}

/* ---- concurrency ---- */

#define THREADS    8
#define PER_THREAD 2000

/* A sink that would tear lines if two calls overlapped: it writes byte by byte. */
typedef struct slow_sink {
    atomic_int inside;
    atomic_int overlaps;
    char *buf;
    size_t n, cap;
} slow_sink;

static void slow_sink_fn(void *udata, forge_log_level level, const char *line, size_t len)
{
    slow_sink *s = udata;
    if (atomic_fetch_add(&s->inside, 1) != 0)
        atomic_fetch_add(&s->overlaps, 1);
    for (size_t i = 0; i < len && s->n < s->cap; i++) {
        s->buf[s->n++] = line[i];
        if (i % 64 == 0)
            sched_yield();
    }
    if (s->n < s->cap)
        s->buf[s->n++] = '\n';
    atomic_fetch_sub(&s->inside, 1);
}

typedef struct worker {
    forge_log *log;
    int id;
} worker;

static void *emit_many(void *arg)
{
    worker *w = arg;
    char pad[300];
    memset(pad, 'a' + w->id, sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < PER_THREAD; i++)
        forge_log_emit(w->log, FORGE_LOG_INFO, NULL, "concurrent",
                       FORGE_LOG_FIELDS(FORGE_F_INT("t", w->id), FORGE_F_INT("i", i),
                                        FORGE_F_STR("pad", pad)));
    return NULL;
}

/* Every line parses as JSON and each thread's lines are all there, in order. */
static void check_lines(char *text, size_t len)
{
    int next[THREADS] = {0};
    size_t lines = 0;
    char *save = NULL;
    text[len] = '\0';
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(l, 0, NULL);
        if (!o)
            fail_msg("torn line: %.120s", l);
        int t = (int)json_integer_value(json_object_get(o, "t"));
        int i = (int)json_integer_value(json_object_get(o, "i"));
        assert_true(t >= 0 && t < THREADS);
        assert_int_equal(i, next[t]);
        next[t]++;
        assert_int_equal(strlen(json_string_value(json_object_get(o, "pad"))), 299);
        json_decref(o);
        lines++;
    }
    assert_int_equal(lines, THREADS * PER_THREAD);
}

static void run_threads(forge_log *log)
{
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){log, i};
        assert_int_equal(pthread_create(&th[i], NULL, emit_many, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
}

static void test_concurrent_sink_calls_never_overlap(void **state)
{
    slow_sink s = {0};
    s.cap = (size_t)THREADS * PER_THREAD * 600;
    s.buf = malloc(s.cap + 1);
    forge_log *log = forge_log_new();
    forge_log_set_format(log, FORGE_LOG_JSON);
    forge_log_set_sink(log, slow_sink_fn, &s);
    run_threads(log);
    assert_int_equal(atomic_load(&s.overlaps), 0);
    assert_true(s.n < s.cap);
    check_lines(s.buf, s.n);
    free(s.buf);
    forge_log_free(log);
}

static void test_default_sink_whole_lines(void **state)
{
    char path[] = "/tmp/forge-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    forge_log *log = forge_log_new();
    forge_log_set_format(log, FORGE_LOG_JSON);
    forge_log_set_sink(log, capture_sink, NULL);
    forge_log_set_sink(log, NULL, NULL); /* back to the default */
    run_threads(log);
    forge_log_free(log);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size > 0);
    char *text = malloc((size_t)size + 1);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    close(fd);
    unlink(path);
    check_lines(text, (size_t)size);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_json_format),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_level_and_format_names),
        cmocka_unit_test(test_configure),
        cmocka_unit_test(test_concurrent_sink_calls_never_overlap),
        cmocka_unit_test(test_default_sink_whole_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
