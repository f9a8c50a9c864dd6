/*
 * The service registry: registration (defs and strings copied), states, the
 * services visitor. Ordering is in service_graph.c, start/stop in
 * service_run.c, timed calls in service_call.c, phase hooks in
 * service_hooks.c, health in service_health.c.
 */
#include "service_impl.h"

#include <stdlib.h>
#include <string.h>

struct forge__services *forge__services_new(void)
{
    struct forge__services *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&s->pending_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->pending_cv, &ca);
    pthread_condattr_destroy(&ca);
    return s;
}

static void svc_free(struct svc *sv)
{
    for (size_t i = 0; i < sv->ndeps; i++)
        free(sv->deps[i]);
    free(sv->deps);
    free(sv->name);
    free(sv);
}

/*
 * forge_app_free stops the services before this runs. A helper thread still
 * running a timed-out start or stop holds a pointer to its service record:
 * wait for it (up to the default stop timeout); if it is still running then,
 * the records are leaked rather than freed under it.
 */
void forge__services_free(struct forge__services *s)
{
    if (!s)
        return;
    if (!forge__svc_wait_pending(s, FORGE_SERVICES_STOP_TIMEOUT_MS))
        return;
    for (size_t i = 0; i < s->n; i++)
        svc_free(s->v[i]);
    free(s->v);
    free(s->hooks);
    free(s->started);
    free(s->mstarted);
    pthread_cond_destroy(&s->pending_cv);
    pthread_mutex_destroy(&s->pending_mu);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static struct svc *find(struct forge__services *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->name, name) == 0)
            return s->v[i];
    return NULL;
}

static struct svc *svc_copy(const forge_service_def *def)
{
    struct svc *sv = calloc(1, sizeof(*sv));
    if (!sv)
        return NULL;
    sv->def = *def;
    size_t nd = 0;
    while (def->deps && def->deps[nd])
        nd++;
    sv->name = strdup(def->name);
    sv->deps = calloc(nd + 1, sizeof(*sv->deps));
    if (!sv->name || !sv->deps) {
        svc_free(sv);
        return NULL;
    }
    for (; sv->ndeps < nd; sv->ndeps++)
        if (!(sv->deps[sv->ndeps] = strdup(def->deps[sv->ndeps]))) {
            svc_free(sv);
            return NULL;
        }
    sv->def.name = sv->name;
    sv->def.deps = (const char *const *)sv->deps;
    atomic_init(&sv->state, FORGE_SERVICE_REGISTERED);
    atomic_init(&sv->busy, false);
    return sv;
}

static int check_def(const forge_service_def *def, forge_error *err)
{
    if (!def || !def->name || !def->name[0])
        return forge_error_set(err, FORGE_EINVAL, "a service needs a name");
    if (!def->start && !def->stop)
        return forge_error_setk(err, FORGE_EINVAL, def->name,
                                "service '%s' has neither a start nor a stop function", def->name);
    if (def->flags & ~FORGE_SERVICE_PER_MACHINE)
        return forge_error_setk(err, FORGE_EINVAL, def->name, "service '%s' has unknown flags 0x%x",
                                def->name, def->flags & ~FORGE_SERVICE_PER_MACHINE);
    for (size_t i = 0; def->deps && def->deps[i]; i++)
        if (!def->deps[i][0] || strcmp(def->deps[i], def->name) == 0)
            return forge_error_setk(err, def->deps[i][0] ? FORGE_ECYCLE : FORGE_EINVAL, def->name,
                                    def->deps[i][0] ? "service '%s' depends on itself"
                                                    : "service '%s' has an empty dependency name",
                                    def->name);
    return 0;
}

int forge_app_service(forge_app *app, const forge_service_def *def, forge_error *err)
{
    int rc = check_def(def, err);
    if (rc)
        return rc;
    struct forge__services *s = app->services;
    pthread_mutex_lock(&s->mu);
    if (s->running || s->in_lifecycle) {
        pthread_mutex_unlock(&s->mu);
        return forge_error_setk(err, FORGE_ESTATE, def->name,
                                "cannot register service '%s': the app is started", def->name);
    }
    if (find(s, def->name)) {
        pthread_mutex_unlock(&s->mu);
        return forge_error_setk(err, FORGE_EEXIST, def->name, "service '%s' is already registered",
                                def->name);
    }
    struct svc *sv = NULL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct svc **v = realloc(s->v, cap * sizeof(*v));
        size_t *st = v ? realloc(s->started, cap * sizeof(*st)) : NULL;
        if (st)
            s->started = st;
        size_t *mst = st ? realloc(s->mstarted, cap * sizeof(*mst)) : NULL;
        if (mst)
            s->mstarted = mst;
        if (v)
            s->v = v;
        if (!mst)
            goto nomem;
        s->cap = cap;
    }
    if (!(sv = svc_copy(def)))
        goto nomem;
    s->v[s->n++] = sv;
    pthread_mutex_unlock(&s->mu);
    return 0;
nomem:
    pthread_mutex_unlock(&s->mu);
    return forge_error_set(err, FORGE_ENOMEM, "out of memory");
}

forge_service_state forge_app_service_state(const forge_app *app, const char *name)
{
    struct forge__services *s = app->services;
    /* Registration happens before start; the list is not resized while services run. */
    struct svc *sv = name ? find(s, name) : NULL;
    return sv ? (forge_service_state)atomic_load(&sv->state) : FORGE_SERVICE_UNKNOWN;
}

const char *forge_service_state_name(forge_service_state st)
{
    switch (st) {
    case FORGE_SERVICE_REGISTERED:
        return "registered";
    case FORGE_SERVICE_STARTING:
        return "starting";
    case FORGE_SERVICE_RUNNING:
        return "running";
    case FORGE_SERVICE_STOPPING:
        return "stopping";
    case FORGE_SERVICE_STOPPED:
        return "stopped";
    case FORGE_SERVICE_FAILED:
        return "failed";
    case FORGE_SERVICE_UNKNOWN:
        return "unknown";
    }
    return "unknown";
}

int forge_app_services(const forge_app *app, forge_service_visit_fn fn, void *udata)
{
    struct forge__services *s = app->services;
    for (size_t i = 0; i < s->n; i++) {
        int rc = fn(s->v[i]->name, (forge_service_state)atomic_load(&s->v[i]->state), udata);
        if (rc)
            return rc;
    }
    return 0;
}

void forge__svc_set_state(struct svc *sv, forge_service_state st)
{
    atomic_store(&sv->state, (int)st);
}

bool forge__app_has_machine_services(forge_app *app)
{
    struct forge__services *s = app->services;
    bool found = false;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n && !found; i++)
        found = (s->v[i]->def.flags & FORGE_SERVICE_PER_MACHINE) != 0;
    pthread_mutex_unlock(&s->mu);
    return found;
}
