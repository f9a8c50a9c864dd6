/*
 * Metrics: the exposition format (escaping, histograms, types), validation,
 * the series limit and its overflow series, exact sums under concurrent
 * updates from threads and from forked worker processes, the automatic HTTP
 * metrics and the /_/metrics endpoint on the test host.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"
#include "metrics_impl.h"

#include <math.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static forge_metric *m_jobs, *m_temp, *m_lat, *m_hits, *m_small;

static int h_hello(forge_req *req, void *u)
{
    return forge_res_text(req, 200, "hello\n");
}

static int h_fail(forge_req *req, void *u)
{
    return FORGE_EIO;
}

static int h_echo(forge_req *req, void *u)
{
    forge_str b = forge_req_body(req);
    forge_res_status(req, 201);
    return forge_res_body(req, b.p, b.n);
}

static int app_init(forge_app *app, forge_error *err)
{
    forge_metrics *m = forge_app_metrics(app);
    static const double lat_buckets[] = {0.1, 0.5, 1};
    m_jobs =
        forge_metrics_counter(m,
                              &(forge_metric_opts){.name = "jobs_total",
                                                   .help = "Jobs \\ run.\nSecond line.",
                                                   .labels = (const char *const[]){"queue", NULL}},
                              err);
    m_temp = forge_metrics_gauge(m, &(forge_metric_opts){.name = "temp", .help = "t"}, err);
    m_lat = forge_metrics_histogram(
        m,
        &(forge_metric_opts){
            .name = "lat_seconds", .help = "Latency.", .buckets = lat_buckets, .nbuckets = 3},
        err);
    m_hits = forge_metrics_counter(m, &(forge_metric_opts){.name = "hits_total"}, err);
    m_small = forge_metrics_counter(m,
                                    &(forge_metric_opts){.name = "small_total",
                                                         .labels = (const char *const[]){"k", NULL},
                                                         .max_series = 2},
                                    err);
    if (!m_jobs || !m_temp || !m_lat || !m_hits || !m_small)
        return err->code;
    int rc = forge_app_route(app, "GET", "/hello", h_hello, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/fail", h_fail, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "POST", "/items/:id", h_echo, NULL, NULL, err);
    return rc;
}

static const struct forge_app_entry entry = {
    FORGE_ABI_VERSION, sizeof(struct forge_app_entry), "mt", "1.2.3", app_init, {0}};

static int setup(void **state)
{
    *state = ht_new(&entry, NULL);
    return 0;
}

static int teardown(void **state)
{
    forge_test_host_free(*state);
    return 0;
}

static forge_metrics *metrics_of(void **state)
{
    return forge_app_metrics(forge_test_host_app(*state));
}

static char *render(void **state)
{
    size_t n = 0;
    char *t = forge_metrics_render(metrics_of(state), &n);
    assert_non_null(t);
    assert_int_equal(strlen(t), n);
    return t;
}

static void assert_has(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("exposition lacks:\n%s\n---- in ----\n%s", needle, text);
}

static void test_exposition(void **state)
{
    forge_series_add(forge_metric_labels(m_jobs, (const char *const[]){"mail"}), 3);
    forge_series_inc(forge_metric_labels(m_jobs, (const char *const[]){"a\"b\\c\nd"}));
    forge_series_inc(forge_metric_labels(m_jobs, (const char *const[]){"bad\xff"}));
    forge_gauge_set(m_temp, -2.5);
    forge_histogram_observe(m_lat, 0.1); /* on a bound: le is inclusive */
    forge_histogram_observe(m_lat, 0.3);
    forge_histogram_observe(m_lat, 7);
    forge_counter_add(m_hits, 0.5);
    forge_counter_inc(m_hits);
    char *t = render(state);
    assert_has(t, "# HELP jobs_total Jobs \\\\ run.\\nSecond line.\n# TYPE jobs_total counter\n");
    assert_has(t, "jobs_total{queue=\"mail\"} 3\n");
    assert_has(t, "jobs_total{queue=\"a\\\"b\\\\c\\nd\"} 1\n");
    assert_has(t, "jobs_total{queue=\"bad\xef\xbf\xbd\"} 1\n");
    assert_has(t, "# TYPE temp gauge\ntemp -2.5\n");
    assert_has(t, "# TYPE lat_seconds histogram\n"
                  "lat_seconds_bucket{le=\"0.1\"} 1\n"
                  "lat_seconds_bucket{le=\"0.5\"} 2\n"
                  "lat_seconds_bucket{le=\"1\"} 2\n"
                  "lat_seconds_bucket{le=\"+Inf\"} 3\n"
                  "lat_seconds_sum 7.4\n"
                  "lat_seconds_count 3\n");
    assert_has(t, "# TYPE hits_total counter\nhits_total 1.5\n");
    /* No HELP line for an empty help; overflow series hidden while empty. */
    assert_null(strstr(t, "# HELP hits_total"));
    assert_null(strstr(t, "=\"__overflow__\""));
    /* Every line is a comment or "name{...} value". */
    for (const char *l = t; *l; l = strchr(l, '\n') + 1) {
        assert_true(*l == '#' || (*l >= 'a' && *l <= 'z'));
        assert_non_null(strchr(l, '\n'));
    }
    free(t);
    double sum = 0;
    assert_true(forge_metric_value(m_lat, NULL, &sum) == 3);
    assert_true(fabs(sum - 7.4) < 1e-9);
    assert_true(isnan(forge_metric_value(m_jobs, (const char *const[]){"never"}, NULL)));
}

static void test_validation(void **state)
{
    forge_metrics *m = metrics_of(state);
    forge_error err;
    forge_error_clear(&err);
    assert_null(forge_metrics_counter(m, &(forge_metric_opts){.name = "9bad"}, &err));
    assert_int_equal(err.code, FORGE_EINVAL);
    assert_null(forge_metrics_counter(m, &(forge_metric_opts){.name = "a-b"}, &err));
    assert_null(forge_metrics_counter(
        m, &(forge_metric_opts){.name = "x_total", .labels = (const char *const[]){"__x", NULL}},
        &err));
    assert_null(forge_metrics_histogram(
        m, &(forge_metric_opts){.name = "h", .labels = (const char *const[]){"le", NULL}}, &err));
    assert_non_null(strstr(err.message, "reserved"));
    assert_null(forge_metrics_counter(
        m, &(forge_metric_opts){.name = "d", .labels = (const char *const[]){"a", "a", NULL}},
        &err));
    static const double bad[] = {1, 1};
    assert_null(forge_metrics_histogram(
        m, &(forge_metric_opts){.name = "hb", .buckets = bad, .nbuckets = 2}, &err));
    assert_non_null(strstr(err.message, "increasing"));
    /* Same definition: same handle; another definition: FORGE_EEXIST. */
    assert_ptr_equal(forge_metrics_counter(m, &(forge_metric_opts){.name = "hits_total"}, &err),
                     m_hits);
    assert_null(forge_metrics_gauge(m, &(forge_metric_opts){.name = "hits_total"}, &err));
    assert_int_equal(err.code, FORGE_EEXIST);
    assert_ptr_equal(forge_metrics_find(m, "temp"), m_temp);
    /* The DI entry is the same registry. */
    forge_app *app = forge_test_host_app(*state);
    assert_ptr_equal(
        forge_di_get(forge_app_container(app), "forge.metrics", &forge_type_metrics, &err), m);
}

static void test_overflow(void **state)
{
    const char *keys[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        forge_series_inc(forge_metric_labels(m_small, (const char *const[]){keys[i]}));
    forge_series_inc(forge_metric_labels(m_small, (const char *const[]){"a"}));
    assert_true(forge_metric_value(m_small, (const char *const[]){"a"}, NULL) == 2);
    assert_true(forge_metric_value(m_small, (const char *const[]){"b"}, NULL) == 1);
    assert_true(isnan(forge_metric_value(m_small, (const char *const[]){"c"}, NULL)));
    assert_true(forge_metric_value(m_small, (const char *const[]){FORGE__OVERFLOW}, NULL) == 3);
    forge_metric *ot = forge_metrics_find(metrics_of(state), "forge_metrics_series_overflow_total");
    assert_non_null(ot);
    assert_true(forge_metric_value(ot, (const char *const[]){"small_total"}, NULL) == 3);
    char *t = render(state);
    assert_has(t, "small_total{k=\"__overflow__\"} 3\n");
    assert_has(t, "forge_metrics_series_overflow_total{metric=\"small_total\"} 3\n");
    free(t);
    /* A value too long for a series goes to the overflow series too. */
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    forge_series_inc(forge_metric_labels(m_small, (const char *const[]){big}));
    assert_true(forge_metric_value(m_small, (const char *const[]){FORGE__OVERFLOW}, NULL) == 4);
}

/* A SUM gauge keeps whole steps in an integer cell and the rest as a double: both count. */
static void test_gauge_steps(void **state)
{
    forge_gauge_set(m_temp, 10);
    forge_gauge_add(m_temp, 1);
    forge_gauge_add(m_temp, -3);
    forge_gauge_add(m_temp, 0.5);
    assert_true(forge_metric_value(m_temp, NULL, NULL) == 8.5);
    char *t = render(state);
    assert_has(t, "\ntemp 8.5\n");
    free(t);
    forge_gauge_set(m_temp, 2); /* a set replaces the steps added before it */
    assert_true(forge_metric_value(m_temp, NULL, NULL) == 2);
    forge_gauge_add(m_temp, -5);
    assert_true(forge_metric_value(m_temp, NULL, NULL) == -3);
    forge_gauge_add(m_temp, 1e300); /* not a step an integer holds */
    assert_true(forge_metric_value(m_temp, NULL, NULL) == 1e300 - 5 + 2);
}

#define THREADS 4
#define PER     200000

static void *spin(void *arg)
{
    forge_series s = forge_metric_labels(m_jobs, (const char *const[]){"threads"});
    for (int i = 0; i < PER; i++) {
        forge_series_inc(s);
        forge_histogram_observe(m_lat, 0.2);
        forge_gauge_add(m_temp, 1);
    }
    return NULL;
}

static void test_threads_sum_exactly(void **state)
{
    forge_gauge_set(m_temp, 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, spin, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_true(forge_metric_value(m_jobs, (const char *const[]){"threads"}, NULL) ==
                (double)THREADS * PER);
    assert_true(forge_metric_value(m_lat, NULL, NULL) == (double)THREADS * PER);
    assert_true(forge_metric_value(m_temp, NULL, NULL) == (double)THREADS * PER);
}

#define CHILDREN 4
#define CPER     100000

static void test_processes_sum_exactly(void **state)
{
    forge_metrics *m = metrics_of(state);
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            /* A worker process: its own row, as forge_host_worker_start gives it. */
            forge__metrics_set_worker(m, c + 1);
            forge_series s = forge_metric_labels(m_jobs, (const char *const[]){"procs"});
            char key[8];
            snprintf(key, sizeof(key), "w%d", c);
            for (int i = 0; i < CPER; i++) {
                forge_series_inc(s);
                forge_histogram_observe(m_lat, 0.7);
            }
            /* A label set first seen in a child is registered in shared memory. */
            forge_series_add(forge_metric_labels(m_jobs, (const char *const[]){key}), c + 1);
            _exit(0);
        }
    }
    for (int c = 0; c < CHILDREN; c++) {
        int st = 0;
        assert_int_equal(waitpid(pids[c], &st, 0), pids[c]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_true(forge_metric_value(m_jobs, (const char *const[]){"procs"}, NULL) ==
                (double)CHILDREN * CPER);
    double sum = 0;
    assert_true(forge_metric_value(m_lat, NULL, &sum) == (double)CHILDREN * CPER);
    assert_true(fabs(sum - 0.7 * CHILDREN * CPER) < 1e-3);
    assert_true(forge_metric_value(m_jobs, (const char *const[]){"w3"}, NULL) == 4);
    /* Each child wrote its own row only. */
    const struct mhdr *h = m->hdr;
    assert_true(atomic_load(&h->rows_used) >= CHILDREN + 1);
    uint32_t cell =
        forge__mseries(h, forge__series_find(m, (uint32_t)atomic_load(&m_jobs->fam), "procs", 6))
            ->cell;
    for (int c = 1; c <= CHILDREN; c++)
        assert_int_equal(atomic_load(&forge__mrow(h, (uint32_t)c)[cell]), CPER);
    assert_int_equal(atomic_load(&forge__mrow(h, 0)[cell]), 0);
}

static void test_gauge_aggregation(void **state)
{
    forge_metrics *m = metrics_of(state);
    forge_metric *mx =
        forge_metrics_gauge(m, &(forge_metric_opts){.name = "g_max", .agg = FORGE_GAUGE_MAX}, NULL);
    forge_metric *mn =
        forge_metrics_gauge(m, &(forge_metric_opts){.name = "g_min", .agg = FORGE_GAUGE_MIN}, NULL);
    assert_non_null(mx);
    pid_t p = fork();
    if (p == 0) {
        forge__metrics_set_worker(m, 5);
        forge_gauge_set(mx, 9);
        forge_gauge_set(mn, -3);
        _exit(0);
    }
    waitpid(p, NULL, 0);
    forge_gauge_set(mx, 4);
    forge_gauge_set(mn, 2);
    assert_true(forge_metric_value(mx, NULL, NULL) == 9);
    assert_true(forge_metric_value(mn, NULL, NULL) == -3);
}

static void test_http_metrics(void **state)
{
    forge_test_host *th = *state;
    forge_test_response res;
    forge_test_response_init(&res);
    for (int i = 0; i < 7; i++)
        ht_req(th, "GET", "/hello", NULL, NULL, &res);
    ht_req(th, "GET", "/nope", NULL, NULL, &res);
    ht_req(th, "GET", "/fail", NULL, NULL, &res);
    assert_int_equal(res.status, 500);
    ht_req(th, "POST", "/items/42", NULL, "abcdef", &res);
    ht_req(th, "POST", "/items/43", NULL, "xy", &res);
    forge_metrics *m = metrics_of(state);
    forge_metric *req = forge_metrics_find(m, "forge_http_requests_total");
    forge_metric *dur = forge_metrics_find(m, "forge_http_request_duration_seconds");
    forge_metric *in = forge_metrics_find(m, "forge_http_request_size_bytes");
    assert_true(forge_metric_value(req, (const char *const[]){"GET", "/hello", "200"}, NULL) == 7);
    assert_true(forge_metric_value(dur, (const char *const[]){"GET", "/hello"}, NULL) == 7);
    assert_true(
        forge_metric_value(req, (const char *const[]){"GET", "__unmatched__", "404"}, NULL) == 1);
    assert_true(forge_metric_value(req, (const char *const[]){"GET", "/fail", "500"}, NULL) == 1);
    /* Route template, not the raw path. */
    assert_true(forge_metric_value(req, (const char *const[]){"POST", "/items/:id", "201"}, NULL) ==
                2);
    double bytes = 0;
    assert_true(forge_metric_value(in, (const char *const[]){"POST", "/items/:id"}, &bytes) == 2);
    assert_true(bytes == 8);

    ht_req(th, "GET", "/_/metrics", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(ht_header(&res, "Content-Type"),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_has(res.body,
               "forge_http_requests_total{method=\"GET\",route=\"/hello\",status=\"200\"} 7\n");
    assert_has(res.body,
               "forge_http_request_duration_seconds_count{method=\"GET\",route=\"/hello\"} 7\n");
    assert_has(res.body, "forge_http_requests_in_flight 1\n"); /* the scrape itself */
    assert_has(res.body, "forge_workers 1\n");
    assert_has(res.body,
               "forge_info{app=\"mt\",version=\"1.2.3\",forge_version=\"" FORGE_VERSION_STRING
               "\",host=\"test\"} 1\n");
    assert_has(res.body, "# TYPE forge_runtime_pool_threads gauge\nforge_runtime_pool_threads 4\n");
    forge_test_response_free(&res);
}

static void test_prefix_and_config_errors(void **state)
{
    forge_test_host *th = ht_new(&entry, HT_QUIET "observe:\n  prefix: /admin\n");
    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "GET", "/admin/metrics", NULL, NULL, &res);
    assert_int_equal(res.status, 200);
    ht_req(th, "GET", "/_/metrics", NULL, NULL, &res);
    assert_int_equal(res.status, 404);
    forge_test_response_free(&res);
    forge_test_host_free(th);

    forge_error err;
    forge_error_clear(&err);
    assert_null(
        forge_test_host_new(&entry, HT_QUIET "observe:\n  metrics:\n    max_series: 3\n", &err));
    assert_string_equal(err.key, "observe.metrics.max_series");
    forge_error_clear(&err);
    assert_null(forge_test_host_new(&entry, HT_QUIET "observe:\n  prefix: nope\n", &err));
    assert_string_equal(err.key, "observe.prefix");
    forge_error_clear(&err);
    assert_null(forge_test_host_new(
        &entry, HT_QUIET "observe:\n  metrics:\n    duration_buckets: [1, 0.5]\n", &err));
    assert_string_equal(err.key, "observe.metrics.duration_buckets");

    /* Metrics off: no endpoint, updates are no-ops. */
    th = ht_new(&entry, HT_QUIET "observe:\n  metrics:\n    enabled: false\n");
    forge_test_response_init(&res);
    ht_req(th, "GET", "/_/metrics", NULL, NULL, &res);
    assert_int_equal(res.status, 404);
    forge_counter_inc(m_hits);
    assert_true(isnan(forge_metric_value(m_hits, NULL, NULL)));
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exposition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauge_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_sum_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_processes_sum_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauge_aggregation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_metrics, setup, teardown),
        cmocka_unit_test(test_prefix_and_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
