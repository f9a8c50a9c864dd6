/*
 * Starting and stopping: the app-level services (forge_app_start/stop) and
 * the per-machine ones (started and stopped by the runtime as this worker
 * gains or loses the machine lock), with phase hooks and middleware
 * start/stop around them.
 *
 * Everything here runs with the registry's mutex held and in_lifecycle set,
 * so a start and a stop (or a per-machine start from the runtime thread)
 * never interleave, and a callback re-entering gets an error, not a hang.
 */
#include "service_impl.h"

#include <stdlib.h>

uint64_t forge__svc_start_timeout(forge_app *app, const struct svc *sv)
{
    if (sv->def.start_timeout_ms)
        return sv->def.start_timeout_ms;
    return forge_config_duration_ms(app->config, "services.start_timeout",
                                    FORGE_SERVICES_START_TIMEOUT_MS);
}

uint64_t forge__svc_stop_timeout(forge_app *app, const struct svc *sv)
{
    if (sv->def.stop_timeout_ms)
        return sv->def.stop_timeout_ms;
    return forge_config_duration_ms(app->config, "services.stop_timeout",
                                    FORGE_SERVICES_STOP_TIMEOUT_MS);
}

static void stop_one(forge_app *app, struct svc *sv)
{
    forge__svc_set_state(sv, FORGE_SERVICE_STOPPING);
    uint64_t t = forge__svc_stop_timeout(app, sv);
    if (forge__svc_call_stop(app, sv, t) == FORGE_ETIMEDOUT) {
        forge_logf(app->log, FORGE_LOG_ERROR, NULL,
                   "service '%s' did not stop within %llu ms; going on without it", sv->name,
                   (unsigned long long)t);
        forge__svc_set_state(sv, FORGE_SERVICE_FAILED);
        return;
    }
    forge__svc_set_state(sv, FORGE_SERVICE_STOPPED);
    forge_logf(app->log, FORGE_LOG_DEBUG, NULL, "service '%s' stopped", sv->name);
}

/* Stop a started list in reverse; empties it. */
static void stop_list(forge_app *app, size_t *list, size_t *n)
{
    while (*n > 0)
        stop_one(app, app->services->v[list[--*n]]);
}

static int start_one(forge_app *app, struct svc *sv, forge_error *err)
{
    forge__svc_set_state(sv, FORGE_SERVICE_STARTING);
    int rc = forge__svc_call_start(app, sv, forge__svc_start_timeout(app, sv), err);
    if (rc) {
        forge__svc_set_state(sv, FORGE_SERVICE_FAILED);
        forge_logf(app->log, FORGE_LOG_ERROR, NULL, "%s", err ? err->message : "start failed");
        return rc;
    }
    forge__svc_set_state(sv, FORGE_SERVICE_RUNNING);
    forge_logf(app->log, FORGE_LOG_DEBUG, NULL, "service '%s' started", sv->name);
    return 0;
}

/* Undo whatever part of a start happened: the stop sequence over what is running. */
static void stop_locked(forge_app *app)
{
    struct forge__services *s = app->services;
    stop_list(app, s->mstarted, &s->nmstarted);
    forge__hooks_run(app, FORGE_PHASE_BEFORE_STOP, false, NULL);
    if (s->middleware_started) {
        forge__middleware_stop(app);
        s->middleware_started = false;
    }
    stop_list(app, s->started, &s->nstarted);
    forge__hooks_run(app, FORGE_PHASE_AFTER_STOP, false, NULL);
    s->running = false;
}

static int start_services(forge_app *app, const size_t *order, forge_error *err)
{
    struct forge__services *s = app->services;
    for (size_t k = 0; k < s->n; k++) {
        struct svc *sv = s->v[order[k]];
        if (sv->def.flags & FORGE_SERVICE_PER_MACHINE)
            continue;
        int rc = start_one(app, sv, err);
        if (rc)
            return rc;
        s->started[s->nstarted++] = order[k];
    }
    return 0;
}

/*
 * forge_config_check_core checks these keys after loading; checking again
 * here covers apps started without it (a getter alone would fall back to the
 * default on a wrong type, silently).
 */
static int check_timeout_keys(forge_app *app, forge_error *err)
{
    static const char *const keys[] = {"services.start_timeout", "services.stop_timeout"};
    for (size_t i = 0; i < 2; i++) {
        uint64_t v;
        int rc = forge_config_get_duration_ms(app->config, keys[i], &v, err);
        if (rc < 0 && rc != FORGE_ENOENT)
            return rc;
    }
    forge_error_clear(err);
    return 0;
}

static int start_locked(forge_app *app, forge_error *err)
{
    struct forge__services *s = app->services;
    if (s->running)
        return forge_error_set(err, FORGE_ESTATE, "the app is already started");
    int rc = check_timeout_keys(app, err);
    if (rc == 0)
        rc = forge_di_validate(app->di, err);
    if (rc)
        return rc;
    size_t *order = malloc((s->n + 1) * sizeof(*order));
    if (!order)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    rc = forge__services_order(s, order, err);
    if (rc == 0)
        rc = forge__hooks_run(app, FORGE_PHASE_BEFORE_START, true, err);
    if (rc) {
        free(order);
        return rc;
    }
    rc = start_services(app, order, err);
    free(order);
    if (rc == 0) {
        rc = forge__middleware_start(app, err);
        if (rc && err && !err->message[0]) /* route.c names the middleware; keep it */
            forge_error_set(err, rc, "middleware failed to start");
        else if (rc == 0)
            s->middleware_started = true;
    }
    if (rc == 0)
        rc = forge__hooks_run(app, FORGE_PHASE_AFTER_START, true, err);
    if (rc) {
        stop_locked(app);
        return rc;
    }
    s->running = true;
    return 0;
}

/* Enter the registry for a lifecycle sequence; false (lock not held) from inside one. */
static bool enter(struct forge__services *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->in_lifecycle) {
        pthread_mutex_unlock(&s->mu);
        return false;
    }
    s->in_lifecycle = true;
    return true;
}

static void leave(struct forge__services *s)
{
    s->in_lifecycle = false;
    pthread_mutex_unlock(&s->mu);
}

int forge_app_start(forge_app *app, forge_error *err)
{
    forge_error_clear(err);
    if (!enter(app->services))
        return forge_error_set(err, FORGE_ESTATE,
                               "forge_app_start called from a lifecycle callback");
    int rc = start_locked(app, err);
    leave(app->services);
    return rc;
}

void forge_app_stop(forge_app *app)
{
    if (!app || !app->services)
        return;
    struct forge__services *s = app->services;
    if (!enter(s)) {
        forge_logf(app->log, FORGE_LOG_WARN, NULL,
                   "forge_app_stop called from a lifecycle callback: ignored");
        return;
    }
    if (s->running)
        stop_locked(app);
    else
        stop_list(app, s->mstarted, &s->nmstarted);
    leave(s);
}

/* A per-machine service's dependencies must be running in this worker already. */
static int check_running_deps(forge_app *app, struct svc *sv, forge_error *err)
{
    for (size_t i = 0; i < sv->ndeps; i++) {
        forge_service_state st = forge_app_service_state(app, sv->deps[i]);
        if (st != FORGE_SERVICE_RUNNING)
            return forge_error_setk(
                err, FORGE_EDEPENDENCY, sv->name,
                "per-machine service '%s' depends on '%s', which is not running (%s)", sv->name,
                sv->deps[i], forge_service_state_name(st));
    }
    return 0;
}

static int start_machine_locked(forge_app *app, forge_error *err)
{
    struct forge__services *s = app->services;
    if (s->nmstarted)
        return 0;
    size_t *order = malloc((s->n + 1) * sizeof(*order));
    if (!order)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    int rc = forge__services_order(s, order, err);
    for (size_t k = 0; k < s->n && rc == 0; k++) {
        struct svc *sv = s->v[order[k]];
        if (!(sv->def.flags & FORGE_SERVICE_PER_MACHINE))
            continue;
        rc = check_running_deps(app, sv, err);
        if (rc == 0)
            rc = start_one(app, sv, err);
        if (rc == 0)
            s->mstarted[s->nmstarted++] = order[k];
    }
    free(order);
    if (rc)
        stop_list(app, s->mstarted, &s->nmstarted);
    return rc;
}

int forge__app_start_machine_services(forge_app *app, forge_error *err)
{
    forge_error_clear(err);
    if (!enter(app->services))
        return forge_error_set(err, FORGE_ESTATE,
                               "per-machine services started from a lifecycle callback");
    int rc = start_machine_locked(app, err);
    leave(app->services);
    return rc;
}

void forge__app_stop_machine_services(forge_app *app)
{
    struct forge__services *s = app->services;
    if (!enter(s))
        return;
    stop_list(app, s->mstarted, &s->nmstarted);
    leave(s);
}
