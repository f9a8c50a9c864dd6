/*
 * Configuration: lifecycle, loading and merging, the key path tables.
 */
#include "config_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

forge_config *forge_config_new(void)
{
    forge_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->root = json_object();
    cfg->meta = json_object();
    cfg->declared = json_object();
    if (!cfg->root || !cfg->meta || !cfg->declared) {
        forge_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void forge_config_free(forge_config *cfg)
{
    if (!cfg)
        return;
    json_decref(cfg->root);
    json_decref(cfg->meta);
    json_decref(cfg->declared);
    free(cfg);
}

/* ---- meta ---- */

static json_t *meta_entry(json_t *meta, const char *path)
{
    json_t *e = json_object_get(meta, path);
    if (!e) {
        e = json_object();
        if (!e || json_object_set_new(meta, path, e) != 0)
            return NULL;
    }
    return e;
}

void forge__cfg_meta_src(json_t *meta, const char *path, const char *fmt, ...)
{
    char buf[FORGE__CFG_PATH_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_t *e = meta_entry(meta, path);
    if (e)
        json_object_set_new(e, "src", json_string(buf));
}

void forge__cfg_mark_secret(json_t *meta, const char *path)
{
    json_t *e = meta_entry(meta, path);
    if (e)
        json_object_set_new(e, "secret", json_true());
}

/* Strip the last component of a path in place; false at the top. */
static bool parent_path(char *p)
{
    char *dot = strrchr(p, '.');
    char *br = strrchr(p, '[');
    char *cut = dot > br ? dot : br;
    if (!cut)
        return false;
    *cut = '\0';
    return true;
}

const char *forge__cfg_src(const forge_config *cfg, const char *path)
{
    char p[FORGE__CFG_PATH_MAX];
    snprintf(p, sizeof(p), "%s", path);
    do {
        json_t *src = json_object_get(json_object_get(cfg->meta, p), "src");
        if (src)
            return json_string_value(src);
    } while (parent_path(p));
    return NULL;
}

bool forge__cfg_is_secret(const forge_config *cfg, const char *path)
{
    char p[FORGE__CFG_PATH_MAX];
    snprintf(p, sizeof(p), "%s", path);
    do {
        if (json_is_true(json_object_get(json_object_get(cfg->meta, p), "secret")))
            return true;
        json_t *d = json_object_get(cfg->declared, p);
        if (d && (json_integer_value(d) & FORGE__DECL_SECRET))
            return true;
    } while (parent_path(p));
    return false;
}

/* Drop meta of path and everything below it (the value there is being replaced). */
static void meta_drop(json_t *meta, const char *path)
{
    size_t n = strlen(path);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(meta, tmp, k, v)
    {
        if (strncmp(k, path, n) == 0 && (k[n] == '\0' || k[n] == '.' || k[n] == '['))
            json_object_del(meta, k);
    }
}

/* ---- key paths ---- */

/*
 * Walk one component of a path: a name up to '.', '[' or the end, then any
 * "[n]" indices. Returns the node or NULL; *rest points after the component.
 */
static json_t *step(json_t *node, const char **rest)
{
    const char *p = *rest;
    size_t n = strcspn(p, ".[");
    if (n > 0) {
        if (!json_is_object(node))
            return NULL;
        node = json_object_getn(node, p, n);
        p += n;
    }
    while (node && *p == '[') {
        char *end;
        errno = 0;
        unsigned long long i = strtoull(p + 1, &end, 10);
        if (end == p + 1 || *end != ']' || errno || !json_is_array(node))
            return NULL;
        node = json_array_get(node, (size_t)i);
        p = end + 1;
    }
    *rest = p;
    return node;
}

json_t *forge__cfg_lookup(const forge_config *cfg, const char *path)
{
    if (!cfg || !path || !*path)
        return NULL;
    json_t *node = cfg->root;
    const char *p = path;
    for (;;) {
        node = step(node, &p);
        if (!node)
            return NULL;
        if (*p == '\0')
            break;
        if (*p != '.')
            return NULL;
        p++;
    }
    return json_is_null(node) ? NULL : node;
}

int forge__cfg_set(forge_config *cfg, const char *path, json_t *value, forge_error *err)
{
    if (!value)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    /* Maps along the way are created; the last component is a plain name. */
    char p[FORGE__CFG_PATH_MAX];
    if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p) || strchr(p, '[') || !*p) {
        json_decref(value);
        return forge_error_setk(err, FORGE_EINVAL, path, "%s: not a settable key path", path);
    }
    json_t *node = cfg->root;
    char *seg = p;
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot)
            *dot = '\0';
        if (!*seg) {
            json_decref(value);
            return forge_error_setk(err, FORGE_EINVAL, path, "%s: empty key in path", path);
        }
        if (!dot) {
            meta_drop(cfg->meta, path);
            json_object_set_new(node, seg, value);
            return 0;
        }
        json_t *child = json_object_get(node, seg);
        if (child && !json_is_null(child) && !json_is_object(child)) {
            /* Never replace a value the user set by a map we invent. */
            char where[FORGE__CFG_PATH_MAX];
            snprintf(where, sizeof(where), "%.*s", (int)(seg - p + strlen(seg)), path);
            int rc = forge__cfg_type_error(cfg, where, child, FORGE_ETYPE, "a map", err);
            json_decref(value);
            return rc;
        }
        if (!child || json_is_null(child)) {
            child = json_object();
            if (!child || json_object_set_new(node, seg, child) != 0) {
                json_decref(value);
                return forge_error_set(err, FORGE_ENOMEM, "out of memory");
            }
        }
        node = child;
        seg = dot + 1;
    }
}

/* ---- merging ---- */

static void merge_obj(forge_config *cfg, json_t *dst, json_t *src, const char *path)
{
    const char *k;
    json_t *s;
    json_object_foreach(src, k, s)
    {
        char sub[FORGE__CFG_PATH_MAX];
        snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
        json_t *d = json_object_get(dst, k);
        if (json_is_object(d) && json_is_object(s)) {
            merge_obj(cfg, d, s, sub);
        } else {
            meta_drop(cfg->meta, sub);
            json_object_set(dst, k, s);
        }
    }
}

void forge__cfg_merge(forge_config *cfg, forge__cfgdoc *doc)
{
    if (doc->root)
        merge_obj(cfg, cfg->root, doc->root, "");
    if (doc->meta)
        json_object_update(cfg->meta, doc->meta);
    json_decref(doc->root);
    json_decref(doc->meta);
    doc->root = doc->meta = NULL;
}

/* ---- loading ---- */

static forge_config_format sniff(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        return c == '{' ? FORGE_CONFIG_JSON : FORGE_CONFIG_YAML;
    }
    return FORGE_CONFIG_YAML;
}

static int load(forge_config *cfg, const char *src, const char *text, size_t len,
                forge_config_format format, forge_error *err)
{
    if (!cfg || (!text && len))
        return forge_error_set(err, FORGE_EINVAL, "forge_config_load: no config or text");
    if (len > FORGE__CFG_FILE_MAX)
        return forge_error_set(err, FORGE_ETOOBIG, "%s: larger than %u bytes", src,
                               FORGE__CFG_FILE_MAX);
    if (format == FORGE_CONFIG_AUTO)
        format = sniff(text, len);
    forge__cfgdoc doc = {NULL, json_object(), src};
    if (!doc.meta)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    int rc = format == FORGE_CONFIG_JSON ? forge__cfg_parse_json(&doc, text ? text : "", len, err)
                                         : forge__cfg_parse_yaml(&doc, text ? text : "", len, err);
    if (rc == 0)
        rc = forge__cfg_resolve_secrets(&doc, err);
    if (rc != 0) {
        json_decref(doc.root);
        json_decref(doc.meta);
        return rc;
    }
    forge__cfg_merge(cfg, &doc);
    return 0;
}

int forge_config_load_string(forge_config *cfg, const char *text, size_t len,
                             forge_config_format format, forge_error *err)
{
    return load(cfg, "<string>", text, len, format, err);
}

static forge_config_format by_extension(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && strchr(dot, '/') == NULL) {
        if (strcasecmp(dot, ".json") == 0)
            return FORGE_CONFIG_JSON;
        if (strcasecmp(dot, ".yaml") == 0 || strcasecmp(dot, ".yml") == 0)
            return FORGE_CONFIG_YAML;
    }
    return FORGE_CONFIG_AUTO;
}

/*
 * Read a whole file of at most `max` bytes. *out is malloc'd and NUL-terminated.
 * With regular_only, anything but a regular file (FIFO, device, directory) is
 * refused without blocking: secrets come from files, never from a pipe that
 * could stall start-up.
 */
int forge__cfg_read_file(const char *path, size_t max, bool regular_only, char **out, size_t *len,
                         forge_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
    if (fd < 0) {
        int e = errno;
        int code = e == ENOENT ? FORGE_ENOENT : e == EACCES ? FORGE_EACCES : FORGE_EIO;
        return forge_error_set(err, code, "%s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (regular_only && !S_ISREG(st.st_mode)) || S_ISDIR(st.st_mode)) {
        close(fd);
        return forge_error_set(err, FORGE_EINVAL, "%s: not a regular file", path);
    }
    if (regular_only)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    int rc = 0;
    while (buf && rc == 0) {
        if (n == cap) {
            if (n > max)
                break;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            rc = forge_error_set(err, FORGE_EIO, "%s: %s", path, strerror(errno));
        else if (k == 0)
            break;
        else
            n += (size_t)k;
    }
    close(fd);
    if (rc == 0 && !buf)
        rc = forge_error_set(err, FORGE_ENOMEM, "%s: out of memory", path);
    else if (rc == 0 && n > max)
        rc = forge_error_set(err, FORGE_ETOOBIG, "%s: larger than %zu bytes", path, max);
    else if (rc == 0 && n == cap && cap <= max)
        rc = forge_error_set(err, FORGE_ENOMEM, "%s: out of memory", path);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int forge_config_load_file(forge_config *cfg, const char *path, forge_error *err)
{
    if (!cfg || !path)
        return forge_error_set(err, FORGE_EINVAL, "forge_config_load_file: no config or path");
    char *text;
    size_t len;
    int rc = forge__cfg_read_file(path, FORGE__CFG_FILE_MAX, false, &text, &len, err);
    if (rc != 0)
        return rc;
    rc = load(cfg, path, text, len, by_extension(path), err);
    free(text);
    return rc;
}

int forge__cfgbuf_put(forge__cfgbuf *b, const char *s, size_t n, forge_error *err)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}
