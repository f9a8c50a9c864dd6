/*
 * Forge: the host contract. What a binding (nginx, Apache, Kore, the test
 * host) implements and calls. Apps never include this header.
 *
 * A binding fills one forge_host_ops table and drives Forge through:
 *   process:  forge_host_new -> forge_host_load (in the master, before fork)
 *             -> forge_host_before_fork -> fork -> forge_host_worker_start
 *             ... requests ... -> forge_host_worker_stop -> forge_host_free
 *   request:  forge_req_new -> set_* / add_header -> forge_req_dispatch
 *             -> FORGE_DONE: the response was handed to send_head/send_body;
 *                call forge_req_release.
 *             -> FORGE_ASYNC: wait; when ops->wake(hreq) is called (from any
 *                thread), call forge_req_resume on the host's own loop; it
 *                hands queued output to send_head/send_body and returns
 *                FORGE_DONE once the response is complete, FORGE_ASYNC while
 *                more is to come. Then forge_req_release.
 *             A client that goes away: forge_req_release at any time; Forge
 *             frees the request when the handler holding it lets go, and
 *             never calls the ops for it again.
 *
 * send_head/send_body are called only on the thread that called
 * forge_req_dispatch or forge_req_resume, never from another thread.
 *
 * Wake: called with a per-request lock held, at most once until the next
 * forge_req_resume (wakes coalesce), never after forge_req_release, and
 * possibly before forge_req_dispatch has returned FORGE_ASYNC (a pool thread
 * may finish first). It must not call back into Forge; it posts an event.
 * A host that calls forge_req_resume only in answer to wake never sees a wake
 * after resume returned FORGE_DONE.
 *
 * Who sets which headers: the core passes the status, the app's headers
 * (Content-Type, X-Request-ID, Allow...) and the body length; it never emits
 * Content-Length, Transfer-Encoding, Connection, Date or Server. The host
 * derives framing from content_length (Content-Length for >= 0, chunked or
 * close-delimited for -1) and adds Date and Server as it does for its own
 * responses. Apps cannot set Content-Length or Transfer-Encoding.
 *
 * Threads: forge_req_new, the setters, forge_req_dispatch, forge_req_resume
 * and forge_req_release for one request run on one host thread (a host may
 * run many requests on many threads, as Apache does). The request free list
 * is shared by the host's threads and locked.
 */
#ifndef FORGE_HOST_H
#define FORGE_HOST_H

#include <sys/socket.h>

#include <forge/common.h>
#include <forge/error.h>
#include <forge/http.h>
#include <forge/app.h>

/* Host flags. */
#define FORGE_HOST_CAN_BLOCK 0x1u /* request threads may block: blocking routes run in place */
/* The server refuses control bytes in header values itself (Apache, Kore): Forge need not look. */
#define FORGE_HOST_FIELDS_CHECKED 0x2u

/* send_body flags. */
#define FORGE_SEND_FLUSH 0x1u
#define FORGE_SEND_LAST  0x2u

typedef struct forge_host_ops {
    uint32_t abi_version; /* FORGE_ABI_VERSION */
    uint32_t size;        /* sizeof(forge_host_ops) */
    const char *kind;     /* "nginx", "apache", "kore", "test" */
    const char *version;  /* the host's version string */
    unsigned flags;       /* FORGE_HOST_* */

    /*
     * Send the status line and headers. content_length >= 0: a whole body of
     * that many bytes follows; -1: a streamed body of unknown length. For
     * HEAD requests Forge passes the GET length and then sends no body bytes
     * (send_body with len 0 and FORGE_SEND_LAST). Return 0 or a negative code
     * (the client is gone: Forge stops producing output).
     */
    int (*send_head)(void *hreq, int status, const forge_header *headers, size_t nheaders,
                     int64_t content_length);

    /* Send body bytes (borrowed for the call; copy if kept). */
    int (*send_body)(void *hreq, const void *data, size_t len, unsigned flags);

    /* Any thread: make the host call forge_req_resume(req) on its loop soon. */
    void (*wake)(void *hreq);

    /* Optional: allocate `size` bytes of shared memory named `name` before fork. NULL: mmap. */
    void *(*shm_alloc)(void *hctx, const char *name, size_t size);

    void *reserved[8];
} forge_host_ops;

typedef struct forge_host forge_host;

/* A host for the binding's ops (copied) and context pointer (passed back to shm_alloc). */
FORGE_API forge_host *forge_host_new(const forge_host_ops *ops, void *hctx, forge_error *err);
FORGE_API void forge_host_free(forge_host *host);

/*
 * Load an app .so by path (dlopen, look up FORGE_APP_SYMBOL, check the ABI),
 * load `config_path` (may be NULL: defaults and environment), call the app's
 * init and finish its routes. Errors name the problem: a missing file, an
 * .so without the entry symbol, an app built for ABI n when this core is m,
 * config errors with their key path, route conflicts.
 */
FORGE_API forge_app *forge_host_load(forge_host *host, const char *so_path, const char *config_path,
                                     forge_error *err);

/* The same for an entry linked into the process (tests, static embedding). */
FORGE_API forge_app *forge_host_load_entry(forge_host *host, const struct forge_app_entry *entry,
                                           const char *config_path, forge_error *err);

FORGE_API forge_app *forge_host_app(forge_host *host);

/* Map shared memory reserved by the app. In the master, before forking workers. */
FORGE_API int forge_host_before_fork(forge_host *host, forge_error *err);

/*
 * In each worker after fork: start the runtime thread and pool, the app's
 * services and middleware, and the competition for the machine lock.
 */
FORGE_API int forge_host_worker_start(forge_host *host, int worker_id, int worker_count,
                                      forge_error *err);

/* Graceful stop: services in reverse, runtime drained. Idempotent. */
FORGE_API void forge_host_worker_stop(forge_host *host);

/* ---- per request ---- */

/* A request for the host's request handle `hreq`. NULL on OOM. */
FORGE_API forge_req *forge_req_new(forge_host *host, void *hreq);

/*
 * Filling a request (host thread, before dispatch). Method, target, headers,
 * peer and scheme are copied into the request's arena as they are set, so
 * the host may reuse that memory once the call returns. The body is borrowed:
 * it must stay valid until forge_req_dispatch returns; Forge copies it (into
 * the arena, after the size check) before a handler that may outlive the
 * host's memory runs. A host that stopped reading an oversized body passes a
 * length above forge_req_body_limit (data may be NULL): dispatch answers 413.
 * Dispatch also answers 413 when a Content-Length header exceeds the limit,
 * so a host may check the limit before reading the body at all, and 400
 * (problem+json) when a header value holds a control byte other than HTAB
 * (RFC 9110 5.5), which some servers (nginx) pass on.
 */
FORGE_API void forge_req_set_method(forge_req *req, const char *p, size_t n);
/* A method the host has already parsed into one of Forge's (no text to scan). */
FORGE_API void forge_req_set_method_id(forge_req *req, forge_method m);
FORGE_API void forge_req_set_target(forge_req *req, const char *path, size_t path_len,
                                    const char *query, size_t query_len);
FORGE_API int forge_req_add_header(forge_req *req, const char *name, size_t name_len,
                                   const char *value, size_t value_len);
FORGE_API void forge_req_set_peer(forge_req *req, const char *addr, size_t n, int port);
/*
 * The peer as the host's socket address (AF_INET or AF_INET6; anything else
 * is ignored): copied, and formatted as text ("192.0.2.1", "[2001:db8::1]")
 * only if something asks for it (forge_req_peer), not on every request.
 */
FORGE_API void forge_req_set_peer_addr(forge_req *req, const struct sockaddr *sa);
FORGE_API void forge_req_set_scheme(forge_req *req, const char *p, size_t n);
FORGE_API void forge_req_set_body(forge_req *req, const void *p, size_t n);

/* The body limit in bytes for the route matching this request (after routing, else app default). */
FORGE_API size_t forge_req_body_limit(forge_req *req);

/* Route, run middleware and the handler. FORGE_DONE or FORGE_ASYNC. */
FORGE_API int forge_req_dispatch(forge_req *req);

/* After wake: push queued output. FORGE_DONE when complete, FORGE_ASYNC otherwise. */
FORGE_API int forge_req_resume(forge_req *req);

/* The host is done with the request (complete or client gone). */
FORGE_API void forge_req_release(forge_req *req);

#endif
