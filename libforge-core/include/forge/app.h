/*
 * Forge: the app, its entry point and its services.
 *
 * A user app is a shared object with one entry point declared by FORGE_APP.
 * The host loads it, creates a forge_app, loads its configuration and calls
 * the init function, which registers services, routes and middleware.
 *
 *     FORGE_APP("hello", "1.0.0")
 *     {
 *         return forge_app_route(app, "GET", "/hello", hello, NULL, NULL, err);
 *     }
 *
 * Services start in dependency order and stop in reverse. A service flagged
 * FORGE_SERVICE_PER_MACHINE starts only in the worker that holds the
 * per-machine lock (and in another worker when that one exits).
 */
#ifndef FORGE_APP_H
#define FORGE_APP_H

#include <forge/common.h>
#include <forge/error.h>

typedef int (*forge_app_init_fn)(forge_app *app, forge_error *err);

/*
 * The record FORGE_APP exports under the symbol FORGE_APP_SYMBOL. There is no
 * typedef: the exported variable itself is named forge_app_entry (so tests
 * that link an app can pass &forge_app_entry), and C gives typedef names and
 * variables one namespace. Write the type as `struct forge_app_entry`.
 */
struct forge_app_entry {
    uint32_t abi_version; /* FORGE_ABI_VERSION at build time */
    uint32_t size;        /* sizeof(struct forge_app_entry) at build time */
    const char *name;
    const char *version;
    forge_app_init_fn init;
    void *reserved[4];
};

#define FORGE_APP_SYMBOL "forge_app_entry"

#define FORGE_APP(name_, version_)                                                                 \
    static int forge__app_init(forge_app *app, forge_error *err);                                  \
    FORGE_EXPORT const struct forge_app_entry forge_app_entry = {                                  \
        FORGE_ABI_VERSION,                                                                         \
        (uint32_t)sizeof(struct forge_app_entry),                                                  \
        name_,                                                                                     \
        version_,                                                                                  \
        forge__app_init,                                                                           \
        {0}};                                                                                      \
    static int forge__app_init(forge_app *app, forge_error *err)

/* Creating and freeing (hosts and tests; apps receive theirs). */
FORGE_API forge_app *forge_app_new(const char *name, const char *version);
FORGE_API void forge_app_free(forge_app *app);

FORGE_API const char *forge_app_name(const forge_app *app);
FORGE_API const char *forge_app_version(const forge_app *app);

/* The app's parts. Owned by the app. */
FORGE_API forge_config *forge_app_config(forge_app *app);
FORGE_API forge_log *forge_app_log(forge_app *app);
FORGE_API forge_container *forge_app_container(forge_app *app);
FORGE_API forge_router *forge_app_router(forge_app *app);
FORGE_API forge_runtime *forge_app_runtime(forge_app *app); /* NULL before worker start */

/* One user pointer for the app's own state. */
FORGE_API void forge_app_set_data(forge_app *app, void *data);
FORGE_API void *forge_app_data(const forge_app *app);

/* Worker identity: id in [0, count); 0 and 1 on single-process hosts. */
FORGE_API int forge_app_worker_id(const forge_app *app);
FORGE_API int forge_app_worker_count(const forge_app *app);

/* ---- services ---- */

#define FORGE_SERVICE_PER_MACHINE 0x1u

typedef enum forge_service_state {
    FORGE_SERVICE_UNKNOWN = -1, /* no service of that name */
    FORGE_SERVICE_REGISTERED = 0,
    FORGE_SERVICE_STARTING,
    FORGE_SERVICE_RUNNING,
    FORGE_SERVICE_STOPPING,
    FORGE_SERVICE_STOPPED,
    FORGE_SERVICE_FAILED
} forge_service_state;

typedef enum forge_health {
    FORGE_HEALTHY = 0,
    FORGE_DEGRADED = 1,
    FORGE_UNHEALTHY = 2
} forge_health;

typedef struct forge_service_def {
    const char *name;
    const char *const *deps; /* NULL-terminated names, may be NULL */
    int (*start)(forge_app *app, void *state, forge_error *err);
    void (*stop)(forge_app *app, void *state);
    forge_health (*health)(forge_app *app, void *state, forge_error *err);
    void *state;
    unsigned flags;            /* FORGE_SERVICE_* */
    uint32_t start_timeout_ms; /* 0: app default (services.start_timeout) */
    uint32_t stop_timeout_ms;  /* 0: app default (services.stop_timeout) */
    void *reserved[4];
} forge_service_def;

/*
 * Register a service (the def is copied, strings too). FORGE_EEXIST on a
 * duplicate name, FORGE_ESTATE once the app is started. Service callbacks
 * and hooks run under the app's lifecycle lock: from inside one,
 * forge_app_service/hook/start give FORGE_ESTATE and forge_app_stop does
 * nothing.
 */
FORGE_API int forge_app_service(forge_app *app, const forge_service_def *def, forge_error *err);

/*
 * Start every service in dependency order (among services whose
 * dependencies are started, the earliest registered first). Services flagged
 * FORGE_SERVICE_PER_MACHINE are left to the runtime. Missing dependencies
 * and cycles (in services and in the DI container's declared graph, see
 * forge_di_validate) are refused before anything starts, naming the
 * dependency or the cycle ("a -> b -> a"). The sequence: BEFORE_START hooks,
 * services, middleware on_start, AFTER_START hooks. When a step fails or a
 * start times out (FORGE_ETIMEDOUT; services.start_timeout, default 30s, or
 * the def's start_timeout_ms), what already started is stopped as by
 * forge_app_stop, and err names the failed service and why (key: the
 * service's name; cause: the service's own message). FORGE_ESTATE when the
 * app is already started.
 */
FORGE_API int forge_app_start(forge_app *app, forge_error *err);

/*
 * Stop in reverse: per-machine services, BEFORE_STOP hooks, middleware
 * on_stop, services, AFTER_STOP hooks. Idempotent. A stop that exceeds its
 * timeout (services.stop_timeout, default 10s, or the def's) is logged and
 * left running on its helper thread; the service is marked FAILED.
 */
FORGE_API void forge_app_stop(forge_app *app);

/*
 * A service's state (FORGE_SERVICE_UNKNOWN for an unknown name). Safe from
 * any thread once registration is over.
 */
FORGE_API forge_service_state forge_app_service_state(const forge_app *app, const char *name);
FORGE_API const char *forge_service_state_name(forge_service_state s);

/*
 * Visit every service in registration order; a non-zero return from `fn`
 * stops the walk and is returned. Safe from any thread once registration is
 * over (states are read atomically; a walk may see a start in progress).
 */
typedef int (*forge_service_visit_fn)(const char *name, forge_service_state state, void *udata);
FORGE_API int forge_app_services(const forge_app *app, forge_service_visit_fn fn, void *udata);

/*
 * Health: calls each running service's health callback (services without
 * one count as healthy; services not running as unhealthy) and returns the
 * worst. `fn` (may be NULL) sees each service's result and message (empty
 * when the callback gave none). Runs the callbacks on the calling thread;
 * safe from any thread while services are running, but not concurrently
 * with forge_app_start/stop.
 */
typedef void (*forge_health_visit_fn)(const char *name, forge_service_state state,
                                      forge_health health, const char *message, void *udata);
FORGE_API forge_health forge_app_health(forge_app *app, forge_health_visit_fn fn, void *udata);
FORGE_API const char *forge_health_name(forge_health h);

/* ---- lifecycle phase hooks ---- */

typedef enum forge_phase {
    FORGE_PHASE_BEFORE_START = 0,
    FORGE_PHASE_AFTER_START,
    FORGE_PHASE_BEFORE_STOP,
    FORGE_PHASE_AFTER_STOP
} forge_phase;

typedef int (*forge_hook_fn)(forge_app *app, forge_phase phase, void *udata, forge_error *err);

/*
 * Hooks run in priority order (lower first, ties in registration order). A
 * failing BEFORE_START hook aborts the start; failures of stop hooks are
 * logged and the stop goes on.
 */
FORGE_API int forge_app_hook(forge_app *app, forge_phase phase, int priority, forge_hook_fn fn,
                             void *udata, forge_error *err);

#endif
