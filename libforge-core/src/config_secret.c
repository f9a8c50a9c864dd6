/*
 * Secret references in values.
 *
 *   "${env:NAME}"   the value of environment variable NAME
 *   "${file:PATH}"  the contents of the file at PATH (one trailing newline
 *                   dropped; at most 64 KiB; no NUL bytes)
 *   "$${"           a literal "${"
 *
 * References may sit inside a longer string ("postgres://app:${env:PGPASS}@db/app").
 * A value holding any reference is secret as a whole: dumps print it as "***"
 * and messages never quote it. Errors name the key path, the variable or file
 * and where the value came from, never the resolved text.
 */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ref_error(const char *path, const char *src, int code, forge_error *err,
                     const char *what)
{
    return forge_error_setk(err, code, path, "%s: %s%s%s%s", path, what, src ? " (" : "",
                            src ? src : "", src ? ")" : "");
}

/* Append the target of one reference (name[0..n)) of the given kind to buf. */
static int resolve_ref(const char *kind, const char *name, size_t n, const char *path,
                       const char *src, forge__cfgbuf *buf, forge_error *err)
{
    char what[FORGE_ERROR_MSG_MAX];
    char target[4096];
    if (n == 0 || n >= sizeof(target))
        return ref_error(path, src, FORGE_ECONFIG, err, "empty or overlong secret reference");
    memcpy(target, name, n);
    target[n] = '\0';
    if (strcmp(kind, "env") == 0) {
        const char *v = getenv(target);
        if (!v) {
            snprintf(what, sizeof(what), "secret variable %.256s is not set", target);
            return ref_error(path, src, FORGE_ECONFIG, err, what);
        }
        return forge__cfgbuf_put(buf, v, strlen(v), err);
    }
    if (strcmp(kind, "file") == 0) {
        char *text;
        size_t len;
        forge_error ferr;
        forge_error_clear(&ferr);
        int rc = forge__cfg_read_file(target, FORGE__CFG_SECRET_MAX, true, &text, &len, &ferr);
        if (rc) {
            snprintf(what, sizeof(what), "secret file: %.400s", ferr.message);
            return ref_error(path, src, FORGE_ECONFIG, err, what);
        }
        if (len && text[len - 1] == '\n')
            len--;
        if (len && text[len - 1] == '\r')
            len--;
        if (memchr(text, '\0', len)) {
            free(text);
            snprintf(what, sizeof(what), "secret file %.256s holds a NUL byte", target);
            return ref_error(path, src, FORGE_ECONFIG, err, what);
        }
        rc = forge__cfgbuf_put(buf, text, len, err);
        free(text);
        return rc;
    }
    snprintf(what, sizeof(what), "unknown reference ${%s:...}: use ${env:NAME} or ${file:PATH}",
             kind);
    return ref_error(path, src, FORGE_ECONFIG, err, what);
}

json_t *forge__cfg_resolve_string(const char *s, const char *path, const char *src, bool *secret,
                                  forge_error *err)
{
    *secret = false;
    if (!strstr(s, "${"))
        return json_string(s);
    forge__cfgbuf buf = {0};
    const char *p = s;
    while (*p) {
        const char *d = strstr(p, "${");
        if (!d) {
            if (forge__cfgbuf_put(&buf, p, strlen(p), err))
                goto fail;
            break;
        }
        if (d > p && d[-1] == '$') { /* "$${": a literal "${" */
            if (forge__cfgbuf_put(&buf, p, (size_t)(d - p) - 1, err) ||
                forge__cfgbuf_put(&buf, "${", 2, err))
                goto fail;
            p = d + 2;
            continue;
        }
        if (forge__cfgbuf_put(&buf, p, (size_t)(d - p), err))
            goto fail;
        const char *colon = strchr(d + 2, ':');
        const char *close = strchr(d + 2, '}');
        if (!close || !colon || colon > close) {
            ref_error(path, src, FORGE_ECONFIG, err,
                      "malformed reference: use ${env:NAME} or ${file:PATH} (or $${ for a "
                      "literal ${)");
            goto fail;
        }
        char kind[16];
        size_t kn = (size_t)(colon - d - 2);
        snprintf(kind, sizeof(kind), "%.*s", (int)(kn < sizeof(kind) ? kn : sizeof(kind) - 1),
                 d + 2);
        if (resolve_ref(kind, colon + 1, (size_t)(close - colon - 1), path, src, &buf, err))
            goto fail;
        *secret = true;
        p = close + 1;
    }
    json_t *v = json_stringn(buf.p ? buf.p : "", buf.n);
    free(buf.p);
    if (!v)
        ref_error(path, src, FORGE_ECONFIG, err, "a secret is not valid UTF-8");
    return v;
fail:
    free(buf.p);
    return NULL;
}

static int walk(forge__cfgdoc *doc, json_t *node, const char *path, forge_error *err)
{
    char sub[FORGE__CFG_PATH_MAX];
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
            if (json_is_string(v) && strstr(json_string_value(v), "${")) {
                bool secret;
                const char *src =
                    json_string_value(json_object_get(json_object_get(doc->meta, sub), "src"));
                json_t *r = forge__cfg_resolve_string(json_string_value(v), sub, src, &secret, err);
                if (!r)
                    return err ? err->code : FORGE_ECONFIG;
                json_object_set_new(node, k, r);
                if (secret)
                    forge__cfg_mark_secret(doc->meta, sub);
            } else {
                int rc = walk(doc, v, sub, err);
                if (rc)
                    return rc;
            }
        }
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            json_t *v = json_array_get(node, i);
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (json_is_string(v) && strstr(json_string_value(v), "${")) {
                bool secret;
                const char *src =
                    json_string_value(json_object_get(json_object_get(doc->meta, sub), "src"));
                json_t *r = forge__cfg_resolve_string(json_string_value(v), sub, src, &secret, err);
                if (!r)
                    return err ? err->code : FORGE_ECONFIG;
                json_array_set_new(node, i, r);
                if (secret)
                    forge__cfg_mark_secret(doc->meta, sub);
            } else {
                int rc = walk(doc, v, sub, err);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

int forge__cfg_resolve_secrets(forge__cfgdoc *doc, forge_error *err)
{
    return doc->root ? walk(doc, doc->root, "", err) : 0;
}
