/*
 * hello_after: the "after" of migration/nginx-content-handler.md, the
 * routes of ../nginx_before/ngx_http_hello_native_module.c as a Forge app.
 *
 *     GET  /api/hello      "hello\n" as text/plain
 *     GET  /api/users/:id  {"id":"<id>"} as application/json
 *     POST /api/echo       the request body back, with its Content-Type
 *
 * What nginx did for the native module and Forge now does for every host:
 * routing (with 404, and 405 with Allow), HEAD, percent-decoding of the
 * parameter, JSON escaping, reading the body (in memory or not, chunked or
 * not) and its size limit, problem+json errors, a request id.
 */
#include <forge/forge.h>

#include <string.h>

static int hello(forge_req *req, void *udata)
{
    return forge_res_text(req, 200, "hello\n");
}

static int user(forge_req *req, void *udata)
{
    forge_str id = forge_req_param(req, "id");
    json_t *v = json_stringn(id.p, id.n); /* NULL: not UTF-8 */
    if (!v)
        return forge_res_problem(req, 400, NULL, "The user id must be UTF-8 text.");
    json_t *o = json_pack("{s:o}", "id", v);
    if (!o)
        return FORGE_ENOMEM;
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

static int echo(forge_req *req, void *udata)
{
    forge_str ct, body = forge_req_body(req);
    char type[256] = "application/octet-stream";
    if (forge_req_header(req, "Content-Type", &ct) && ct.n < sizeof(type)) {
        memcpy(type, ct.p, ct.n);
        type[ct.n] = '\0';
    }
    int rc = forge_res_set_header(req, "Content-Type", type);
    return rc < 0 ? rc : forge_res_body(req, body.p, body.n);
}

FORGE_APP("hello_after", "1.0.0")
{
    forge_group *api = forge_app_group(app, "/api");
    if (!api)
        return forge_error_set(err, FORGE_ENOMEM, "hello_after: no memory for the /api group");
    int rc;
    if ((rc = forge_group_route(api, "GET", "/hello", hello, NULL, NULL, err)) < 0 ||
        (rc = forge_group_route(api, "GET", "/users/:id", user, NULL, NULL, err)) < 0 ||
        (rc = forge_group_route(api, "POST", "/echo", echo, NULL, NULL, err)) < 0)
        return rc;
    return 0;
}
