/*
 * mod_forge: Forge inside Apache httpd 2.4. Shared declarations of the
 * module's files:
 *
 *   mod_forge.c       directives, configuration, process hooks, log sink
 *   forge_request.c   claiming locations, translating and serving requests
 *   forge_output.c    Forge's response into Apache's output filters
 *
 * One app per Apache instance (ForgeApp is a main-server directive). It is
 * loaded in the parent for each configuration generation and inherited by
 * the children through fork; each child starts it as one Forge worker.
 */
#ifndef MOD_FORGE_H
#define MOD_FORGE_H

#include "httpd.h"
#include "http_config.h"

#include <pthread.h>

#include <forge/host.h>
#include <forge/log.h>

#define FORGE_HANDLER_NAME "forge"
#define FORGE_UNSET        -1

extern module AP_MODULE_DECLARE_DATA forge_module;

/*
 * Server configuration. ForgeApp and ForgeConfig are set on the main server
 * only; every virtual host's `main` points at the main server's record,
 * which owns the host for the configuration generation (freed with pconf).
 */
typedef struct forge_server_conf forge_server_conf;

struct forge_server_conf {
    forge_server_conf *main;
    const char *app_path;    /* absolute */
    const char *config_path; /* absolute, or NULL */
    const char *app_where;   /* "file:line" of ForgeApp, for messages */
    int used;                /* a `Forge On` appears in this server */
    forge_host *host;
    forge_app *app;
    server_rec *server;
};

/* Per-directory configuration: `Forge On|Off`. Inherited by nested sections. */
typedef struct {
    int enabled; /* FORGE_UNSET, 0 or 1 */
} forge_dir_conf;

/*
 * What a request thread sleeps on while Forge finishes a response on another
 * thread: one per Apache thread that ever serves a Forge request, made on
 * first use and freed when the thread exits (thread-specific data). Only
 * its own thread waits on `cv`, so a signal reaches the right waiter; a
 * nested request on the same thread (a subrequest made by a filter while an
 * outer Forge response passes) shares it, and each checks its own `woken`.
 */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
} forge_ap_waiter;

/*
 * One request in flight: the `hreq` Forge passes back to the ops. Lives in
 * r->pool. Only `woken` (under waiter->mu) is touched by other threads (by
 * wake); everything else belongs to the request's Apache thread.
 */
typedef struct {
    request_rec *r;
    apr_bucket_brigade *bb;
    forge_ap_waiter *waiter; /* the request thread's */
    int woken;
    int head_sent;
    int last_sent;
    int failed; /* an output error: the client is gone */
} forge_ap_ctx;

/* The ops table (mod_forge.c) and its functions (forge_output.c). */
extern const forge_host_ops forge_ap_ops;

int forge_ap_send_head(void *hreq, int status, const forge_header *headers,
                       size_t nheaders, int64_t content_length);
int forge_ap_send_body(void *hreq, const void *data, size_t len,
                       unsigned flags);
void forge_ap_wake(void *hreq);

/*
 * The calling thread's waiter (NULL when out of memory). The key is made in
 * child_init (forge_ap_waiters_init, 0 or an errno) before any request.
 */
int forge_ap_waiters_init(apr_pool_t *pchild);
forge_ap_waiter *forge_ap_waiter_get(void);

/* Hooks of forge_request.c. */
int forge_ap_pre_translate_name(request_rec *r);
int forge_ap_translate_name(request_rec *r);
int forge_ap_map_to_storage(request_rec *r);
int forge_ap_handler(request_rec *r);

#endif
