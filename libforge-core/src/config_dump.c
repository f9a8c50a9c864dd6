/*
 * Dumping the merged configuration with secrets redacted.
 *
 * Redaction works on a deep copy: every value whose path is secret (marked
 * by a ${...} reference, or declared FORGE_CFG_SECRET, or under such a map)
 * is replaced by "***" before anything is formatted, so no code path below
 * ever sees a secret's text.
 */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASK "***"

static void redact(const forge_config *cfg, json_t *node, const char *path)
{
    char sub[FORGE__CFG_PATH_MAX];
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(node, tmp, k, v)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
            if (forge__cfg_is_secret(cfg, sub))
                json_object_set_new(node, k, json_string(MASK));
            else
                redact(cfg, v, sub);
        }
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (forge__cfg_is_secret(cfg, sub))
                json_array_set_new(node, i, json_string(MASK));
            else
                redact(cfg, json_array_get(node, i), sub);
        }
    }
}

/* Collect "key = value  # source" lines into an array (sorted later). */
static void flat(const forge_config *cfg, const json_t *node, const char *path, json_t *lines)
{
    char sub[FORGE__CFG_PATH_MAX];
    if (json_is_object(node) && json_object_size(node)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)node, k, v)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
            flat(cfg, v, sub, lines);
        }
        return;
    }
    char *val = json_dumps(node, JSON_ENCODE_ANY | JSON_COMPACT);
    const char *src = forge__cfg_src(cfg, path);
    char *line = NULL;
    if (val && asprintf(&line, "%s = %s%s%s", path, val, src ? "  # " : "", src ? src : "") >= 0)
        json_array_append_new(lines, json_string(line));
    free(line);
    free(val);
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

char *forge_config_dump_string(const forge_config *cfg, forge_config_dump_format fmt)
{
    if (!cfg)
        return NULL;
    json_t *copy = json_deep_copy(cfg->root);
    if (!copy)
        return NULL;
    redact(cfg, copy, "");
    char *out = NULL;
    if (fmt == FORGE_CONFIG_DUMP_FLAT) {
        json_t *lines = json_array();
        if (lines)
            flat(cfg, copy, "", lines);
        size_t n = json_array_size(lines);
        json_t **v = n ? malloc(n * sizeof(*v)) : NULL;
        forge__cfgbuf buf = {0};
        if (v || n == 0) {
            for (size_t i = 0; i < n; i++)
                v[i] = json_array_get(lines, i);
            if (n)
                qsort(v, n, sizeof(*v), cmp_lines);
            int rc = forge__cfgbuf_put(&buf, "", 0, NULL);
            for (size_t i = 0; i < n && rc == 0; i++) {
                const char *s = json_string_value(v[i]);
                rc = forge__cfgbuf_put(&buf, s, strlen(s), NULL);
                if (rc == 0)
                    rc = forge__cfgbuf_put(&buf, "\n", 1, NULL);
            }
            if (rc) {
                free(buf.p);
                buf.p = NULL;
            }
            out = buf.p;
        }
        free(v);
        json_decref(lines);
    } else {
        out = json_dumps(copy, JSON_INDENT(2) | JSON_SORT_KEYS);
    }
    json_decref(copy);
    return out;
}

int forge_config_dump(const forge_config *cfg, FILE *out, forge_config_dump_format fmt)
{
    char *s = forge_config_dump_string(cfg, fmt);
    if (!s)
        return FORGE_ENOMEM;
    int rc = fputs(s, out) < 0 ? FORGE_EIO : 0;
    if (rc == 0 && fmt == FORGE_CONFIG_DUMP_JSON && fputc('\n', out) == EOF)
        rc = FORGE_EIO;
    free(s);
    return rc;
}
