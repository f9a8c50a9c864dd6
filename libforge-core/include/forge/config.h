/*
 * Forge: configuration.
 *
 * One file per app (YAML or JSON), FORGE_* environment variables over it,
 * defaults under it. Keys are dotted paths ("http.max_body_size"). Errors name
 * the key path. Values may reference secrets in the environment or a file;
 * secret values are never printed.
 *
 * Thread safety: loading belongs to start-up; getters are safe from any
 * thread once loading is done.
 *
 * (Owner of this area: extend freely, keep these signatures.)
 */
#ifndef FORGE_CONFIG_H
#define FORGE_CONFIG_H

#include <forge/common.h>
#include <forge/error.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

typedef enum forge_config_format {
    FORGE_CONFIG_AUTO = 0, /* by file extension, else sniffed */
    FORGE_CONFIG_YAML,
    FORGE_CONFIG_JSON
} forge_config_format;

FORGE_API forge_config *forge_config_new(void);
FORGE_API void forge_config_free(forge_config *cfg);

/* Load (merging over what is loaded). Errors give file, line and key path. */
FORGE_API int forge_config_load_file(forge_config *cfg, const char *path, forge_error *err);
FORGE_API int forge_config_load_string(forge_config *cfg, const char *text, size_t len,
                                       forge_config_format format, forge_error *err);

/* Apply FORGE_* variables of the process environment over the loaded values. */
FORGE_API int forge_config_apply_env(forge_config *cfg, forge_error *err);

/* Typed getters: the value at `key`, or `def` when absent. */
FORGE_API bool forge_config_has(const forge_config *cfg, const char *key);
FORGE_API int64_t forge_config_int(const forge_config *cfg, const char *key, int64_t def);
FORGE_API double forge_config_double(const forge_config *cfg, const char *key, double def);
FORGE_API bool forge_config_bool(const forge_config *cfg, const char *key, bool def);
/* Config-owned string, valid while cfg lives. */
FORGE_API const char *forge_config_string(const forge_config *cfg, const char *key,
                                          const char *def);
/* Sizes accept "512", "64k", "8m", "1g"; durations "250ms", "5s", "2m", "1h". */
FORGE_API uint64_t forge_config_size(const forge_config *cfg, const char *key, uint64_t def);
FORGE_API uint64_t forge_config_duration_ms(const forge_config *cfg, const char *key, uint64_t def);

/*
 * Checked getters: 0 and *out set; FORGE_ENOENT when the key is absent (or
 * null); FORGE_ETYPE / FORGE_ERANGE when the value does not convert, with err
 * naming the key, what was expected, what was found (never a secret's text)
 * and where it came from: "http.max_body_size: expected a size (512, 64k,
 * 8m, 1g), got a list (app.yaml:12)". Strings convert to the other types
 * (environment values are strings); numbers never convert to strings.
 */
FORGE_API int forge_config_get_int(const forge_config *cfg, const char *key, int64_t *out,
                                   forge_error *err);
FORGE_API int forge_config_get_double(const forge_config *cfg, const char *key, double *out,
                                      forge_error *err);
FORGE_API int forge_config_get_bool(const forge_config *cfg, const char *key, bool *out,
                                    forge_error *err);
FORGE_API int forge_config_get_string(const forge_config *cfg, const char *key, const char **out,
                                      forge_error *err);
FORGE_API int forge_config_get_size(const forge_config *cfg, const char *key, uint64_t *out,
                                    forge_error *err);
FORGE_API int forge_config_get_duration_ms(const forge_config *cfg, const char *key, uint64_t *out,
                                           forge_error *err);

/* Where the value at key came from ("app.yaml:12", "env FORGE_X", "default"); NULL if unknown. */
FORGE_API const char *forge_config_source(const forge_config *cfg, const char *key);

/* True when the value at key (or a map above it) is secret. */
FORGE_API bool forge_config_is_secret(const forge_config *cfg, const char *key);

/*
 * The raw node at key (a Jansson value owned by cfg; do not modify), NULL
 * when absent. Lists and maps are reached this way or by path ("a.list[2]").
 */
FORGE_API const json_t *forge_config_node(const forge_config *cfg, const char *key);

/* Number of elements of the list or map at key; 0 when absent or a scalar. */
FORGE_API size_t forge_config_len(const forge_config *cfg, const char *key);

/* ---- schemas: declaring keys and binding sections to C structs ---- */

/*
 * A field descriptor: the C counterpart of a Go struct tag. Build them with
 * the FORGE_CFG_* macros and add options by designated initialisers:
 *
 *     typedef struct { int port; uint64_t max_body; const char *token; } http_cfg;
 *     static int port_ok(const void *v, const forge_config_field *f, forge_error *err) {
 *         int p = *(const int *)v;
 *         return p > 0 && p < 65536 ? 0 : forge_error_set(err, FORGE_ERANGE, "not a port");
 *     }
 *     static const forge_config_field http_fields[] = {
 *         {FORGE_CFG_INT(http_cfg, port, "port"), .def = "8080", .validate = port_ok},
 *         {FORGE_CFG_SIZE(http_cfg, max_body, "max_body_size"), .def = "1m"},
 *         {FORGE_CFG_STRING(http_cfg, token, "token"), .flags = FORGE_CFG_REQUIRED |
 *          FORGE_CFG_SECRET, .env = "HTTP_TOKEN"},
 *     };
 *     static const forge_config_section http_schema = FORGE_CFG_SECTION_OF(http_fields);
 *     forge_config_bind(cfg, "http", &http_schema, &my_http, err);
 *
 * A value is taken from (first found): the field's explicit env variable,
 * FORGE_HTTP__PORT, FORGE_HTTP_PORT, the loaded files, then `def` (text,
 * parsed like an environment value). A field with none of them keeps what the
 * struct held, unless FORGE_CFG_REQUIRED makes that an error.
 */
typedef enum forge_config_type {
    FORGE_CFG_T_INT = 1,  /* signed integer of 1, 2, 4 or 8 bytes */
    FORGE_CFG_T_UINT,     /* unsigned integer of 1, 2, 4 or 8 bytes */
    FORGE_CFG_T_DOUBLE,   /* double or float */
    FORGE_CFG_T_BOOL,     /* bool */
    FORGE_CFG_T_STRING,   /* const char *, owned by cfg (or the descriptor's def) */
    FORGE_CFG_T_SIZE,     /* bytes: "512", "64k", "8m", "1g" (k = 1024); unsigned 4 or 8 bytes */
    FORGE_CFG_T_DURATION, /* milliseconds: "250ms", "5s", "1m30s", "1h", "1d"; unsigned */
    FORGE_CFG_T_ENUM,     /* int: index of the value in `choices` */
    FORGE_CFG_T_SECTION   /* a nested struct described by `section` */
} forge_config_type;

#define FORGE_CFG_REQUIRED 0x1u /* an error when no source gives a value */
#define FORGE_CFG_SECRET   0x2u /* never printed: "***" in dumps, omitted from messages */

typedef struct forge_config_field forge_config_field;
typedef struct forge_config_section forge_config_section;

/*
 * Check a parsed value (`value` points at the struct member). Return 0, or a
 * negative code with err's message saying what is wrong; the binder prefixes
 * it with the key path and the value's source. Do not quote secret values.
 */
typedef int (*forge_config_validate_fn)(const void *value, const forge_config_field *field,
                                        forge_error *err);

struct forge_config_field {
    const char *key; /* relative to the section: "max_body_size" */
    forge_config_type type;
    size_t offset;   /* offsetof(struct, member) */
    size_t size;     /* sizeof(member) */
    const char *def; /* default as text ("1m", "true", "json"), NULL: none */
    unsigned flags;  /* FORGE_CFG_REQUIRED | FORGE_CFG_SECRET */
    const char *env; /* explicit environment variable, wins over FORGE_* names */
    forge_config_validate_fn validate;
    const char *const *choices;          /* FORGE_CFG_T_ENUM: names, NULL-terminated */
    const forge_config_section *section; /* FORGE_CFG_T_SECTION */
    const char *help;                    /* one line, for docs and `forge config` */
};

#define FORGE_CFG_FIELD_(T, st, m, k)                                                              \
    .key = (k), .type = (T), .offset = offsetof(st, m), .size = sizeof(((st *)0)->m)
#define FORGE_CFG_INT(st, m, k)      FORGE_CFG_FIELD_(FORGE_CFG_T_INT, st, m, k)
#define FORGE_CFG_UINT(st, m, k)     FORGE_CFG_FIELD_(FORGE_CFG_T_UINT, st, m, k)
#define FORGE_CFG_DOUBLE(st, m, k)   FORGE_CFG_FIELD_(FORGE_CFG_T_DOUBLE, st, m, k)
#define FORGE_CFG_BOOL(st, m, k)     FORGE_CFG_FIELD_(FORGE_CFG_T_BOOL, st, m, k)
#define FORGE_CFG_STRING(st, m, k)   FORGE_CFG_FIELD_(FORGE_CFG_T_STRING, st, m, k)
#define FORGE_CFG_SIZE(st, m, k)     FORGE_CFG_FIELD_(FORGE_CFG_T_SIZE, st, m, k)
#define FORGE_CFG_DURATION(st, m, k) FORGE_CFG_FIELD_(FORGE_CFG_T_DURATION, st, m, k)
#define FORGE_CFG_ENUM(st, m, k, names)                                                            \
    FORGE_CFG_FIELD_(FORGE_CFG_T_ENUM, st, m, k), .choices = (names)
#define FORGE_CFG_NESTED(st, m, k, sec)                                                            \
    FORGE_CFG_FIELD_(FORGE_CFG_T_SECTION, st, m, k), .section = (sec)

#define FORGE_CFG_OPEN 0x1u /* section flag: keys not listed are allowed (free-form maps) */

struct forge_config_section {
    const forge_config_field *fields;
    size_t nfields;
    /* Optional cross-field check after every field is bound (obj: the struct). */
    int (*validate)(void *obj, forge_error *err);
    unsigned flags; /* FORGE_CFG_OPEN */
};

#define FORGE_CFG_SECTION_OF(arr)                                                                  \
    {                                                                                              \
        (arr), sizeof(arr) / sizeof((arr)[0]), NULL, 0                                             \
    }

/*
 * Bind the section at `prefix` ("http", "db.primary"; "" for the top level)
 * to the struct `obj`, declaring its keys. A field key may itself be dotted
 * ("tls.cert") to reach into a sub-map without a nested descriptor. Every field is tried; the first
 * failure is reported in full and the number of further failures appended:
 * "http.port: expected an integer, got \"eighty\" (app.yaml:3) (and 1 more
 * error)". err->key names the first failing key. Returns 0, FORGE_ECONFIG
 * (missing required / invalid), FORGE_ETYPE or FORGE_ERANGE.
 */
FORGE_API int forge_config_bind(forge_config *cfg, const char *prefix,
                                const forge_config_section *sec, void *obj, forge_error *err);

/*
 * Declare a key without binding it (for code that reads keys by getters).
 * flags: FORGE_CFG_OPEN to accept anything below it, FORGE_CFG_SECRET to
 * redact it. Environment overrides for the key are applied now.
 */
FORGE_API int forge_config_declare(forge_config *cfg, const char *key, unsigned flags,
                                   forge_error *err);

/*
 * After every area and the app have declared their keys: FORGE_ECONFIG when
 * keys nobody declared are set, naming each with its source and a close
 * declared name when there is one: "unknown config keys: http.max_body_sise
 * (app.yaml:3; did you mean http.max_body_size?)".
 */
FORGE_API int forge_config_check_unknown(const forge_config *cfg, forge_error *err);

/*
 * Check and declare the core's own sections right after loading (files and
 * environment): http (max_body_size, json_max_depth, middleware.request_id /
 * access_log / errors), log (level, format), runtime (pool_threads,
 * pool_queue_max, machine_lock), services (start_timeout, stop_timeout).
 * Wrong types and out-of-range values are named with their key path and
 * source; defaults are recorded so dumps show the effective values.
 */
FORGE_API int forge_config_check_core(forge_config *cfg, forge_error *err);

/* ---- dumping ---- */

typedef enum forge_config_dump_format {
    FORGE_CONFIG_DUMP_JSON = 0, /* the merged tree as indented JSON */
    FORGE_CONFIG_DUMP_FLAT      /* one `key = value  # source` line per value, sorted */
} forge_config_dump_format;

/*
 * The merged configuration with every secret value as "***". The string is
 * malloc'd (free() it); NULL on OOM.
 */
FORGE_API char *forge_config_dump_string(const forge_config *cfg, forge_config_dump_format fmt);
FORGE_API int forge_config_dump(const forge_config *cfg, FILE *out, forge_config_dump_format fmt);

#endif
