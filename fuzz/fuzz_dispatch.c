/*
 * fuzz_dispatch: the request path fed with arbitrary bytes. The input is
 * split into lines: method, target, then "Name: value" headers until an empty
 * line, then the body. Every request must get a complete response with a
 * status in 100..599, whatever the bytes (bad escapes, unknown methods,
 * huge or odd headers, malformed JSON bodies).
 */
#include <forge/forge.h>
#include <forge/testhost.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int h_user(forge_req *req, void *u)
{
    forge_str id = forge_req_param(req, "id");
    forge_str v;
    forge_req_query_param(req, "q", &v);
    forge_req_header(req, "X-Anything", &v);
    forge_req_path(req);
    return forge_res_body(req, id.p, id.n);
}

static int h_json(forge_req *req, void *u)
{
    forge_error err;
    json_t *j = forge_req_json(req, &err);
    if (!j)
        return forge_res_problem(req, 400, NULL, err.message);
    return forge_res_json(req, 200, j);
}

static int h_files(forge_req *req, void *u)
{
    forge_str p = forge_req_param(req, "path");
    forge_str vals[4];
    forge_req_query_values(req, "x", vals, 4);
    forge_res_header(req, "X-Len", p.n ? "some" : "none");
    return forge_res_text(req, 200, "files");
}

static int h_fail(forge_req *req, void *u)
{
    return FORGE_EIO;
}

static int init(forge_app *app, forge_error *err)
{
    forge_group *g = forge_app_group(app, "/api");
    int rc = 0;
    if ((rc = forge_group_route(g, "GET", "/users/:id", h_user, NULL, NULL, err)) < 0 ||
        (rc = forge_group_route(g, "POST", "/json", h_json, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "PUT", "/files/*path", h_files, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "DELETE", "/fail", h_fail, NULL, NULL, err)) < 0)
        return rc;
    return 0;
}

static const struct forge_app_entry entry = {
    FORGE_ABI_VERSION, (uint32_t)sizeof(struct forge_app_entry), "fuzz", "1", init, {0}};

static forge_test_host *th;
static forge_test_response res;

static size_t take_line(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
    size_t n = 0;
    while (*p < end && **p != '\n') {
        if (n + 1 < cap && **p != '\0')
            out[n++] = (char)**p;
        (*p)++;
    }
    if (*p < end)
        (*p)++;
    out[n] = '\0';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!th) {
        forge_error err;
        forge_test_opts o = {.entry = &entry,
                             .config_text = "log:\n  level: off\nhttp:\n  max_body_size: 4096\n",
                             .no_worker = true};
        th = forge_test_host_new_opts(&o, &err);
        if (!th) {
            fprintf(stderr, "%s\n", err.message);
            abort();
        }
        forge_test_response_init(&res);
    }
    const uint8_t *p = data, *end = data + size;
    char method[32], target[1024], lines[16][256];
    const char *headers[17];
    take_line(&p, end, method, sizeof(method));
    take_line(&p, end, target, sizeof(target));
    size_t nh = 0;
    while (nh < 16 && take_line(&p, end, lines[nh], sizeof(lines[nh])) > 0) {
        headers[nh] = lines[nh];
        nh++;
    }
    headers[nh] = NULL;
    forge_error err;
    if (forge_test_request(th, method, target, headers, p, (size_t)(end - p), &res, &err) != 0)
        abort();
    if (!res.complete || res.status < 100 || res.status > 599)
        abort();
    return 0;
}
