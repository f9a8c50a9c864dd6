/*
 * Internal to libforge-core: the app record and the calls areas make of each
 * other. Nothing here is exported; names are forge__*.
 *
 * Each area owns a sub-record of the app, defined in its own file; the app
 * holds pointers to them. An area reaches another only through the calls
 * declared here or the public headers.
 */
#ifndef FORGE_INTERNAL_H
#define FORGE_INTERNAL_H

#include <forge/forge.h>
#include <forge/host.h>

struct forge__services; /* service.c: registry, ordering, lifecycle hooks */
struct forge__routes;   /* route.c: route records, groups, middleware chains */
struct forge__shm;      /* shm.c: named shared-memory reservations */
struct forge__observe;  /* observe.c: metrics, health, tracing, access log */

struct forge_app {
    char *name;
    char *version;
    forge_config *config;
    forge_log *log;
    forge_container *di;
    forge_router *router;
    struct forge__services *services;
    struct forge__routes *routes;
    struct forge__shm *shm;
    struct forge__observe *observe;
    forge_runtime *runtime; /* per worker, NULL before worker start */
    forge_host *host;       /* the host that loaded the app, NULL in bare unit tests */
    int worker_id;
    int worker_count;
    void *user_data;
};

/* ---- service.c ---- */
struct forge__services *forge__services_new(void);
void forge__services_free(struct forge__services *s);
/* Start/stop only the FORGE_SERVICE_PER_MACHINE services (machine lock taken / given up). */
int forge__app_start_machine_services(forge_app *app, forge_error *err);
void forge__app_stop_machine_services(forge_app *app);
/* True when a service flagged FORGE_SERVICE_PER_MACHINE is registered. */
bool forge__app_has_machine_services(forge_app *app);

/* ---- route.c ---- */
struct forge__routes *forge__routes_new(void);
void forge__routes_free(struct forge__routes *r);
/* Install default middleware and resolve each route's chain; after the app's init. */
int forge__routes_finalize(forge_app *app, forge_error *err);
/* Middleware on_start/on_stop, called around service start/stop. */
int forge__middleware_start(forge_app *app, forge_error *err);
void forge__middleware_stop(forge_app *app);

/* ---- shm.c ---- */
struct forge__shm *forge__shm_new(void);
void forge__shm_free(struct forge__shm *s);
/* Map every reservation (via alloc, or mmap when alloc is NULL). */
int forge__shm_map_all(struct forge__shm *s,
                       void *(*alloc)(void *hctx, const char *name, size_t size), void *hctx,
                       forge_error *err);

/* ---- observe.c: one-line hooks from app.c, route_finalize.c and host_worker.c ---- */
int forge__observe_attach(forge_app *app);                    /* forge_app_new */
void forge__observe_free(forge_app *app);                     /* forge_app_free */
int forge__observe_install(forge_app *app, forge_error *err); /* routes finalize */
int forge__observe_mapped(forge_app *app, forge_error *err);  /* after the shm mapping */
void forge__observe_worker_start(forge_app *app);             /* services started */
void forge__observe_worker_stop(forge_app *app);              /* before services stop */
void forge__accesslog_emit(forge_req *req);                   /* the access log middleware */

/* ---- service_health.c: one service's health (per-machine ones not here: *skipped) ---- */
forge_health forge__service_health(forge_app *app, const char *name, bool *skipped,
                                   forge_error *err);

/* ---- runtime.c ---- */
typedef struct forge__runtime_opts {
    int pool_threads;              /* runtime.pool_threads, default 4 */
    size_t pool_queue_max;         /* runtime.pool_queue_max, default 4096 */
    const char *machine_lock_path; /* NULL: no per-machine services to run */
    /* Called on the runtime thread when this worker gains / loses the machine lock. */
    void (*on_leader)(forge_app *app, bool leader);
    uint32_t lock_retry_ms; /* how often a non-leader retries the lock; 0: 300 */
} forge__runtime_opts;

/*
 * Start the pool and the loop thread (opts may be NULL: defaults). Sets
 * app->runtime (app may be NULL) before the loop thread runs, so on_leader
 * already finds it. Errors: FORGE_ECONFIG naming runtime.pool_threads or
 * runtime.pool_queue_max; FORGE_EIO when the lock file cannot be opened.
 */
forge_runtime *forge__runtime_new(forge_app *app, const forge__runtime_opts *opts,
                                  forge_error *err);
/*
 * Resign the machine lock (on_leader(app, false)), drain the pool, run the
 * calls already queued, cancel timers, join the threads, clear app->runtime.
 * Not from the runtime thread or a pool thread (it joins them). Details in
 * runtime.c.
 */
void forge__runtime_free(forge_runtime *rt);

#endif
