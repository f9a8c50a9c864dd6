/*
 * JSON responses (Jansson) and RFC 9457 problem details.
 */
#include "request_impl.h"

#include <string.h>

#define JSON_FIRST_TRY 512

/* Serialise v into the arena as the body. Two passes only when it exceeds the first try. */
static int dump_body(forge_req *req, const json_t *v)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    char *buf = forge_arena_alloc(req->arena, JSON_FIRST_TRY);
    if (!buf)
        return FORGE_ENOMEM;
    size_t n = json_dumpb(v, buf, JSON_FIRST_TRY, flags);
    if (n == 0)
        return FORGE_EINVAL;
    if (n > JSON_FIRST_TRY) {
        buf = forge_arena_alloc(req->arena, n);
        if (!buf || json_dumpb(v, buf, n, flags) != n)
            return buf ? FORGE_EINVAL : FORGE_ENOMEM;
    }
    return forge_res_body_static(req, buf, n);
}

int forge_res_json(forge_req *req, int status, const json_t *v)
{
    if (!v)
        return FORGE_EINVAL;
    if (req->head_committed)
        return FORGE_ESTATE;
    int rc = dump_body(req, v);
    if (rc < 0)
        return rc;
    forge_res_status(req, status);
    return forge__res_set_header_borrowed(req, FORGE_STR("Content-Type"),
                                          FORGE_STR("application/json"));
}

int forge_res_problem_ex(forge_req *req, int status, const char *type, const char *title,
                         const char *detail, const json_t *extra)
{
    if (req->head_committed)
        return FORGE_ESTATE;
    json_t *o = json_object();
    if (!o)
        return FORGE_ENOMEM;
    if (extra && json_is_object(extra))
        json_object_update(o, (json_t *)extra);
    json_object_set_new(o, "type", json_string(type ? type : "about:blank"));
    json_object_set_new(o, "title", json_string(title ? title : forge_status_reason(status)));
    json_object_set_new(o, "status", json_integer(status));
    if (detail)
        json_object_set_new(o, "detail", json_string(detail));
    forge_str path = req->raw_path;
    if (path.n)
        json_object_set_new(o, "instance", json_stringn(path.p, path.n));
    int rc = dump_body(req, o);
    json_decref(o);
    if (rc < 0)
        return rc;
    forge_res_status(req, status);
    return forge__res_set_header_borrowed(req, FORGE_STR("Content-Type"),
                                          FORGE_STR("application/problem+json"));
}

int forge_res_problem(forge_req *req, int status, const char *title, const char *detail)
{
    return forge_res_problem_ex(req, status, NULL, title, detail, NULL);
}

int forge__res_problem_instance(forge_req *req, int status, const char *title, const char *detail,
                                const char *extra_key, const char *extra_val)
{
    if (!extra_key)
        return forge_res_problem_ex(req, status, NULL, title, detail, NULL);
    json_t *extra = json_object();
    if (extra && extra_val)
        json_object_set_new(extra, extra_key, json_string(extra_val));
    int rc = forge_res_problem_ex(req, status, NULL, title, detail, extra);
    json_decref(extra);
    return rc;
}
