/*
 * Access lines: one per completed request, with the method, raw path, route
 * template, status, duration, bytes in and out, request id, trace id and
 * span id.
 *
 * Destination: the app's log by default (JSON when log.format is json; the
 * logger adds req_id, trace_id and span_id itself), or, with
 * observe.access_log.path, a file of JSON lines: one write(2) per line on a
 * descriptor opened O_APPEND before fork, so the lines of all workers
 * interleave whole. Lines are formatted on the stack; nothing is allocated.
 */
#include "request_impl.h"
#include "observe_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

int forge__accesslog_open(struct forge__observe *o, forge_error *err)
{
    const char *path = o->cfg.access_log.path;
    if (!path || o->access_fd >= 0)
        return FORGE_OK;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return forge_error_setk(err, FORGE_ECONFIG, "observe.access_log.path",
                                "observe.access_log.path: cannot open %s: %s", path,
                                strerror(errno));
    o->access_fd = fd;
    return FORGE_OK;
}

void forge__accesslog_close(struct forge__observe *o)
{
    if (o->access_fd >= 0)
        close(o->access_fd);
    o->access_fd = -1;
}

typedef struct line {
    char p[LINE_MAX_BYTES];
    size_t n;
} line;

static void put(line *l, const char *s, size_t n)
{
    if (l->n + n >= sizeof(l->p) - 2)
        n = l->n < sizeof(l->p) - 2 ? sizeof(l->p) - 2 - l->n : 0;
    memcpy(l->p + l->n, s, n);
    l->n += n;
}

/* "key":"escaped value" (control bytes as \u00XX; other bytes passed through). */
static void put_str(line *l, const char *key, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(l, ",\"", 2);
    put(l, key, strlen(key));
    put(l, "\":\"", 3);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(l, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(l, e, 6);
        } else {
            put(l, (const char *)&s[i], 1);
        }
    }
    put(l, "\"", 1);
}

static void put_num(line *l, const char *key, const char *fmt, double v)
{
    char b[64];
    int n = snprintf(b, sizeof(b), fmt, v);
    put(l, ",\"", 2);
    put(l, key, strlen(key));
    put(l, "\":", 2);
    put(l, b, (size_t)(n > 0 ? n : 0));
}

static void write_json(int fd, forge_req *req, const char *method, const char *route, double ms,
                       uint64_t out)
{
    line l = {.n = 0};
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    size_t tl = strlen(ts);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03dZ", (int)(now.tv_nsec / 1000000));
    put(&l, "{\"ts\":\"", 7);
    put(&l, ts, strlen(ts));
    put(&l, "\"", 1);
    put_str(&l, "msg", "request", 7);
    put_str(&l, "method", method, strlen(method));
    put_str(&l, "path", req->raw_path.p ? req->raw_path.p : "", req->raw_path.n);
    put_str(&l, "route", route, strlen(route));
    put_num(&l, "status", "%.0f", req->status);
    put_num(&l, "duration_ms", "%.3f", ms);
    put_num(&l, "bytes", "%.0f", (double)out);
    put_num(&l, "bytes_in", "%.0f", (double)req->body.n);
    put_str(&l, "request_id", req->id, strlen(req->id));
    const char *tid = forge_req_trace_id(req), *sid = forge_req_span_id(req);
    if (tid)
        put_str(&l, "trace_id", tid, strlen(tid));
    if (sid)
        put_str(&l, "span_id", sid, strlen(sid));
    forge_str peer = forge_req_peer(req);
    put_str(&l, "peer", peer.p ? peer.p : "", peer.n);
    forge_str ua;
    if (forge_req_header(req, "User-Agent", &ua))
        put_str(&l, "user_agent", ua.p, ua.n);
    l.p[l.n++] = '}';
    l.p[l.n++] = '\n';
    ssize_t w = write(fd, l.p, l.n);
    (void)w; /* an access line that cannot be written is not worth failing a request over */
}

void forge__accesslog_emit(forge_req *req)
{
    struct forge__observe *o = req->app->observe;
    int fd = o ? o->access_fd : -1;
    forge_log *log = req->app->log;
    if (fd < 0 && !forge_log_enabled(log, FORGE_LOG_INFO))
        return;
    const char *method =
        req->method != FORGE_METHOD_UNKNOWN
            ? forge_method_name(req->method)
            : forge_arena_strndup(req->arena, req->method_str.p ? req->method_str.p : "",
                                  req->method_str.n);
    if (!method)
        method = "";
    const char *route = req->route ? req->route->pattern : "";
    uint64_t out = req->streaming ? req->bytes_sent : req->res_body_len;
    double ms = (double)forge__elapsed_us(&req->t_start) / 1000.0;
    if (fd >= 0) {
        write_json(fd, req, method, route, ms, out);
        return;
    }
    const char *path =
        forge_arena_strndup(req->arena, req->raw_path.p ? req->raw_path.p : "", req->raw_path.n);
    forge_log_field f[] = {
        FORGE_F_STR("method", method),        FORGE_F_STR("path", path ? path : ""),
        FORGE_F_STR("route", route),          FORGE_F_INT("status", req->status),
        FORGE_F_DBL("duration_ms", ms),       FORGE_F_INT("bytes", out),
        FORGE_F_INT("bytes_in", req->body.n),
    };
    forge_log_emit(log, FORGE_LOG_INFO, req, "request", f, sizeof(f) / sizeof(f[0]));
}
