/*
 * The request body as JSON. Jansson's own nesting limit is a compile-time
 * 2048; Forge applies its own (config `http.json_max_depth`, default 64) with
 * a scan before parsing, so a body of "[[[[..." is refused cheaply with a
 * clear message rather than parsed deep.
 */
#include "request_impl.h"

#include <string.h>

/* Maximum nesting depth of the JSON text (brackets outside strings). */
static int json_depth(const char *p, size_t n, int limit)
{
    int depth = 0, max = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
            if (max > limit)
                return max;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return max;
}

json_t *forge_req_json(forge_req *req, forge_error *err)
{
    if (req->json)
        return req->json;
    forge_str b = req->body;
    if (b.n == 0) {
        forge_error_set(err, FORGE_EPARSE, "the request body is empty, JSON was expected");
        return NULL;
    }
    int limit = req->app->routes->json_max_depth;
    if (json_depth(b.p, b.n, limit) > limit) {
        forge_error_set(err, FORGE_ETOOBIG, "the JSON body is nested deeper than %d levels", limit);
        return NULL;
    }
    json_error_t je;
    req->json = json_loadb(b.p, b.n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!req->json)
        forge_error_set(err, FORGE_EPARSE, "invalid JSON body at line %d column %d: %s", je.line,
                        je.column, je.text);
    return req->json;
}
