/*
 * A service's start or stop, bounded by a timeout.
 *
 * C has no way to cancel a function call, so a timed call runs on a helper
 * thread while the caller waits on a condition variable with a deadline.
 * When the deadline passes, the caller gives up (the call is "abandoned")
 * and goes on; the helper thread keeps running the call to its end. If an
 * abandoned start later succeeds, the helper calls the service's stop, so
 * what the late start opened is closed again. The record shared by the two
 * threads is reference-counted; the registry counts helpers still running
 * ("pending") so freeing it can wait for them.
 */
#include "service_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done, abandoned, is_start;
    int rc;
    forge_error err;
    forge_app *app;
    struct svc *sv;
};

static void call_unref(struct call *c)
{
    pthread_mutex_lock(&c->mu);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (!last)
        return;
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void pending_add(struct forge__services *s, int d)
{
    pthread_mutex_lock(&s->pending_mu);
    s->pending += d;
    if (s->pending == 0)
        pthread_cond_broadcast(&s->pending_cv);
    pthread_mutex_unlock(&s->pending_mu);
}

static void *call_main(void *arg)
{
    struct call *c = arg;
    struct forge__services *s = c->app->services;
    int rc = 0;
    if (c->is_start)
        rc = c->sv->def.start(c->app, c->sv->def.state, &c->err);
    else if (c->sv->def.stop)
        c->sv->def.stop(c->app, c->sv->def.state);
    pthread_mutex_lock(&c->mu);
    c->rc = rc;
    c->done = true;
    bool abandoned = c->abandoned;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (abandoned) {
        if (c->is_start && rc == 0 && c->sv->def.stop)
            c->sv->def.stop(c->app, c->sv->def.state);
        forge_logf(c->app->log, FORGE_LOG_WARN, NULL,
                   "service '%s': the %s that timed out has now returned%s", c->sv->name,
                   c->is_start ? "start" : "stop",
                   c->is_start && rc == 0 ? " (succeeded late; stopped it again)" : "");
        atomic_store(&c->sv->busy, false);
        pending_add(s, -1);
    }
    call_unref(c);
    return NULL;
}

static struct timespec deadline_in(uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static struct call *call_new(forge_app *app, struct svc *sv, bool is_start)
{
    struct call *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    c->refs = 2; /* the caller and the helper thread */
    c->is_start = is_start;
    c->app = app;
    c->sv = sv;
    return c;
}

/*
 * Returns the call's result, FORGE_ETIMEDOUT when abandoned, or a negative
 * code when no helper thread could be made. `cerr` receives the start's own
 * error when it finished.
 */
static int timed_call(forge_app *app, struct svc *sv, bool is_start, uint64_t timeout_ms,
                      forge_error *cerr)
{
    struct call *c = call_new(app, sv, is_start);
    if (!c)
        return FORGE_ENOMEM;
    struct forge__services *s = app->services;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&t, &attr, call_main, c);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        c->refs = 1;
        call_unref(c);
        return FORGE_EAGAIN;
    }
    struct timespec dl = deadline_in(timeout_ms);
    pthread_mutex_lock(&c->mu);
    while (!c->done && e != ETIMEDOUT)
        e = pthread_cond_timedwait(&c->cv, &c->mu, &dl);
    int rc;
    if (c->done) {
        rc = c->rc;
        if (cerr)
            *cerr = c->err;
    } else {
        c->abandoned = true;
        atomic_store(&sv->busy, true);
        pending_add(s, 1);
        rc = FORGE_ETIMEDOUT;
    }
    pthread_mutex_unlock(&c->mu);
    call_unref(c);
    return rc;
}

static int start_inline(forge_app *app, struct svc *sv, forge_error *cerr)
{
    return sv->def.start(app, sv->def.state, cerr);
}

int forge__svc_call_start(forge_app *app, struct svc *sv, uint64_t timeout_ms, forge_error *err)
{
    if (!sv->def.start)
        return 0;
    if (atomic_load(&sv->busy))
        return forge_error_setk(err, FORGE_EBUSY, sv->name,
                                "service '%s' is still running a start or stop that timed out",
                                sv->name);
    forge_error cerr;
    forge_error_clear(&cerr);
    int rc =
        timeout_ms ? timed_call(app, sv, true, timeout_ms, &cerr) : start_inline(app, sv, &cerr);
    if (rc == 0)
        return 0;
    if (rc == FORGE_ETIMEDOUT && !cerr.message[0]) {
        forge_error_clear(err);
        return forge_error_setk(err, FORGE_ETIMEDOUT, sv->name,
                                "service '%s' did not start within %llu ms", sv->name,
                                (unsigned long long)timeout_ms);
    }
    if (rc > 0) /* a start must return 0 or a negative code; treat others as failures */
        rc = FORGE_EIO;
    if (err) {
        forge_error_clear(err);
        snprintf(err->cause, sizeof(err->cause), "%s",
                 cerr.message[0] ? cerr.message : forge_strerror(rc));
    }
    return forge_error_setk(err, rc, sv->name, "service '%s' failed to start: %.300s", sv->name,
                            cerr.message[0] ? cerr.message : forge_strerror(rc));
}

int forge__svc_call_stop(forge_app *app, struct svc *sv, uint64_t timeout_ms)
{
    if (!sv->def.stop || atomic_load(&sv->busy))
        return 0;
    if (!timeout_ms) {
        sv->def.stop(app, sv->def.state);
        return 0;
    }
    return timed_call(app, sv, false, timeout_ms, NULL);
}

bool forge__svc_wait_pending(struct forge__services *s, uint64_t timeout_ms)
{
    struct timespec dl = deadline_in(timeout_ms);
    int e = 0;
    pthread_mutex_lock(&s->pending_mu);
    while (s->pending > 0 && e != ETIMEDOUT)
        e = pthread_cond_timedwait(&s->pending_cv, &s->pending_mu, &dl);
    bool none = s->pending == 0;
    pthread_mutex_unlock(&s->pending_mu);
    return none;
}
