/*
 * Environment overrides.
 *
 * A key path maps to variable names in this order (the first set one wins):
 *   1. the explicit name of a bound field (forge_config_field.env);
 *   2. FORGE_ + the path upper-cased with "." as "__":
 *        http.max_body_size  <-  FORGE_HTTP__MAX_BODY_SIZE
 *      (unambiguous: applies to any key, declared or not);
 *   3. FORGE_ + the path upper-cased with "." and "-" as "_":
 *        http.max_body_size  <-  FORGE_HTTP_MAX_BODY_SIZE
 *      (ambiguous, so matched only against keys that are declared or
 *      present in a loaded file).
 * Values are strings; getters and the binder convert them. They may hold
 * secret references (${env:..}, ${file:..}) like file values.
 */
#include "config_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define PREFIX "FORGE_"

/* FORGE_ + path with '.' as sep, upper-cased, '-' as '_'. False if it does not fit. */
bool forge__cfg_env_name(const char *path, const char *sep, char *name, size_t size)
{
    size_t o = strlen(PREFIX), sl = strlen(sep);
    if (o >= size)
        return false;
    memcpy(name, PREFIX, o);
    for (const char *p = path; *p; p++) {
        if (*p == '[')
            return false; /* list elements are not addressable */
        if (*p == '.') {
            if (o + sl >= size)
                return false;
            memcpy(name + o, sep, sl);
            o += sl;
            continue;
        }
        if (o + 1 >= size)
            return false;
        name[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    }
    name[o] = '\0';
    return true;
}

const char *forge__cfg_env_for(const char *path, const char *explicit_env, char *name,
                               size_t name_size)
{
    const char *v;
    if (explicit_env && (v = getenv(explicit_env)) != NULL) {
        snprintf(name, name_size, "%s", explicit_env);
        return v;
    }
    if (forge__cfg_env_name(path, "__", name, name_size) && (v = getenv(name)) != NULL)
        return v;
    if (forge__cfg_env_name(path, "_", name, name_size) && (v = getenv(name)) != NULL)
        return v;
    return NULL;
}

/* Set path from the environment variable `name` holding `value`. */
int forge__cfg_set_from_env(forge_config *cfg, const char *path, const char *name,
                            const char *value, bool secret, forge_error *err)
{
    char src[300];
    bool refs;
    snprintf(src, sizeof(src), "env %s", name);
    json_t *v = forge__cfg_resolve_string(value, path, src, &refs, err);
    if (!v)
        return err ? err->code : FORGE_ECONFIG;
    int rc = forge__cfg_set(cfg, path, v, err);
    if (rc)
        return rc;
    forge__cfg_meta_src(cfg->meta, path, "%s", src);
    if (refs || secret)
        forge__cfg_mark_secret(cfg->meta, path);
    return 0;
}

/* Add the key path named by a FORGE_A__B__C variable to `paths`. */
static void path_of_double(const char *var, json_t *paths)
{
    const char *eq = strchr(var, '=');
    if (!eq || strncmp(var, PREFIX, strlen(PREFIX)) != 0)
        return;
    const char *s = var + strlen(PREFIX);
    size_t n = (size_t)(eq - s);
    char path[FORGE__CFG_PATH_MAX];
    if (n == 0 || n >= sizeof(path) || !memmem(s, n, "__", 2))
        return;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_' && i + 1 < n && s[i + 1] == '_') {
            if (o == 0 || path[o - 1] == '.')
                return; /* empty segment */
            path[o++] = '.';
            i++;
        } else if (isalnum((unsigned char)c) || c == '_') {
            path[o++] = (char)tolower((unsigned char)c);
        } else {
            return;
        }
    }
    if (o == 0 || path[o - 1] == '.')
        return;
    path[o] = '\0';
    json_object_set_new(paths, path, json_true());
}

/* Add every leaf path of the tree (maps only) to `paths`. */
static void leaves(json_t *node, const char *path, json_t *paths)
{
    const char *k;
    json_t *v;
    json_object_foreach(node, k, v)
    {
        char sub[FORGE__CFG_PATH_MAX];
        if (snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k) >= (int)sizeof(sub))
            continue;
        if (json_is_object(v) && json_object_size(v))
            leaves(v, sub, paths);
        else
            json_object_set_new(paths, sub, json_true());
    }
}

int forge_config_apply_env(forge_config *cfg, forge_error *err)
{
    if (!cfg)
        return forge_error_set(err, FORGE_EINVAL, "forge_config_apply_env: no config");
    json_t *paths = json_object();
    if (!paths)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    for (char **e = environ; e && *e; e++)
        path_of_double(*e, paths);
    leaves(cfg->root, "", paths);
    const char *k;
    json_t *d;
    json_object_foreach(cfg->declared, k, d)
    {
        if ((json_integer_value(d) & 3) == FORGE__DECL_KEY)
            json_object_set_new(paths, k, json_true());
    }
    int rc = 0;
    json_t *unused;
    json_object_foreach(paths, k, unused)
    {
        char name[FORGE__CFG_PATH_MAX + 16];
        const char *v = forge__cfg_env_for(k, NULL, name, sizeof(name));
        if (v && (rc = forge__cfg_set_from_env(cfg, k, name, v, false, err)) != 0)
            break;
    }
    json_decref(paths);
    return rc;
}
