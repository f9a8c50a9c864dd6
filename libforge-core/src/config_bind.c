/*
 * Schemas: declaring keys and binding sections to C structs through field
 * descriptor tables.
 */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Error accumulation over a bind: the first error in full, then a count. */
typedef struct binderr {
    forge_error *err;
    int code;
    size_t more;
} binderr;

static void note(binderr *b, int code, const forge_error *e)
{
    if (b->code == 0) {
        b->code = code;
        if (b->err && e != b->err)
            *b->err = *e;
    } else {
        b->more++;
    }
}

static int declare(forge_config *cfg, const char *path, int kind, bool secret)
{
    json_t *old = json_object_get(cfg->declared, path);
    json_int_t v = old ? json_integer_value(old) : kind;
    if (old && kind > (v & 3))
        v = (v & ~3) | kind;
    if (secret)
        v |= FORGE__DECL_SECRET;
    return json_object_set_new(cfg->declared, path, json_integer(v)) == 0 ? 0 : FORGE_ENOMEM;
}

int forge_config_declare(forge_config *cfg, const char *key, unsigned flags, forge_error *err)
{
    if (!cfg || !key || !*key || strlen(key) >= FORGE__CFG_PATH_MAX)
        return forge_error_set(err, FORGE_EINVAL, "forge_config_declare: bad key");
    int kind = (flags & FORGE_CFG_OPEN) ? FORGE__DECL_OPEN : FORGE__DECL_KEY;
    if (declare(cfg, key, kind, flags & FORGE_CFG_SECRET))
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    char name[FORGE__CFG_PATH_MAX + 16];
    const char *v = forge__cfg_env_for(key, NULL, name, sizeof(name));
    return v ? forge__cfg_set_from_env(cfg, key, name, v, flags & FORGE_CFG_SECRET, err) : 0;
}

/* ---- storing a value into a struct member ---- */

static int desc_error(const char *path, const forge_config_field *f, forge_error *err)
{
    return forge_error_setk(err, FORGE_EINVAL, path, "%s: bad field descriptor (type %d, size %zu)",
                            path, (int)f->type, f->size);
}

static int store_signed(const forge_config *cfg, const char *path, const json_t *v, int64_t x,
                        void *dst, size_t size, forge_error *err)
{
    bool fits = size == 8 || (size == 4 && x >= INT32_MIN && x <= INT32_MAX) ||
                (size == 2 && x >= INT16_MIN && x <= INT16_MAX) ||
                (size == 1 && x >= INT8_MIN && x <= INT8_MAX);
    if (!fits) {
        char what[48];
        snprintf(what, sizeof(what), "for a %zu-bit integer", size * 8);
        return forge__cfg_type_error(cfg, path, v, FORGE_ERANGE, what, err);
    }
    if (size == 8) {
        int64_t t = x;
        memcpy(dst, &t, 8);
    } else if (size == 4) {
        int32_t t = (int32_t)x;
        memcpy(dst, &t, 4);
    } else if (size == 2) {
        int16_t t = (int16_t)x;
        memcpy(dst, &t, 2);
    } else {
        int8_t t = (int8_t)x;
        memcpy(dst, &t, 1);
    }
    return 0;
}

static int store_unsigned(const forge_config *cfg, const char *path, const json_t *v, uint64_t x,
                          void *dst, size_t size, forge_error *err)
{
    bool fits = size == 8 || (size == 4 && x <= UINT32_MAX) || (size == 2 && x <= UINT16_MAX) ||
                (size == 1 && x <= UINT8_MAX);
    if (!fits) {
        char what[48];
        snprintf(what, sizeof(what), "for a %zu-bit unsigned value", size * 8);
        return forge__cfg_type_error(cfg, path, v, FORGE_ERANGE, what, err);
    }
    if (size == 8) {
        memcpy(dst, &x, 8);
    } else if (size == 4) {
        uint32_t t = (uint32_t)x;
        memcpy(dst, &t, 4);
    } else if (size == 2) {
        uint16_t t = (uint16_t)x;
        memcpy(dst, &t, 2);
    } else {
        uint8_t t = (uint8_t)x;
        memcpy(dst, &t, 1);
    }
    return 0;
}

static int store_enum(const forge_config *cfg, const char *path, const json_t *v,
                      const forge_config_field *f, void *dst, forge_error *err)
{
    const char *s;
    int rc = forge__cfg_to_string(cfg, path, v, &s, err);
    if (rc)
        return rc;
    for (int i = 0; f->choices[i]; i++) {
        if (strcasecmp(s, f->choices[i]) == 0) {
            memcpy(dst, &i, sizeof(int));
            return 0;
        }
    }
    char what[256];
    size_t o = (size_t)snprintf(what, sizeof(what), "one of");
    for (int i = 0; f->choices[i] && o < sizeof(what); i++)
        o += (size_t)snprintf(what + o, sizeof(what) - o, "%s %s", i ? "," : "", f->choices[i]);
    return forge__cfg_type_error(cfg, path, v, FORGE_ETYPE, what, err);
}

static bool size_ok(const forge_config_field *f)
{
    switch (f->type) {
    case FORGE_CFG_T_INT:
    case FORGE_CFG_T_UINT:
        return f->size == 1 || f->size == 2 || f->size == 4 || f->size == 8;
    case FORGE_CFG_T_SIZE:
    case FORGE_CFG_T_DURATION:
        return f->size == 4 || f->size == 8;
    case FORGE_CFG_T_DOUBLE:
        return f->size == sizeof(double) || f->size == sizeof(float);
    case FORGE_CFG_T_BOOL:
        return f->size == sizeof(bool);
    case FORGE_CFG_T_STRING:
        return f->size == sizeof(const char *);
    case FORGE_CFG_T_ENUM:
        return f->size == sizeof(int) && f->choices;
    case FORGE_CFG_T_SECTION:
        return f->section != NULL;
    }
    return false;
}

static int store(const forge_config *cfg, const char *path, const json_t *v,
                 const forge_config_field *f, void *dst, forge_error *err)
{
    int rc;
    int64_t i;
    uint64_t u;
    double d;
    bool b;
    const char *s;
    switch (f->type) {
    case FORGE_CFG_T_INT:
        rc = forge__cfg_to_int(cfg, path, v, &i, err);
        return rc ? rc : store_signed(cfg, path, v, i, dst, f->size, err);
    case FORGE_CFG_T_UINT:
        rc = forge__cfg_to_uint(cfg, path, v, &u, err);
        return rc ? rc : store_unsigned(cfg, path, v, u, dst, f->size, err);
    case FORGE_CFG_T_SIZE:
        rc = forge__cfg_to_size(cfg, path, v, &u, err);
        return rc ? rc : store_unsigned(cfg, path, v, u, dst, f->size, err);
    case FORGE_CFG_T_DURATION:
        rc = forge__cfg_to_duration(cfg, path, v, &u, err);
        return rc ? rc : store_unsigned(cfg, path, v, u, dst, f->size, err);
    case FORGE_CFG_T_DOUBLE:
        rc = forge__cfg_to_double(cfg, path, v, &d, err);
        if (rc == 0 && f->size == sizeof(float)) {
            float fl = (float)d;
            memcpy(dst, &fl, sizeof(fl));
        } else if (rc == 0) {
            memcpy(dst, &d, sizeof(d));
        }
        return rc;
    case FORGE_CFG_T_BOOL:
        rc = forge__cfg_to_bool(cfg, path, v, &b, err);
        if (rc == 0)
            memcpy(dst, &b, sizeof(b));
        return rc;
    case FORGE_CFG_T_STRING:
        rc = forge__cfg_to_string(cfg, path, v, &s, err);
        if (rc == 0)
            memcpy(dst, &s, sizeof(s));
        return rc;
    case FORGE_CFG_T_ENUM:
        return store_enum(cfg, path, v, f, dst, err);
    case FORGE_CFG_T_SECTION:
        break;
    }
    return desc_error(path, f, err);
}

/* ---- binding ---- */

static void bind_section(forge_config *cfg, const char *prefix, const forge_config_section *sec,
                         char *obj, binderr *be);

/* The value for path: environment, then files, then the default (recorded in the tree). */
static int find_value(forge_config *cfg, const char *path, const forge_config_field *f,
                      const json_t **out, forge_error *err)
{
    char name[FORGE__CFG_PATH_MAX + 16];
    const char *env = forge__cfg_env_for(path, f->env, name, sizeof(name));
    if (env) {
        int rc = forge__cfg_set_from_env(cfg, path, name, env, f->flags & FORGE_CFG_SECRET, err);
        if (rc)
            return rc;
    }
    *out = forge__cfg_lookup(cfg, path);
    if (!*out && f->def) {
        int rc = forge__cfg_set(cfg, path, json_string(f->def), err);
        if (rc)
            return rc;
        forge__cfg_meta_src(cfg->meta, path, "default");
        *out = forge__cfg_lookup(cfg, path);
    }
    return 0;
}

static void bind_field(forge_config *cfg, const char *path, const forge_config_field *f, char *obj,
                       binderr *be)
{
    forge_error e;
    forge_error_clear(&e);
    void *dst = obj + f->offset;
    int rc;
    if (!size_ok(f)) {
        note(be, desc_error(path, f, &e), &e);
        return;
    }
    if (f->type == FORGE_CFG_T_SECTION) {
        bool open = f->section->flags & FORGE_CFG_OPEN;
        declare(cfg, path, open ? FORGE__DECL_OPEN : FORGE__DECL_SECTION,
                f->flags & FORGE_CFG_SECRET);
        const json_t *v = forge__cfg_lookup(cfg, path);
        if (v && !json_is_object(v)) {
            rc = forge__cfg_type_error(cfg, path, v, FORGE_ETYPE, "a map", &e);
            note(be, rc, &e);
            return;
        }
        bind_section(cfg, path, f->section, dst, be);
        return;
    }
    declare(cfg, path, FORGE__DECL_KEY, f->flags & FORGE_CFG_SECRET);
    const json_t *v;
    if ((rc = find_value(cfg, path, f, &v, &e)) != 0) {
        note(be, rc, &e);
        return;
    }
    if (!v) {
        if (f->flags & FORGE_CFG_REQUIRED) {
            char name[FORGE__CFG_PATH_MAX + 16];
            forge__cfg_env_name(path, "__", name, sizeof(name));
            rc = forge_error_setk(&e, FORGE_ECONFIG, path,
                                  "%s: required but not set (in the config file or %s)", path,
                                  f->env ? f->env : name);
            note(be, rc, &e);
        }
        return;
    }
    if ((rc = store(cfg, path, v, f, dst, &e)) != 0) {
        note(be, rc, &e);
        return;
    }
    if (f->validate) {
        forge_error ve;
        forge_error_clear(&ve);
        rc = f->validate(dst, f, &ve);
        if (rc) {
            const char *src = forge__cfg_src(cfg, path);
            rc = forge_error_setk(&e, rc < 0 ? rc : FORGE_ECONFIG, path, "%s: %s%s%s%s", path,
                                  ve.message[0] ? ve.message : "invalid value", src ? " (" : "",
                                  src ? src : "", src ? ")" : "");
            note(be, rc, &e);
        }
    }
}

/* A descriptor key: one name, or several joined by '.' ("http.max_body_size"). */
static bool field_key_ok(const char *k)
{
    if (!k || !*k)
        return false;
    for (const char *seg = k;;) {
        size_t n = strcspn(seg, ".");
        if (!forge__cfg_key_ok(seg, n))
            return false;
        if (!seg[n])
            return true;
        seg += n + 1;
    }
}

static void bind_section(forge_config *cfg, const char *prefix, const forge_config_section *sec,
                         char *obj, binderr *be)
{
    size_t before = be->code ? be->more + 1 : 0;
    for (size_t i = 0; i < sec->nfields; i++) {
        const forge_config_field *f = &sec->fields[i];
        char path[FORGE__CFG_PATH_MAX];
        if (!field_key_ok(f->key) || snprintf(path, sizeof(path), "%s%s%s", prefix,
                                              *prefix ? "." : "", f->key) >= (int)sizeof(path)) {
            forge_error e;
            forge_error_clear(&e);
            note(be,
                 forge_error_setk(&e, FORGE_EINVAL, prefix, "%s: bad field key in descriptor %zu",
                                  *prefix ? prefix : "(top)", i),
                 &e);
            continue;
        }
        bind_field(cfg, path, f, obj, be);
    }
    size_t after = be->code ? be->more + 1 : 0;
    if (sec->validate && after == before) {
        forge_error ve, e;
        forge_error_clear(&ve);
        forge_error_clear(&e);
        int rc = sec->validate(obj, &ve);
        if (rc)
            note(be,
                 forge_error_setk(&e, rc < 0 ? rc : FORGE_ECONFIG, prefix, "%s: %s",
                                  *prefix ? prefix : "config",
                                  ve.message[0] ? ve.message : "invalid section"),
                 &e);
    }
}

int forge_config_bind(forge_config *cfg, const char *prefix, const forge_config_section *sec,
                      void *obj, forge_error *err)
{
    if (!cfg || !sec || !obj || (sec->nfields && !sec->fields))
        return forge_error_set(err, FORGE_EINVAL, "forge_config_bind: missing argument");
    if (!prefix)
        prefix = "";
    binderr be = {err, 0, 0};
    if (*prefix) {
        const json_t *v = forge__cfg_lookup(cfg, prefix);
        if (v && !json_is_object(v))
            return forge__cfg_type_error(cfg, prefix, v, FORGE_ETYPE, "a map", err);
        declare(cfg, prefix, (sec->flags & FORGE_CFG_OPEN) ? FORGE__DECL_OPEN : FORGE__DECL_SECTION,
                false);
    }
    bind_section(cfg, prefix, sec, obj, &be);
    if (be.code && be.more && err) {
        size_t n = strlen(err->message);
        snprintf(err->message + n, sizeof(err->message) - n, " (and %zu more error%s)", be.more,
                 be.more == 1 ? "" : "s");
    }
    return be.code;
}
