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
FORGE_API uint64_t forge_config_duration_ms(const forge_config *cfg, const char *key,
                                            uint64_t def);

#endif
