/*
 * Forge: the in-process test host.
 *
 * A complete host binding that serves requests from function calls instead
 * of sockets, for unit tests of the core and for app authors' own tests. It
 * loads an app (a linked forge_app_entry or an .so), loads its config, starts
 * a worker (runtime thread, pool, services, middleware) and runs every
 * request through the same dispatch path as nginx or Apache.
 *
 *     forge_test_host *th = forge_test_host_new(&forge_app_entry, NULL, &err);
 *     forge_test_response res;
 *     forge_test_response_init(&res);
 *     forge_test_request(th, "GET", "/hello", NULL, NULL, 0, &res, &err);
 *     // res.status == 200, res.body == "hello\n"
 *     forge_test_response_free(&res);
 *     forge_test_host_free(th);
 *
 * By default the host does not set FORGE_HOST_CAN_BLOCK, like nginx: blocking
 * routes run on the pool and the response arrives through wake/resume, which
 * forge_test_request waits for. `can_block` makes it behave like Apache.
 *
 * Threads: one test host may serve requests from several threads at once;
 * a forge_test_call and a forge_test_response belong to one thread at a time.
 */
#ifndef FORGE_TESTHOST_H
#define FORGE_TESTHOST_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/http.h>
#include <forge/app.h>
#include <forge/host.h>

typedef struct forge_test_host forge_test_host;

typedef struct forge_test_opts {
    const struct forge_app_entry *entry; /* the app linked into the test, or */
    const char *so_path;                 /* an app .so to load */
    const char *config_text;             /* YAML or JSON, may be NULL */
    const char *config_path;             /* a config file, may be NULL (loaded after config_text) */
    bool can_block;      /* set FORGE_HOST_CAN_BLOCK: blocking routes run in place */
    bool no_worker;      /* do not start the worker (no runtime, services, pool) */
    uint32_t timeout_ms; /* how long a request may wait for its response; 0: 30 s */
    void *reserved[4];
} forge_test_opts;

/* Load `entry` with optional config text and start a worker. NULL with err filled on failure. */
FORGE_API forge_test_host *forge_test_host_new(const struct forge_app_entry *entry,
                                               const char *config_text, forge_error *err);
/* The same for an app .so (dlopen, ABI check as on every host). */
FORGE_API forge_test_host *forge_test_host_load(const char *so_path, const char *config_text,
                                                forge_error *err);
FORGE_API forge_test_host *forge_test_host_new_opts(const forge_test_opts *opts, forge_error *err);
/* Stops the worker (draining the pool) and frees the app. */
FORGE_API void forge_test_host_free(forge_test_host *th);

FORGE_API forge_app *forge_test_host_app(forge_test_host *th);
FORGE_API forge_host *forge_test_host_host(forge_test_host *th);

/*
 * A response as the host received it. Caller-owned; reuse one across
 * requests to avoid allocations (buffers are kept and grown). Header names
 * and values, and the body, are NUL-terminated.
 */
typedef struct forge_test_response {
    int status;             /* 0 when no head was sent */
    int64_t content_length; /* as given to send_head: -1 for a streamed body */
    forge_header *headers;
    size_t nheaders;
    char *body; /* every body byte received, in order */
    size_t body_len;
    size_t nchunks;     /* send_body calls that carried bytes */
    size_t *chunk_ends; /* chunk i is body[i ? chunk_ends[i-1] : 0 .. chunk_ends[i]) */
    size_t nflushes;    /* send_body calls with FORGE_SEND_FLUSH */
    bool complete;      /* FORGE_SEND_LAST was received */
    bool async;         /* dispatch returned FORGE_ASYNC */
    size_t wakes;       /* wake calls for this request */
    /* storage (private) */
    char *hbuf;
    size_t hbuf_cap, headers_cap, body_cap, chunks_cap;
} forge_test_response;

FORGE_API void forge_test_response_init(forge_test_response *res);
FORGE_API void forge_test_response_free(forge_test_response *res);
/* First value of a header (case-insensitive name) or NULL. */
FORGE_API const char *forge_test_response_header(const forge_test_response *res, const char *name);

/*
 * One request, waiting for its whole response (async and pool-run handlers
 * included). `target` is path and optional query ("/users/7?x=1"); `headers`
 * a NULL-terminated array of "Name: value" strings (may be NULL); `body`
 * may be NULL. Returns 0, or FORGE_ETIMEDOUT when the response did not
 * complete within the timeout, FORGE_ENOMEM, FORGE_EINVAL.
 */
FORGE_API int forge_test_request(forge_test_host *th, const char *method, const char *target,
                                 const char *const *headers, const void *body, size_t body_len,
                                 forge_test_response *res, forge_error *err);

/* ---- requests in flight: concurrency, streaming and client aborts ---- */

typedef struct forge_test_call forge_test_call;

/* Start a request (dispatch runs now); the strings and body are copied. */
FORGE_API forge_test_call *forge_test_begin(forge_test_host *th, const char *method,
                                            const char *target, const char *const *headers,
                                            const void *body, size_t body_len,
                                            forge_test_response *res, forge_error *err);
/* Deliver pending output if the core woke the host; true once the response is complete. */
FORGE_API bool forge_test_call_poll(forge_test_call *call);
/* Wait (up to timeout_ms; 0: the host's timeout) for the response to complete. */
FORGE_API int forge_test_call_wait(forge_test_call *call, uint32_t timeout_ms);
/* Wait until the core wakes the host for this call (new output or completion). */
FORGE_API int forge_test_call_wait_wake(forge_test_call *call, uint32_t timeout_ms);
/* The client goes away: the host releases the request now and frees the call. */
FORGE_API void forge_test_call_abort(forge_test_call *call);
/* Free a completed call (an incomplete one is aborted). */
FORGE_API void forge_test_call_free(forge_test_call *call);

#endif
