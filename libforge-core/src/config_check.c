/*
 * Unknown keys: values in the tree under no declared key.
 *
 * A declared key or open subtree covers everything below it; a declared
 * section covers only itself (its children must be declared too). Maps are
 * walked, lists are values. Each unknown key is named with its source and,
 * when a declared key is within a small edit distance, a suggestion.
 */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Levenshtein distance, bounded: returns > max early. Paths are short. */
static size_t distance(const char *a, const char *b, size_t max)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 128 || nb > 128 || (na > nb ? na - nb : nb - na) > max)
        return max + 1;
    size_t row[129];
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t prev = row[0], best = i;
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t cur = row[j];
            row[j] = min3(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] != b[j - 1]));
            prev = cur;
            if (row[j] < best)
                best = row[j];
        }
        if (best > max)
            return max + 1;
    }
    return row[nb];
}

static const char *suggest(const forge_config *cfg, const char *path)
{
    const char *best = NULL;
    size_t bestd = strlen(path) / 4 + 1;
    if (bestd > 3)
        bestd = 3;
    const char *k;
    json_t *v;
    json_object_foreach(cfg->declared, k, v)
    {
        if ((json_integer_value(v) & 3) == FORGE__DECL_SECTION)
            continue;
        size_t d = distance(path, k, bestd);
        if (d <= bestd && (!best || d < bestd)) {
            best = k;
            bestd = d;
        }
    }
    return best;
}

typedef struct unknowns {
    const forge_config *cfg;
    forge__cfgbuf msg;
    size_t count;
    char first[FORGE__CFG_PATH_MAX];
} unknowns;

static void report(unknowns *u, const char *path)
{
    if (u->count++ == 0)
        snprintf(u->first, sizeof(u->first), "%s", path);
    if (u->msg.n > FORGE_ERROR_MSG_MAX)
        return;
    const char *src = forge__cfg_src(u->cfg, path);
    const char *hint = suggest(u->cfg, path);
    char line[FORGE__CFG_PATH_MAX * 2 + 128];
    snprintf(line, sizeof(line), "%s%s%s%s%s%s%s%s%s", u->count > 1 ? ", " : "", path,
             src || hint ? " (" : "", src ? src : "", src && hint ? "; " : "",
             hint ? "did you mean " : "", hint ? hint : "", hint ? "?" : "",
             src || hint ? ")" : "");
    forge__cfgbuf_put(&u->msg, line, strlen(line), NULL);
}

static void walk(unknowns *u, const json_t *node, const char *path)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)node, k, v)
    {
        char sub[FORGE__CFG_PATH_MAX];
        snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
        json_t *d = json_object_get(u->cfg->declared, sub);
        int kind = d ? (int)(json_integer_value(d) & 3) : -1;
        if (kind == FORGE__DECL_KEY || kind == FORGE__DECL_OPEN)
            continue;
        if (json_is_object(v) && json_object_size(v) > 0)
            walk(u, v, sub);
        else if (kind != FORGE__DECL_SECTION)
            report(u, sub);
    }
}

int forge_config_check_unknown(const forge_config *cfg, forge_error *err)
{
    if (!cfg)
        return forge_error_set(err, FORGE_EINVAL, "forge_config_check_unknown: no config");
    unknowns u = {cfg, {0}, 0, {0}};
    walk(&u, cfg->root, "");
    if (u.count == 0)
        return 0;
    int rc = forge_error_setk(err, FORGE_ECONFIG, u.first, "unknown config key%s: %s",
                              u.count == 1 ? "" : "s", u.msg.p ? u.msg.p : u.first);
    free(u.msg.p);
    return rc;
}
