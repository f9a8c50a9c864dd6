/*
 * mod_hello_native: the "before" of migration/apache-handler.md. A typical
 * hand-written Apache handler module serving a small API under one location:
 *
 *   GET  /api/hello       "hello\n" as text/plain
 *   GET  /api/users/ID    {"id":"ID"}
 *   POST /api/echo        the request body back, with its Content-Type
 *
 *     LoadModule hello_native_module .../mod_hello_native.so
 *     <Location /api/>
 *         SetHandler hello-native
 *     </Location>
 *
 * Everything the module does by hand (matching paths, methods and their
 * 405s, reading the body, JSON escaping, error bodies) is what Forge's router
 * and response helpers do in the "after" app (../apache_after/app.c).
 */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_script.h"

#include "apr_lib.h"
#include "apr_strings.h"

#include <string.h>

#define HELLO_MAX_BODY (1024 * 1024)

/* The part of the path after the location prefix "/api". */
static const char *hello_subpath(request_rec *r)
{
    const char *p = r->uri;

    if (strncmp(p, "/api/", 5) != 0) {
        return NULL;
    }
    return p + 4;
}

static int hello_text(request_rec *r)
{
    ap_set_content_type(r, "text/plain; charset=utf-8");
    ap_rputs("hello\n", r);
    return OK;
}

static int hello_user(request_rec *r, const char *id)
{
    const char *s;

    /* only plain ids: this module has no JSON escaping */
    for (s = id; *s; s++) {
        if (!apr_isalnum(*s) && *s != '-' && *s != '_') {
            return HTTP_BAD_REQUEST;
        }
    }
    if (!*id) {
        return HTTP_NOT_FOUND;
    }
    ap_set_content_type(r, "application/json");
    ap_rprintf(r, "{\"id\":\"%s\"}", id);
    return OK;
}

static int hello_echo(request_rec *r)
{
    const char *type = apr_table_get(r->headers_in, "Content-Type");
    char buf[8192];
    apr_off_t total = 0;
    long n;
    int rc;

    rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    if (rc != OK) {
        return rc;
    }
    ap_set_content_type(r, type ? type : "application/octet-stream");
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, buf, sizeof(buf))) > 0) {
            total += n;
            if (total > HELLO_MAX_BODY) {
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
            ap_rwrite(buf, (int)n, r);
        }
        if (n < 0) {
            return HTTP_BAD_REQUEST;
        }
    }
    return OK;
}

static int hello_handler(request_rec *r)
{
    const char *path;

    if (!r->handler || strcmp(r->handler, "hello-native") != 0) {
        return DECLINED;
    }
    path = hello_subpath(r);
    if (!path) {
        return HTTP_NOT_FOUND;
    }
    if (strcmp(path, "/hello") == 0) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", NULL);
        return r->method_number == M_GET ? hello_text(r) : HTTP_METHOD_NOT_ALLOWED;
    }
    if (strncmp(path, "/users/", 7) == 0 && !strchr(path + 7, '/')) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", NULL);
        return r->method_number == M_GET ? hello_user(r, path + 7) : HTTP_METHOD_NOT_ALLOWED;
    }
    if (strcmp(path, "/echo") == 0) {
        ap_allow_methods(r, REPLACE_ALLOW, "POST", NULL);
        return r->method_number == M_POST ? hello_echo(r) : HTTP_METHOD_NOT_ALLOWED;
    }
    return HTTP_NOT_FOUND;
}

static void hello_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(hello_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA hello_native_module = {
    STANDARD20_MODULE_STUFF,
    NULL,                 /* create per-directory config */
    NULL,                 /* merge per-directory config */
    NULL,                 /* create per-server config */
    NULL,                 /* merge per-server config */
    NULL,                 /* directives */
    hello_register_hooks, /* hooks */
    AP_MODULE_FLAG_NONE   /* flags */
};
