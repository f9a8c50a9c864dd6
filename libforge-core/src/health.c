/*
 * The health registry: checks, change callbacks, results and their
 * publication in shared memory. Scheduling is in health_run.c, reading the
 * whole server's records in health_view.c.
 */
#include "health_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

FORGE_API const forge_type forge_type_health = {"forge.health"};

forge_health_registry *forge__health_new(forge_app *app)
{
    forge_health_registry *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->app = app;
    pthread_mutex_init(&h->mu, NULL);
    atomic_store(&h->refs, 1);
    h->interval_ms = 10000;
    h->timeout_ms = 2000;
    h->concurrency = 2;
    h->max_checks = 32;
    h->max_workers = 32;
    return h;
}

static void destroy(forge_health_registry *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i]->name);
        free(h->v[i]->service);
        free(h->v[i]);
    }
    free(h->v);
    free(h->cbs);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void forge__health_unref(forge_health_registry *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        destroy(h);
}

void forge__health_free(void *p)
{
    forge_health_registry *h = p;
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->app = NULL; /* a runner that outlives the app must not call into it */
    pthread_mutex_unlock(&h->mu);
    forge__health_unref(h);
}

forge_health_registry *forge_app_health_registry(forge_app *app)
{
    return app && app->observe ? app->observe->health : NULL;
}

size_t forge__health_shm_size(const forge__observe_cfg *cfg)
{
    uint64_t stride = (64 + (uint64_t)cfg->health.max_checks * sizeof(struct hrec) + 63) & ~63ull;
    return (size_t)(64 + stride * (uint64_t)cfg->max_workers);
}

int forge__health_mapped(forge_health_registry *h, void *region, forge_error *err)
{
    const forge__observe_cfg *c = &h->app->observe->cfg;
    struct hshm *s = region;
    uint64_t stride = (64 + (uint64_t)c->health.max_checks * sizeof(struct hrec) + 63) & ~63ull;
    if (s->magic != FORGE__HMAGIC || s->max_workers != (uint32_t)c->max_workers ||
        s->max_checks != (uint32_t)c->health.max_checks) {
        if (s->magic != 0)
            memset(s, 0, forge__health_shm_size(c));
        s->max_workers = (uint32_t)c->max_workers;
        s->max_checks = (uint32_t)c->health.max_checks;
        s->worker_stride = stride;
        s->magic = FORGE__HMAGIC;
    }
    pthread_mutex_lock(&h->mu);
    h->interval_ms = c->health.interval;
    h->timeout_ms = c->health.timeout;
    h->concurrency = (int)c->health.concurrency;
    h->max_checks = (int)c->health.max_checks;
    h->max_workers = (int)c->max_workers;
    h->shm = s;
    pthread_mutex_unlock(&h->mu);
    return FORGE_OK;
}

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= FORGE__HNAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

static bool group_ok(const char *g)
{
    size_t n = g ? strlen(g) : 0;
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = g[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* ",ready,startup," from a NULL-terminated list (NULL: ready). */
static int join_groups(char *out, const char *const *groups)
{
    static const char *const def[] = {"ready", NULL};
    size_t n = 0;
    out[n++] = ',';
    for (const char *const *g = groups ? groups : def; *g; g++) {
        size_t l = strlen(*g);
        if (!group_ok(*g) || n + l + 2 > FORGE__HGROUPS_MAX)
            return FORGE_EINVAL;
        memcpy(out + n, *g, l);
        n += l;
        out[n++] = ',';
    }
    out[n] = '\0';
    return n > 1 ? FORGE_OK : FORGE_EINVAL;
}

static struct hcheck *find_locked(forge_health_registry *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i]->name, name) == 0)
            return h->v[i];
    return NULL;
}

/* Add a check record (mu held). */
static int add_locked(forge_health_registry *h, struct hcheck *c, forge_error *err)
{
    if (find_locked(h, c->name))
        return forge_error_setk(err, FORGE_EEXIST, c->name, "health: a check named %s exists",
                                c->name);
    if (h->n >= (size_t)h->max_checks)
        return forge_error_setk(err, FORGE_ETOOBIG, "observe.health.max_checks",
                                "health: %s: observe.health.max_checks (%d) reached", c->name,
                                h->max_checks);
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        struct hcheck **v = realloc(h->v, cap * sizeof(*v));
        if (!v)
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        h->v = v;
        h->cap = cap;
    }
    snprintf(c->rec.name, sizeof(c->rec.name), "%s", c->name);
    snprintf(c->rec.groups, sizeof(c->rec.groups), "%s", c->groups);
    c->due_mono = forge__obs_mono_ms();
    h->v[h->n++] = c;
    if (h->shm && h->state == HW_STARTED)
        forge__health_publish_locked(h);
    return FORGE_OK;
}

struct hcheck *forge__health_check_new(const char *name, const char *const *groups,
                                       forge_error *err)
{
    struct hcheck *c = calloc(1, sizeof(*c));
    if (!c) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    if (join_groups(c->groups, groups) < 0) {
        forge_error_setk(err, FORGE_EINVAL, name,
                         "health: %s: groups must be 1 to 32 of [a-z0-9_-], 62 bytes in all", name);
        free(c);
        return NULL;
    }
    c->name = strdup(name);
    if (!c->name) {
        free(c);
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    return c;
}

int forge__health_add_check(forge_health_registry *h, struct hcheck *c, forge_error *err)
{
    pthread_mutex_lock(&h->mu);
    int rc = add_locked(h, c, err);
    pthread_mutex_unlock(&h->mu);
    if (rc < 0) {
        free(c->name);
        free(c->service);
        free(c);
    }
    return rc;
}

int forge_health_add(forge_health_registry *h, const forge_health_check_def *def, forge_error *err)
{
    if (!h || !def || !def->fn)
        return forge_error_set(err, FORGE_EINVAL, "health: a check needs a name and a function");
    if (!name_ok(def->name))
        return forge_error_set(err, FORGE_EINVAL,
                               "health: invalid check name \"%s\" ([A-Za-z0-9._:-], at most %d "
                               "bytes)",
                               def->name ? def->name : "(null)", FORGE__HNAME_MAX - 1);
    struct hcheck *c = forge__health_check_new(def->name, def->groups, err);
    if (!c)
        return err && err->code ? err->code : FORGE_ENOMEM;
    c->fn = def->fn;
    c->udata = def->udata;
    c->interval_ms = def->interval_ms;
    c->timeout_ms = def->timeout_ms;
    return forge__health_add_check(h, c, err);
}

int forge_health_on_change(forge_health_registry *h, forge_health_change_fn fn, void *udata,
                           forge_error *err)
{
    if (!h || !fn)
        return forge_error_set(err, FORGE_EINVAL, "health: no callback");
    pthread_mutex_lock(&h->mu);
    if (h->ncbs >= FORGE__HCALLBACKS_MAX) {
        pthread_mutex_unlock(&h->mu);
        return forge_error_set(err, FORGE_ETOOBIG, "health: at most %d change callbacks",
                               FORGE__HCALLBACKS_MAX);
    }
    struct hcallback *v = realloc(h->cbs, (h->ncbs + 1) * sizeof(*v));
    if (v) {
        v[h->ncbs++] = (struct hcallback){fn, udata};
        h->cbs = v;
    }
    pthread_mutex_unlock(&h->mu);
    return v ? FORGE_OK : forge_error_set(err, FORGE_ENOMEM, "out of memory");
}

int forge_health_status(forge_health_registry *h, const char *check)
{
    if (!h || !check)
        return -1;
    pthread_mutex_lock(&h->mu);
    struct hcheck *c = find_locked(h, check);
    int st = c && c->rec.has_result ? c->rec.status : -1;
    pthread_mutex_unlock(&h->mu);
    return st;
}

void forge__health_publish_locked(forge_health_registry *h)
{
    if (!h->shm)
        return;
    struct hworker *w = forge__hworker(h->shm, h->worker);
    uint32_t n = h->n < (size_t)h->shm->max_checks ? (uint32_t)h->n : h->shm->max_checks;
    atomic_fetch_add_explicit(&w->seq, 1, memory_order_acq_rel); /* odd: writing */
    atomic_thread_fence(memory_order_release);
    w->state = (uint32_t)h->state;
    w->pid = (int32_t)getpid();
    w->heartbeat_ms = forge__obs_now_ms();
    w->nchecks = n;
    struct hrec *recs = forge__hrecs(w);
    for (uint32_t i = 0; i < n; i++)
        recs[i] = h->v[i]->rec;
    atomic_fetch_add_explicit(&w->seq, 1, memory_order_release); /* even: consistent */
}

size_t forge__health_record_locked(forge_health_registry *h, struct hcheck *c, forge_health st,
                                   const char *msg, uint64_t duration_us, bool timed_out,
                                   forge__health_event *ev)
{
    size_t nev = 0;
    int64_t now = forge__obs_now_ms();
    bool had = c->rec.has_result;
    forge_health before = (forge_health)c->rec.status;
    c->rec.status = (uint8_t)st;
    c->rec.has_result = 1;
    c->rec.timed_out = timed_out;
    c->rec.duration_us = duration_us > UINT32_MAX ? UINT32_MAX : (uint32_t)duration_us;
    c->rec.last_run_ms = now;
    if (st != FORGE_UNHEALTHY)
        c->rec.ever_ok = 1;
    c->rec.failures = st == FORGE_UNHEALTHY ? c->rec.failures + 1 : 0;
    snprintf(c->rec.message, sizeof(c->rec.message), "%s", msg ? msg : "");
    if (!had || before != st) {
        c->rec.last_change_ms = now;
        ev[nev].check = c->name;
        ev[nev].before = had ? before : FORGE_HEALTHY;
        ev[nev].now = st;
        snprintf(ev[nev].message, sizeof(ev[nev].message), "%s", c->rec.message);
        /* The first result is a change only when it is not healthy. */
        if (had || st != FORGE_HEALTHY)
            nev++;
    }
    forge_health worst = FORGE_HEALTHY;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i]->rec.has_result && h->v[i]->rec.status > worst)
            worst = (forge_health)h->v[i]->rec.status;
    if (!h->overall_known || worst != h->overall) {
        if (h->overall_known || worst != FORGE_HEALTHY) {
            ev[nev].check = NULL;
            ev[nev].before = h->overall_known ? h->overall : FORGE_HEALTHY;
            ev[nev].now = worst;
            ev[nev].message[0] = '\0';
            nev++;
        }
        h->overall = worst;
        h->overall_known = true;
    }
    if (h->status_metric)
        forge_series_set(forge_metric_labels(h->status_metric, (const char *const[]){c->name}),
                         (double)st);
    forge__health_publish_locked(h);
    return nev;
}

void forge__health_fire(forge_health_registry *h, const forge__health_event *ev, size_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&h->mu);
    size_t ncbs = h->ncbs;
    struct hcallback cbs[FORGE__HCALLBACKS_MAX];
    if (ncbs)
        memcpy(cbs, h->cbs, ncbs * sizeof(*cbs));
    forge_app *app = h->app;
    pthread_mutex_unlock(&h->mu);
    if (!app)
        return;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ncbs; k++)
            cbs[k].fn(app, ev[i].check, ev[i].before, ev[i].now, ev[i].message, cbs[k].udata);
}
