/*
 * JSON configuration documents (Jansson).
 *
 * Jansson is the authority on the syntax and gives line:column on errors and
 * refuses duplicate keys. It records no positions for values, so the same
 * text is also read by the YAML reader (JSON is, in practice, YAML flow
 * style): when that reading yields the same tree, its line numbers are used
 * for messages; otherwise values are attributed to the file alone.
 */
#include "config_internal.h"

#include <string.h>

bool forge__cfg_key_ok(const char *k, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c == '.' || c == '[' || c == ']' || c < 0x20 || c == 0x7F)
            return false;
    }
    return true;
}

/* Check keys and depth; record src for every path when lines are unknown. */
static int walk(forge__cfgdoc *doc, json_t *node, const char *path, int depth, bool mark,
                forge_error *err)
{
    if (depth > FORGE__CFG_DEPTH_MAX)
        return forge_error_setk(err, FORGE_EPARSE, path, "%s: %s: nested deeper than %d levels",
                                doc->src, path, FORGE__CFG_DEPTH_MAX);
    if (mark && *path)
        forge__cfg_meta_src(doc->meta, path, "%s", doc->src);
    char sub[FORGE__CFG_PATH_MAX];
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v)
        {
            if (!forge__cfg_key_ok(k, strlen(k)))
                return forge_error_setk(err, FORGE_EPARSE, path,
                                        "%s: %s%skey \"%.64s\" is empty or holds '.', '[', ']' or "
                                        "a control character; nest maps instead",
                                        doc->src, path, *path ? ": " : "", k);
            if (snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k) >= (int)sizeof(sub))
                return forge_error_setk(err, FORGE_EPARSE, path, "%s: key path too long", doc->src);
            int rc = walk(doc, v, sub, depth + 1, mark, err);
            if (rc)
                return rc;
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) >= (int)sizeof(sub))
                return forge_error_setk(err, FORGE_EPARSE, path, "%s: key path too long", doc->src);
            int rc = walk(doc, v, sub, depth + 1, mark, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int forge__cfg_parse_json(forge__cfgdoc *doc, const char *text, size_t len, forge_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return forge_error_set(err, FORGE_EPARSE, "%s:%d:%d: invalid JSON: %s", doc->src, je.line,
                               je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return forge_error_set(err, FORGE_EPARSE, "%s: the top level must be an object", doc->src);
    }
    /* Line numbers, when the YAML reading agrees. */
    forge__cfgdoc y = {NULL, json_object(), doc->src};
    bool lines = false;
    if (y.meta && forge__cfg_parse_yaml(&y, text, len, NULL) == 0 && y.root &&
        json_equal(y.root, root)) {
        json_object_update(doc->meta, y.meta);
        lines = true;
    }
    json_decref(y.root);
    json_decref(y.meta);
    int rc = walk(doc, root, "", 0, !lines, err);
    if (rc) {
        json_decref(root);
        return rc;
    }
    doc->root = root;
    return 0;
}
