/*
 * Building a whole response: status, headers, body. Everything is copied
 * into the request arena (except forge_res_body_static), so callers may free
 * their buffers at once.
 *
 * Framing headers (Content-Length, Transfer-Encoding) belong to the host,
 * which derives them from what Forge hands to send_head; setting them here
 * is refused. Values with CR or LF are refused (response splitting).
 */
#include "request_impl.h"

#include <stddef.h>
#include <string.h>

static inline unsigned char lc(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static bool ieq(forge_str a, const char *b, size_t bn)
{
    if (a.n != bn)
        return false;
    for (size_t i = 0; i < bn; i++)
        if (lc((unsigned char)a.p[i]) != lc((unsigned char)b[i]))
            return false;
    return true;
}

/* RFC 9110 tchar as two 64-bit masks (bytes 0-63 and 64-127): one shift per byte. */
static inline bool is_tchar(unsigned char c)
{
    static const uint64_t lo = 0x03ff6cfa00000000ull, hi = 0x57ffffffc7fffffeull;
    return c < 64 ? (lo >> c) & 1 : c < 128 && ((hi >> (c - 64)) & 1);
}

/* Validates a header; returns the value's length, or FORGE_EINVAL. */
static ptrdiff_t check_header(const char *name, size_t nn, const char *value)
{
    if (nn == 0)
        return FORGE_EINVAL;
    for (size_t i = 0; i < nn; i++)
        if (!is_tchar((unsigned char)name[i]))
            return FORGE_EINVAL;
    size_t vn = strcspn(value, "\r\n");
    if (value[vn])
        return FORGE_EINVAL;
    forge_str n = {name, nn};
    if (ieq(n, "content-length", 14) || ieq(n, "transfer-encoding", 17))
        return FORGE_EINVAL;
    return (ptrdiff_t)vn;
}

void forge_res_status(forge_req *req, int status)
{
    if (status >= 100 && status <= 999 && !req->head_committed)
        req->status = status;
}

int forge_res_get_status(const forge_req *req)
{
    return req->status;
}

static int reserve_header(forge_req *req)
{
    if (req->nres_headers < req->cap_res_headers)
        return FORGE_OK;
    size_t cap = req->cap_res_headers * 2;
    forge_header *h = forge_arena_alloc(req->arena, cap * sizeof(*h));
    if (!h)
        return FORGE_ENOMEM;
    memcpy(h, req->res_headers, req->nres_headers * sizeof(*h));
    req->res_headers = h;
    req->cap_res_headers = cap;
    return FORGE_OK;
}

static int append_header(forge_req *req, const char *name, size_t nn, const char *value, size_t vn)
{
    int rc = reserve_header(req);
    if (rc < 0)
        return rc;
    char *n = forge_arena_strndup(req->arena, name, nn);
    char *v = forge_arena_strndup(req->arena, value, vn);
    if (!n || !v)
        return FORGE_ENOMEM;
    req->res_headers[req->nres_headers++] = (forge_header){{n, nn}, {v, vn}};
    return FORGE_OK;
}

int forge_res_header(forge_req *req, const char *name, const char *value)
{
    if (!name || !value)
        return FORGE_EINVAL;
    if (req->head_committed)
        return FORGE_ESTATE;
    size_t nn = strlen(name);
    ptrdiff_t vn = check_header(name, nn, value);
    return vn < 0 ? (int)vn : append_header(req, name, nn, value, (size_t)vn);
}

static void remove_header(forge_req *req, const char *name, size_t nn)
{
    size_t o = 0;
    for (size_t i = 0; i < req->nres_headers; i++)
        if (!ieq(req->res_headers[i].name, name, nn))
            req->res_headers[o++] = req->res_headers[i];
    req->nres_headers = o;
}

int forge_res_set_header(forge_req *req, const char *name, const char *value)
{
    if (!name || !value)
        return FORGE_EINVAL;
    if (req->head_committed)
        return FORGE_ESTATE;
    size_t nn = strlen(name);
    ptrdiff_t vn = check_header(name, nn, value);
    if (vn < 0)
        return (int)vn;
    remove_header(req, name, nn);
    return append_header(req, name, nn, value, (size_t)vn);
}

int forge__res_set_header_borrowed(forge_req *req, forge_str name, forge_str value)
{
    if (req->head_committed)
        return FORGE_ESTATE;
    remove_header(req, name.p, name.n);
    int rc = reserve_header(req);
    if (rc < 0)
        return rc;
    req->res_headers[req->nres_headers++] = (forge_header){name, value};
    return FORGE_OK;
}

bool forge_res_has_header(const forge_req *req, const char *name)
{
    size_t nn = strlen(name);
    for (size_t i = 0; i < req->nres_headers; i++)
        if (ieq(req->res_headers[i].name, name, nn))
            return true;
    return false;
}

void forge_res_remove_header(forge_req *req, const char *name)
{
    if (name && !req->head_committed)
        remove_header(req, name, strlen(name));
}

int forge_res_body(forge_req *req, const void *data, size_t len)
{
    if (req->head_committed)
        return FORGE_ESTATE;
    req->res_body = NULL;
    req->res_body_len = 0;
    req->res_body_cap = 0;
    return forge_res_append(req, data, len);
}

int forge_res_append(forge_req *req, const void *data, size_t len)
{
    if (req->head_committed)
        return FORGE_ESTATE;
    if (len == 0)
        return FORGE_OK;
    if (!data)
        return FORGE_EINVAL;
    size_t need = req->res_body_len + len;
    if (need < len)
        return FORGE_ETOOBIG;
    if (need > req->res_body_cap) {
        /* Grow geometrically; a static body is copied on first append. */
        size_t cap = req->res_body_cap ? req->res_body_cap * 2 : 64;
        while (cap < need)
            cap *= 2;
        char *b = forge_arena_alloc(req->arena, cap);
        if (!b)
            return FORGE_ENOMEM;
        if (req->res_body_len)
            memcpy(b, req->res_body, req->res_body_len);
        req->res_body = b;
        req->res_body_cap = cap;
    }
    memcpy((char *)req->res_body + req->res_body_len, data, len);
    req->res_body_len = need;
    return FORGE_OK;
}

int forge_res_body_static(forge_req *req, const void *data, size_t len)
{
    if (req->head_committed)
        return FORGE_ESTATE;
    if (!data && len)
        return FORGE_EINVAL;
    req->res_body = data;
    req->res_body_len = len;
    req->res_body_cap = 0;
    return FORGE_OK;
}

int forge_res_text(forge_req *req, int status, const char *text)
{
    if (req->head_committed)
        return FORGE_ESTATE;
    forge_res_status(req, status);
    int rc = forge__res_set_header_borrowed(req, FORGE_STR("Content-Type"),
                                            FORGE_STR("text/plain; charset=utf-8"));
    return rc < 0 ? rc : forge_res_body(req, text, text ? strlen(text) : 0);
}

void forge__res_clear(forge_req *req)
{
    if (req->head_committed)
        return;
    req->status = 200;
    req->nres_headers = 0;
    req->res_body = NULL;
    req->res_body_len = 0;
    req->res_body_cap = 0;
}
