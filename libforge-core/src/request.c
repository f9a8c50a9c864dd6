/*
 * The request view: accessors over what the host set and what routing found.
 * Decoded forms (path, query parameters) are computed on first use into the
 * request arena (request_decode.c).
 */
#include "request_impl.h"

#include <string.h>

forge_method forge_req_method(const forge_req *req)
{
    return req->method;
}

forge_str forge_req_method_str(const forge_req *req)
{
    return req->method_str;
}

forge_str forge_req_raw_path(const forge_req *req)
{
    return req->raw_path;
}

forge_str forge_req_query(const forge_req *req)
{
    return req->query;
}

forge_str forge_req_param(const forge_req *req, const char *name)
{
    if (!req->route || !name)
        return FORGE_STR_NULL;
    size_t n = strlen(name);
    for (uint16_t i = 0; i < req->match.nparams; i++) {
        const forge_param *p = &req->match.params[i];
        if (p->name.n == n && memcmp(p->name.p, name, n) == 0)
            return p->value;
    }
    return FORGE_STR_NULL;
}

const char *forge_req_route_pattern(const forge_req *req)
{
    return req->route ? req->route->pattern : NULL;
}

static inline unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* Header names are ASCII tokens: compare them case-insensitively. */
static bool name_is(forge_str s, const char *name, size_t n)
{
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)s.p[i]) != ascii_lower((unsigned char)name[i]))
            return false;
    return true;
}

bool forge_req_header(const forge_req *req, const char *name, forge_str *out)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        if (name_is(req->headers[i].name, name, n)) {
            if (out)
                *out = req->headers[i].value;
            return true;
        }
    }
    return false;
}

size_t forge_req_header_values(const forge_req *req, const char *name, forge_str *out, size_t max)
{
    size_t n = strlen(name), count = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (name_is(req->headers[i].name, name, n)) {
            if (out && count < max)
                out[count] = req->headers[i].value;
            count++;
        }
    }
    return count;
}

size_t forge_req_header_count(const forge_req *req)
{
    return req->nheaders;
}

bool forge_req_header_at(const forge_req *req, size_t i, forge_header *out)
{
    if (i >= req->nheaders)
        return false;
    if (out)
        *out = req->headers[i];
    return true;
}

forge_str forge_req_body(const forge_req *req)
{
    return req->body;
}

forge_str forge_req_peer(const forge_req *req)
{
    if (req->peer_lazy) /* one thread owns a request at a time: no race on the cache */
        forge__req_format_peer((forge_req *)req);
    return req->peer;
}

int forge_req_peer_port(const forge_req *req)
{
    return req->peer_port;
}

forge_str forge_req_scheme(const forge_req *req)
{
    return req->scheme.n ? req->scheme : FORGE_STR("http");
}

const char *forge_req_id(const forge_req *req)
{
    /* The id is made on first use when the request id middleware is off.
     * The request belongs to the calling thread (request.h), so writing is safe. */
    if (!req->id[0])
        forge__req_id_generate(((forge_req *)req)->id);
    return req->id;
}

const char *forge_req_trace_id(const forge_req *req)
{
    /* Made on first use, like the id above (the request belongs to the caller). */
    if (req->trace_id_lazy)
        forge__req_span_make((forge_req *)req);
    return req->trace_id;
}

void forge_req_set_trace_id(forge_req *req, const char *trace_id)
{
    req->trace_id_lazy = false;
    req->trace_id = trace_id ? forge_arena_strndup(req->arena, trace_id, strlen(trace_id)) : NULL;
}

forge_arena *forge_req_arena(forge_req *req)
{
    return req->arena;
}

void *forge_req_alloc(forge_req *req, size_t size)
{
    return forge_arena_alloc(req->arena, size);
}

int forge_req_set_value(forge_req *req, const char *key, void *value, void (*free_fn)(void *))
{
    if (!key)
        return FORGE_EINVAL;
    for (forge__value *v = req->values; v; v = v->next) {
        if (strcmp(v->key, key) == 0) {
            if (v->free_fn && v->value != value)
                v->free_fn(v->value);
            v->value = value;
            v->free_fn = free_fn;
            return FORGE_OK;
        }
    }
    forge__value *v = forge_arena_alloc(req->arena, sizeof(*v));
    char *k = v ? forge_arena_strndup(req->arena, key, strlen(key)) : NULL;
    if (!k)
        return FORGE_ENOMEM;
    v->key = k;
    v->value = value;
    v->free_fn = free_fn;
    v->next = req->values;
    req->values = v;
    return FORGE_OK;
}

void *forge_req_value(const forge_req *req, const char *key)
{
    if (!key)
        return NULL;
    for (const forge__value *v = req->values; v; v = v->next)
        if (strcmp(v->key, key) == 0)
            return v->value;
    return NULL;
}

forge_app *forge_req_app(const forge_req *req)
{
    return req->app;
}

const char *forge_req_host_kind(const forge_req *req)
{
    const char *k = req->host ? req->host->ops.kind : NULL;
    return k ? k : "unknown";
}

bool forge_req_aborted(const forge_req *req)
{
    return atomic_load_explicit(&req->released, memory_order_acquire);
}
