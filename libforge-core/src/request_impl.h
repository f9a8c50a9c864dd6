/*
 * Internal to the http area: the request record, route records and the
 * calls between request, response, middleware, dispatch and host files.
 *
 * A forge_req is recycled through its host's free list: the record, its
 * arena's first block and its inline arrays survive from one request to the
 * next, so a steady stream of small requests allocates nothing on the heap.
 *
 * Concurrency: the request data (request view, response being built, arena)
 * belongs to one thread at a time (request.h). The fields under `mu` are the
 * hand-over point between whatever thread produces output (a pool thread, a
 * thread calling forge_req_finish or forge_res_write) and the host thread
 * that sends it (forge_req_resume).
 *
 * `shared` (ADR 0130): until the request goes to the pool, its handler
 * returns FORGE_ASYNC or a stream begins, no other thread can know it (a
 * handler that returns anything else has, by contract, given it to nobody),
 * so the host thread's completion, drain and release skip mu. Set before
 * the hand-over, never cleared until the record is recycled.
 */
#ifndef FORGE_REQUEST_IMPL_H
#define FORGE_REQUEST_IMPL_H

#include "internal.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#define FORGE__REQ_INLINE_HEADERS 32
#define FORGE__RES_INLINE_HEADERS 16
#define FORGE__REQ_ID_MAX         128
#define FORGE__PARAM_BUF          256

/* ---- routes (route.c) ---- */

typedef struct forge__mw_entry {
    forge_middleware mw; /* copied; name copied too */
    size_t seq;          /* registration order, for stable sorting */
} forge__mw_entry;

typedef struct forge__mw_list {
    forge__mw_entry **v;
    size_t n, cap;
} forge__mw_list;

/* A resolved middleware chain, outermost first. Pointers into mw entries. */
typedef struct forge__chain {
    const forge_middleware **v;
    size_t n;
} forge__chain;

struct forge_group {
    forge_app *app;
    struct forge_group *parent;
    char *prefix; /* full prefix including the parents' */
    forge__mw_list mws;
};

typedef struct forge__route {
    forge_method method;
    char *pattern; /* full pattern */
    forge_handler_fn fn;
    void *udata;
    struct forge_group *group; /* NULL for app-level routes */
    forge_route_opts opts;     /* deep copy: strings, tags and params owned here */
    forge_route_info info;
    forge__chain chain; /* resolved at finalize */
    size_t max_body;    /* resolved at finalize */
} forge__route;

struct forge__routes {
    forge__route **routes;
    size_t nroutes, cap_routes;
    struct forge_group **groups;
    size_t ngroups, cap_groups;
    forge__mw_list app_mws;
    size_t mw_seq;
    forge__chain app_chain; /* app-wide middleware: for 404, 405, OPTIONS, 413... */
    bool finalized;
    bool errors_mw;     /* the built-in error mapper is installed */
    size_t max_body;    /* http.max_body_size */
    int json_max_depth; /* http.json_max_depth */
    bool mw_started;
    size_t mw_nstarted; /* entries of the start order whose on_start ran */
    const forge__mw_entry **start_order;
    size_t nstart;
};

void forge__mw_list_free(forge__mw_list *l);

/* ---- the request ---- */

/* Where the request is in its life (guarded by mu once dispatch began). */
enum forge__phase {
    FORGE__NEW = 0, /* being filled by the host */
    FORGE__RUNNING, /* middleware/handler running (host thread or pool) */
    FORGE__ASYNC,   /* handler returned FORGE_ASYNC; waiting for finish/end */
    FORGE__FINISHED /* after-middleware done; response complete */
};

typedef struct forge__chunk {
    struct forge__chunk *next;
    size_t len;
    bool flush;
    char data[];
} forge__chunk;

typedef struct forge__value {
    struct forge__value *next;
    const char *key; /* arena copy */
    void *value;
    void (*free_fn)(void *);
} forge__value;

typedef struct forge__qpair {
    forge_str key, value; /* decoded, arena */
} forge__qpair;

struct forge_req {
    forge_host *host;
    forge_app *app;
    void *hreq;
    forge_arena *arena;
    struct forge_req *next_free;

    atomic_int refs;      /* host ref + work ref while the request runs */
    atomic_bool released; /* the host let go: no more host ops */

    /* ---- request view (host-borrowed bytes) ---- */
    forge_str method_str;
    forge_method method;
    forge_str raw_path;
    forge_str query;
    forge_header *headers;
    size_t nheaders, cap_headers;
    /* Index + 1 of the first Content-Length and X-Request-ID header (0: none),
       noted as headers are added: dispatch and the request id need no search. */
    uint32_t hdr_content_length, hdr_request_id;
    forge_header inline_headers[FORGE__REQ_INLINE_HEADERS];
    forge_str peer; /* formatted from peer_sa by forge_req_peer when peer_lazy */
    int peer_port;
    bool peer_lazy;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer_sa;
    forge_str scheme;
    forge_str body;
    size_t body_len_claimed; /* set_body's n, may exceed body.n (oversized marker) */
    bool body_owned;         /* body copied into the arena (host memory no longer needed) */
    bool oom;                /* a setter could not copy: dispatch answers 500 */
    bool bad_field;          /* a header value holds a control byte: dispatch answers 400 */

    /* lazily computed */
    int path_state; /* 0 not yet, 1 ok, -1 undecodable */
    forge_str path;
    int query_state; /* 0 not yet, 1 ok, -1 malformed */
    forge__qpair *qpairs;
    size_t nqpairs;
    json_t *json;

    /* ---- routing ---- */
    bool routed;
    int route_rc;
    forge__route *route;
    forge_match match;
    char param_buf[FORGE__PARAM_BUF];

    /* ---- ids, values ---- */
    char id[FORGE__REQ_ID_MAX + 1];
    const char *trace_id;
    /*
     * Tracing is lazy (ADR 0130): the tracing middleware only sets `tracer`;
     * the request's span (and with it the trace id, when trace_id_lazy) is
     * made on first use (forge_req_span, forge_req_trace_id, a log line, or
     * the after-half when an exporter is configured) by forge__req_span_make.
     */
    struct forge__tracer *tracer;
    struct forge_span *span;
    bool trace_id_lazy; /* forge_req_trace_id takes the span's trace id */
    forge__value *values;

    /* ---- middleware run state ---- */
    const forge__chain *chain;
    size_t mw_ran;  /* befores that ran (their afters are due) */
    int handler_rc; /* the handler's (or failing before's) result */
    struct timespec t_start;
    /* a before's deferred work (forge__mw_defer) and the handler chosen before it */
    int (*defer_fn)(forge_req *req, void *arg);
    void *defer_arg;
    int (*target_fn)(forge_req *req, void *udata);
    void *target_udata;

    /* ---- response being built ---- */
    int status;
    forge_header *res_headers;
    size_t nres_headers, cap_res_headers;
    forge_header inline_res_headers[FORGE__RES_INLINE_HEADERS];
    const char *res_body;
    size_t res_body_len, res_body_cap; /* cap 0: static or not owned */
    uint64_t bytes_sent;

    /* ---- hand-over (guarded by mu once `shared`) ---- */
    pthread_mutex_t mu;
    atomic_bool shared; /* another thread may touch the request: take mu */
    enum forge__phase phase;
    bool finish_requested; /* forge_req_finish / forge_res_end came */
    bool streaming;        /* stream_begin was called */
    bool stream_ended;
    bool head_committed; /* headers may no longer change */
    bool head_sent;
    bool wake_pending;
    bool host_gone;  /* send_* failed: stop producing output */
    bool head_only;  /* HEAD request: no body bytes */
    bool inline_run; /* handler runs on the host thread (in dispatch) */
    pthread_t inline_thread;
    forge__chunk *chunks, **chunks_tail;
    bool flush_pending;
};

/* ---- request.c ---- */
void forge__req_reset(forge_req *req);   /* back to the free-list state */
void forge__req_destroy(forge_req *req); /* free everything */
void forge__req_unref(forge_req *req);
forge_req *forge__req_alloc(forge_host *host);

/* ---- response.c ---- */
/*
 * forge_res_set_header for a header the core makes: no checks, no copies.
 * name and value must be valid (tchar name, no CR/LF) and outlive the request
 * (literals, or memory of the request record or its arena).
 */
int forge__res_set_header_borrowed(forge_req *req, forge_str name, forge_str value);
void forge__res_clear(forge_req *req); /* drop status, headers and body set so far */
int forge__res_problem_instance(forge_req *req, int status, const char *title, const char *detail,
                                const char *extra_key, const char *extra_val);

/* ---- response_stream.c ---- */
/* Send what is due on the calling (host) thread. FORGE_DONE when the response is complete. */
int forge__req_drain(forge_req *req);
/* The handler chain is over (returned, finished, ended): run afters, complete, deliver. */
void forge__req_complete(forge_req *req);

/* ---- middleware.c ---- */
/* Run befores from the start of req->chain; returns FORGE_NEXT, FORGE_DONE or a negative code. */
int forge__mw_run_before(forge_req *req);
void forge__mw_run_after(forge_req *req);

/* ---- dispatch.c ---- */
/* Route the request once (cached); returns the router's code. */
int forge__req_route(forge_req *req);
/*
 * From a before: run fn(req, arg) where blocking is allowed (the runtime pool
 * on event-loop hosts, in place on hosts that can block), then continue the
 * chain with its result (FORGE_NEXT, FORGE_DONE or a negative code). The
 * before returns what this returns (FORGE_ASYNC). The remaining befores, the
 * handler and the afters then run on that thread. One deferral at a time.
 */
int forge__mw_defer(forge_req *req, int (*fn)(forge_req *req, void *arg), void *arg);

/* ---- host.c ---- */
struct forge_host;
/*
 * The free list's lock: held for a handful of instructions, so a spin lock
 * (yielding when taken) instead of a mutex: a lock and unlock cost ~8
 * instructions instead of ~57 on every request (ADR 0080).
 */
static inline void forge__host_free_lock(atomic_bool *busy)
{
    while (atomic_exchange_explicit(busy, true, memory_order_acquire))
        while (atomic_load_explicit(busy, memory_order_relaxed))
            sched_yield();
}

static inline void forge__host_free_unlock(atomic_bool *busy)
{
    atomic_store_explicit(busy, false, memory_order_release);
}

struct forge_host {
    forge_host_ops ops;
    void *hctx;
    forge_app *app;
    void *dl;
    char *so_path;
    atomic_bool free_busy; /* spin lock of free_list (forge__host_free_lock) */
    forge_req *free_list;
    size_t nfree;
    atomic_size_t live; /* requests out of the free list */
    bool worker_started;
    pthread_mutex_t leader_mu;
    bool services_started;
    bool leader;
    bool machine_started;
    char *lock_path;
};

/* Load an entry with optional config text (test host) or file. Internal to http. */
forge_app *forge__host_load(forge_host *host, const struct forge_app_entry *entry, void *dl,
                            const char *so_path, const char *config_path, const char *config_text,
                            forge_error *err);
forge_app *forge__host_load_so(forge_host *host, const char *so_path, const char *config_path,
                               const char *config_text, forge_error *err);
const forge_host_ops *forge__host_ops(const forge_host *host);

/* ---- tracing (trace_mw.c) ---- */
/* Make the request's span now (req->tracer set, req->span NULL); NULL on OOM. */
struct forge_span *forge__req_span_make(forge_req *req);

/* ---- request id ---- */
/* Write a new unique id (NUL-terminated) into buf of at least 40 bytes; returns its length. */
size_t forge__req_id_generate(char *buf);

/* mu, taken only when another thread may touch the request. */
static inline bool forge__req_lock(forge_req *req)
{
    bool shared = atomic_load_explicit(&req->shared, memory_order_relaxed);
    if (shared)
        pthread_mutex_lock(&req->mu);
    return shared;
}

static inline void forge__req_unlock(forge_req *req, bool locked)
{
    if (locked)
        pthread_mutex_unlock(&req->mu);
}

/* Format the peer saved by forge_req_set_peer_addr (forge_req_peer does, when asked). */
void forge__req_format_peer(forge_req *req);

/* The request is about to be handed to another thread (call on the thread holding it). */
static inline void forge__req_share(forge_req *req)
{
    atomic_store_explicit(&req->shared, true, memory_order_relaxed);
}

static inline uint64_t forge__elapsed_us(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (uint64_t)(t1.tv_sec - t0->tv_sec) * 1000000u +
           (uint64_t)((t1.tv_nsec - t0->tv_nsec) / 1000);
}

#endif
