/*
 * kore_after: migration/examples/kore_before/kore_before.c as a Forge app,
 * the "after" of migration/kore-page.md. Same routes, same answers; what
 * changed is that routing, 405 with Allow, HEAD, OPTIONS, body limits,
 * problem+json errors, request ids and the access log are Forge's, and the
 * same .so runs on Kore, nginx and Apache.
 *
 *	GET  /hello		"hello\n"
 *	GET  /users/:id		{"id":"<id>"} (digits only, else 404)
 *	POST /echo		the body back with its Content-Type
 *
 * Build: kore-module/CMakeLists.txt (build/lib/kore_after.so). Run:
 *	forge run --host kore --app build/lib/kore_after.so
 * or with Kore's own config: see kore_after.conf and forge.conf here.
 */
#include <forge/forge.h>

#include <string.h>

static bool digits(forge_str s)
{
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return s.n > 0 && s.n <= 32;
}

static int hello(forge_req *req, void *udata)
{
    return forge_res_text(req, 200, "hello\n");
}

static int user(forge_req *req, void *udata)
{
    forge_str id = forge_req_param(req, "id");
    if (!digits(id))
        return forge_res_problem(req, 404, NULL, "No such user.");
    json_t *o = json_pack("{s:s%}", "id", id.p, id.n);
    if (!o)
        return FORGE_ENOMEM;
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

static int echo(forge_req *req, void *udata)
{
    forge_str ct;
    char type[256] = "application/octet-stream";
    if (forge_req_header(req, "Content-Type", &ct) && ct.n < sizeof(type)) {
        memcpy(type, ct.p, ct.n);
        type[ct.n] = '\0';
    }
    forge_str body = forge_req_body(req);
    int rc = forge_res_set_header(req, "Content-Type", type);
    return rc < 0 ? rc : forge_res_body(req, body.p, body.n);
}

FORGE_APP("kore_after", "1.0.0")
{
    int rc;
    if ((rc = forge_app_route(app, "GET", "/hello", hello, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/users/:id", user, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "POST", "/echo", echo, NULL, NULL, err)) < 0)
        return rc;
    return 0;
}
