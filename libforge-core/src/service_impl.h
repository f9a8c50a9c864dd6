/*
 * Internal to the service registry (service*.c): the records and the
 * calls between its files. Nothing here is exported.
 */
#ifndef FORGE_SERVICE_IMPL_H
#define FORGE_SERVICE_IMPL_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

/*
 * One registered service. `def` is a copy whose name and deps point at the
 * owned strings below. Only `state` changes after registration; it is
 * atomic so other threads (health checks, the services visitor) may read it.
 */
struct svc {
    forge_service_def def;
    char *name;
    char **deps; /* NULL-terminated, owned; def.deps points here */
    size_t ndeps;
    _Atomic int state; /* forge_service_state */
    _Atomic bool busy; /* a timed-out start or stop is still running on its helper thread */
};

struct svc_hook {
    forge_phase phase;
    int priority;
    size_t seq; /* registration order, breaks priority ties */
    forge_hook_fn fn;
    void *udata;
};

/*
 * The registry. `mu` (recursive) serialises registration, start and stop
 * (app-level and per-machine). Callbacks (service start/stop, hooks) run
 * with it held and `in_lifecycle` set: a callback on the same thread that
 * calls back into the registry gets FORGE_ESTATE (register, hook, start) or
 * nothing (stop) instead of a deadlock. `pending` counts helper threads
 * still running a start or stop that timed out; freeing the registry waits
 * for them (bounded, see service_call.c).
 */
struct forge__services {
    pthread_mutex_t mu;
    struct svc **v; /* registration order */
    size_t n, cap;
    struct svc_hook *hooks;
    size_t nhooks, hcap, hseq;
    size_t *started; /* indexes of started app-level services, in start order */
    size_t nstarted;
    size_t *mstarted; /* the same for per-machine services */
    size_t nmstarted;
    bool running;            /* forge_app_start succeeded and no stop since */
    bool middleware_started; /* forge__middleware_start succeeded */
    bool in_lifecycle;       /* a start or stop sequence is running callbacks */
    pthread_mutex_t pending_mu;
    pthread_cond_t pending_cv;
    int pending;
};

/* service_graph.c: a dependency graph over nodes 0..n-1 (node i needs deps[i][..]). */
typedef struct forge__graph {
    size_t n;
    const char *const *names;
    const size_t *const *deps;
    const size_t *ndeps;
} forge__graph;

/*
 * A stable topological order (dependencies first; among nodes whose
 * dependencies are satisfied, the lowest index first) into order[0..n).
 * FORGE_ECYCLE with the path ("a -> b -> c -> a") when there is a cycle.
 */
int forge__graph_order(const forge__graph *g, size_t *order, forge_error *err);

/* service_graph.c: the start order of all registered services, or an error naming the problem. */
int forge__services_order(struct forge__services *s, size_t *order, forge_error *err);

/* service_call.c: run a start or stop with a timeout (0: inline, no timeout). */
int forge__svc_call_start(forge_app *app, struct svc *sv, uint64_t timeout_ms, forge_error *err);
int forge__svc_call_stop(forge_app *app, struct svc *sv, uint64_t timeout_ms);
/* Wait (at most timeout_ms) for helper threads of timed-out calls. False if some remain. */
bool forge__svc_wait_pending(struct forge__services *s, uint64_t timeout_ms);

/* service_hooks.c: run the hooks of one phase in priority order. Stops at the first failure
 * when `stop_on_error`, else logs each failure and goes on. */
int forge__hooks_run(forge_app *app, forge_phase phase, bool stop_on_error, forge_error *err);

/* service_run.c */
uint64_t forge__svc_start_timeout(forge_app *app, const struct svc *sv);
uint64_t forge__svc_stop_timeout(forge_app *app, const struct svc *sv);
void forge__svc_set_state(struct svc *sv, forge_service_state st);

#define FORGE_SERVICES_START_TIMEOUT_MS 30000u
#define FORGE_SERVICES_STOP_TIMEOUT_MS  10000u

#endif
