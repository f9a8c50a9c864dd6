/*
 * Health summary: the worst of the running services' health callbacks.
 */
#include "service_impl.h"

#include <string.h>

const char *forge_health_name(forge_health h)
{
    switch (h) {
    case FORGE_HEALTHY:
        return "healthy";
    case FORGE_DEGRADED:
        return "degraded";
    case FORGE_UNHEALTHY:
        return "unhealthy";
    }
    return "unknown";
}

static forge_health one(forge_app *app, struct svc *sv, forge_service_state st, forge_error *herr)
{
    if (st != FORGE_SERVICE_RUNNING) {
        forge_error_set(herr, FORGE_ESTATE, "%s", forge_service_state_name(st));
        return FORGE_UNHEALTHY;
    }
    if (!sv->def.health)
        return FORGE_HEALTHY;
    forge_health h = sv->def.health(app, sv->def.state, herr);
    return h == FORGE_HEALTHY || h == FORGE_DEGRADED ? h : FORGE_UNHEALTHY;
}

/*
 * Per-machine services that are not running here are skipped: they run in
 * one worker only, and their absence says nothing about this one.
 */
forge_health forge_app_health(forge_app *app, forge_health_visit_fn fn, void *udata)
{
    struct forge__services *s = app->services;
    forge_health worst = FORGE_HEALTHY;
    for (size_t i = 0; i < s->n; i++) {
        struct svc *sv = s->v[i];
        forge_service_state st = (forge_service_state)atomic_load(&sv->state);
        if ((sv->def.flags & FORGE_SERVICE_PER_MACHINE) && st != FORGE_SERVICE_RUNNING)
            continue;
        forge_error herr;
        forge_error_clear(&herr);
        forge_health h = one(app, sv, st, &herr);
        if (h > worst)
            worst = h;
        if (fn)
            fn(sv->name, st, h, herr.message, udata);
    }
    return worst;
}

forge_health forge__service_health(forge_app *app, const char *name, bool *skipped,
                                   forge_error *err)
{
    struct forge__services *s = app->services;
    *skipped = false;
    for (size_t i = 0; i < s->n; i++) {
        struct svc *sv = s->v[i];
        if (strcmp(sv->name, name) != 0)
            continue;
        forge_service_state st = (forge_service_state)atomic_load(&sv->state);
        if ((sv->def.flags & FORGE_SERVICE_PER_MACHINE) && st != FORGE_SERVICE_RUNNING) {
            *skipped = true;
            return FORGE_HEALTHY;
        }
        return one(app, sv, st, err);
    }
    forge_error_set(err, FORGE_ENOENT, "no service named %s", name);
    return FORGE_UNHEALTHY;
}
