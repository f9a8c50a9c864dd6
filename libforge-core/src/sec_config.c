/*
 * The `security` config section, read once in the app's init into the
 * forge__sec record (docs/security.md has the reference). Every map is
 * checked for unknown keys and every error names its key path; sizes and
 * durations go through the config getters so messages carry the value's
 * source. Relative key and schema files are resolved against the directory
 * of the config file that set them (hosts such as nginx run elsewhere).
 */
#include "sec_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define P(...) snprintf(path, sizeof(path), __VA_ARGS__)

static int known(const json_t *obj, const char *at, const char *const *keys, forge_error *err)
{
    if (!json_is_object(obj))
        return forge_error_setk(err, FORGE_ECONFIG, at, "%s: expected a map", at);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        bool ok = false;
        for (size_t i = 0; keys[i]; i++)
            ok |= strcmp(k, keys[i]) == 0;
        if (!ok) {
            char list[256] = "";
            for (size_t i = 0; keys[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                         keys[i]);
            return forge_error_setk(err, FORGE_ECONFIG, at, "%s.%.64s: unknown key (known: %s)", at,
                                    k, list);
        }
    }
    return 0;
}

/* A string or a list of strings at `at`. *out NULL-terminated. */
static int strs(const json_t *v, const char *at, char ***out, size_t *n, forge_error *err)
{
    *out = NULL;
    *n = 0;
    if (!v)
        return 0;
    size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_string(v))
        return forge_error_setk(err, FORGE_ECONFIG, at,
                                "%s: expected a string or a list of strings", at);
    char **l = calloc(cnt + 1, sizeof(*l));
    if (!l)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    *out = l;
    for (size_t i = 0; i < cnt; i++) {
        const char *s = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
        if (!s)
            return forge_error_setk(err, FORGE_ECONFIG, at, "%s[%zu]: expected a string", at, i);
        if (!(l[i] = strdup(s)))
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        *n = i + 1;
    }
    return 0;
}

static void strs_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static int duration_s(forge_config *cfg, const char *key, int64_t def, int64_t *out,
                      forge_error *err)
{
    uint64_t ms = 0;
    int rc = forge_config_get_duration_ms(cfg, key, &ms, err);
    if (rc == FORGE_ENOENT) {
        forge_error_clear(err);
        *out = def;
        return 0;
    }
    *out = (int64_t)(ms / 1000);
    return rc;
}

static int size_of(forge_config *cfg, const char *key, uint64_t def, uint64_t *out,
                   forge_error *err)
{
    int rc = forge_config_get_size(cfg, key, out, err);
    if (rc == FORGE_ENOENT) {
        forge_error_clear(err);
        *out = def;
        return 0;
    }
    return rc;
}

static char *base_dir_of(forge_config *cfg)
{
    const char *src = forge_config_source(cfg, "security");
    if (!src || strncmp(src, "env ", 4) == 0 || strcmp(src, "default") == 0)
        return NULL;
    char *d = strdup(src);
    if (!d)
        return NULL;
    char *colon = strrchr(d, ':');
    if (colon)
        *colon = '\0';
    char *slash = strrchr(d, '/');
    if (!slash) {
        free(d);
        return NULL;
    }
    *slash = '\0';
    if (d[0] != '/') { /* relative to the current directory at load time */
        char cwd[4096];
        if (getcwd(cwd, sizeof(cwd))) {
            char *abs = malloc(strlen(cwd) + strlen(d) + 2);
            if (abs)
                sprintf(abs, "%s/%s", cwd, d);
            free(d);
            return abs;
        }
    }
    return d;
}

/* ---- sections ---- */

static int read_headers(forge_config *cfg, const json_t *h, const char *at, forge__sec_headers *out,
                        forge_error *err)
{
    static const char *const keys[] = {"hsts",
                                       "csp",
                                       "content_type_options",
                                       "frame_options",
                                       "referrer_policy",
                                       "permissions_policy",
                                       "coop",
                                       "corp",
                                       NULL};
    int rc = known(h, at, keys, err);
    if (rc)
        return rc;
    for (int i = 0; i < SEC_NHDRS; i++) {
        const json_t *v = json_object_get(h, forge__sec_header_keys[i]);
        if (!v)
            continue;
        if (json_is_false(v) || json_is_null(v)) {
            out->value[i] = NULL;
        } else if (json_is_string(v) && json_string_length(v) > 0 &&
                   !strpbrk(json_string_value(v), "\r\n")) {
            out->value[i] = json_string_value(v); /* config-owned */
        } else {
            return forge_error_setk(err, FORGE_ECONFIG, at,
                                    "%s.%s: expected a header value or false", at,
                                    forge__sec_header_keys[i]);
        }
    }
    return 0;
}

static char *join(char **v, size_t n, bool upper_ok)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 2;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, ", ");
        strcat(s, v[i]);
    }
    (void)upper_ok;
    return s;
}

static int read_cors(forge__sec *s, forge_config *cfg, const json_t *c, forge_error *err)
{
    static const char *const keys[] = {"origins",     "methods", "headers", "expose_headers",
                                       "credentials", "max_age", NULL};
    int rc = known(c, "security.cors", keys, err);
    if (rc)
        return rc;
    forge__cors *o = &s->cors;
    o->enabled = true;
    if ((rc = strs(json_object_get(c, "origins"), "security.cors.origins", &o->origins,
                   &o->norigins, err)))
        return rc;
    if (o->norigins == 0)
        return forge_error_setk(err, FORGE_ECONFIG, "security.cors.origins",
                                "security.cors.origins: required (a list of origins)");
    for (size_t i = 0; i < o->norigins; i++) {
        if (strcmp(o->origins[i], "*") == 0)
            o->any_origin = true;
        else if (strncmp(o->origins[i], "http://", 7) != 0 &&
                 strncmp(o->origins[i], "https://", 8) != 0)
            return forge_error_setk(err, FORGE_ECONFIG, "security.cors.origins",
                                    "security.cors.origins[%zu]: an origin is scheme://host[:port] "
                                    "or \"*\"",
                                    i);
    }
    const json_t *cr = json_object_get(c, "credentials");
    if (cr && !json_is_boolean(cr))
        return forge_error_setk(err, FORGE_ECONFIG, "security.cors.credentials",
                                "security.cors.credentials: expected true or false");
    o->credentials = json_is_true(cr);
    if (o->any_origin && o->credentials)
        return forge_error_setk(err, FORGE_ECONFIG, "security.cors.origins",
                                "security.cors: origin \"*\" cannot be combined with credentials "
                                "(list the origins)");
    char **m = NULL;
    size_t nm = 0;
    const json_t *mv = json_object_get(c, "methods");
    if ((rc = strs(mv, "security.cors.methods", &m, &nm, err))) {
        strs_free(m, nm);
        return rc;
    }
    for (size_t i = 0; i < nm; i++)
        if (forge_method_parse(m[i], strlen(m[i])) == FORGE_METHOD_UNKNOWN) {
            strs_free(m, nm);
            return forge_error_setk(err, FORGE_ECONFIG, "security.cors.methods",
                                    "security.cors.methods[%zu]: unknown method", i);
        }
    o->methods = mv ? join(m, nm, true) : strdup("GET, HEAD, POST");
    strs_free(m, nm);
    if ((rc = strs(json_object_get(c, "headers"), "security.cors.headers", &o->headers,
                   &o->nheaders, err)))
        return rc;
    o->headers_joined = join(o->headers, o->nheaders, false);
    char **ex = NULL;
    size_t nex = 0;
    if ((rc = strs(json_object_get(c, "expose_headers"), "security.cors.expose_headers", &ex, &nex,
                   err))) {
        strs_free(ex, nex);
        return rc;
    }
    o->expose = join(ex, nex, false);
    strs_free(ex, nex);
    if (!o->methods || !o->headers_joined || !o->expose)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    return duration_s(cfg, "security.cors.max_age", 600, &o->max_age_s, err);
}

static int read_jwt(forge__sec *s, forge_config *cfg, const json_t *j, forge_error *err)
{
    char path[FORGE_ERROR_KEY_MAX];
    if (!json_is_object(j))
        return forge_error_setk(err, FORGE_ECONFIG, "security.jwt",
                                "security.jwt: expected a map of named verifiers");
    size_t n = json_object_size(j);
    s->jwt = calloc(n + 1, sizeof(*s->jwt));
    s->jwt_names = calloc(n + 1, sizeof(*s->jwt_names));
    if (!s->jwt || !s->jwt_names)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    const char *name;
    json_t *d;
    json_object_foreach((json_t *)j, name, d)
    {
        P("security.jwt.%.64s", name);
        if (!json_is_object(d))
            return forge_error_setk(err, FORGE_ECONFIG, path, "%s: expected a map", path);
        json_t *desc = json_deep_copy(d);
        if (!desc)
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        json_object_set_new(desc, "name", json_string(path));
        int64_t sec = 0;
        uint64_t sz = 0;
        char key[2 * FORGE_ERROR_KEY_MAX];
        int rc = 0;
        snprintf(key, sizeof(key), "%s.leeway", path);
        if (!rc && json_object_get(desc, "leeway") && !(rc = duration_s(cfg, key, 0, &sec, err))) {
            json_object_del(desc, "leeway");
            json_object_set_new(desc, "leeway_s", json_integer(sec));
        }
        snprintf(key, sizeof(key), "%s.jwks_refresh", path);
        if (!rc && json_object_get(desc, "jwks_refresh") &&
            !(rc = duration_s(cfg, key, 300, &sec, err))) {
            json_object_del(desc, "jwks_refresh");
            json_object_set_new(desc, "jwks_refresh_s", json_integer(sec < 10 ? 10 : sec));
        }
        snprintf(key, sizeof(key), "%s.max_token_size", path);
        if (!rc && json_object_get(desc, "max_token_size") &&
            !(rc = size_of(cfg, key, 8192, &sz, err)))
            json_object_set_new(desc, "max_token_size", json_integer((json_int_t)sz));
        forge_jwt_verifier *v = rc ? NULL : forge_jwt_verifier_new(desc, s->base_dir, err);
        json_decref(desc);
        if (!v) {
            if (err && !err->key[0])
                snprintf(err->key, sizeof(err->key), "%s", path);
            return rc ? rc : (err ? err->code : FORGE_ECONFIG);
        }
        v->log = forge_app_log(s->app);
        s->jwt_names[s->njwt] = strdup(name);
        s->jwt[s->njwt++] = v;
    }
    return 0;
}

static int read_api_keys(forge__sec *s, const json_t *a, forge_error *err)
{
    static const char *const keys[] = {"header", "query", "keys", NULL};
    static const char *const kkeys[] = {"id", "hash", "roles", "scopes", NULL};
    char path[FORGE_ERROR_KEY_MAX];
    int rc = known(a, "security.api_keys", keys, err);
    if (rc)
        return rc;
    const char *h = json_string_value(json_object_get(a, "header"));
    const char *q = json_string_value(json_object_get(a, "query"));
    s->key_header = strdup(h ? h : "X-API-Key");
    s->key_query = q ? strdup(q) : NULL;
    const json_t *l = json_object_get(a, "keys");
    if (l && !json_is_array(l))
        return forge_error_setk(err, FORGE_ECONFIG, "security.api_keys.keys",
                                "security.api_keys.keys: expected a list");
    s->keys = calloc(json_array_size(l) + 1, sizeof(*s->keys));
    if (!s->keys || !s->key_header)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(l); i++) {
        const json_t *e = json_array_get(l, i);
        P("security.api_keys.keys[%zu]", i);
        if ((rc = known(e, path, kkeys, err)))
            return rc;
        forge__apikey *k = &s->keys[s->nkeys++];
        const char *id = json_string_value(json_object_get(e, "id"));
        if (!id)
            return forge_error_setk(err, FORGE_ECONFIG, path, "%s.id: required", path);
        k->id = strdup(id);
        if (forge__apikey_parse_hash(json_string_value(json_object_get(e, "hash")), k->hash))
            return forge_error_setk(err, FORGE_ECONFIG, path,
                                    "%s.hash: expected \"sha256:\" and 64 hex digits (the key "
                                    "itself is never stored)",
                                    path);
        char sub[2 * FORGE_ERROR_KEY_MAX];
        snprintf(sub, sizeof(sub), "%s.roles", path);
        if ((rc = strs(json_object_get(e, "roles"), sub, &k->roles, &k->nroles, err)))
            return rc;
        snprintf(sub, sizeof(sub), "%s.scopes", path);
        if ((rc = strs(json_object_get(e, "scopes"), sub, &k->scopes, &k->nscopes, err)))
            return rc;
    }
    return 0;
}

static int read_rbac(forge__sec *s, const json_t *r, forge_error *err)
{
    static const char *const keys[] = {"roles", NULL};
    char path[FORGE_ERROR_KEY_MAX];
    int rc = known(r, "security.rbac", keys, err);
    if (rc)
        return rc;
    const json_t *roles = json_object_get(r, "roles");
    if (roles && !json_is_object(roles))
        return forge_error_setk(err, FORGE_ECONFIG, "security.rbac.roles",
                                "security.rbac.roles: expected a map of role: [permissions]");
    s->roles = calloc(json_object_size(roles) + 1, sizeof(*s->roles));
    if (!s->roles)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)roles, name, v)
    {
        P("security.rbac.roles.%.64s", name);
        forge__role *ro = &s->roles[s->nroles++];
        ro->name = strdup(name);
        if ((rc = strs(v, path, &ro->perms, &ro->nperms, err)))
            return rc;
    }
    return 0;
}

static int read_limits(forge__sec *s, forge_config *cfg, const json_t *l, forge_error *err)
{
    static const char *const keys[] = {"limit", "window",         "key", "capacity",
                                       "store", "on_redis_error", NULL};
    char path[FORGE_ERROR_KEY_MAX], key[2 * FORGE_ERROR_KEY_MAX];
    if (!json_is_object(l))
        return forge_error_setk(err, FORGE_ECONFIG, "security.rate_limits",
                                "security.rate_limits: expected a map of named limits");
    s->limits = calloc(json_object_size(l) + 1, sizeof(*s->limits));
    if (!s->limits)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    const char *name;
    json_t *d;
    json_object_foreach((json_t *)l, name, d)
    {
        P("security.rate_limits.%.64s", name);
        int rc = known(d, path, keys, err);
        if (rc)
            return rc;
        forge__ratelimit *rl = calloc(1, sizeof(*rl));
        if (!rl)
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        s->limits[s->nlimits++] = rl;
        rl->name = strdup(name);
        rl->shm_name = malloc(strlen(name) + 16);
        if (!rl->name || !rl->shm_name)
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        sprintf(rl->shm_name, "forge.rate.%s", name);
        int64_t lim = 0;
        snprintf(key, sizeof(key), "%s.limit", path);
        if ((rc = forge_config_get_int(cfg, key, &lim, err)) || (lim < 1 || lim > 100000000))
            return rc && rc != FORGE_ENOENT
                       ? rc
                       : forge_error_setk(err, FORGE_ECONFIG, key,
                                          "%s: required, an integer from 1 to 100000000", key);
        rl->limit = (uint32_t)lim;
        uint64_t ms = 0;
        snprintf(key, sizeof(key), "%s.window", path);
        if ((rc = forge_config_get_duration_ms(cfg, key, &ms, err)) || ms < 1000)
            return rc && rc != FORGE_ENOENT
                       ? rc
                       : forge_error_setk(err, FORGE_ECONFIG, key,
                                          "%s: required, a duration of at least 1s", key);
        rl->window_ms = ms;
        int64_t cap = 4096;
        snprintf(key, sizeof(key), "%s.capacity", path);
        rc = forge_config_get_int(cfg, key, &cap, err);
        if (rc && rc != FORGE_ENOENT)
            return rc;
        if (cap < 16 || cap > 16 * 1024 * 1024)
            return forge_error_setk(err, FORGE_ECONFIG, key, "%s: between 16 and 16777216", key);
        rl->capacity = (uint32_t)cap;
        const char *k = json_string_value(json_object_get(d, "key"));
        if (!k || strcmp(k, "ip") == 0)
            rl->kind = RL_KEY_IP;
        else if (strcmp(k, "subject") == 0)
            rl->kind = RL_KEY_SUBJECT;
        else if (strcmp(k, "api_key") == 0)
            rl->kind = RL_KEY_API_KEY;
        else if (strcmp(k, "custom") == 0)
            rl->kind = RL_KEY_CUSTOM;
        else if (strncmp(k, "header:", 7) == 0 && k[7]) {
            rl->kind = RL_KEY_HEADER;
            rl->header = strdup(k + 7);
        } else
            return forge_error_setk(err, FORGE_ECONFIG, path,
                                    "%s.key: one of ip, subject, api_key, header:NAME, custom",
                                    path);
        const char *store = json_string_value(json_object_get(d, "store"));
        if (json_object_get(d, "store") &&
            (!store || (strcmp(store, "redis") != 0 && strcmp(store, "local") != 0)))
            return forge_error_setk(err, FORGE_ECONFIG, path, "%s.store: local or redis", path);
        if (store && strcmp(store, "redis") == 0) {
            if (!s->redis.ready)
                return forge_error_setk(err, FORGE_ECONFIG, path,
                                        "%s.store: redis, but security.redis.url is not set", path);
            rl->redis = &s->redis;
        }
        const char *fb = json_string_value(json_object_get(d, "on_redis_error"));
        if (json_object_get(d, "on_redis_error")) {
            if (!rl->redis)
                return forge_error_setk(err, FORGE_ECONFIG, path,
                                        "%s.on_redis_error: only with store: redis", path);
            if (fb && strcmp(fb, "local") == 0)
                rl->on_error = RL_FALLBACK_LOCAL;
            else if (fb && strcmp(fb, "open") == 0)
                rl->on_error = RL_FALLBACK_OPEN;
            else if (fb && strcmp(fb, "closed") == 0)
                rl->on_error = RL_FALLBACK_CLOSED;
            else
                return forge_error_setk(err, FORGE_ECONFIG, path,
                                        "%s.on_redis_error: local, open or closed", path);
        }
        forge_error_clear(err);
        if ((rc = forge__rl_reserve(rl, s->app, err)))
            return rc;
    }
    return 0;
}

/* Options shared by introspection and client entries; strings borrowed from the config tree. */
static int read_oauth2(forge_config *cfg, const json_t *d, const char *path, bool intro,
                       forge_oauth2_opts *o, forge_error *err)
{
    static const char *const ikeys[] = {
        "url",     "client_id", "client_secret", "auth_method", "audience",    "issuer",
        "timeout", "cache_ttl", "negative_ttl",  "cache_size",  "roles_claim", NULL};
    static const char *const ckeys[] = {"url",   "client_id", "client_secret", "auth_method",
                                        "scope", "audience",  "timeout",       NULL};
    char key[2 * FORGE_ERROR_KEY_MAX];
    int rc = known(d, path, intro ? ikeys : ckeys, err);
    if (rc)
        return rc;
    memset(o, 0, sizeof(*o));
    static const char *const strk[] = {"url",    "client_id", "client_secret", "audience",
                                       "issuer", "scope",     "roles_claim",   "auth_method"};
    for (size_t i = 0; i < sizeof(strk) / sizeof(*strk); i++) {
        const json_t *v = json_object_get(d, strk[i]);
        if (v && (!json_is_string(v) || json_string_length(v) == 0))
            return forge_error_setk(err, FORGE_ECONFIG, path, "%s.%s: expected a non-empty string",
                                    path, strk[i]);
    }
    o->url = json_string_value(json_object_get(d, "url"));
    o->client_id = json_string_value(json_object_get(d, "client_id"));
    o->client_secret = json_string_value(json_object_get(d, "client_secret"));
    o->audience = json_string_value(json_object_get(d, "audience"));
    o->issuer = json_string_value(json_object_get(d, "issuer"));
    o->scope = json_string_value(json_object_get(d, "scope"));
    if (!o->url || (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0))
        return forge_error_setk(err, FORGE_ECONFIG, path, "%s.url: required, http:// or https://",
                                path);
    if (!o->client_id || !o->client_secret)
        return forge_error_setk(err, FORGE_ECONFIG, path,
                                "%s: client_id and client_secret are required", path);
    const char *am = json_string_value(json_object_get(d, "auth_method"));
    if (am && strcmp(am, "basic") != 0 && strcmp(am, "post") != 0)
        return forge_error_setk(err, FORGE_ECONFIG, path, "%s.auth_method: basic or post", path);
    o->secret_in_body = am && strcmp(am, "post") == 0;
    static const char *const durk[] = {"timeout", "cache_ttl", "negative_ttl"};
    uint32_t *dst[] = {&o->timeout_ms, &o->cache_ttl_ms, &o->negative_ttl_ms};
    for (size_t i = 0; i < 3; i++) {
        uint64_t ms = 0;
        snprintf(key, sizeof(key), "%s.%s", path, durk[i]);
        rc = forge_config_get_duration_ms(cfg, key, &ms, err);
        if (rc == FORGE_ENOENT)
            continue;
        if (rc)
            return rc;
        if (ms < 1 || ms > 86400000)
            return forge_error_setk(err, FORGE_ECONFIG, key, "%s: between 1ms and 24h", key);
        *dst[i] = (uint32_t)ms;
    }
    int64_t n = 0;
    snprintf(key, sizeof(key), "%s.cache_size", path);
    rc = forge_config_get_int(cfg, key, &n, err);
    if (rc && rc != FORGE_ENOENT)
        return rc;
    if (rc == 0 && (n < 1 || n > 1000000))
        return forge_error_setk(err, FORGE_ECONFIG, key, "%s: between 1 and 1000000", key);
    o->cache_max = (uint32_t)n;
    forge_error_clear(err);
    return 0;
}

static int read_introspection(forge__sec *s, forge_config *cfg, const json_t *m, bool clients,
                              forge_error *err)
{
    const char *sect = clients ? "security.oauth2_clients" : "security.introspection";
    char path[FORGE_ERROR_KEY_MAX];
    if (!json_is_object(m))
        return forge_error_setk(err, FORGE_ECONFIG, sect, "%s: expected a map of named entries",
                                sect);
    size_t cap = json_object_size(m) + 1;
    if (clients ? !(s->clients = calloc(cap, sizeof(*s->clients)))
                : !(s->intro = calloc(cap, sizeof(*s->intro))))
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    const char *name;
    json_t *d;
    json_object_foreach((json_t *)m, name, d)
    {
        snprintf(path, sizeof(path), "%s.%.64s", sect, name);
        forge_oauth2_opts o;
        int rc = read_oauth2(cfg, d, path, !clients, &o, err);
        if (rc)
            return rc;
        forge_error e;
        forge_error_clear(&e);
        if (clients) {
            forge__oauth2_client_entry *c = &s->clients[s->nclients];
            c->c = forge_oauth2_client_new(&o, &e);
            if (!c->c)
                return forge_error_setk(err, FORGE_ECONFIG, path, "%s: %s", path, e.message);
            s->nclients++;
            c->name = strdup(name);
        } else {
            forge__intro *it = &s->intro[s->nintro];
            it->in = forge_oauth2_introspector_new(&o, &e);
            if (!it->in)
                return forge_error_setk(err, FORGE_ECONFIG, path, "%s: %s", path, e.message);
            s->nintro++;
            const char *rc_name = json_string_value(json_object_get(d, "roles_claim"));
            it->name = strdup(name);
            it->roles_claim = strdup(rc_name ? rc_name : "roles");
            it->method = malloc(strlen(name) + 16);
            if (it->method)
                sprintf(it->method, "introspection:%s", name);
            if (!it->name || !it->roles_claim || !it->method)
                return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int read_redis(forge__sec *s, forge_config *cfg, const json_t *r, forge_error *err)
{
    static const char *const keys[] = {"url", "timeout", "prefix", NULL};
    int rc = known(r, "security.redis", keys, err);
    if (rc)
        return rc;
    uint64_t ms = 100;
    rc = forge_config_get_duration_ms(cfg, "security.redis.timeout", &ms, err);
    if (rc && rc != FORGE_ENOENT)
        return rc;
    forge_error_clear(err);
    if (ms < 1 || ms > 10000)
        return forge_error_setk(err, FORGE_ECONFIG, "security.redis.timeout",
                                "security.redis.timeout: between 1ms and 10s");
    s->redis.timeout_ms = ms;
    const json_t *pfx = json_object_get(r, "prefix");
    if (pfx && (!json_is_string(pfx) || json_string_length(pfx) > 64))
        return forge_error_setk(err, FORGE_ECONFIG, "security.redis.prefix",
                                "security.redis.prefix: a string of at most 64 bytes");
    if (pfx && !(s->redis.prefix = strdup(json_string_value(pfx))))
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    s->redis.log = forge_app_log(s->app);
    return forge__redis_init(&s->redis, json_string_value(json_object_get(r, "url")),
                             "security.redis.url", err);
}

static forge__ratelimit *limit_by_name(forge__sec *s, const char *n)
{
    for (size_t i = 0; n && i < s->nlimits; i++)
        if (strcmp(s->limits[i]->name, n) == 0)
            return s->limits[i];
    return NULL;
}

static int read_policy(forge__sec *s, forge_config *cfg, const char *name, const json_t *d,
                       forge_error *err)
{
    static const char *const keys[] = {"auth",       "optional", "permissions", "roles",
                                       "rate_limit", "schema",   "schema_file", "limits",
                                       "headers",    NULL};
    static const char *const lkeys[] = {"max_body", "max_headers", "max_header_size", "json_depth",
                                        NULL};
    char path[FORGE_ERROR_KEY_MAX], key[2 * FORGE_ERROR_KEY_MAX];
    P("security.policies.%.64s", name);
    int rc = known(d, path, keys, err);
    if (rc)
        return rc;
    forge__policy *p = calloc(1, sizeof(*p));
    if (!p)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    s->policies[s->npolicies++] = p;
    p->sec = s;
    p->name = strdup(name);
    p->headers = s->headers;
    char **auth = NULL;
    size_t nauth = 0;
    snprintf(key, sizeof(key), "%s.auth", path);
    if ((rc = strs(json_object_get(d, "auth"), key, &auth, &nauth, err))) {
        strs_free(auth, nauth);
        return rc;
    }
    p->jwt = calloc(s->njwt + 1, sizeof(*p->jwt));
    p->intro = calloc(s->nintro + 1, sizeof(*p->intro));
    for (size_t i = 0; p->jwt && p->intro && i < nauth; i++) {
        const char *a = auth[i];
        if (strcmp(a, "introspection") == 0 || strncmp(a, "introspection:", 14) == 0) {
            bool all = a[13] == '\0';
            size_t before = p->nintro;
            for (size_t j = 0; j < s->nintro; j++) {
                bool dup = false;
                for (size_t k = 0; k < p->nintro; k++)
                    dup |= p->intro[k] == &s->intro[j];
                if (!dup && (all || strcmp(s->intro[j].name, a + 14) == 0))
                    p->intro[p->nintro++] = &s->intro[j];
            }
            if (p->nintro == before && !all)
                rc = forge_error_setk(err, FORGE_ECONFIG, key,
                                      "%s[%zu]: no endpoint security.introspection.%.64s", key, i,
                                      a + 14);
            else if (s->nintro == 0)
                rc = forge_error_setk(err, FORGE_ECONFIG, key,
                                      "%s[%zu]: introspection, but security.introspection is "
                                      "empty",
                                      key, i);
        } else if (strcmp(a, "api_key") == 0) {
            if (!s->keys)
                rc = forge_error_setk(err, FORGE_ECONFIG, key,
                                      "%s[%zu]: api_key, but security.api_keys is not configured",
                                      key, i);
            p->api_key = true;
        } else if (strcmp(a, "jwt") == 0) {
            if (s->njwt == 0)
                rc = forge_error_setk(err, FORGE_ECONFIG, key,
                                      "%s[%zu]: jwt, but security.jwt has no verifier", key, i);
            for (size_t j = 0; j < s->njwt; j++)
                p->jwt[j] = s->jwt[j];
            p->njwt = s->njwt;
        } else if (strncmp(a, "jwt:", 4) == 0) {
            size_t j = 0;
            while (j < s->njwt && strcmp(s->jwt_names[j], a + 4) != 0)
                j++;
            if (j == s->njwt)
                rc = forge_error_setk(err, FORGE_ECONFIG, key,
                                      "%s[%zu]: no verifier security.jwt.%.64s", key, i, a + 4);
            else if (p->njwt < s->njwt)
                p->jwt[p->njwt++] = s->jwt[j];
        } else {
            rc = forge_error_setk(err, FORGE_ECONFIG, key,
                                  "%s[%zu]: one of jwt, jwt:NAME, introspection, "
                                  "introspection:NAME, api_key",
                                  key, i);
        }
        if (rc)
            break;
    }
    strs_free(auth, nauth);
    if (!p->jwt || !p->intro)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    if (rc)
        return rc;
    p->authenticate = p->njwt || p->nintro || p->api_key;
    p->optional = json_is_true(json_object_get(d, "optional"));
    snprintf(key, sizeof(key), "%s.permissions", path);
    if ((rc = strs(json_object_get(d, "permissions"), key, &p->permissions, &p->npermissions, err)))
        return rc;
    snprintf(key, sizeof(key), "%s.roles", path);
    if ((rc = strs(json_object_get(d, "roles"), key, &p->roles, &p->nroles, err)))
        return rc;
    if ((p->npermissions || p->nroles) && !p->authenticate)
        return forge_error_setk(
            err, FORGE_ECONFIG, path,
            "%s: permissions and roles need auth (jwt, introspection or api_key)", path);
    const char *rl = json_string_value(json_object_get(d, "rate_limit"));
    if (json_object_get(d, "rate_limit") && !(p->rate = limit_by_name(s, rl)))
        return forge_error_setk(err, FORGE_ECONFIG, path,
                                "%s.rate_limit: no limit security.rate_limits.%.64s", path,
                                rl ? rl : "(not a string)");
    p->blocking = (p->rate && p->rate->redis) || p->nintro > 0;
    const json_t *schema = json_object_get(d, "schema");
    json_t *loaded = NULL;
    const char *sf = json_string_value(json_object_get(d, "schema_file"));
    if (sf) {
        char *fp = forge__sec_path(s->base_dir, sf);
        json_error_t je;
        loaded = fp ? json_load_file(fp, JSON_REJECT_DUPLICATES, &je) : NULL;
        free(fp);
        if (!loaded)
            return forge_error_setk(err, FORGE_ECONFIG, path,
                                    "%s.schema_file: cannot read %.200s as JSON", path, sf);
        schema = loaded;
    }
    if (schema) {
        forge_error serr;
        forge_error_clear(&serr);
        p->schema = forge_schema_new(schema, &serr);
        json_decref(loaded);
        if (!p->schema)
            return forge_error_setk(err, FORGE_ECONFIG, path, "%s.schema: %s", path, serr.message);
    }
    const json_t *lim = json_object_get(d, "limits");
    if (lim) {
        snprintf(key, sizeof(key), "%s.limits", path);
        if ((rc = known(lim, key, lkeys, err)))
            return rc;
        uint64_t v = 0;
        snprintf(key, sizeof(key), "%s.limits.max_body", path);
        if ((rc = size_of(cfg, key, 0, &v, err)))
            return rc;
        p->max_body = (size_t)v;
        snprintf(key, sizeof(key), "%s.limits.max_header_size", path);
        if ((rc = size_of(cfg, key, 0, &v, err)))
            return rc;
        p->max_header_size = (size_t)v;
        int64_t i64 = 0;
        snprintf(key, sizeof(key), "%s.limits.max_headers", path);
        if ((rc = forge_config_get_int(cfg, key, &i64, err)) && rc != FORGE_ENOENT)
            return rc;
        p->max_headers = i64 > 0 ? (size_t)i64 : 0;
        i64 = 0;
        snprintf(key, sizeof(key), "%s.limits.json_depth", path);
        if ((rc = forge_config_get_int(cfg, key, &i64, err)) && rc != FORGE_ENOENT)
            return rc;
        p->json_depth = i64 > 0 && i64 < 4096 ? (int)i64 : 0;
        forge_error_clear(err);
    }
    const json_t *h = json_object_get(d, "headers");
    if (h) {
        snprintf(key, sizeof(key), "%s.headers", path);
        if ((rc = read_headers(cfg, h, key, &p->headers, err)))
            return rc;
        p->has_headers = true;
    }
    return 0;
}

forge__policy *forge__sec_policy(const forge__sec *s, const char *name)
{
    for (size_t i = 0; name && i < s->npolicies; i++)
        if (strcmp(s->policies[i]->name, name) == 0)
            return s->policies[i];
    return NULL;
}

int forge__sec_add_rule(forge__sec *s, const char *route, const char *policy, const char *key,
                        forge_error *err)
{
    if (!forge__sec_policy(s, policy))
        return forge_error_setk(err, FORGE_ECONFIG, key, "%s: no policy security.policies.%.64s",
                                key, policy ? policy : "(not a string)");
    if (s->nrules == s->caprules) {
        size_t cap = s->caprules ? s->caprules * 2 : 8;
        forge__route_rule *v = realloc(s->rules, cap * sizeof(*v));
        if (!v)
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        s->rules = v;
        s->caprules = cap;
    }
    forge__route_rule *r = &s->rules[s->nrules];
    memset(r, 0, sizeof(*r));
    const char *sp = strchr(route, ' ');
    if (sp) {
        r->method = strndup(route, (size_t)(sp - route));
        while (*sp == ' ')
            sp++;
        route = sp;
        if (forge_method_parse(r->method, strlen(r->method)) == FORGE_METHOD_UNKNOWN) {
            free(r->method);
            return forge_error_setk(err, FORGE_ECONFIG, key,
                                    "%s: \"METHOD /pattern\" or \"/pattern\"", key);
        }
    }
    if (route[0] != '/') {
        free(r->method);
        return forge_error_setk(err, FORGE_ECONFIG, key, "%s: a route pattern starts with /", key);
    }
    r->pattern = strdup(route);
    r->policy = strdup(policy);
    r->key = strdup(key);
    s->nrules++;
    return r->pattern && r->policy && r->key ? 0
                                             : forge_error_set(err, FORGE_ENOMEM, "out of memory");
}

int forge__sec_config(forge__sec *s, forge_app *app, forge_error *err)
{
    static const char *const keys[] = {"headers",        "cors",        "jwt",      "api_keys",
                                       "rbac",           "rate_limits", "policies", "routes",
                                       "audit",          "trust_proxy", "redis",    "introspection",
                                       "oauth2_clients", NULL};
    char path[FORGE_ERROR_KEY_MAX];
    forge_config *cfg = forge_app_config(app);
    s->app = app;
    s->audit_fd = -1;
    forge__sec_headers_defaults(&s->headers);
    s->headers_on = true;
    int rc = forge_config_declare(cfg, "security", FORGE_CFG_OPEN, err);
    if (rc)
        return rc;
    const json_t *root = forge_config_node(cfg, "security");
    if (!root)
        return 0;
    if ((rc = known(root, "security", keys, err)))
        return rc;
    s->base_dir = base_dir_of(cfg);
    s->trust_proxy = json_is_true(json_object_get(root, "trust_proxy"));
    const json_t *h = json_object_get(root, "headers");
    if (json_is_false(h))
        s->headers_on = false;
    else if (h && (rc = read_headers(cfg, h, "security.headers", &s->headers, err)))
        return rc;
    const json_t *v;
    if ((v = json_object_get(root, "cors")) && (rc = read_cors(s, cfg, v, err)))
        return rc;
    if ((v = json_object_get(root, "jwt")) && (rc = read_jwt(s, cfg, v, err)))
        return rc;
    if ((v = json_object_get(root, "api_keys")) && (rc = read_api_keys(s, v, err)))
        return rc;
    if ((v = json_object_get(root, "rbac")) && (rc = read_rbac(s, v, err)))
        return rc;
    if ((v = json_object_get(root, "redis")) && (rc = read_redis(s, cfg, v, err)))
        return rc;
    if ((v = json_object_get(root, "introspection")) &&
        (rc = read_introspection(s, cfg, v, false, err)))
        return rc;
    if ((v = json_object_get(root, "oauth2_clients")) &&
        (rc = read_introspection(s, cfg, v, true, err)))
        return rc;
    if ((v = json_object_get(root, "rate_limits")) && (rc = read_limits(s, cfg, v, err)))
        return rc;
    const json_t *pol = json_object_get(root, "policies");
    if (pol && !json_is_object(pol))
        return forge_error_setk(err, FORGE_ECONFIG, "security.policies",
                                "security.policies: expected a map of named policies");
    s->policies = calloc(json_object_size(pol) + 1, sizeof(*s->policies));
    if (!s->policies)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    const char *name;
    json_t *d;
    json_object_foreach((json_t *)pol, name, d)
    {
        if ((rc = read_policy(s, cfg, name, d, err)))
            return rc;
    }
    const json_t *routes = json_object_get(root, "routes");
    if (routes && !json_is_object(routes))
        return forge_error_setk(err, FORGE_ECONFIG, "security.routes",
                                "security.routes: expected a map of \"METHOD /pattern\": policy");
    json_object_foreach((json_t *)routes, name, d)
    {
        P("security.routes.%.128s", name);
        if ((rc = forge__sec_add_rule(s, name, json_string_value(d), path, err)))
            return rc;
    }
    const json_t *audit = json_object_get(root, "audit");
    if (audit) {
        static const char *const akeys[] = {"file", NULL};
        if ((rc = known(audit, "security.audit", akeys, err)))
            return rc;
        const char *file = json_string_value(json_object_get(audit, "file"));
        if (file && (rc = forge__sec_audit_open(s, file, err)))
            return rc;
    }
    return 0;
}

static void policy_free(forge__policy *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->jwt);
    free(p->intro);
    strs_free(p->permissions, p->npermissions);
    strs_free(p->roles, p->nroles);
    forge_schema_free(p->schema);
    free(p);
}

void forge__sec_free(forge__sec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->njwt; i++) {
        forge_jwt_verifier_free(s->jwt[i]);
        free(s->jwt_names[i]);
    }
    free(s->jwt);
    free(s->jwt_names);
    for (size_t i = 0; i < s->nkeys; i++) {
        free(s->keys[i].id);
        strs_free(s->keys[i].roles, s->keys[i].nroles);
        strs_free(s->keys[i].scopes, s->keys[i].nscopes);
    }
    free(s->keys);
    free(s->key_header);
    free(s->key_query);
    for (size_t i = 0; i < s->nroles; i++) {
        free(s->roles[i].name);
        strs_free(s->roles[i].perms, s->roles[i].nperms);
    }
    free(s->roles);
    for (size_t i = 0; i < s->nlimits; i++) {
        free(s->limits[i]->name);
        free(s->limits[i]->shm_name);
        free(s->limits[i]->header);
        free(s->limits[i]);
    }
    free(s->limits);
    forge__redis_free(&s->redis);
    for (size_t i = 0; i < s->nintro; i++) {
        free(s->intro[i].name);
        free(s->intro[i].method);
        free(s->intro[i].roles_claim);
        forge_oauth2_introspector_free(s->intro[i].in);
    }
    free(s->intro);
    for (size_t i = 0; i < s->nclients; i++) {
        free(s->clients[i].name);
        forge_oauth2_client_free(s->clients[i].c);
    }
    free(s->clients);
    for (size_t i = 0; i < s->npolicies; i++)
        policy_free(s->policies[i]);
    free(s->policies);
    for (size_t i = 0; i < s->nrules; i++) {
        free(s->rules[i].method);
        free(s->rules[i].pattern);
        free(s->rules[i].policy);
        free(s->rules[i].key);
    }
    free(s->rules);
    free(s->table);
    strs_free(s->cors.origins, s->cors.norigins);
    strs_free(s->cors.headers, s->cors.nheaders);
    free(s->cors.methods);
    free(s->cors.headers_joined);
    free(s->cors.expose);
    if (s->audit)
        forge_log_free(s->audit);
    if (s->audit_fd > 2)
        close(s->audit_fd);
    free(s->base_dir);
    free(s);
}
