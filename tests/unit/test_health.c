/*
 * Health: checks from services and custom checks, Kubernetes probe
 * semantics over HTTP (readiness 503 while failing and 200 after recovery,
 * liveness 200 meanwhile), named groups, a hanging check cut at its timeout,
 * change callbacks, the JSON report, validation.
 *
 * Results arrive asynchronously (checks run on the worker's runtime), so the
 * tests wait for a state with a generous deadline; nothing is timed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static _Atomic int flag_state;     /* the "flag" check's result */
static _Atomic int svc_state;      /* the "db" service's health */
static _Atomic int startup_calls;  /* the startup check fails its first two runs */
static _Atomic bool hang_released; /* the "hang" check blocks until set */
static _Atomic int live_state;

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static char events[2048];

static forge_health flag_check(forge_app *app, void *u, forge_error *err)
{
    int st = atomic_load(&flag_state);
    if (st != FORGE_HEALTHY)
        forge_error_set(err, FORGE_EIO, "flag is %d", st);
    return (forge_health)st;
}

static forge_health hang_check(forge_app *app, void *u, forge_error *err)
{
    while (!atomic_load(&hang_released))
        nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
    return FORGE_HEALTHY;
}

static forge_health startup_check(forge_app *app, void *u, forge_error *err)
{
    return atomic_fetch_add(&startup_calls, 1) < 2 ? FORGE_UNHEALTHY : FORGE_HEALTHY;
}

static forge_health live_check(forge_app *app, void *u, forge_error *err)
{
    return (forge_health)atomic_load(&live_state);
}

static forge_health db_health(forge_app *app, void *state, forge_error *err)
{
    return (forge_health)atomic_load(&svc_state);
}

static int db_start(forge_app *app, void *state, forge_error *err)
{
    return 0;
}

static void on_change(forge_app *app, const char *check, forge_health before, forge_health now,
                      const char *msg, void *u)
{
    pthread_mutex_lock(&ev_mu);
    size_t n = strlen(events);
    snprintf(events + n, sizeof(events) - n, "%s:%s>%s;", check ? check : "*",
             forge_health_name(before), forge_health_name(now));
    pthread_mutex_unlock(&ev_mu);
}

static int app_init(forge_app *app, forge_error *err)
{
    forge_health_registry *h = forge_app_health_registry(app);
    int rc = forge_app_service(
        app, &(forge_service_def){.name = "db", .start = db_start, .health = db_health}, err);
    if (rc == 0)
        rc = forge_health_add(h, &(forge_health_check_def){.name = "flag", .fn = flag_check}, err);
    if (rc == 0)
        rc = forge_health_add(
            h,
            &(forge_health_check_def){.name = "hang",
                                      .fn = hang_check,
                                      .groups = (const char *const[]){"slow", NULL},
                                      .timeout_ms = 60},
            err);
    if (rc == 0)
        rc = forge_health_add(
            h,
            &(forge_health_check_def){.name = "boot",
                                      .fn = startup_check,
                                      .groups = (const char *const[]){"startup", NULL}},
            err);
    if (rc == 0)
        rc = forge_health_add(
            h,
            &(forge_health_check_def){
                .name = "heart", .fn = live_check, .groups = (const char *const[]){"live", NULL}},
            err);
    if (rc == 0)
        rc = forge_health_on_change(h, on_change, NULL, err);
    return rc;
}

static const struct forge_app_entry entry = {
    FORGE_ABI_VERSION, sizeof(struct forge_app_entry), "ht", "1.0", app_init, {0}};

#define CFG HT_QUIET "observe:\n  health:\n    interval: 20ms\n    timeout: 1s\n"

static int setup(void **state)
{
    atomic_store(&flag_state, FORGE_HEALTHY);
    atomic_store(&svc_state, FORGE_HEALTHY);
    atomic_store(&startup_calls, 0);
    atomic_store(&hang_released, false);
    atomic_store(&live_state, FORGE_HEALTHY);
    events[0] = '\0';
    *state = ht_new(&entry, CFG);
    return 0;
}

static int teardown(void **state)
{
    atomic_store(&hang_released, true);
    forge_test_host_free(*state);
    return 0;
}

static int get_status(forge_test_host *th, const char *path, forge_test_response *res)
{
    ht_req(th, "GET", path, NULL, NULL, res);
    return res->status;
}

/* Wait (up to 10 s) until GET path answers `want`. */
static void wait_status(forge_test_host *th, const char *path, int want)
{
    forge_test_response res;
    forge_test_response_init(&res);
    int got = 0;
    for (int i = 0; i < 2000 && (got = get_status(th, path, &res)) != want; i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    if (got != want) {
        get_status(th, "/_/health", &res);
        fail_msg("%s answered %d, expected %d; report: %s", path, got, want,
                 strstr(res.body, "\"db\"") ? strstr(res.body, "\"db\"") : res.body);
    }
    forge_test_response_free(&res);
}

static void test_ready_fails_and_recovers_live_stays_up(void **state)
{
    forge_test_host *th = *state;
    wait_status(th, "/_/health/ready", 200);
    wait_status(th, "/_/health/startup", 200);
    forge_test_response res;
    forge_test_response_init(&res);
    assert_int_equal(get_status(th, "/_/health/live", &res), 200);

    atomic_store(&flag_state, FORGE_UNHEALTHY);
    wait_status(th, "/_/health/ready", 503);
    assert_int_equal(get_status(th, "/_/health/live", &res), 200);
    assert_int_equal(get_status(th, "/_/health", &res), 503);
    json_t *rep = json_loads(res.body, 0, NULL);
    assert_non_null(rep);
    assert_string_equal(json_string_value(json_object_get(rep, "status")), "unhealthy");
    json_t *flag = json_object_get(json_object_get(rep, "checks"), "flag");
    assert_string_equal(json_string_value(json_object_get(flag, "status")), "unhealthy");
    assert_string_equal(json_string_value(json_object_get(flag, "message")), "flag is 2");
    assert_string_equal(json_string_value(json_object_get(json_object_get(rep, "probes"), "live")),
                        "up");
    json_decref(rep);
    assert_int_equal(
        forge_health_status(forge_app_health_registry(forge_test_host_app(th)), "flag"),
        FORGE_UNHEALTHY);

    atomic_store(&flag_state, FORGE_HEALTHY);
    wait_status(th, "/_/health/ready", 200);
    assert_int_equal(get_status(th, "/_/health/live", &res), 200);
    forge_test_response_free(&res);

    /* Degraded is still ready. */
    atomic_store(&flag_state, FORGE_DEGRADED);
    forge_health_registry *h = forge_app_health_registry(forge_test_host_app(th));
    for (int i = 0; i < 2000 && forge_health_status(h, "flag") != FORGE_DEGRADED; i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    wait_status(th, "/_/health/ready", 200);

    pthread_mutex_lock(&ev_mu);
    assert_non_null(strstr(events, "flag:healthy>unhealthy;"));
    assert_non_null(strstr(events, "flag:unhealthy>healthy;"));
    assert_non_null(strstr(events, "*:healthy>unhealthy;"));
    assert_non_null(strstr(events, "flag:healthy>degraded;"));
    pthread_mutex_unlock(&ev_mu);
}

static void test_hanging_check_is_cut_at_its_timeout(void **state)
{
    forge_test_host *th = *state;
    forge_health_registry *h = forge_app_health_registry(forge_test_host_app(th));
    for (int i = 0; i < 2000 && forge_health_status(h, "hang") != FORGE_UNHEALTHY; i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    wait_status(th, "/_/health/slow", 503);
    forge_test_response res;
    forge_test_response_init(&res);
    get_status(th, "/_/health", &res);
    json_t *rep = json_loads(res.body, 0, NULL);
    json_t *hang = json_object_get(json_object_get(rep, "checks"), "hang");
    assert_string_equal(json_string_value(json_object_get(hang, "message")),
                        "timed out after 60 ms");
    assert_true(json_is_true(json_object_get(hang, "timed_out")));
    json_decref(rep);
    /* Only its group suffers: readiness does not contain it. */
    wait_status(th, "/_/health/ready", 200);
    atomic_store(&hang_released, true);
    wait_status(th, "/_/health/slow", 200);
    forge_test_response_free(&res);
}

static void test_service_checks(void **state)
{
    forge_test_host *th = *state;
    wait_status(th, "/_/health/ready", 200);
    atomic_store(&svc_state, FORGE_UNHEALTHY);
    wait_status(th, "/_/health/ready", 503);
    forge_test_response res;
    forge_test_response_init(&res);
    get_status(th, "/_/health", &res);
    assert_non_null(strstr(res.body, "\"db\""));
    atomic_store(&svc_state, FORGE_HEALTHY);
    wait_status(th, "/_/health/ready", 200);
    forge_test_response_free(&res);
}

static void test_startup_and_live_groups(void **state)
{
    forge_test_host *th = *state;
    wait_status(th, "/_/health/startup", 200);
    assert_true(atomic_load(&startup_calls) >= 3);
    /* Startup stays up once passed, whatever the check says later. */
    atomic_store(&live_state, FORGE_UNHEALTHY);
    wait_status(th, "/_/health/live", 503);
    wait_status(th, "/_/health/startup", 200);
    atomic_store(&live_state, FORGE_HEALTHY);
    wait_status(th, "/_/health/live", 200);

    forge_test_response res;
    forge_test_response_init(&res);
    ht_req(th, "GET", "/_/health/nosuchgroup", NULL, NULL, &res);
    json_decref(ht_problem(&res, 404, "/_/health/nosuchgroup"));
    forge_test_response_free(&res);
}

static void test_validation(void **state)
{
    forge_health_registry *h = forge_app_health_registry(forge_test_host_app(*state));
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(
        forge_health_add(h, &(forge_health_check_def){.name = "flag", .fn = flag_check}, &err),
        FORGE_EEXIST);
    assert_int_equal(
        forge_health_add(h, &(forge_health_check_def){.name = "a b", .fn = flag_check}, &err),
        FORGE_EINVAL);
    assert_int_equal(forge_health_add(h, &(forge_health_check_def){.name = "x"}, &err),
                     FORGE_EINVAL);
    assert_int_equal(
        forge_health_add(h,
                         &(forge_health_check_def){.name = "g",
                                                   .fn = flag_check,
                                                   .groups = (const char *const[]){"Bad!", NULL}},
                         &err),
        FORGE_EINVAL);
    /* A check added after start runs too. */
    assert_int_equal(
        forge_health_add(h,
                         &(forge_health_check_def){.name = "late",
                                                   .fn = flag_check,
                                                   .groups = (const char *const[]){"extra", NULL}},
                         &err),
        0);
    wait_status(*state, "/_/health/extra", 200);
    assert_ptr_equal(forge_di_get(forge_app_container(forge_test_host_app(*state)), "forge.health",
                                  &forge_type_health, &err),
                     h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_fails_and_recovers_live_stays_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hanging_check_is_cut_at_its_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_startup_and_live_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
