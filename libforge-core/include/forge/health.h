/*
 * Forge: health checks and the Kubernetes probes.
 *
 * Every service with a health callback becomes a check (groups "ready" and
 * "startup"); apps add their own with forge_health_add. Each check runs
 * periodically off the request path (scheduled by the worker's runtime
 * thread, at most observe.health.concurrency at a time, each on a runner
 * thread of its own) and its last result is cached; the endpoints only read
 * cached results, which every worker publishes in shared memory, so a probe
 * answered by any worker sees the whole server:
 *
 *   /_/health          full JSON report; 503 when something is unhealthy
 *   /_/health/live     200 unless a "live" check is unhealthy in a worker
 *   /_/health/ready    200 once started and no "ready" check is unhealthy
 *                      (degraded counts as ready); 503 otherwise, and while
 *                      this worker is stopping
 *   /_/health/startup  200 once every worker started and each "startup"
 *                      check succeeded at least once
 *   /_/health/<group>  200/503 for a named group, 404 for an unknown one
 *
 * A check that does not return within its timeout counts as unhealthy
 * ("timed out after N ms"); it is not started again until it returns, so a
 * hanging dependency holds at most one runner per check.
 */
#ifndef FORGE_HEALTH_H
#define FORGE_HEALTH_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/app.h>
#include <forge/di.h>
#include <jansson.h>

typedef struct forge_health_registry forge_health_registry;

/* The DI entry "forge.health" of every app's container -> forge_health_registry *. */
FORGE_API extern const forge_type forge_type_health;

FORGE_API forge_health_registry *forge_app_health_registry(forge_app *app);

/*
 * A check: returns FORGE_HEALTHY, FORGE_DEGRADED or FORGE_UNHEALTHY, and may
 * put a message in err->message. Runs on a runner thread, never two runs of
 * one check at once.
 */
typedef forge_health (*forge_health_check_fn)(forge_app *app, void *udata, forge_error *err);

typedef struct forge_health_check_def {
    const char *name; /* unique; [A-Za-z0-9._:-], at most 63 bytes */
    forge_health_check_fn fn;
    void *udata;
    /* NULL-terminated group names; NULL: {"ready"}. "live", "ready" and "startup" are the
     * probes; any other name is a named group at /_/health/<name>. */
    const char *const *groups;
    uint32_t interval_ms; /* 0: observe.health.interval (10 s) */
    uint32_t timeout_ms;  /* 0: observe.health.timeout (2 s) */
    void *reserved[4];
} forge_health_check_def;

/*
 * Add a check (the def is copied). From the app's init or later, any thread.
 * FORGE_EINVAL (no name or fn, bad name or group), FORGE_EEXIST (name taken),
 * FORGE_ETOOBIG (observe.health.max_checks reached).
 */
FORGE_API int forge_health_add(forge_health_registry *h, const forge_health_check_def *def,
                               forge_error *err);

/*
 * Called when a check's status changes in this worker (`check` its name),
 * and when this worker's overall status changes (`check` NULL). Runs on a
 * runner or the runtime thread, without locks held; keep it short.
 */
typedef void (*forge_health_change_fn)(forge_app *app, const char *check, forge_health before,
                                       forge_health now, const char *message, void *udata);
FORGE_API int forge_health_on_change(forge_health_registry *h, forge_health_change_fn fn,
                                     void *udata, forge_error *err);

/*
 * The HTTP status a probe answers now for the whole server: 200 or 503, 404
 * for a group no check belongs to. `group`: "live", "ready", "startup" or a
 * named group.
 */
FORGE_API int forge_health_probe(forge_health_registry *h, const char *group);

/* This worker's last result of a check; -1 when unknown or not yet run. */
FORGE_API int forge_health_status(forge_health_registry *h, const char *check);

/* The /_/health report (new reference; json_decref it). HTTP status in *status if not NULL. */
FORGE_API json_t *forge_health_report(forge_health_registry *h, int *status);

#endif
