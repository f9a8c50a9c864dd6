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

#endif
