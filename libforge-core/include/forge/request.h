/*
 * Forge: the request view handlers see, the same on every host.
 *
 * Lifetime: everything returned here (forge_str bytes, arena memory) stays
 * valid until the request ends (forge_req_finish has completed and the host
 * has released the request). Header and body bytes may point into the host's
 * own request memory.
 *
 * Thread safety: a request is used by one thread at a time: the host thread
 * while the handler runs there, the pool thread while a blocking route runs,
 * or whichever thread holds it after FORGE_ASYNC. The exceptions are
 * forge_req_finish and the streaming calls of response.h, which any thread
 * may call.
 */
#ifndef FORGE_REQUEST_H
#define FORGE_REQUEST_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/http.h>
#include <jansson.h>

FORGE_API forge_method forge_req_method(const forge_req *req);
FORGE_API forge_str forge_req_method_str(const forge_req *req); /* as sent */

/* The path as sent (percent-encoded) and the query string without '?'. */
FORGE_API forge_str forge_req_raw_path(const forge_req *req);
FORGE_API forge_str forge_req_query(const forge_req *req);

/* The percent-decoded path; {NULL,0} if the path could not be decoded. */
FORGE_API forge_str forge_req_path(forge_req *req);

/* A route parameter (`:id`), percent-decoded. {NULL,0} when absent. */
FORGE_API forge_str forge_req_param(const forge_req *req, const char *name);

/* The template of the matched route ("/users/:id"); NULL before routing or on 404. */
FORGE_API const char *forge_req_route_pattern(const forge_req *req);

/*
 * Query parameters, decoded ('+' as space). forge_req_query_param gives the
 * first value (returns false when absent), forge_req_query_values up to `max`
 * values and returns how many there are in all.
 */
FORGE_API bool forge_req_query_param(forge_req *req, const char *name, forge_str *out);
FORGE_API size_t forge_req_query_values(forge_req *req, const char *name, forge_str *out,
                                        size_t max);

/*
 * Headers: names compared case-insensitively, repeats kept in arrival order.
 * forge_req_header gives the first (false when absent); forge_req_header_values
 * up to `max`, returning the total count; forge_req_header_at walks them all.
 */
FORGE_API bool forge_req_header(const forge_req *req, const char *name, forge_str *out);
FORGE_API size_t forge_req_header_values(const forge_req *req, const char *name, forge_str *out,
                                         size_t max);
FORGE_API size_t forge_req_header_count(const forge_req *req);
FORGE_API bool forge_req_header_at(const forge_req *req, size_t i, forge_header *out);

/* The buffered request body (possibly empty), already bounded by the size limit. */
FORGE_API forge_str forge_req_body(const forge_req *req);

/*
 * The body parsed as JSON. NULL with err filled when the body is not JSON,
 * too deep, or empty. The result is owned by the request (released at its end).
 */
FORGE_API json_t *forge_req_json(forge_req *req, forge_error *err);

/* Peer address ("127.0.0.1" or "[::1]") and port, scheme ("http"/"https"). */
FORGE_API forge_str forge_req_peer(const forge_req *req);
FORGE_API int forge_req_peer_port(const forge_req *req);
FORGE_API forge_str forge_req_scheme(const forge_req *req);

/* The request id (from X-Request-ID when valid, else generated). NUL-terminated. */
FORGE_API const char *forge_req_id(const forge_req *req);

/* The trace id of the request, if a tracer set one; NULL otherwise. */
FORGE_API const char *forge_req_trace_id(const forge_req *req);
FORGE_API void forge_req_set_trace_id(forge_req *req, const char *trace_id);

/* The per-request arena: freed when the request ends. */
FORGE_API forge_arena *forge_req_arena(forge_req *req);
FORGE_API void *forge_req_alloc(forge_req *req, size_t size);

/*
 * Request-scoped values by key. `free_fn` (may be NULL) runs when the request
 * ends or the key is set again. Keys are compared as strings.
 */
FORGE_API int forge_req_set_value(forge_req *req, const char *key, void *value,
                                  void (*free_fn)(void *));
FORGE_API void *forge_req_value(const forge_req *req, const char *key);

/* The app serving the request, and its host's kind ("nginx", "test"...). */
FORGE_API forge_app *forge_req_app(const forge_req *req);
FORGE_API const char *forge_req_host_kind(const forge_req *req);

#endif
