/*
 * Typed getters. The plain forms return the default when the key is absent
 * or its value does not convert; the checked forms (forge_config_get_*) say
 * which, naming the key, the expected type and where the value came from.
 */
#include "config_internal.h"

bool forge_config_has(const forge_config *cfg, const char *key)
{
    return forge__cfg_lookup(cfg, key) != NULL;
}

/* Look key up for a checked getter: FORGE_ENOENT (err names it) when absent. */
static const json_t *need(const forge_config *cfg, const char *key, forge_error *err)
{
    const json_t *v = forge__cfg_lookup(cfg, key);
    if (!v)
        forge_error_setk(err, FORGE_ENOENT, key ? key : "", "%s: not set", key ? key : "(null)");
    return v;
}

#define CHECKED(name, ctype, conv)                                                                 \
    int forge_config_get_##name(const forge_config *cfg, const char *key, ctype *out,              \
                                forge_error *err)                                                  \
    {                                                                                              \
        const json_t *v = need(cfg, key, err);                                                     \
        return v ? conv(cfg, key, v, out, err) : FORGE_ENOENT;                                     \
    }

CHECKED(int, int64_t, forge__cfg_to_int)
CHECKED(double, double, forge__cfg_to_double)
CHECKED(bool, bool, forge__cfg_to_bool)
CHECKED(string, const char *, forge__cfg_to_string)
CHECKED(size, uint64_t, forge__cfg_to_size)
CHECKED(duration_ms, uint64_t, forge__cfg_to_duration)

#define PLAIN(name, ctype, getter)                                                                 \
    ctype forge_config_##name(const forge_config *cfg, const char *key, ctype def)                 \
    {                                                                                              \
        ctype v;                                                                                   \
        return getter(cfg, key, &v, NULL) == 0 ? v : def;                                          \
    }

PLAIN(int, int64_t, forge_config_get_int)
PLAIN(double, double, forge_config_get_double)
PLAIN(bool, bool, forge_config_get_bool)
PLAIN(string, const char *, forge_config_get_string)
PLAIN(size, uint64_t, forge_config_get_size)
PLAIN(duration_ms, uint64_t, forge_config_get_duration_ms)

const char *forge_config_source(const forge_config *cfg, const char *key)
{
    if (!cfg || !key)
        return NULL;
    return forge__cfg_src(cfg, key);
}

bool forge_config_is_secret(const forge_config *cfg, const char *key)
{
    return cfg && key && forge__cfg_is_secret(cfg, key);
}

const json_t *forge_config_node(const forge_config *cfg, const char *key)
{
    return forge__cfg_lookup(cfg, key);
}

size_t forge_config_len(const forge_config *cfg, const char *key)
{
    const json_t *v = forge__cfg_lookup(cfg, key);
    if (json_is_array(v))
        return json_array_size(v);
    if (json_is_object(v))
        return json_object_size(v);
    return 0;
}
