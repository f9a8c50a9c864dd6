/*
 * conformance: routes that mirror the request view back, and responses of
 * every shape the suite asks for. See conformance.h.
 *
 *   GET  /c/hello                 "hello\n"
 *   GET  /c/params/:a/:b          {"a","b","path","raw_path","route"}
 *   GET  /c/query/:name           {"values":[...decoded],"raw":"<query string>"}
 *   GET  /c/header/:name          {"values":[...],"count":n}  (repeats in arrival order)
 *   GET  /c/headers               {"headers":[[name,value],...]}
 *   GET  /c/response-headers      X-Mixed-Case and a repeated X-Repeat
 *   POST /c/echo                  the body back (limit 8 MiB), X-Body-Length
 *   GET  /c/status/:code          that status (200..599), a body unless 204/304
 *   GET  /c/problem               a 422 problem+json with a type and an extra member
 *   GET  /c/fail                  the handler fails: the error mapper's 500
 *   GET  /c/reqid                 {"id": forge_req_id}
 *   GET  /c/host                  {"kind": the host kind}
 * and the routes of conformance_mw.c, conformance_sync.c, conformance_big.c.
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long conf_query_long(forge_req *req, const char *name, long def, long min, long max)
{
    forge_str v;
    if (!forge_req_query_param(req, name, &v))
        return def;
    char buf[16];
    if (v.n == 0 || v.n >= sizeof(buf))
        return -1;
    memcpy(buf, v.p, v.n);
    buf[v.n] = '\0';
    char *end;
    long n = strtol(buf, &end, 10);
    return *end || n < min || n > max ? -1 : n;
}

/* A forge_str as json_pack's "s%" arguments; an absent value is "". */
#define STR_ARG(s) ((s).p ? (s).p : ""), ((s).p ? (s).n : 0)

static int send_json(forge_req *req, int status, json_t *o)
{
    if (!o)
        return FORGE_ENOMEM;
    int rc = forge_res_json(req, status, o);
    json_decref(o);
    return rc;
}

static json_t *str_array(const forge_str *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_stringn(v[i].p, v[i].n)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static int hello(forge_req *req, void *udata)
{
    return forge_res_text(req, 200, "hello\n");
}

static int params(forge_req *req, void *udata)
{
    forge_str a = forge_req_param(req, "a"), b = forge_req_param(req, "b");
    forge_str path = forge_req_path(req), raw = forge_req_raw_path(req);
    const char *route = forge_req_route_pattern(req);
    return send_json(req, 200,
                     json_pack("{s:s%,s:s%,s:s%,s:s%,s:s}", "a", STR_ARG(a), "b", STR_ARG(b),
                               "path", STR_ARG(path), "raw_path", STR_ARG(raw), "route",
                               route ? route : ""));
}

#define MAX_VALUES 16

static int query(forge_req *req, void *udata)
{
    forge_str name = forge_req_param(req, "name"), q = forge_req_query(req), v[MAX_VALUES];
    char key[128];
    if (name.n >= sizeof(key))
        return forge_res_problem(req, 400, NULL, "The parameter name is too long.");
    memcpy(key, name.p, name.n);
    key[name.n] = '\0';
    size_t n = forge_req_query_values(req, key, v, MAX_VALUES);
    json_t *vals = str_array(v, n < MAX_VALUES ? n : MAX_VALUES);
    return send_json(
        req, 200,
        json_pack("{s:o*,s:i,s:s%}", "values", vals, "count", (json_int_t)n, "raw", STR_ARG(q)));
}

static int header(forge_req *req, void *udata)
{
    forge_str name = forge_req_param(req, "name"), v[MAX_VALUES];
    char key[128];
    if (name.n >= sizeof(key))
        return forge_res_problem(req, 400, NULL, "The header name is too long.");
    memcpy(key, name.p, name.n);
    key[name.n] = '\0';
    size_t n = forge_req_header_values(req, key, v, MAX_VALUES);
    json_t *vals = str_array(v, n < MAX_VALUES ? n : MAX_VALUES);
    return send_json(req, 200, json_pack("{s:o*,s:i}", "values", vals, "count", (json_int_t)n));
}

static int headers(forge_req *req, void *udata)
{
    json_t *all = json_array();
    forge_header h;
    for (size_t i = 0; all && forge_req_header_at(req, i, &h); i++)
        json_array_append_new(all, json_pack("[s%,s%]", STR_ARG(h.name), STR_ARG(h.value)));
    return send_json(req, 200, json_pack("{s:o*}", "headers", all));
}

static int response_headers(forge_req *req, void *udata)
{
    int rc;
    if ((rc = forge_res_header(req, "X-Mixed-Case", "Value-Kept")) < 0 ||
        (rc = forge_res_header(req, "X-Repeat", "one")) < 0 ||
        (rc = forge_res_header(req, "X-Repeat", "two")) < 0)
        return rc;
    return forge_res_text(req, 200, "headers\n");
}

static int echo(forge_req *req, void *udata)
{
    forge_str ct, body = forge_req_body(req);
    char type[256] = "application/octet-stream", len[32];
    if (forge_req_header(req, "Content-Type", &ct) && ct.n < sizeof(type)) {
        memcpy(type, ct.p, ct.n);
        type[ct.n] = '\0';
    }
    snprintf(len, sizeof(len), "%zu", body.n);
    int rc;
    if ((rc = forge_res_set_header(req, "Content-Type", type)) < 0 ||
        (rc = forge_res_set_header(req, "X-Body-Length", len)) < 0)
        return rc;
    return forge_res_body(req, body.p, body.n);
}

static int status(forge_req *req, void *udata)
{
    forge_str c = forge_req_param(req, "code");
    int code = 0;
    for (size_t i = 0; i < c.n && code < 1000; i++)
        code = c.p[i] >= '0' && c.p[i] <= '9' ? code * 10 + (c.p[i] - '0') : 1000;
    if (c.n != 3 || code < 200 || code > 599)
        return forge_res_problem(req, 400, NULL, "The status must be a number from 200 to 599.");
    if (code >= 300 && code < 400) {
        int rc = forge_res_set_header(req, "Location", "/c/hello");
        if (rc < 0)
            return rc;
    }
    forge_res_status(req, code);
    if (code == 204 || code == 304)
        return FORGE_OK;
    char text[32];
    snprintf(text, sizeof(text), "status %d\n", code);
    return forge_res_text(req, code, text);
}

static int problem(forge_req *req, void *udata)
{
    json_t *extra = json_pack("{s:s}", "field", "name");
    if (!extra)
        return FORGE_ENOMEM;
    int rc = forge_res_problem_ex(req, 422, "https://forge.example/problems/conformance",
                                  "Unprocessable Content", "The name field is required.", extra);
    json_decref(extra);
    return rc;
}

static int fail(forge_req *req, void *udata)
{
    forge_res_text(req, 200, "this body must not reach the client\n");
    return FORGE_EINVAL;
}

static int reqid(forge_req *req, void *udata)
{
    return send_json(req, 200, json_pack("{s:s}", "id", forge_req_id(req)));
}

static int host(forge_req *req, void *udata)
{
    return send_json(req, 200, json_pack("{s:s}", "kind", forge_req_host_kind(req)));
}

/* The client as the host saw it: address text, a real port, the scheme. */
static int peer(forge_req *req, void *udata)
{
    forge_str p = forge_req_peer(req), sch = forge_req_scheme(req);
    int port = forge_req_peer_port(req);
    return send_json(req, 200,
                     json_pack("{s:s%,s:b,s:s%}", "peer", p.p ? p.p : "", p.n, "port_ok",
                               port > 0 && port < 65536, "scheme", sch.p ? sch.p : "", sch.n));
}

FORGE_APP("conformance", "1.0.0")
{
    static const forge_route_opts echo_opts = {.summary = "The body back",
                                               .max_body = CONF_BODY_MAX};
    static const struct {
        const char *method, *pattern;
        forge_handler_fn fn;
        const forge_route_opts *opts;
    } routes[] = {
        {"GET", "/c/hello", hello, NULL},
        {"GET", "/c/params/:a/:b", params, NULL},
        {"GET", "/c/query/:name", query, NULL},
        {"GET", "/c/header/:name", header, NULL},
        {"GET", "/c/headers", headers, NULL},
        {"GET", "/c/response-headers", response_headers, NULL},
        {"POST", "/c/echo", echo, &echo_opts},
        {"GET", "/c/status/:code", status, NULL},
        {"GET", "/c/problem", problem, NULL},
        {"GET", "/c/fail", fail, NULL},
        {"GET", "/c/reqid", reqid, NULL},
        {"GET", "/c/host", host, NULL},
        {"GET", "/c/peer", peer, NULL},
    };
    int rc;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if ((rc = forge_app_route(app, routes[i].method, routes[i].pattern, routes[i].fn, NULL,
                                  routes[i].opts, err)) < 0)
            return rc;
    if ((rc = conf_mw_register(app, err)) < 0 || (rc = conf_sync_register(app, err)) < 0 ||
        (rc = conf_big_register(app, err)) < 0)
        return rc;
    return 0;
}
