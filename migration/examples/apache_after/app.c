/*
 * apache_after: the "after" of migration/apache-handler.md. The same API as
 * ../apache_before/mod_hello_native.c, as a Forge app. Routing, 404/405
 * (with Allow), HEAD and OPTIONS, body limits (413), JSON escaping and
 * problem+json errors are Forge's; the app keeps only what is its own.
 *
 *     LoadModule forge_module .../mod_forge.so
 *     ForgeApp .../apache_after.so
 *     <Location /api/>
 *         Forge On
 *     </Location>
 *
 * The same .so runs unchanged under nginx and Kore.
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
    json_t *o = json_pack("{s:s%}", "id", id.p, id.n);
    int rc;

    if (!o)
        return FORGE_ENOMEM;
    rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

static int echo(forge_req *req, void *udata)
{
    forge_str ct, body = forge_req_body(req);
    char type[256] = "application/octet-stream";
    int rc;

    if (forge_req_header(req, "Content-Type", &ct) && ct.n < sizeof(type)) {
        memcpy(type, ct.p, ct.n);
        type[ct.n] = '\0';
    }
    rc = forge_res_set_header(req, "Content-Type", type);
    return rc < 0 ? rc : forge_res_body(req, body.p, body.n);
}

FORGE_APP("apache_after", "1.0.0")
{
    forge_group *api = forge_app_group(app, "/api");
    int rc;

    if (!api)
        return FORGE_ENOMEM;
    if ((rc = forge_group_route(api, "GET", "/hello", hello, NULL, NULL, err)) < 0 ||
        (rc = forge_group_route(api, "GET", "/users/:id", user, NULL, NULL, err)) < 0 ||
        (rc = forge_group_route(api, "POST", "/echo", echo, NULL, NULL, err)) < 0)
        return rc;
    return 0;
}
