/*
 * examples/secure: every security feature on four routes, configured by
 * forge.yaml (keys in keys/). The code only registers handlers; which route
 * needs what is the config's `security.routes`.
 *
 *   GET  /public    open
 *   GET  /private   a JWT (HS256 or RS256, iss forge-example, aud forge-api): {"sub": ...}
 *   GET  /admin     role admin (JWT claim roles) or an API key with scope admin
 *   GET  /limited   5 requests per minute per client address
 *   POST /validate  {"name": string (required), "age": integer 0..150}
 *   CORS            https://app.example.com, with credentials
 */
#include <forge/forge.h>
#include <forge/security.h>

static int h_public(forge_req *req, void *u)
{
    json_t *o = json_pack("{s:s}", "message", "public");
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

static int h_private(forge_req *req, void *u)
{
    const forge_principal *p = forge_req_principal(req);
    json_t *o = json_pack("{s:s, s:s}", "sub", p ? p->subject : "", "auth", p ? p->method : "");
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

static int h_admin(forge_req *req, void *u)
{
    const forge_principal *p = forge_req_principal(req);
    forge_security_audit(req, "admin.view", FORGE_LOG_FIELDS(FORGE_F_STR("what", "dashboard")));
    json_t *o = json_pack("{s:b, s:s, s:s}", "admin", 1, "subject", p ? p->subject : "", "auth",
                          p ? p->method : "");
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

static int h_limited(forge_req *req, void *u)
{
    json_t *o = json_pack("{s:b}", "ok", 1);
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

static int h_validate(forge_req *req, void *u)
{
    /* The policy validated the body against the schema already. */
    json_t *body = forge_req_json(req, NULL);
    json_t *o = json_pack("{s:b, s:O}", "valid", 1, "person", body);
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

FORGE_APP("secure", "1.0.0")
{
    int rc = forge_security_init(app, err);
    if (rc < 0)
        return rc;
    if ((rc = forge_app_route(app, "GET", "/public", h_public, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/private", h_private, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/admin", h_admin, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/limited", h_limited, NULL, NULL, err)) < 0)
        return rc;
    return forge_app_route(app, "POST", "/validate", h_validate, NULL, NULL, err);
}
