/*
 * Process hooks of the host: shared memory before fork, worker start and
 * stop, and the machine lock's leader changes. (Middleware on_start/on_stop
 * run inside forge_app_start/forge_app_stop, around the services.)
 *
 * The runtime may report leadership (on its own thread) before this worker's
 * services have started; leader_mu and the two flags make the per-machine
 * services start only once both are true, whichever happens last.
 */
#include "request_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int forge_host_before_fork(forge_host *host, forge_error *err)
{
    if (!host || !host->app)
        return forge_error_set(err, FORGE_ESTATE, "before fork: no app loaded");
    int rc = forge__shm_map_all(host->app->shm, host->ops.shm_alloc, host->hctx, err);
    return rc < 0 ? rc : forge__observe_mapped(host->app, err);
}

/* With leader_mu held: bring the per-machine services in line with the lock. */
static void sync_machine_services(forge_host *host)
{
    forge_app *app = host->app;
    bool want = host->leader && host->services_started;
    if (want && !host->machine_started) {
        forge_error e;
        forge_error_clear(&e);
        if (forge__app_start_machine_services(app, &e) == FORGE_OK)
            host->machine_started = true;
        else
            forge_logf(app->log, FORGE_LOG_ERROR, NULL,
                       "worker %d: per-machine services failed to start: %s", app->worker_id,
                       e.message);
    } else if (!want && host->machine_started) {
        forge__app_stop_machine_services(app);
        host->machine_started = false;
    }
}

static void on_leader(forge_app *app, bool leader)
{
    forge_host *host = app->host;
    pthread_mutex_lock(&host->leader_mu);
    host->leader = leader;
    sync_machine_services(host);
    pthread_mutex_unlock(&host->leader_mu);
}

/* `runtime.machine_lock`, else $TMPDIR (or /tmp)/forge-<app name>.lock. */
static char *lock_path(forge_app *app)
{
    const char *p = forge_config_string(app->config, "runtime.machine_lock", NULL);
    if (p && *p)
        return strdup(p);
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char name[128];
    size_t n = 0;
    for (const char *s = app->name; *s && n < sizeof(name) - 1; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        name[n++] = ok ? c : '_';
    }
    name[n] = '\0';
    char *out = NULL;
    if (asprintf(&out, "%s/forge-%s.lock", dir, name) < 0)
        return NULL;
    return out;
}

static int runtime_opts(forge_host *host, forge__runtime_opts *o, forge_error *err)
{
    const forge_config *cfg = host->app->config;
    int64_t threads = forge_config_int(cfg, "runtime.pool_threads", 4);
    if (threads < 1 || threads > 1024)
        return forge_error_setk(err, FORGE_ECONFIG, "runtime.pool_threads",
                                "runtime.pool_threads must be between 1 and 1024, got %lld",
                                (long long)threads);
    int64_t queue = forge_config_int(cfg, "runtime.pool_queue_max", 4096);
    if (queue < 1 || queue > 1 << 24)
        return forge_error_setk(err, FORGE_ECONFIG, "runtime.pool_queue_max",
                                "runtime.pool_queue_max must be between 1 and 16777216, got %lld",
                                (long long)queue);
    free(host->lock_path);
    host->lock_path = lock_path(host->app);
    if (!host->lock_path)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    memset(o, 0, sizeof(*o));
    o->pool_threads = (int)threads;
    o->pool_queue_max = (size_t)queue;
    /*
     * Only an app with per-machine services competes for the lock: the file
     * may sit where a worker's user cannot open it, and an app that has
     * nothing to run once per machine should not fail over that.
     */
    o->machine_lock_path = forge__app_has_machine_services(host->app) ? host->lock_path : NULL;
    o->on_leader = on_leader;
    return FORGE_OK;
}

int forge_host_worker_start(forge_host *host, int worker_id, int worker_count, forge_error *err)
{
    if (!host || !host->app)
        return forge_error_set(err, FORGE_ESTATE, "worker start: no app loaded");
    if (host->worker_started)
        return FORGE_OK;
    if (worker_count < 1 || worker_id < 0 || worker_id >= worker_count)
        return forge_error_set(err, FORGE_EINVAL, "worker start: worker id %d of %d is invalid",
                               worker_id, worker_count);
    forge_app *app = host->app;
    app->worker_id = worker_id;
    app->worker_count = worker_count;
    forge__runtime_opts o;
    int rc = runtime_opts(host, &o, err);
    if (rc < 0)
        return rc;
    app->runtime = forge__runtime_new(app, &o, err);
    if (!app->runtime)
        return err && err->code ? err->code : FORGE_ENOMEM;
    rc = forge_app_start(app, err);
    if (rc == FORGE_OK) {
        pthread_mutex_lock(&host->leader_mu);
        host->services_started = true;
        sync_machine_services(host);
        pthread_mutex_unlock(&host->leader_mu);
    }
    if (rc < 0) {
        host->worker_started = true;
        forge_host_worker_stop(host);
        return rc;
    }
    host->worker_started = true;
    forge__observe_worker_start(app);
    return FORGE_OK;
}

void forge_host_worker_stop(forge_host *host)
{
    if (!host || !host->worker_started)
        return;
    forge_app *app = host->app;
    forge__observe_worker_stop(app);
    pthread_mutex_lock(&host->leader_mu);
    host->services_started = false;
    sync_machine_services(host);
    pthread_mutex_unlock(&host->leader_mu);
    forge_app_stop(app);
    forge__runtime_free(app->runtime);
    app->runtime = NULL;
    pthread_mutex_lock(&host->leader_mu);
    host->leader = false;
    pthread_mutex_unlock(&host->leader_mu);
    host->worker_started = false;
}
