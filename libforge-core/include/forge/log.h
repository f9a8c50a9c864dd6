/*
 * Forge: structured logging.
 *
 * A logger has a level, a format (JSON lines or text) and a sink. The default
 * sink writes to stderr; host bindings route lines into their own error log.
 * A line carries time, level, message, the request id and trace id when a
 * request is given, and typed fields. Fields marked secret print as "***".
 *
 * Thread safety: forge_log_emit and friends may be called from any thread;
 * a record becomes one sink call, never interleaved with another.
 * forge_log_set_level may be called at any time; the other set_* calls and
 * forge_log_configure belong to load time.
 *
 * Cost: a record below the level costs one relaxed atomic load. Formatting
 * happens on the caller's stack (heap only for lines over 2 KiB); only the
 * sink call is under the logger's lock.
 *
 * (Owner of this area: extend freely, keep these signatures.)
 */
#ifndef FORGE_LOG_H
#define FORGE_LOG_H

#include <forge/common.h>
#include <forge/error.h>

typedef enum forge_log_level {
    FORGE_LOG_TRACE = 0,
    FORGE_LOG_DEBUG,
    FORGE_LOG_INFO,
    FORGE_LOG_WARN,
    FORGE_LOG_ERROR,
    FORGE_LOG_FATAL,
    FORGE_LOG_OFF
} forge_log_level;

typedef enum forge_log_format { FORGE_LOG_TEXT = 0, FORGE_LOG_JSON } forge_log_format;

typedef enum forge_log_ftype {
    FORGE_LF_STR = 0,
    FORGE_LF_INT,
    FORGE_LF_DBL,
    FORGE_LF_BOOL,
    FORGE_LF_SECRET
} forge_log_ftype;

typedef struct forge_log_field {
    const char *key;
    forge_log_ftype type;
    union {
        const char *s;
        int64_t i;
        double d;
        bool b;
    } v;
} forge_log_field;

#define FORGE_F_STR(k, x)    ((forge_log_field){(k), FORGE_LF_STR, {.s = (x)}})
#define FORGE_F_INT(k, x)    ((forge_log_field){(k), FORGE_LF_INT, {.i = (int64_t)(x)}})
#define FORGE_F_DBL(k, x)    ((forge_log_field){(k), FORGE_LF_DBL, {.d = (double)(x)}})
#define FORGE_F_BOOL(k, x)   ((forge_log_field){(k), FORGE_LF_BOOL, {.b = (x)}})
#define FORGE_F_SECRET(k, x) ((forge_log_field){(k), FORGE_LF_SECRET, {.s = (x)}})

/*
 * A sink receives one formatted line (no trailing newline; `line[len]` is
 * NUL) per record. Calls are serialised by the logger: a sink never runs
 * twice at once for the same logger, so it needs no locking of its own, and
 * it must not log through the same logger. `line` is borrowed for the call.
 */
typedef void (*forge_log_sink_fn)(void *udata, forge_log_level level, const char *line, size_t len);

FORGE_API forge_log *forge_log_new(void);
FORGE_API void forge_log_free(forge_log *log);
FORGE_API void forge_log_set_level(forge_log *log, forge_log_level level);
FORGE_API forge_log_level forge_log_get_level(const forge_log *log);
FORGE_API void forge_log_set_format(forge_log *log, forge_log_format format);
/* fn NULL restores the default sink (stderr, one write per line). */
FORGE_API void forge_log_set_sink(forge_log *log, forge_log_sink_fn fn, void *udata);
FORGE_API bool forge_log_enabled(const forge_log *log, forge_log_level level);

/* Parse "trace".."off" / "text","json". FORGE_EINVAL when unknown. */
FORGE_API int forge_log_level_parse(const char *s, forge_log_level *out);
FORGE_API const char *forge_log_level_name(forge_log_level level);

/* One record. `req` may be NULL; `fields` may be NULL when n is 0. */
FORGE_API void forge_log_emit(forge_log *log, forge_log_level level, const forge_req *req,
                              const char *msg, const forge_log_field *fields, size_t n);

/* printf-style message without fields. */
FORGE_API void forge_logf(forge_log *log, forge_log_level level, const forge_req *req,
                          const char *fmt, ...) FORGE_PRINTF(4, 5);

/*
 * A field list for forge_log_emit, as its last two arguments:
 *     forge_log_emit(log, FORGE_LOG_INFO, req, "listening",
 *                    FORGE_LOG_FIELDS(FORGE_F_INT("port", 8080), FORGE_F_STR("host", h)));
 */
#define FORGE_LOG_FIELDS(...)                                                                      \
    ((const forge_log_field[]){__VA_ARGS__}),                                                      \
        (sizeof((const forge_log_field[]){__VA_ARGS__}) / sizeof(forge_log_field))

/* Parse "text" / "json" (case-insensitive). FORGE_EINVAL when unknown. */
FORGE_API int forge_log_format_parse(const char *s, forge_log_format *out);
FORGE_API const char *forge_log_format_name(forge_log_format format);

/*
 * Apply the `log` section of a configuration: `log.level` (trace..off,
 * default info) and `log.format` (text|json, default text). Declares both
 * keys. On a bad value nothing changes and err names the key.
 */
FORGE_API int forge_log_configure(forge_log *log, forge_config *cfg, forge_error *err);

#endif
