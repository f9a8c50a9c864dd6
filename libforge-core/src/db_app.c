/*
 * Databases in apps: a pool as a service (config, start/stop, health for
 * readiness, periodic maintenance on the runtime), async jobs on the pool,
 * and problem+json answers for database failures.
 */
#include "db_impl.h"
#include "internal.h"

#include <forge/metrics.h>
#include <forge/migrate.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct db_cfg {
    const char *url;
    uint32_t min_conns, max_conns;
    uint64_t acquire_timeout, connect_timeout, statement_timeout, idle_timeout, validate_after;
    const char *migrations;
} db_cfg;

static const forge_config_field db_fields[] = {
    {FORGE_CFG_STRING(db_cfg, url, "url"), .flags = FORGE_CFG_SECRET,
     .help = "database URL: sqlite:///path.db, postgres://..., mysql://..., redis://..."},
    {FORGE_CFG_UINT(db_cfg, min_conns, "min_conns"), .def = "0"},
    {FORGE_CFG_UINT(db_cfg, max_conns, "max_conns"), .def = "8"},
    {FORGE_CFG_DURATION(db_cfg, acquire_timeout, "acquire_timeout"), .def = "5s"},
    {FORGE_CFG_DURATION(db_cfg, connect_timeout, "connect_timeout"), .def = "5s"},
    {FORGE_CFG_DURATION(db_cfg, statement_timeout, "statement_timeout"), .def = "0"},
    {FORGE_CFG_DURATION(db_cfg, idle_timeout, "idle_timeout"), .def = "60s"},
    {FORGE_CFG_DURATION(db_cfg, validate_after, "validate_after"), .def = "2s"},
    {FORGE_CFG_STRING(db_cfg, migrations, "migrations"),
     .help = "directory of NNNN_name.up.sql / .down.sql applied at start"},
};
static const forge_config_section db_schema = FORGE_CFG_SECTION_OF(db_fields);

typedef struct db_svc {
    forge_app *app;
    char name[64];
    char key[80]; /* "db.<name>": config prefix, service and DI name */
    char *url;    /* owned copy (the default URL or the configured one) */
    db_cfg cfg;
    _Atomic(forge_db *) db;
    int64_t timer;
    atomic_bool maintaining;
    /* metrics (label db=<name>), NULL when the app has no registry */
    forge_metric *m_in_use, *m_idle, *m_waiting, *m_acquires, *m_acquire_s, *m_timeouts,
        *m_failures, *m_connects, *m_connect_failures;
    forge_db_stats last; /* counters already exported by this worker */
} db_svc;

static FORGE_TYPE_DEFINE(db_svc_type, "forge.db.service");

static void svc_free(void *p)
{
    db_svc *s = p;
    forge_db_close(atomic_exchange(&s->db, NULL));
    free(s->url);
    free(s);
}

static uint32_t ms32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Pool metrics, registered at init (before fork) so every worker shares them. */
static void metrics_register(db_svc *s, forge_app *app)
{
    forge_metrics *m = forge_app_metrics(app);
    if (!m)
        return;
    static const char *const labels[] = {"db", NULL};
    forge_error e;
#define G(f, n, h)                                                                                 \
    s->f = forge_metrics_gauge(m, &(forge_metric_opts){.name = n, .help = h, .labels = labels}, &e)
#define C(f, n, h)                                                                                 \
    s->f =                                                                                         \
        forge_metrics_counter(m, &(forge_metric_opts){.name = n, .help = h, .labels = labels}, &e)
    G(m_in_use, "forge_db_connections_in_use", "Database connections lent out.");
    G(m_idle, "forge_db_connections_idle", "Database connections open and free.");
    G(m_waiting, "forge_db_acquire_waiting", "Threads waiting for a database connection.");
    C(m_acquires, "forge_db_acquires_total", "Connections borrowed from the pool.");
    C(m_acquire_s, "forge_db_acquire_seconds_total", "Time spent borrowing connections.");
    C(m_timeouts, "forge_db_acquire_timeouts_total", "Borrows that timed out (pool saturated).");
    C(m_failures, "forge_db_acquire_failures_total", "Borrows that failed (database unreachable).");
    C(m_connects, "forge_db_connects_total", "Database connections opened.");
    C(m_connect_failures, "forge_db_connect_failures_total", "Failed connection attempts.");
#undef G
#undef C
}

static void metrics_update(db_svc *s, forge_db *db)
{
    if (!s->m_in_use)
        return;
    forge_db_stats st;
    forge_db_stats_get(db, &st);
    const char *const v[] = {s->name};
    forge_series_set(forge_metric_labels(s->m_in_use, v), st.in_use);
    forge_series_set(forge_metric_labels(s->m_idle, v), st.idle);
    forge_series_set(forge_metric_labels(s->m_waiting, v), st.waiting);
#define D(f, field)                                                                                \
    forge_series_add(forge_metric_labels(s->f, v), (double)(st.field - s->last.field))
    D(m_acquires, acquires);
    D(m_timeouts, acquire_timeouts);
    D(m_failures, acquire_failures);
    D(m_connects, connects);
    D(m_connect_failures, connect_failures);
#undef D
    forge_series_add(forge_metric_labels(s->m_acquire_s, v),
                     (double)(st.acquire_ns_total - s->last.acquire_ns_total) / 1e9);
    s->last = st;
}

static void maintain_job(void *arg)
{
    db_svc *s = arg;
    forge_db *db = atomic_load(&s->db);
    if (db) {
        forge_db_maintain(db);
        metrics_update(s, db);
    }
    atomic_store(&s->maintaining, false);
}

/* Runtime thread: hand the (blocking) maintenance to the pool, one at a time. */
static void maintain_tick(void *arg)
{
    db_svc *s = arg;
    forge_runtime *rt = forge_app_runtime(s->app);
    if (!rt || atomic_exchange(&s->maintaining, true))
        return;
    if (forge_runtime_submit(rt, maintain_job, s) != 0)
        atomic_store(&s->maintaining, false);
}

/* Set err to "<what>: <err's message>" (the service start wraps it once more). */
static int reason(forge_error *err, int rc, const char *what)
{
    if (!err)
        return rc;
    char msg[FORGE_ERROR_MSG_MAX];
    snprintf(msg, sizeof(msg), "%s", err->message);
    return forge_error_set(err, rc, "%s: %s", what, msg);
}

/* Copy `in`, replacing each "{driver}" with the driver's name. */
static void expand_driver(char *out, size_t cap, const char *in, const char *driver)
{
    size_t n = 0;
    while (*in && n + 1 < cap) {
        if (strncmp(in, "{driver}", 8) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s", driver);
            in += 8;
        } else {
            out[n++] = *in++;
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
}

static int svc_start(forge_app *app, void *state, forge_error *err)
{
    db_svc *s = state;
    forge_db_opts o = {
        .min_conns = s->cfg.min_conns,
        .max_conns = s->cfg.max_conns,
        .acquire_timeout_ms = ms32(s->cfg.acquire_timeout),
        .connect_timeout_ms = ms32(s->cfg.connect_timeout),
        .statement_timeout_ms = ms32(s->cfg.statement_timeout),
        .idle_timeout_ms = ms32(s->cfg.idle_timeout),
        .validate_after_ms = ms32(s->cfg.validate_after),
        .name = s->name,
    };
    forge_db *db = NULL;
    int rc = forge_db_open(s->url, &o, &db, err);
    if (rc < 0)
        return reason(err, rc, "cannot open the database");
    forge_error herr;
    forge_error_clear(&herr);
    if (s->cfg.migrations && *s->cfg.migrations) {
        char dir[4096];
        expand_driver(dir, sizeof(dir), s->cfg.migrations, forge_db_driver_name(db));
        forge_migrate_result res;
        rc = forge_migrate_up(db, dir, 0, &res, err);
        if (rc < 0) {
            forge_db_close(db);
            char what[600];
            snprintf(what, sizeof(what), "migrations in %.500s failed", dir);
            return reason(err, rc, what);
        }
        if (res.applied)
            forge_logf(forge_app_log(app), FORGE_LOG_INFO, NULL,
                       "db %s: applied %d migration(s), now at version %lld", s->name, res.applied,
                       (long long)res.version);
    } else if (forge_db_health(db, ms32(s->cfg.connect_timeout), &herr) != FORGE_HEALTHY) {
        forge_logf(forge_app_log(app), FORGE_LOG_ERROR, NULL,
                   "db %s: %s is not reachable at start (%s); not ready until it answers", s->name,
                   forge_db_url_redacted(db), herr.message);
    }
    memset(&s->last, 0, sizeof(s->last));
    atomic_store(&s->db, db);
    forge_runtime *rt = forge_app_runtime(app);
    s->timer = rt ? forge_runtime_timer(rt, 1000, 1000, maintain_tick, s) : 0;
    return 0;
}

static void svc_stop(forge_app *app, void *state)
{
    db_svc *s = state;
    forge_runtime *rt = forge_app_runtime(app);
    if (rt && s->timer > 0)
        forge_runtime_timer_cancel(rt, s->timer);
    s->timer = 0;
    /* A maintenance job still queued finds db NULL (the pool drains before the app is freed). */
    forge_db_close(atomic_exchange(&s->db, NULL));
}

static forge_health svc_health(forge_app *app, void *state, forge_error *err)
{
    db_svc *s = state;
    forge_db *db = atomic_load(&s->db);
    if (!db) {
        forge_error_set(err, FORGE_ESTATE, "%s: not started", s->key);
        return FORGE_UNHEALTHY;
    }
    return forge_db_health(db, 1000, err);
}

int forge_app_db_register(forge_app *app, const char *name, const forge_app_db_opts *opts,
                          forge_error *err)
{
    if (!app || !name || !*name || strlen(name) > 60)
        return forge_error_set(err, FORGE_EINVAL, "db: a database needs a name (up to 60 bytes)");
    db_svc *s = calloc(1, sizeof(*s));
    if (!s)
        return FORGE_ENOMEM;
    s->app = app;
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->key, sizeof(s->key), "db.%s", name);
    const char *default_url = opts ? opts->default_url : NULL;
    int rc = forge_config_bind(forge_app_config(app), s->key, &db_schema, &s->cfg, err);
    if (rc == 0 && !s->cfg.migrations && opts && opts->default_migrations)
        s->cfg.migrations = opts->default_migrations;
    if (rc == 0 && !s->cfg.url && !default_url) {
        char env[64];
        size_t i = 0;
        for (; name[i] && i < sizeof(env) - 1; i++)
            env[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
        env[i] = '\0';
        rc = forge_error_setk(err, FORGE_ECONFIG, s->key,
                              "%s.url: required but not set (in the config file or "
                              "FORGE_DB__%s__URL)",
                              s->key, env);
    }
    if (rc == 0 && s->cfg.max_conns == 0)
        rc = forge_error_setk(err, FORGE_ECONFIG, s->key, "%s.max_conns: must be at least 1",
                              s->key);
    if (rc == 0) {
        s->url = strdup(s->cfg.url ? s->cfg.url : default_url);
        rc = s->url ? 0 : FORGE_ENOMEM;
    }
    if (rc < 0) {
        free(s->url);
        free(s);
        return rc;
    }
    metrics_register(s, app);
    rc = forge_di_value(forge_app_container(app), s->key, &db_svc_type, s, svc_free, err);
    if (rc < 0) {
        svc_free(s);
        return rc;
    }
    forge_service_def def = {
        .name = s->key, .start = svc_start, .stop = svc_stop, .health = svc_health, .state = s};
    return forge_app_service(app, &def, err);
}

forge_db *forge_app_db(forge_app *app, const char *name)
{
    if (!app || !name)
        return NULL;
    char key[80];
    snprintf(key, sizeof(key), "db.%s", name);
    forge_error err;
    db_svc *s = forge_di_get_optional(forge_app_container(app), key, &db_svc_type, &err);
    return s ? atomic_load(&s->db) : NULL;
}

/* ---- requests ---- */

int forge_db_problem(forge_req *req, int rc, const forge_error *err)
{
    forge_log *log = forge_app_log(forge_req_app(req));
    if (err && err->message[0])
        forge_logf(log, rc == FORGE_ECONFLICT ? FORGE_LOG_INFO : FORGE_LOG_ERROR, req, "%s",
                   err->message);
    switch (rc) {
    case FORGE_EIO:
    case FORGE_ETIMEDOUT:
    case FORGE_EBUSY:
    case FORGE_ESTATE:
        forge_res_set_header(req, "Retry-After", "1");
        return forge_res_problem(req, 503, NULL, "The database is unavailable; retry shortly.");
    case FORGE_ECONFLICT:
        return forge_res_problem(req, 409, NULL, "The change conflicts with stored data.");
    default:
        return forge_res_problem(req, 500, NULL, "A database operation failed.");
    }
}

typedef struct db_job {
    forge_req *req;
    forge_db *db;
    forge_db_job_fn fn;
    void *udata;
} db_job;

static int run_job(db_job *j)
{
    forge_db_conn *c;
    forge_error err;
    forge_error_clear(&err);
    int rc = j->db ? forge_db_acquire(j->db, 0, &c, &err)
                   : forge_error_set(&err, FORGE_ESTATE, "db: not started");
    if (rc < 0)
        return forge_db_problem(j->req, rc, &err);
    rc = j->fn(j->req, c, j->udata);
    forge_db_release(c);
    if (rc < 0)
        forge_db_problem(j->req, rc, NULL);
    return 0;
}

static void job_main(void *arg)
{
    db_job *j = arg;
    run_job(j);
    forge_req_finish(j->req);
    free(j);
}

int forge_db_async(forge_req *req, forge_db *db, forge_db_job_fn fn, void *udata)
{
    if (!req || !fn)
        return FORGE_EINVAL;
    db_job j = {req, db, fn, udata};
    forge_runtime *rt = forge_app_runtime(forge_req_app(req));
    if (!rt || forge_runtime_on_pool_thread(rt)) {
        run_job(&j); /* already off the event loop (or no runtime): run in place */
        return 0;
    }
    db_job *h = malloc(sizeof(*h));
    if (!h)
        return FORGE_ENOMEM;
    *h = j;
    int rc = forge_runtime_submit(rt, job_main, h);
    if (rc < 0) {
        free(h);
        forge_res_set_header(req, "Retry-After", "1");
        forge_res_problem(req, 503, NULL, "The server is busy; retry shortly.");
        return 0;
    }
    return FORGE_ASYNC;
}
