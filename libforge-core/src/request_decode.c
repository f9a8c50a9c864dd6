/*
 * Decoded forms of the request target, computed on first use into the
 * request arena: the percent-decoded path and the query parameters
 * ('+' as space). Dispatch refuses targets with malformed escapes (400), so
 * handlers only see well-formed ones; these functions stay safe anyway.
 */
#include "request_impl.h"

#include <string.h>

forge_str forge_req_path(forge_req *req)
{
    if (req->path_state == 0) {
        req->path_state = -1;
        const forge_str raw = req->raw_path;
        if (!memchr(raw.p ? raw.p : "", '%', raw.n)) {
            req->path = raw;
            req->path_state = 1;
        } else {
            char *buf = forge_arena_alloc(req->arena, raw.n + 1);
            long n = buf ? forge_pct_decode(raw.p, raw.n, buf, raw.n, false) : -1;
            if (n >= 0) {
                buf[n] = '\0';
                req->path = (forge_str){buf, (size_t)n};
                req->path_state = 1;
            }
        }
    }
    return req->path_state == 1 ? req->path : FORGE_STR_NULL;
}

static bool decode_into(forge_req *req, forge_str in, forge_str *out)
{
    if (!memchr(in.p ? in.p : "", '%', in.n) && !memchr(in.p ? in.p : "", '+', in.n)) {
        *out = in;
        return true;
    }
    char *buf = forge_arena_alloc(req->arena, in.n + 1);
    long n = buf ? forge_pct_decode(in.p, in.n, buf, in.n, true) : -1;
    if (n < 0)
        return false;
    buf[n] = '\0';
    *out = (forge_str){buf, (size_t)n};
    return true;
}

/* Decode every pair once; a pair that does not decode is skipped. */
static void parse_query(forge_req *req)
{
    req->query_state = 1;
    forge_query_iter it;
    forge_str k, v;
    size_t n = 0;
    forge_query_iter_init(&it, req->query.p, req->query.n);
    while (forge_query_next(&it, &k, &v))
        n++;
    if (n == 0)
        return;
    req->qpairs = forge_arena_alloc(req->arena, n * sizeof(*req->qpairs));
    if (!req->qpairs)
        return;
    forge_query_iter_init(&it, req->query.p, req->query.n);
    while (forge_query_next(&it, &k, &v)) {
        forge__qpair *q = &req->qpairs[req->nqpairs];
        if (decode_into(req, k, &q->key) && decode_into(req, v, &q->value))
            req->nqpairs++;
        else
            req->query_state = -1;
    }
}

size_t forge_req_query_values(forge_req *req, const char *name, forge_str *out, size_t max)
{
    if (!name)
        return 0;
    if (req->query_state == 0)
        parse_query(req);
    size_t nn = strlen(name), count = 0;
    for (size_t i = 0; i < req->nqpairs; i++) {
        const forge__qpair *q = &req->qpairs[i];
        if (q->key.n == nn && memcmp(q->key.p, name, nn) == 0) {
            if (out && count < max)
                out[count] = q->value;
            count++;
        }
    }
    return count;
}

bool forge_req_query_param(forge_req *req, const char *name, forge_str *out)
{
    forge_str v;
    if (forge_req_query_values(req, name, &v, 1) == 0)
        return false;
    if (out)
        *out = v;
    return true;
}
