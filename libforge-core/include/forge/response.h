/*
 * Forge: building the response.
 *
 * A whole response is assembled in the request (status, headers, body in the
 * request arena) and sent by the host when the handler returns FORGE_OK, or
 * when forge_req_finish is called after FORGE_ASYNC.
 *
 * A streamed response starts with forge_res_stream_begin: the head goes out
 * without a Content-Length (chunked on HTTP/1.1), then each forge_res_write
 * queues a chunk, forge_res_flush asks the host to push what is queued, and
 * forge_res_end finishes. Streaming calls may come from any thread; the host
 * is woken and does the I/O on its own event loop. A handler that keeps a
 * stream open returns FORGE_ASYNC after stream_begin and ends it later.
 */
#ifndef FORGE_RESPONSE_H
#define FORGE_RESPONSE_H

#include <forge/common.h>
#include <forge/error.h>
#include <jansson.h>

FORGE_API void forge_res_status(forge_req *req, int status);
FORGE_API int forge_res_get_status(const forge_req *req);

/* Add a header (repeats allowed) / replace all headers of that name. Copied. */
FORGE_API int forge_res_header(forge_req *req, const char *name, const char *value);
FORGE_API int forge_res_set_header(forge_req *req, const char *name, const char *value);
FORGE_API bool forge_res_has_header(const forge_req *req, const char *name);
FORGE_API void forge_res_remove_header(forge_req *req, const char *name);

/* Set the body (copied into the arena) / append to it. */
FORGE_API int forge_res_body(forge_req *req, const void *data, size_t len);
FORGE_API int forge_res_append(forge_req *req, const void *data, size_t len);
/* Set a body that stays valid until the request ends (no copy). */
FORGE_API int forge_res_body_static(forge_req *req, const void *data, size_t len);

/* Status, Content-Type text/plain; charset=utf-8 and body in one call. */
FORGE_API int forge_res_text(forge_req *req, int status, const char *text);

/* Status, Content-Type application/json and the serialised value. Does not steal `v`. */
FORGE_API int forge_res_json(forge_req *req, int status, const json_t *v);

/*
 * RFC 9457 problem details: application/problem+json with type (about:blank
 * unless `type` given), title (the reason phrase when NULL), status, detail
 * (may be NULL) and instance (the request path). `extra` (may be NULL) adds
 * members; it is not stolen.
 */
FORGE_API int forge_res_problem(forge_req *req, int status, const char *title, const char *detail);
FORGE_API int forge_res_problem_ex(forge_req *req, int status, const char *type, const char *title,
                                   const char *detail, const json_t *extra);

/* Streaming (any thread). */
FORGE_API int forge_res_stream_begin(forge_req *req);
FORGE_API int forge_res_write(forge_req *req, const void *data, size_t len);
FORGE_API int forge_res_flush(forge_req *req);
FORGE_API int forge_res_end(forge_req *req);

/*
 * Complete a request whose handler returned FORGE_ASYNC: the after-middleware
 * runs and the host sends the response. Any thread; exactly once.
 */
FORGE_API void forge_req_finish(forge_req *req);

/* True once the client has gone away (the host released the request early). */
FORGE_API bool forge_req_aborted(const forge_req *req);

#endif
