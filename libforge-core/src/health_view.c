/*
 * The whole server's health, read from every worker's shared record: the
 * probes, the JSON report and the /_/health endpoints. Reading copies each
 * record under its sequence lock; no lock is taken, so a probe never waits
 * for a check and never slows a worker down.
 *
 * A worker's record counts while the worker is started (or stopping, for
 * liveness), its heartbeat is fresh (the runtime refreshes it every tick)
 * and its process exists; a crashed worker's record drops out when its pid
 * is gone and is overwritten by its replacement.
 */
#include "health_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define STALE_MIN_MS 5000

bool forge__health_read(const struct hshm *s, uint32_t w, forge__hview *out, struct hrec *buf)
{
    struct hworker *src = forge__hworker(s, w);
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t s1 = atomic_load_explicit(&src->seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        out->w.state = src->state;
        out->w.pid = src->pid;
        out->w.nchecks = src->nchecks < s->max_checks ? src->nchecks : s->max_checks;
        out->w.heartbeat_ms = src->heartbeat_ms;
        out->w.started_ms = src->started_ms;
        memcpy(buf, forge__hrecs(src), out->w.nchecks * sizeof(struct hrec));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&src->seq, memory_order_relaxed) == s1) {
            out->checks = buf;
            for (uint32_t i = 0; i < out->w.nchecks; i++) {
                buf[i].name[FORGE__HNAME_MAX - 1] = '\0';
                buf[i].groups[FORGE__HGROUPS_MAX - 1] = '\0';
                buf[i].message[FORGE__HMSG_MAX - 1] = '\0';
            }
            return out->w.state != HW_NONE;
        }
    }
    return false;
}

static bool fresh(const forge_health_registry *h, const forge__hview *v)
{
    if (v->w.state != HW_STARTED && v->w.state != HW_STOPPING && v->w.state != HW_STARTING)
        return false;
    int64_t stale = (int64_t)h->tick_ms * 10;
    if (stale < STALE_MIN_MS)
        stale = STALE_MIN_MS;
    if (forge__obs_now_ms() - v->w.heartbeat_ms > stale)
        return false;
    return !(v->w.pid > 0 && kill(v->w.pid, 0) != 0 && errno == ESRCH);
}

static bool in_group(const struct hrec *r, const char *group)
{
    size_t n = strlen(group);
    for (const char *p = strstr(r->groups, group); p; p = strstr(p + 1, group))
        if (p[-1] == ',' && p[n] == ',')
            return true;
    return false;
}

typedef int (*view_fn)(forge_health_registry *h, const forge__hview *v, uint32_t w, void *u);

/* Visit the records of live workers; buf holds max_checks records. */
static int each_worker(forge_health_registry *h, view_fn fn, void *u)
{
    const struct hshm *s = h->shm;
    if (!s)
        return 0;
    struct hrec *buf = malloc(sizeof(struct hrec) * s->max_checks);
    if (!buf)
        return FORGE_ENOMEM;
    int rc = 0;
    for (uint32_t w = 0; w < s->max_workers && rc == 0; w++) {
        forge__hview v;
        if (forge__health_read(s, w, &v, buf) && fresh(h, &v))
            rc = fn(h, &v, w, u);
    }
    free(buf);
    return rc;
}

typedef struct probe_ctx {
    const char *group;
    int kind; /* 0 live, 1 ready, 2 startup, 3 named */
    bool ok, known;
    int workers;
} probe_ctx;

static int probe_worker(forge_health_registry *h, const forge__hview *v, uint32_t w, void *u)
{
    probe_ctx *p = u;
    /* Another worker on its way out says nothing about readiness. */
    if (p->kind != 0 && v->w.state != HW_STARTED)
        return 0;
    p->workers++;
    for (uint32_t i = 0; i < v->w.nchecks; i++) {
        const struct hrec *r = &v->checks[i];
        if (!in_group(r, p->group))
            continue;
        p->known = true;
        if (p->kind == 2)
            p->ok = p->ok && r->ever_ok;
        else if (p->kind == 0)
            p->ok = p->ok && !(r->has_result && r->status == FORGE_UNHEALTHY);
        else
            p->ok = p->ok && r->has_result && r->status != FORGE_UNHEALTHY;
    }
    return 0;
}

int forge_health_probe(forge_health_registry *h, const char *group)
{
    if (!h || !group)
        return 404;
    probe_ctx p = {group, 3, true, false, 0};
    if (strcmp(group, "live") == 0)
        p.kind = 0;
    else if (strcmp(group, "ready") == 0)
        p.kind = 1;
    else if (strcmp(group, "startup") == 0)
        p.kind = 2;
    if (each_worker(h, probe_worker, &p) < 0)
        return 503;
    if (p.kind == 3 && !p.known)
        return 404;
    if (p.kind == 0)
        return p.ok ? 200 : 503;
    pthread_mutex_lock(&h->mu);
    bool stopping = h->state == HW_STOPPING || h->state == HW_STOPPED;
    pthread_mutex_unlock(&h->mu);
    if (p.workers == 0 || (p.kind == 1 && stopping))
        return 503;
    return p.ok ? 200 : 503;
}

/* ---- the report ---- */

static const char *status_name(int st)
{
    return st < 0 ? "pending" : forge_health_name((forge_health)st);
}

typedef struct report_ctx {
    json_t *checks;
    json_t *workers;
    int worst; /* -1: nothing known */
} report_ctx;

static json_t *groups_json(const char *groups)
{
    json_t *a = json_array();
    const char *p = groups;
    while (a && *p) {
        const char *q = strchr(p + 1, ',');
        if (!q)
            break;
        if (q > p + 1)
            json_array_append_new(a, json_stringn(p + 1, (size_t)(q - p - 1)));
        p = q;
    }
    return a;
}

static void merge_check(report_ctx *r, const struct hrec *rec)
{
    json_t *c = json_object_get(r->checks, rec->name);
    int st = rec->has_result ? rec->status : -1;
    if (!c) {
        c = json_object();
        json_object_set_new(c, "groups", groups_json(rec->groups));
        json_object_set_new(c, "workers",
                            json_pack("{s:i,s:i,s:i,s:i}", "healthy", 0, "degraded", 0, "unhealthy",
                                      0, "pending", 0));
        json_object_set_new(c, "_worst", json_integer(-2));
        json_object_set_new(r->checks, rec->name, c);
    }
    json_t *w = json_object_get(c, "workers");
    const char *sn = status_name(st);
    json_object_set_new(w, sn, json_integer(json_integer_value(json_object_get(w, sn)) + 1));
    json_int_t worst = json_integer_value(json_object_get(c, "_worst"));
    /* The worst worker's view is the one shown; pending ranks below a result. */
    if (worst == -2 || (st >= 0 && (worst < 0 || st > worst))) {
        json_object_set_new(c, "_worst", json_integer(st));
        json_object_set_new(c, "status", json_string(sn));
        json_object_set_new(c, "message", json_string(rec->message));
        json_object_set_new(c, "duration_ms", json_real((double)rec->duration_us / 1000.0));
        json_object_set_new(c, "last_run_ms", json_integer(rec->last_run_ms));
        json_object_set_new(c, "consecutive_failures", json_integer(rec->failures));
        json_object_set_new(c, "timed_out", json_boolean(rec->timed_out));
    }
    if (st > r->worst)
        r->worst = st;
}

static int report_worker(forge_health_registry *h, const forge__hview *v, uint32_t w, void *u)
{
    report_ctx *r = u;
    static const char *const st[] = {"none", "starting", "started", "stopping", "stopped"};
    json_array_append_new(r->workers,
                          json_pack("{s:i,s:i,s:s,s:I}", "worker", (int)w, "pid", (int)v->w.pid,
                                    "state", v->w.state < 5 ? st[v->w.state] : "unknown",
                                    "started_ms", (json_int_t)v->w.started_ms));
    for (uint32_t i = 0; i < v->w.nchecks; i++)
        merge_check(r, &v->checks[i]);
    return 0;
}

json_t *forge_health_report(forge_health_registry *h, int *status)
{
    report_ctx r = {json_object(), json_array(), -1};
    json_t *out = json_object();
    if (!r.checks || !r.workers || !out) {
        json_decref(r.checks);
        json_decref(r.workers);
        json_decref(out);
        return NULL;
    }
    each_worker(h, report_worker, &r);
    const char *key;
    json_t *c;
    json_object_foreach(r.checks, key, c) json_object_del(c, "_worst");
    int ready = forge_health_probe(h, "ready");
    int live = forge_health_probe(h, "live");
    int startup = forge_health_probe(h, "startup");
    const char *overall = r.worst < 0 ? (startup == 200 ? "healthy" : "starting")
                                      : forge_health_name((forge_health)r.worst);
    json_object_set_new(out, "status", json_string(overall));
    json_object_set_new(out, "probes",
                        json_pack("{s:s,s:s,s:s}", "live", live == 200 ? "up" : "down", "ready",
                                  ready == 200 ? "up" : "down", "startup",
                                  startup == 200 ? "up" : "down"));
    json_object_set_new(out, "checks", r.checks);
    json_object_set_new(out, "workers", r.workers);
    if (status)
        *status = r.worst == FORGE_UNHEALTHY || ready != 200 ? 503 : 200;
    return out;
}

/* ---- endpoints ---- */

static int h_health(forge_req *req, void *udata)
{
    forge_health_registry *h = udata;
    int status = 503;
    json_t *rep = forge_health_report(h, &status);
    if (!rep)
        return FORGE_ENOMEM;
    forge_res_set_header(req, "Cache-Control", "no-store");
    int rc = forge_res_json(req, status, rep);
    json_decref(rep);
    return rc;
}

static int h_group(forge_req *req, void *udata)
{
    forge_health_registry *h = udata;
    forge_str g = forge_req_param(req, "group");
    char group[40];
    if (g.n == 0 || g.n >= sizeof(group))
        return forge_res_problem(req, 404, NULL, "No health group of that name.");
    memcpy(group, g.p, g.n);
    group[g.n] = '\0';
    int status = forge_health_probe(h, group);
    if (status == 404)
        return forge_res_problem(req, 404, NULL, "No health check belongs to that group.");
    forge_res_set_header(req, "Cache-Control", "no-store");
    json_t *body = json_pack("{s:s,s:s}", "group", group, "status", status == 200 ? "up" : "down");
    int rc = forge_res_json(req, status, body);
    json_decref(body);
    return rc;
}

int forge__health_routes(forge_app *app, forge_error *err)
{
    forge_health_registry *h = app->observe->health;
    int rc = forge__observe_route(app, "/health", h_health, h, 0, err);
    if (rc == FORGE_OK)
        rc = forge__observe_route(app, "/health/:group", h_group, h, 0, err);
    return rc;
}
