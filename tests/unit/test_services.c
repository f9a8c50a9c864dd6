/*
 * Services: start order (chains, diamonds, independent), reverse stop,
 * missing dependencies, cycles, rollback of a failed start, start and stop
 * timeouts, phase hooks and priorities, per-machine services, states,
 * health, and the DI graph check at start.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "request_impl.h"

/* What happened, in order: "+a" started a, "-a" stopped a, "!a" a's start failed, "h:..." hooks. */
static char events[64][48];
static int nevents;
static pthread_mutex_t events_mu = PTHREAD_MUTEX_INITIALIZER;

static void event(const char *fmt, const char *s)
{
    pthread_mutex_lock(&events_mu);
    if (nevents < 64)
        snprintf(events[nevents++], sizeof(events[0]), fmt, s);
    pthread_mutex_unlock(&events_mu);
}

/* The events joined by spaces, for whole-sequence assertions. */
static const char *trail(void)
{
    static char buf[64 * 48];
    buf[0] = '\0';
    pthread_mutex_lock(&events_mu);
    for (int i = 0; i < nevents; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, events[i]);
    }
    pthread_mutex_unlock(&events_mu);
    return buf;
}

typedef struct spec {
    const char *name;
    int fail;           /* start returns this code when non-zero */
    int start_sleep_ms; /* sleeps before returning from start */
    int stop_sleep_ms;
    forge_health health;
} spec;

static int spec_start(forge_app *app, void *state, forge_error *err)
{
    spec *s = state;
    if (s->start_sleep_ms)
        usleep((useconds_t)s->start_sleep_ms * 1000);
    if (s->fail) {
        event("!%s", s->name);
        return forge_error_set(err, s->fail, "disk full");
    }
    event("+%s", s->name);
    return 0;
}

static void spec_stop(forge_app *app, void *state)
{
    spec *s = state;
    if (s->stop_sleep_ms)
        usleep((useconds_t)s->stop_sleep_ms * 1000);
    event("-%s", s->name);
}

static forge_health spec_health(forge_app *app, void *state, forge_error *err)
{
    spec *s = state;
    if (s->health != FORGE_HEALTHY)
        forge_error_set(err, FORGE_EIO, "%s is slow", s->name);
    return s->health;
}

static spec specs[16];
static int nspecs;

/* Register a service; deps are given as a NULL-terminated list of names. */
static int add(forge_app *app, const char *name, unsigned flags, const char *const *deps)
{
    spec *s = &specs[nspecs++];
    memset(s, 0, sizeof(*s));
    s->name = name;
    forge_service_def d = {.name = name,
                           .deps = deps,
                           .start = spec_start,
                           .stop = spec_stop,
                           .health = spec_health,
                           .state = s,
                           .flags = flags};
    return forge_app_service(app, &d, NULL);
}

static spec *spec_of(const char *name)
{
    for (int i = 0; i < nspecs; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

#define DEPS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int setup(void **state)
{
    nevents = 0;
    nspecs = 0;
    forge_app *app = forge_app_new("t", "1");
    if (!app)
        return -1;
    forge_log_set_level(forge_app_log(app), FORGE_LOG_OFF);
    *state = app;
    return 0;
}

static int teardown(void **state)
{
    forge_app_free(*state);
    return 0;
}

static void test_chain_order_and_reverse_stop(void **state)
{
    forge_app *app = *state;
    add(app, "c", 0, DEPS("b"));
    add(app, "b", 0, DEPS("a"));
    add(app, "a", 0, NULL);
    forge_error err;
    assert_int_equal(forge_app_start(app, &err), 0);
    assert_string_equal(trail(), "+a +b +c");
    assert_int_equal(forge_app_service_state(app, "b"), FORGE_SERVICE_RUNNING);
    forge_app_stop(app);
    assert_string_equal(trail(), "+a +b +c -c -b -a");
    assert_int_equal(forge_app_service_state(app, "b"), FORGE_SERVICE_STOPPED);
    forge_app_stop(app); /* idempotent */
    assert_int_equal(nevents, 6);
}

static void test_diamond(void **state)
{
    forge_app *app = *state;
    add(app, "d", 0, DEPS("b", "c"));
    add(app, "c", 0, DEPS("a"));
    add(app, "b", 0, DEPS("a"));
    add(app, "a", 0, NULL);
    assert_int_equal(forge_app_start(app, NULL), 0);
    /* Among ready services the earliest registered goes first: c before b. */
    assert_string_equal(trail(), "+a +c +b +d");
    forge_app_stop(app);
    assert_string_equal(trail(), "+a +c +b +d -d -b -c -a");
}

static void test_independent_and_mixed(void **state)
{
    forge_app *app = *state;
    add(app, "x", 0, DEPS("z"));
    add(app, "y", 0, NULL);
    add(app, "z", 0, NULL);
    add(app, "w", 0, NULL);
    assert_int_equal(forge_app_start(app, NULL), 0);
    assert_string_equal(trail(), "+y +z +x +w");
    forge_app_stop(app);
    assert_string_equal(trail(), "+y +z +x +w -w -x -z -y");
}

static void test_start_twice_and_register_late(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "a", 0, NULL);
    assert_int_equal(add(app, "a", 0, NULL), FORGE_EEXIST);
    assert_int_equal(forge_app_start(app, &err), 0);
    assert_int_equal(forge_app_start(app, &err), FORGE_ESTATE);
    assert_int_equal(add(app, "late", 0, NULL), FORGE_ESTATE);
    forge_app_stop(app);
    /* Stopped apps start again. */
    assert_int_equal(forge_app_start(app, &err), 0);
    assert_string_equal(trail(), "+a -a +a");
}

static void test_missing_dependency(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "cache", 0, NULL);
    add(app, "api", 0, DEPS("cache", "db"));
    assert_int_equal(forge_app_start(app, &err), FORGE_EDEPENDENCY);
    assert_string_equal(err.message, "service 'api' depends on 'db', which is not registered");
    assert_string_equal(err.key, "api");
    assert_int_equal(nevents, 0); /* nothing started */
    assert_int_equal(forge_app_service_state(app, "cache"), FORGE_SERVICE_REGISTERED);
}

static void test_cycle(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "x", 0, NULL);
    add(app, "a", 0, DEPS("b"));
    add(app, "b", 0, DEPS("c"));
    add(app, "c", 0, DEPS("a"));
    add(app, "after", 0, DEPS("x"));
    assert_int_equal(forge_app_start(app, &err), FORGE_ECYCLE);
    assert_string_equal(err.message, "dependency cycle: a -> b -> c -> a");
    assert_int_equal(nevents, 0);
}

static void test_self_dependency_refused(void **state)
{
    forge_app *app = *state;
    forge_error err;
    forge_service_def d = {.name = "me", .deps = DEPS("me"), .start = spec_start};
    assert_int_equal(forge_app_service(app, &d, &err), FORGE_ECYCLE);
    assert_non_null(strstr(err.message, "'me' depends on itself"));
    forge_service_def none = {.name = "empty"};
    assert_int_equal(forge_app_service(app, &none, &err), FORGE_EINVAL);
    assert_int_equal(forge_app_service(app, NULL, &err), FORGE_EINVAL);
}

static void test_failed_start_rolls_back(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "a", 0, NULL);
    add(app, "b", 0, DEPS("a"));
    add(app, "c", 0, DEPS("b"));
    add(app, "d", 0, DEPS("c"));
    spec_of("c")->fail = FORGE_EIO;
    assert_int_equal(forge_app_start(app, &err), FORGE_EIO);
    assert_string_equal(trail(), "+a +b !c -b -a");
    assert_string_equal(err.message, "service 'c' failed to start: disk full");
    assert_string_equal(err.cause, "disk full");
    assert_string_equal(err.key, "c");
    assert_int_equal(forge_app_service_state(app, "a"), FORGE_SERVICE_STOPPED);
    assert_int_equal(forge_app_service_state(app, "c"), FORGE_SERVICE_FAILED);
    assert_int_equal(forge_app_service_state(app, "d"), FORGE_SERVICE_REGISTERED);
    forge_app_stop(app); /* nothing left to stop */
    assert_int_equal(nevents, 5);
}

static void test_start_timeout(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "fast", 0, NULL);
    spec *s = &specs[nspecs++];
    memset(s, 0, sizeof(*s));
    s->name = "slow";
    s->start_sleep_ms = 600; /* far past the timeout, so it is still running below */
    forge_service_def d = {.name = "slow",
                           .deps = DEPS("fast"),
                           .start = spec_start,
                           .stop = spec_stop,
                           .state = s,
                           .start_timeout_ms = 30};
    assert_int_equal(forge_app_service(app, &d, NULL), 0);
    assert_int_equal(forge_app_start(app, &err), FORGE_ETIMEDOUT);
    assert_string_equal(err.message, "service 'slow' did not start within 30 ms");
    assert_string_equal(err.key, "slow");
    assert_string_equal(trail(), "+fast -fast");
    assert_int_equal(forge_app_service_state(app, "slow"), FORGE_SERVICE_FAILED);
    /* While the abandoned start still runs, the service cannot be started again. */
    assert_int_equal(forge_app_start(app, &err), FORGE_EBUSY);
    assert_string_equal(err.message,
                        "service 'slow' is still running a start or stop that timed out");
    /* Freeing waits for the abandoned start; when it succeeds late, it is stopped again. */
    forge_app_free(app);
    *state = NULL;
    assert_string_equal(trail(), "+fast -fast +fast -fast +slow -slow");
}

static void test_start_timeout_from_config(void **state)
{
    forge_app *app = *state;
    forge_error err;
    const char *yaml = "services:\n  start_timeout: 20ms\n";
    assert_int_equal(forge_config_load_string(forge_app_config(app), yaml, strlen(yaml),
                                              FORGE_CONFIG_YAML, &err),
                     0);
    add(app, "slow", 0, NULL);
    spec_of("slow")->start_sleep_ms = 200;
    spec_of("slow")->fail = FORGE_EIO; /* it fails late: nothing to undo */
    assert_int_equal(forge_app_start(app, &err), FORGE_ETIMEDOUT);
    assert_string_equal(err.message, "service 'slow' did not start within 20 ms");
    forge_app_free(app);
    *state = NULL;
    assert_string_equal(trail(), "!slow");
}

static void test_bad_timeout_config(void **state)
{
    forge_app *app = *state;
    forge_error err;
    const char *yaml = "services:\n  stop_timeout: soon\n";
    assert_int_equal(forge_config_load_string(forge_app_config(app), yaml, strlen(yaml),
                                              FORGE_CONFIG_YAML, &err),
                     0);
    add(app, "a", 0, NULL);
    assert_true(forge_app_start(app, &err) < 0);
    assert_string_equal(err.key, "services.stop_timeout");
    assert_non_null(strstr(err.message, "services.stop_timeout"));
    assert_int_equal(nevents, 0);
}

static void test_stop_timeout(void **state)
{
    forge_app *app = *state;
    spec *s = &specs[nspecs++];
    memset(s, 0, sizeof(*s));
    s->name = "stuck";
    s->stop_sleep_ms = 200;
    forge_service_def d = {
        .name = "stuck", .start = spec_start, .stop = spec_stop, .state = s, .stop_timeout_ms = 20};
    assert_int_equal(forge_app_service(app, &d, NULL), 0);
    add(app, "after", 0, DEPS("stuck"));
    assert_int_equal(forge_app_start(app, NULL), 0);
    forge_app_stop(app);
    /* "after" stopped; "stuck" was given up on and the stop went on. */
    assert_string_equal(trail(), "+stuck +after -after");
    assert_int_equal(forge_app_service_state(app, "stuck"), FORGE_SERVICE_FAILED);
    forge_app_free(app);
    *state = NULL;
    assert_string_equal(trail(), "+stuck +after -after -stuck");
}

static int hook(forge_app *app, forge_phase phase, void *udata, forge_error *err)
{
    const char *tag = udata;
    event("h:%s", tag);
    if (strncmp(tag, "fail", 4) == 0)
        return forge_error_set(err, FORGE_EACCES, "hook %s says no", tag);
    return 0;
}

static void test_hooks_order_and_priorities(void **state)
{
    forge_app *app = *state;
    add(app, "s", 0, NULL);
    forge_error err;
    assert_int_equal(forge_app_hook(app, FORGE_PHASE_AFTER_STOP, 0, hook, "as", &err), 0);
    assert_int_equal(forge_app_hook(app, FORGE_PHASE_BEFORE_START, 10, hook, "bs10a", &err), 0);
    assert_int_equal(forge_app_hook(app, FORGE_PHASE_BEFORE_START, -5, hook, "bs-5", &err), 0);
    assert_int_equal(forge_app_hook(app, FORGE_PHASE_BEFORE_START, 10, hook, "bs10b", &err), 0);
    assert_int_equal(forge_app_hook(app, FORGE_PHASE_BEFORE_START, 0, hook, "bs0", &err), 0);
    assert_int_equal(forge_app_hook(app, FORGE_PHASE_AFTER_START, 0, hook, "aft", &err), 0);
    assert_int_equal(forge_app_hook(app, FORGE_PHASE_BEFORE_STOP, 1, hook, "fail-bst", &err), 0);
    assert_int_equal(forge_app_hook(app, FORGE_PHASE_BEFORE_STOP, 0, hook, "bst", &err), 0);
    assert_int_equal(forge_app_hook(app, (forge_phase)9, 0, hook, "x", &err), FORGE_EINVAL);
    assert_int_equal(forge_app_hook(app, FORGE_PHASE_AFTER_STOP, 0, NULL, NULL, &err),
                     FORGE_EINVAL);
    assert_int_equal(forge_app_start(app, &err), 0);
    assert_string_equal(trail(), "h:bs-5 h:bs0 h:bs10a h:bs10b +s h:aft");
    forge_app_stop(app);
    /* A failing stop hook is logged; the stop goes on. */
    assert_string_equal(trail(), "h:bs-5 h:bs0 h:bs10a h:bs10b +s h:aft h:bst h:fail-bst -s h:as");
}

static void test_failing_before_start_hook_aborts(void **state)
{
    forge_app *app = *state;
    add(app, "s", 0, NULL);
    forge_error err;
    forge_app_hook(app, FORGE_PHASE_BEFORE_START, 0, hook, "ok", NULL);
    forge_app_hook(app, FORGE_PHASE_BEFORE_START, 1, hook, "fail-bs", NULL);
    forge_app_hook(app, FORGE_PHASE_BEFORE_START, 2, hook, "never", NULL);
    forge_app_hook(app, FORGE_PHASE_AFTER_STOP, 0, hook, "as", NULL);
    assert_int_equal(forge_app_start(app, &err), FORGE_EACCES);
    assert_string_equal(trail(), "h:ok h:fail-bs");
    assert_non_null(strstr(err.message, "before-start hook"));
    assert_string_equal(err.cause, "hook fail-bs says no");
    assert_int_equal(forge_app_service_state(app, "s"), FORGE_SERVICE_REGISTERED);
}

static void test_failing_after_start_hook_rolls_back(void **state)
{
    forge_app *app = *state;
    add(app, "s", 0, NULL);
    forge_error err;
    forge_app_hook(app, FORGE_PHASE_AFTER_START, 0, hook, "fail-aft", NULL);
    forge_app_hook(app, FORGE_PHASE_AFTER_STOP, 0, hook, "as", NULL);
    assert_int_equal(forge_app_start(app, &err), FORGE_EACCES);
    assert_string_equal(trail(), "+s h:fail-aft -s h:as");
}

static int reentrant_rc[3];

static int reentrant_hook(forge_app *app, forge_phase phase, void *udata, forge_error *err)
{
    forge_error e;
    reentrant_rc[0] = forge_app_start(app, &e);
    reentrant_rc[1] = forge_app_hook(app, FORGE_PHASE_AFTER_STOP, 0, hook, "x", &e);
    forge_service_def d = {.name = "late", .start = spec_start};
    reentrant_rc[2] = forge_app_service(app, &d, &e);
    forge_app_stop(app); /* ignored */
    event("h:%s", "re");
    return 0;
}

/* Calling back into the lifecycle from a callback is refused, not a deadlock. */
static void test_reentry_refused(void **state)
{
    forge_app *app = *state;
    add(app, "s", 0, NULL);
    forge_app_hook(app, FORGE_PHASE_AFTER_START, 0, reentrant_hook, NULL, NULL);
    assert_int_equal(forge_app_start(app, NULL), 0);
    assert_int_equal(reentrant_rc[0], FORGE_ESTATE);
    assert_int_equal(reentrant_rc[1], FORGE_ESTATE);
    assert_int_equal(reentrant_rc[2], FORGE_ESTATE);
    assert_string_equal(trail(), "+s h:re");
    assert_int_equal(forge_app_service_state(app, "s"), FORGE_SERVICE_RUNNING);
}

static int mw_start(forge_app *app, void *udata, forge_error *err)
{
    event("mw+%s", udata);
    return strcmp(udata, "bad") == 0 ? forge_error_set(err, FORGE_EIO, "no port") : 0;
}

static void mw_stop(forge_app *app, void *udata)
{
    event("mw-%s", udata);
}

/* Middleware starts after the services and after-start hooks see it; it stops before them. */
static void test_middleware_around_services(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "db", 0, NULL);
    forge_middleware mw = {.name = "m", .on_start = mw_start, .on_stop = mw_stop, .udata = "m"};
    assert_int_equal(forge_app_use(app, &mw, &err), 0);
    forge_app_hook(app, FORGE_PHASE_AFTER_START, 0, hook, "aft", NULL);
    forge_app_hook(app, FORGE_PHASE_BEFORE_STOP, 0, hook, "bst", NULL);
    assert_int_equal(forge__routes_finalize(app, &err), 0);
    assert_int_equal(forge_app_start(app, &err), 0);
    forge_app_stop(app);
    assert_string_equal(trail(), "+db mw+m h:aft h:bst mw-m -db");
}

static void test_middleware_failure_rolls_back(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "db", 0, NULL);
    forge_middleware mw = {.name = "bad", .on_start = mw_start, .on_stop = mw_stop, .udata = "bad"};
    assert_int_equal(forge_app_use(app, &mw, &err), 0);
    assert_int_equal(forge__routes_finalize(app, &err), 0);
    assert_int_equal(forge_app_start(app, &err), FORGE_EIO);
    assert_string_equal(trail(), "+db mw+bad -db");
    assert_string_equal(err.message, "middleware bad failed to start");
    assert_string_equal(err.cause, "no port");
    assert_int_equal(forge_app_service_state(app, "db"), FORGE_SERVICE_STOPPED);
}

static void test_per_machine(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "db", 0, NULL);
    add(app, "leader", FORGE_SERVICE_PER_MACHINE, DEPS("db"));
    add(app, "api", 0, DEPS("db"));
    add(app, "cron", FORGE_SERVICE_PER_MACHINE, DEPS("leader"));

    /* Before the app starts, the per-machine services' dependencies are not running. */
    assert_int_equal(forge__app_start_machine_services(app, &err), FORGE_EDEPENDENCY);
    assert_string_equal(err.message,
                        "per-machine service 'leader' depends on 'db', which is not running "
                        "(registered)");
    assert_int_equal(nevents, 0);

    assert_int_equal(forge_app_start(app, &err), 0);
    assert_string_equal(trail(), "+db +api");
    assert_int_equal(forge_app_service_state(app, "leader"), FORGE_SERVICE_REGISTERED);

    assert_int_equal(forge__app_start_machine_services(app, &err), 0);
    assert_string_equal(trail(), "+db +api +leader +cron");
    assert_int_equal(forge_app_service_state(app, "cron"), FORGE_SERVICE_RUNNING);
    assert_int_equal(forge__app_start_machine_services(app, &err), 0); /* already running */

    forge__app_stop_machine_services(app); /* the lock was lost */
    assert_string_equal(trail(), "+db +api +leader +cron -cron -leader");
    assert_int_equal(forge_app_service_state(app, "db"), FORGE_SERVICE_RUNNING);
    forge__app_stop_machine_services(app);
    assert_int_equal(nevents, 6);

    assert_int_equal(forge__app_start_machine_services(app, &err), 0); /* regained */
    forge_app_stop(app); /* per-machine ones go first */
    assert_string_equal(
        trail(), "+db +api +leader +cron -cron -leader +leader +cron -cron -leader -api -db");
}

static void test_per_machine_failure_rolls_back(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "m1", FORGE_SERVICE_PER_MACHINE, NULL);
    add(app, "m2", FORGE_SERVICE_PER_MACHINE, DEPS("m1"));
    spec_of("m2")->fail = FORGE_EIO;
    assert_int_equal(forge_app_start(app, &err), 0);
    assert_int_equal(nevents, 0);
    assert_int_equal(forge__app_start_machine_services(app, &err), FORGE_EIO);
    assert_string_equal(trail(), "+m1 !m2 -m1");
    assert_string_equal(err.message, "service 'm2' failed to start: disk full");
}

static void test_app_service_cannot_need_per_machine(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "raft", FORGE_SERVICE_PER_MACHINE, NULL);
    add(app, "api", 0, DEPS("raft"));
    assert_int_equal(forge_app_start(app, &err), FORGE_EDEPENDENCY);
    assert_non_null(strstr(err.message, "'api' depends on 'raft', which runs once per machine"));
}

struct visit {
    char names[256];
    int count;
};

static int visitor(const char *name, forge_service_state st, void *udata)
{
    struct visit *v = udata;
    char one[64];
    snprintf(one, sizeof(one), "%s%s=%s", v->count ? " " : "", name, forge_service_state_name(st));
    strcat(v->names, one);
    return ++v->count == 3 ? 7 : 0;
}

static void test_states_and_visitor(void **state)
{
    forge_app *app = *state;
    add(app, "a", 0, NULL);
    add(app, "b", 0, NULL);
    add(app, "m", FORGE_SERVICE_PER_MACHINE, NULL);
    add(app, "d", 0, NULL);
    assert_int_equal(forge_app_service_state(app, "nope"), FORGE_SERVICE_UNKNOWN);
    assert_int_equal(forge_app_start(app, NULL), 0);
    struct visit v = {{0}, 0};
    assert_int_equal(forge_app_services(app, visitor, &v), 7); /* stopped at the third */
    assert_string_equal(v.names, "a=running b=running m=registered");
    assert_string_equal(forge_service_state_name(FORGE_SERVICE_STOPPING), "stopping");
}

struct health_seen {
    char text[256];
};

static void health_visit(const char *name, forge_service_state st, forge_health h, const char *msg,
                         void *udata)
{
    struct health_seen *hs = udata;
    char one[96];
    snprintf(one, sizeof(one), "[%s %s %s]", name, forge_health_name(h), msg);
    strcat(hs->text, one);
}

static void test_health(void **state)
{
    forge_app *app = *state;
    add(app, "a", 0, NULL);
    add(app, "b", 0, NULL);
    add(app, "m", FORGE_SERVICE_PER_MACHINE, NULL);
    assert_int_equal(forge_app_start(app, NULL), 0);
    struct health_seen hs = {{0}};
    assert_int_equal(forge_app_health(app, health_visit, &hs), FORGE_HEALTHY);
    assert_string_equal(hs.text, "[a healthy ][b healthy ]"); /* m runs elsewhere: skipped */
    spec_of("b")->health = FORGE_DEGRADED;
    hs.text[0] = '\0';
    assert_int_equal(forge_app_health(app, health_visit, &hs), FORGE_DEGRADED);
    assert_string_equal(hs.text, "[a healthy ][b degraded b is slow]");
    forge_app_stop(app);
    assert_int_equal(forge_app_health(app, NULL, NULL), FORGE_UNHEALTHY);
}

static FORGE_TYPE_DEFINE(t_thing, "test.thing");

static void *never_built(forge_resolver *r, void *udata, forge_error *err)
{
    return forge_error_set(err, FORGE_EIO, "unreachable"), NULL;
}

static void test_start_validates_di_graph(void **state)
{
    forge_app *app = *state;
    forge_error err;
    add(app, "a", 0, NULL);
    forge_di_def d = {.name = "repo",
                      .type = &t_thing,
                      .lifetime = FORGE_DI_SINGLETON,
                      .ctor = never_built,
                      .deps = DEPS("pool")};
    assert_int_equal(forge_di_register(forge_app_container(app), &d, NULL), 0);
    assert_int_equal(forge_app_start(app, &err), FORGE_EDEPENDENCY);
    assert_string_equal(err.message, "DI entry 'repo' depends on 'pool', which is not registered");
    assert_int_equal(nevents, 0);
    /* The app's own parts are in its container. */
    assert_ptr_equal(forge_di_get(forge_app_container(app), "forge.app", &forge_type_app, NULL),
                     app);
}

static int scoped_built, scoped_freed;

static void *make_scoped(forge_resolver *r, void *udata, forge_error *err)
{
    scoped_built++;
    return malloc(8);
}

static void free_scoped(void *p)
{
    scoped_freed++;
    free(p);
}

/* A request's scope lives in a request value and ends with the request. */
static void test_request_scope(void **state)
{
    forge_app *app = *state;
    forge_error err;
    scoped_built = scoped_freed = 0;
    assert_int_equal(forge_di_scoped(forge_app_container(app), "tx", &t_thing, make_scoped,
                                     free_scoped, NULL, &err),
                     0);
    forge_req *req = forge__req_alloc(NULL);
    assert_non_null(req);
    req->app = app;
    void *a = forge_di_req_get(req, "tx", &t_thing, &err);
    assert_non_null(a);
    assert_ptr_equal(forge_di_req_get(req, "tx", &t_thing, &err), a);
    assert_ptr_equal(forge_req_value(req, FORGE_DI_REQ_SCOPE_KEY), forge_di_req_scope(req, &err));
    assert_int_equal(scoped_built, 1);
    forge__req_reset(req); /* the request ends */
    assert_int_equal(scoped_freed, 1);
    req->app = app;
    void *b = forge_di_req_get(req, "tx", &t_thing, &err); /* the next request: a new one */
    assert_non_null(b);
    assert_int_equal(scoped_built, 2);
    forge__req_destroy(req);
    assert_int_equal(scoped_freed, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_order_and_reverse_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diamond, setup, teardown),
        cmocka_unit_test_setup_teardown(test_independent_and_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_twice_and_register_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dependency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_dependency_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_start_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_timeout_from_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_timeout_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hooks_order_and_priorities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_before_start_hook_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_after_start_hook_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reentry_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_middleware_around_services, setup, teardown),
        cmocka_unit_test_setup_teardown(test_middleware_failure_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_machine_failure_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_service_cannot_need_per_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_states_and_visitor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_validates_di_graph, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_scope, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
