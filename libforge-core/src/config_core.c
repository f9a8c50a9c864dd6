/*
 * The schema of the core's own sections (http, log, runtime, services).
 *
 * The areas read these keys with getters; binding them here once, right
 * after loading, gives every one of them a typed check with the key path in
 * the message (a getter alone falls back to its default on a wrong type),
 * records the defaults (so dumps show the effective configuration), and
 * declares the keys for forge_config_check_unknown. The defaults and ranges
 * below are the ones the reading areas use.
 */
#include "config_internal.h"

typedef struct mw_toggles {
    bool request_id, access_log, errors;
} mw_toggles;

typedef struct core_cfg {
    struct {
        uint64_t max_body_size;
        int64_t json_max_depth;
        mw_toggles mw;
    } http;
    struct {
        int level, format;
    } log;
    struct {
        int64_t pool_threads, pool_queue_max;
        const char *machine_lock;
    } runtime;
    struct {
        uint64_t start_timeout, stop_timeout;
    } services;
    struct {
        const char *key_file, *key_env; /* read by config_secret.c for ${enc:...} */
    } secrets;
    struct {
        int unknown_keys; /* read by host.c after the app's init */
    } config;
} core_cfg;

static int range(int64_t v, int64_t lo, int64_t hi, forge_error *err)
{
    return v >= lo && v <= hi
               ? 0
               : forge_error_set(err, FORGE_ERANGE, "must be between %lld and %lld, got %lld",
                                 (long long)lo, (long long)hi, (long long)v);
}

static int body_size_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    uint64_t n = *(const uint64_t *)v;
    return n >= 1 && n <= (uint64_t)1 << 40
               ? 0
               : forge_error_set(err, FORGE_ERANGE, "must be between 1 byte and 1t");
}

static int depth_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range(*(const int64_t *)v, 1, 2048, err);
}

static int threads_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range(*(const int64_t *)v, 1, 1024, err);
}

static int queue_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    return range(*(const int64_t *)v, 1, 16777216, err);
}

static const char *const levels[] = {"trace", "debug", "info", "warn",
                                     "error", "fatal", "off",  NULL};
static const char *const formats[] = {"text", "json", NULL};
static const char *const unknown_modes[] = {"error", "warn", NULL};

static const forge_config_field mw_fields[] = {
    {FORGE_CFG_BOOL(mw_toggles, request_id, "request_id"), .def = "true",
     .help = "assign/echo X-Request-ID"},
    {FORGE_CFG_BOOL(mw_toggles, access_log, "access_log"), .def = "true",
     .help = "one structured log line per request"},
    {FORGE_CFG_BOOL(mw_toggles, errors, "errors"), .def = "true",
     .help = "problem+json error responses"},
};
static const forge_config_section mw_schema = FORGE_CFG_SECTION_OF(mw_fields);

static const forge_config_field core_fields[] = {
    {FORGE_CFG_SIZE(core_cfg, http.max_body_size, "http.max_body_size"), .def = "1m",
     .validate = body_size_ok},
    {FORGE_CFG_INT(core_cfg, http.json_max_depth, "http.json_max_depth"), .def = "64",
     .validate = depth_ok},
    {FORGE_CFG_NESTED(core_cfg, http.mw, "http.middleware", &mw_schema)},
    {FORGE_CFG_ENUM(core_cfg, log.level, "log.level", levels), .def = "info"},
    {FORGE_CFG_ENUM(core_cfg, log.format, "log.format", formats), .def = "text"},
    {FORGE_CFG_INT(core_cfg, runtime.pool_threads, "runtime.pool_threads"), .def = "4",
     .validate = threads_ok},
    {FORGE_CFG_INT(core_cfg, runtime.pool_queue_max, "runtime.pool_queue_max"), .def = "4096",
     .validate = queue_ok},
    {FORGE_CFG_STRING(core_cfg, runtime.machine_lock, "runtime.machine_lock")},
    {FORGE_CFG_DURATION(core_cfg, services.start_timeout, "services.start_timeout"), .def = "30s"},
    {FORGE_CFG_DURATION(core_cfg, services.stop_timeout, "services.stop_timeout"), .def = "10s"},
    {FORGE_CFG_STRING(core_cfg, secrets.key_file, "secrets.key_file")},
    {FORGE_CFG_STRING(core_cfg, secrets.key_env, "secrets.key_env")},
    {FORGE_CFG_ENUM(core_cfg, config.unknown_keys, "config.unknown_keys", unknown_modes),
     .def = "error", .help = "a key no area or app declared: refuse to load (error) or log (warn)"},
};

/* Field keys are dotted here: walk them as one section at the top. */
static const forge_config_section core_schema = FORGE_CFG_SECTION_OF(core_fields);

int forge_config_check_core(forge_config *cfg, forge_error *err)
{
    core_cfg c = {0};
    return forge_config_bind(cfg, "", &core_schema, &c, err);
}
