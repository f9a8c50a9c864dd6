/*
 * hello: the smallest Forge app, and the app every binding's tests run.
 *
 *   GET  /hello        "hello\n" as text/plain
 *   GET  /users/:id    {"id":"<id>"}
 *   POST /echo         the request body back, with its Content-Type
 *   GET  /error        a problem+json 418 with a detail
 *   GET  /stream       three chunks, each flushed, written from the runtime
 *                      thread 10 ms apart (?sync=1: written by the handler)
 *   GET  /slow         a blocking route: sleeps ?ms= (default 100, max 5000)
 *   GET  /async        answered later from the runtime thread
 */
#include <forge/forge.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int hello(forge_req *req, void *udata)
{
    return forge_res_text(req, 200, "hello\n");
}

static int user(forge_req *req, void *udata)
{
    forge_str id = forge_req_param(req, "id");
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

static int error(forge_req *req, void *udata)
{
    return forge_res_problem(req, 418, "I'm a teapot", "This server brews no coffee.");
}

/* ---- streaming from the runtime thread ---- */

typedef struct stream_state {
    forge_req *req;
    forge_runtime *rt;
    int sent;
} stream_state;

static void stream_tick(void *arg)
{
    stream_state *s = arg;
    char line[32];
    int n = snprintf(line, sizeof(line), "chunk %d\n", ++s->sent);
    bool ok =
        forge_res_write(s->req, line, (size_t)n) == FORGE_OK && forge_res_flush(s->req) == FORGE_OK;
    if (ok && s->sent < 3 && forge_runtime_timer(s->rt, 10, 0, stream_tick, s) > 0)
        return;
    forge_res_end(s->req); /* also when the client went away: completes the request */
    free(s);
}

static int stream(forge_req *req, void *udata)
{
    forge_res_set_header(req, "Content-Type", "text/plain; charset=utf-8");
    forge_runtime *rt = forge_app_runtime(forge_req_app(req));
    forge_str sync;
    if (forge_req_query_param(req, "sync", &sync) || !rt) {
        int rc = forge_res_stream_begin(req);
        for (int i = 1; rc == FORGE_OK && i <= 3; i++) {
            char line[32];
            int n = snprintf(line, sizeof(line), "chunk %d\n", i);
            rc = forge_res_write(req, line, (size_t)n);
            if (rc == FORGE_OK)
                rc = forge_res_flush(req);
        }
        return rc == FORGE_OK ? forge_res_end(req) : rc;
    }
    stream_state *s = malloc(sizeof(*s));
    if (!s)
        return FORGE_ENOMEM;
    *s = (stream_state){req, rt, 0};
    int rc = forge_res_stream_begin(req);
    if (rc == FORGE_OK && forge_runtime_timer(rt, 10, 0, stream_tick, s) > 0)
        return FORGE_ASYNC;
    free(s);
    return rc < 0 ? rc : FORGE_EAGAIN;
}

/* ---- blocking and async ---- */

static int slow(forge_req *req, void *udata)
{
    long ms = 100;
    forge_str v;
    if (forge_req_query_param(req, "ms", &v) && v.n && v.n < 6) {
        char buf[8];
        memcpy(buf, v.p, v.n);
        buf[v.n] = '\0';
        ms = strtol(buf, NULL, 10);
        if (ms < 0 || ms > 5000)
            return forge_res_problem(req, 400, NULL, "ms must be between 0 and 5000");
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    return forge_res_text(req, 200, "slow\n");
}

static void async_answer(void *arg)
{
    forge_req *req = arg;
    forge_res_text(req, 200, "async\n");
    forge_req_finish(req);
}

static void *async_thread(void *arg)
{
    async_answer(arg);
    return NULL;
}

static int async(forge_req *req, void *udata)
{
    forge_runtime *rt = forge_app_runtime(forge_req_app(req));
    if (rt && forge_runtime_call(rt, async_answer, req) == FORGE_OK)
        return FORGE_ASYNC;
    pthread_t t;
    if (pthread_create(&t, NULL, async_thread, req) != 0)
        return FORGE_EAGAIN;
    pthread_detach(t);
    return FORGE_ASYNC;
}

FORGE_APP("hello", "1.0.0")
{
    static const forge_route_opts blocking = {.summary = "Sleeps, then answers",
                                              .flags = FORGE_ROUTE_BLOCKING};
    static const char *const tags[] = {"demo", NULL};
    static const forge_param_doc id_doc[] = {
        {.name = "id", .in = "path", .description = "user id", .type = "string", .required = true}};
    static const forge_route_opts user_opts = {
        .name = "getUser", .summary = "A user by id", .tags = tags, .params = id_doc, .nparams = 1};
    int rc = 0;
    if ((rc = forge_app_route(app, "GET", "/hello", hello, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/users/:id", user, NULL, &user_opts, err)) < 0 ||
        (rc = forge_app_route(app, "POST", "/echo", echo, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/error", error, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/stream", stream, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/slow", slow, NULL, &blocking, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/async", async, NULL, NULL, err)) < 0)
        return rc;
    return 0;
}
