/*
 * The logger: level, format, sink, and emission.
 *
 * Emission formats the whole line in the caller's thread into a stack buffer
 * and takes the logger's mutex only around the sink call, so lines are never
 * interleaved and formatting runs in parallel. The level is an atomic so it
 * can change while other threads log; the enabled check is one relaxed load.
 */
#include "log_internal.h"

#include <forge/trace.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LINE_STACK 2048

struct forge_log {
    _Atomic int level;
    forge_log_format format;
    forge_log_sink_fn sink;
    void *sink_udata;
    pthread_mutex_t lock; /* serialises sink calls */
};

/* The default sink: line and newline in one writev, so lines of up to
 * PIPE_BUF bytes stay whole even across processes sharing stderr. */
static void sink_stderr(void *udata, forge_log_level level, const char *line, size_t len)
{
    struct iovec iov[2] = {{(void *)line, len}, {(void *)"\n", 1}};
    int iovcnt = 2;
    struct iovec *v = iov;
    while (iovcnt > 0) {
        ssize_t k = writev(STDERR_FILENO, v, iovcnt);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        size_t done = (size_t)k;
        while (iovcnt > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
}

forge_log *forge_log_new(void)
{
    forge_log *log = calloc(1, sizeof(*log));
    if (!log)
        return NULL;
    atomic_init(&log->level, FORGE_LOG_INFO);
    log->format = FORGE_LOG_TEXT;
    log->sink = sink_stderr;
    if (pthread_mutex_init(&log->lock, NULL) != 0) {
        free(log);
        return NULL;
    }
    return log;
}

void forge_log_free(forge_log *log)
{
    if (!log)
        return;
    pthread_mutex_destroy(&log->lock);
    free(log);
}

void forge_log_set_level(forge_log *log, forge_log_level level)
{
    if (level < FORGE_LOG_TRACE || level > FORGE_LOG_OFF)
        return;
    atomic_store_explicit(&log->level, (int)level, memory_order_relaxed);
}

forge_log_level forge_log_get_level(const forge_log *log)
{
    return (forge_log_level)atomic_load_explicit(&((forge_log *)log)->level, memory_order_relaxed);
}

void forge_log_set_format(forge_log *log, forge_log_format format)
{
    if (format == FORGE_LOG_TEXT || format == FORGE_LOG_JSON)
        log->format = format;
}

void forge_log_set_sink(forge_log *log, forge_log_sink_fn fn, void *udata)
{
    pthread_mutex_lock(&log->lock);
    log->sink = fn ? fn : sink_stderr;
    log->sink_udata = fn ? udata : NULL;
    pthread_mutex_unlock(&log->lock);
}

bool forge_log_enabled(const forge_log *log, forge_log_level level)
{
    if (!log || level < FORGE_LOG_TRACE || level >= FORGE_LOG_OFF)
        return false;
    return (int)level >= atomic_load_explicit(&((forge_log *)log)->level, memory_order_relaxed);
}

static const char *const level_names[] = {"trace", "debug", "info", "warn",
                                          "error", "fatal", "off"};

const char *forge_log_level_name(forge_log_level level)
{
    if (level < FORGE_LOG_TRACE || level > FORGE_LOG_OFF)
        return "unknown";
    return level_names[level];
}

int forge_log_level_parse(const char *s, forge_log_level *out)
{
    if (!s)
        return FORGE_EINVAL;
    for (int i = FORGE_LOG_TRACE; i <= FORGE_LOG_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (forge_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = FORGE_LOG_WARN;
        return 0;
    }
    return FORGE_EINVAL;
}

const char *forge_log_format_name(forge_log_format format)
{
    return format == FORGE_LOG_JSON ? "json" : "text";
}

int forge_log_format_parse(const char *s, forge_log_format *out)
{
    if (s && strcasecmp(s, "text") == 0) {
        *out = FORGE_LOG_TEXT;
        return 0;
    }
    if (s && strcasecmp(s, "json") == 0) {
        *out = FORGE_LOG_JSON;
        return 0;
    }
    return FORGE_EINVAL;
}

/*
 * RFC 3339 UTC with milliseconds: "2024-05-01T12:00:00.123Z". The part up to
 * the second is cached per thread, so most records format three digits.
 */
static void timestamp(char buf[static 32])
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d.",
                 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
                 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
        cached_sec = ts.tv_sec;
    }
    memcpy(buf, cached, 20);
    int ms = (int)(ts.tv_nsec / 1000000);
    buf[20] = (char)('0' + ms / 100);
    buf[21] = (char)('0' + ms / 10 % 10);
    buf[22] = (char)('0' + ms % 10);
    buf[23] = 'Z';
    buf[24] = '\0';
}

static void emit(forge_log *log, forge_log_level level, const forge_req *req, const char *msg,
                 size_t msg_len, const forge_log_field *fields, size_t n)
{
    char ts[32];
    char storage[LINE_STACK];
    forge__lbuf b;
    timestamp(ts);
    forge__log_rec r = {ts, level, msg, msg_len, NULL, NULL, NULL, fields, fields ? n : 0};
    if (req) {
        r.req_id = forge_req_id(req);
        r.trace_id = forge_req_trace_id(req);
        r.span_id = forge_req_span_id(req);
    }
    forge__lbuf_init(&b, storage, sizeof(storage));
    if (log->format == FORGE_LOG_JSON)
        forge__log_format_json(&b, &r);
    else
        forge__log_format_text(&b, &r);
    pthread_mutex_lock(&log->lock);
    log->sink(log->sink_udata, level, b.p, b.n);
    pthread_mutex_unlock(&log->lock);
    forge__lbuf_free(&b);
}

void forge_log_emit(forge_log *log, forge_log_level level, const forge_req *req, const char *msg,
                    const forge_log_field *fields, size_t n)
{
    if (!forge_log_enabled(log, level))
        return;
    if (!msg)
        msg = "";
    emit(log, level, req, msg, strlen(msg), fields, n);
}

void forge_logf(forge_log *log, forge_log_level level, const forge_req *req, const char *fmt, ...)
{
    if (!forge_log_enabled(log, level))
        return;
    char storage[512];
    forge__lbuf m;
    forge__lbuf_init(&m, storage, sizeof(storage));
    va_list ap;
    va_start(ap, fmt);
    forge__lbuf_vprintf(&m, fmt, ap);
    va_end(ap);
    emit(log, level, req, m.p, m.n, NULL, 0);
    forge__lbuf_free(&m);
}
