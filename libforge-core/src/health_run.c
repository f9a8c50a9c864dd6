/*
 * Running checks: a repeating timer on the worker's runtime thread starts
 * due checks on runner threads (at most observe.health.concurrency at once),
 * marks overdue ones as timed out, and refreshes the worker's heartbeat.
 *
 * Why runner threads and not the runtime pool: a check that hangs would
 * hold a pool thread that blocking routes need, and the pool's drain at
 * worker stop joins its threads, so one hung check would hang the worker's
 * shutdown. Runners are detached; a hung one costs a thread until it
 * returns, and the check is not started again until then (ADR 0091).
 */
#include "health_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MIN_MS 10
#define TICK_MAX_MS 1000

typedef struct run_arg {
    forge_health_registry *h;
    struct hcheck *c;
    uint64_t gen;
} run_arg;

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t interval_of(const forge_health_registry *h, const struct hcheck *c)
{
    return c->interval_ms ? c->interval_ms : h->interval_ms;
}

static uint64_t timeout_of(const forge_health_registry *h, const struct hcheck *c)
{
    return c->timeout_ms ? c->timeout_ms : h->timeout_ms;
}

static forge_health call_check(forge_app *app, struct hcheck *c, forge_error *e)
{
    if (!app)
        return FORGE_UNHEALTHY;
    if (c->service) {
        bool skipped = false;
        forge_health st = forge__service_health(app, c->service, &skipped, e);
        if (skipped)
            forge_error_set(e, 0, "per-machine service running in another worker");
        return st;
    }
    forge_health st = c->fn(app, c->udata, e);
    return st == FORGE_HEALTHY || st == FORGE_DEGRADED ? st : FORGE_UNHEALTHY;
}

static void *runner(void *p)
{
    run_arg *a = p;
    forge_health_registry *h = a->h;
    struct hcheck *c = a->c;
    pthread_mutex_lock(&h->mu);
    forge_app *app = h->app;
    pthread_mutex_unlock(&h->mu);
    forge_error e;
    forge_error_clear(&e);
    uint64_t t0 = mono_us();
    forge_health st = call_check(app, c, &e);
    uint64_t dt = mono_us() - t0;
    forge__health_event ev[2];
    size_t nev = 0;
    pthread_mutex_lock(&h->mu);
    if (c->gen == a->gen && c->running) {
        c->running = false;
        h->running--;
        c->due_mono = forge__obs_mono_ms() + interval_of(h, c);
        /* A result after the timeout is not believed: the next run decides. */
        if (!c->timed_out)
            nev = forge__health_record_locked(h, c, st, e.message, dt, false, ev);
    }
    pthread_mutex_unlock(&h->mu);
    forge__health_fire(h, ev, nev);
    free(a);
    forge__health_unref(h);
    return NULL;
}

/* Start a due check on a runner (mu held). False when no thread could be made. */
static bool start_locked(forge_health_registry *h, struct hcheck *c, uint64_t now)
{
    run_arg *a = malloc(sizeof(*a));
    if (!a)
        return false;
    c->gen++;
    *a = (run_arg){h, c, c->gen};
    c->running = true;
    c->timed_out = false;
    c->started_mono = now;
    h->running++;
    atomic_fetch_add(&h->refs, 1);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t t;
    int rc = pthread_create(&t, &attr, runner, a);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        return true;
    c->running = false;
    h->running--;
    atomic_fetch_sub(&h->refs, 1);
    free(a);
    return false;
}

static void tick(void *arg)
{
    forge_health_registry *h = arg;
    forge__health_event ev[2 * 64];
    size_t nev = 0;
    pthread_mutex_lock(&h->mu);
    uint64_t now = forge__obs_mono_ms();
    for (size_t i = 0; i < h->n && h->state == HW_STARTED; i++) {
        struct hcheck *c = h->v[i];
        if (c->running && !c->timed_out && now - c->started_mono >= timeout_of(h, c)) {
            char msg[64];
            snprintf(msg, sizeof(msg), "timed out after %llu ms",
                     (unsigned long long)timeout_of(h, c));
            c->timed_out = true;
            size_t k = forge__health_record_locked(h, c, FORGE_UNHEALTHY, msg,
                                                   (now - c->started_mono) * 1000u, true,
                                                   ev + (nev < 126 ? nev : 126));
            nev = nev < 126 ? nev + k : nev;
        }
    }
    /* Start due checks, the longest overdue first, so none starves behind frequent ones. */
    while (h->state == HW_STARTED && h->running < h->concurrency) {
        struct hcheck *next = NULL;
        for (size_t i = 0; i < h->n; i++) {
            struct hcheck *c = h->v[i];
            if (!c->running && now >= c->due_mono && (!next || c->due_mono < next->due_mono))
                next = c;
        }
        if (!next)
            break;
        if (!start_locked(h, next, now)) {
            size_t k = forge__health_record_locked(h, next, FORGE_UNHEALTHY,
                                                   "could not start a runner thread", 0, false,
                                                   ev + (nev < 126 ? nev : 126));
            nev = nev < 126 ? nev + k : nev;
            next->due_mono = now + interval_of(h, next);
        }
    }
    forge__health_publish_locked(h); /* the heartbeat */
    pthread_mutex_unlock(&h->mu);
    forge__health_fire(h, ev, nev);
}

static int add_service(const char *name, forge_service_state st, void *u)
{
    forge_health_registry *h = u;
    char cname[FORGE__HNAME_MAX];
    snprintf(cname, sizeof(cname), "%s", name);
    pthread_mutex_lock(&h->mu);
    bool taken = false;
    for (size_t i = 0; i < h->n && !taken; i++)
        taken = strcmp(h->v[i]->name, cname) == 0;
    pthread_mutex_unlock(&h->mu);
    if (taken)
        snprintf(cname, sizeof(cname), "service:%s", name);
    forge_error e;
    forge_error_clear(&e);
    struct hcheck *c =
        forge__health_check_new(cname, (const char *const[]){"ready", "startup", NULL}, &e);
    if (c && !(c->service = strdup(name))) {
        free(c->name);
        free(c);
        c = NULL;
    }
    if (!c || forge__health_add_check(h, c, &e) < 0)
        forge_logf(h->app->log, FORGE_LOG_WARN, NULL, "health: no check for service %s: %s", name,
                   e.message);
    return 0;
}

int forge__health_worker_start(forge_health_registry *h, forge_error *err)
{
    forge_app *app = h->app;
    if (!h->shm || !app->runtime)
        return FORGE_OK;
    h->status_metric = forge_metrics_gauge(
        forge_app_metrics(app),
        &(forge_metric_opts){.name = "forge_health_check_status",
                             .help = "Last result of a health check in the worst worker "
                                     "(0 healthy, 1 degraded, 2 unhealthy).",
                             .labels = (const char *const[]){"check", NULL},
                             .agg = FORGE_GAUGE_MAX},
        NULL);
    bool have_services = false;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        have_services |= h->v[i]->service != NULL;
    pthread_mutex_unlock(&h->mu);
    if (!have_services)
        forge_app_services(app, add_service, h);
    pthread_mutex_lock(&h->mu);
    uint64_t t = TICK_MAX_MS;
    uint64_t now = forge__obs_mono_ms();
    for (size_t i = 0; i < h->n; i++) {
        struct hcheck *c = h->v[i];
        uint64_t m = interval_of(h, c) < timeout_of(h, c) ? interval_of(h, c) : timeout_of(h, c);
        if (m / 4 < t)
            t = m / 4;
        c->due_mono = now;
    }
    h->tick_ms = t < TICK_MIN_MS ? TICK_MIN_MS : t;
    h->worker = (uint32_t)(app->worker_id < 0 ? 0 : app->worker_id) % h->shm->max_workers;
    h->state = HW_STARTED;
    forge__health_publish_locked(h);
    struct hworker *w = forge__hworker(h->shm, h->worker);
    w->started_ms = forge__obs_now_ms();
    pthread_mutex_unlock(&h->mu);
    int64_t id = forge_runtime_timer(app->runtime, 0, h->tick_ms, tick, h);
    if (id < 0)
        return forge_error_set(err, (int)id, "health: cannot start the check timer");
    h->tick_timer = id;
    return FORGE_OK;
}

void forge__health_worker_stop(forge_health_registry *h)
{
    if (!h || h->state != HW_STARTED)
        return;
    pthread_mutex_lock(&h->mu);
    h->state = HW_STOPPING;
    forge__health_publish_locked(h);
    pthread_mutex_unlock(&h->mu);
    forge_app *app = h->app;
    if (h->tick_timer > 0 && app && app->runtime)
        forge_runtime_timer_cancel(app->runtime, h->tick_timer);
    h->tick_timer = 0;
    /* Give running checks a moment; one that hangs is left to its runner. */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&h->mu);
        int running = h->running;
        pthread_mutex_unlock(&h->mu);
        if (!running)
            break;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    pthread_mutex_lock(&h->mu);
    h->state = HW_STOPPED;
    forge__health_publish_locked(h);
    pthread_mutex_unlock(&h->mu);
}
