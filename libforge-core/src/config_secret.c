/*
 * Secret references in values.
 *
 *   "${env:NAME}"   the value of environment variable NAME
 *   "${file:PATH}"  the contents of the file at PATH (one trailing newline
 *                   dropped; at most 64 KiB; no NUL bytes)
 *   "${enc:v1:B64}" an AES-256-GCM encrypted value (sec_secret.c), decrypted
 *                   with the key named by the document's secrets.key_file /
 *                   secrets.key_env, else FORGE_SECRETS_KEY_FILE / FORGE_SECRETS_KEY
 *   "$${"           a literal "${"
 *
 * References may sit inside a longer string ("postgres://app:${env:PGPASS}@db/app").
 * A value holding any reference is secret as a whole: dumps print it as "***"
 * and messages never quote it. Errors name the key path, the variable or file
 * and where the value came from, never the resolved text.
 */
#include "config_internal.h"
#include "sec_secret.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ref_error(const char *path, const char *src, int code, forge_error *err,
                     const char *what)
{
    return forge_error_setk(err, code, path, "%s: %s%s%s%s", path, what, src ? " (" : "",
                            src ? src : "", src ? ")" : "");
}

/* Where ${enc:...} keys come from: a document's `secrets` section (NULL: the environment). */
typedef struct keyconf {
    char file[4096]; /* made absolute against the document's directory */
    const char *env;
} keyconf;

static int resolve_enc(const char *name, size_t n, const keyconf *kc, const char *path,
                       const char *src, forge__cfgbuf *buf, forge_error *err)
{
    char what[FORGE_ERROR_MSG_MAX];
    forge_error e;
    forge_error_clear(&e);
    char *plain = NULL;
    size_t len = 0;
    if (forge__secret_open_ref(name, n, kc && kc->file[0] ? kc->file : NULL, kc ? kc->env : NULL,
                               &plain, &len, &e) < 0) {
        snprintf(what, sizeof(what), "%.480s", e.message);
        return ref_error(path, src, FORGE_ECONFIG, err, what);
    }
    int rc = forge__cfgbuf_put(buf, plain, len, err);
    OPENSSL_cleanse(plain, len);
    free(plain);
    return rc;
}

/* Append the target of one reference (name[0..n)) of the given kind to buf. */
static int resolve_ref(const char *kind, const char *name, size_t n, const keyconf *kc,
                       const char *path, const char *src, forge__cfgbuf *buf, forge_error *err)
{
    char what[FORGE_ERROR_MSG_MAX];
    char target[4096];
    if (strcmp(kind, "enc") == 0)
        return resolve_enc(name, n, kc, path, src, buf, err);
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
    snprintf(what, sizeof(what),
             "unknown reference ${%s:...}: use ${env:NAME}, ${file:PATH} or ${enc:v1:...}", kind);
    return ref_error(path, src, FORGE_ECONFIG, err, what);
}

static json_t *resolve_string(const char *s, const keyconf *kc, const char *path, const char *src,
                              bool *secret, forge_error *err)
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
        if (resolve_ref(kind, colon + 1, (size_t)(close - colon - 1), kc, path, src, &buf, err))
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

json_t *forge__cfg_resolve_string(const char *s, const char *path, const char *src, bool *secret,
                                  forge_error *err)
{
    return resolve_string(s, NULL, path, src, secret, err);
}

static int walk(forge__cfgdoc *doc, const keyconf *kc, json_t *node, const char *path,
                forge_error *err);

/*
 * One child at `sub`: a string holding a reference is resolved into *out
 * (and marked secret when it came from one); anything else is walked and
 * *out stays NULL.
 */
static int visit(forge__cfgdoc *doc, const keyconf *kc, json_t *v, const char *sub, json_t **out,
                 forge_error *err)
{
    *out = NULL;
    if (!json_is_string(v) || !strstr(json_string_value(v), "${"))
        return walk(doc, kc, v, sub, err);
    bool secret;
    const char *src = json_string_value(json_object_get(json_object_get(doc->meta, sub), "src"));
    *out = resolve_string(json_string_value(v), kc, sub, src, &secret, err);
    if (!*out)
        return err ? err->code : FORGE_ECONFIG;
    if (secret)
        forge__cfg_mark_secret(doc->meta, sub);
    return 0;
}

static int walk(forge__cfgdoc *doc, const keyconf *kc, json_t *node, const char *path,
                forge_error *err)
{
    char sub[FORGE__CFG_PATH_MAX];
    json_t *r;
    int rc;
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
            if ((rc = visit(doc, kc, v, sub, &r, err)) != 0)
                return rc;
            if (r)
                json_object_set_new(node, k, r);
        }
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if ((rc = visit(doc, kc, json_array_get(node, i), sub, &r, err)) != 0)
                return rc;
            if (r)
                json_array_set_new(node, i, r);
        }
    }
    return 0;
}

/* The document's secrets.key_file (relative to the document's directory) and secrets.key_env. */
static void keyconf_of(const forge__cfgdoc *doc, keyconf *kc)
{
    const json_t *sec = json_object_get(doc->root, "secrets");
    const char *file = json_string_value(json_object_get(sec, "key_file"));
    kc->env = json_string_value(json_object_get(sec, "key_env"));
    kc->file[0] = '\0';
    if (!file || !*file)
        return;
    const char *slash = doc->src ? strrchr(doc->src, '/') : NULL;
    if (file[0] == '/' || !slash)
        snprintf(kc->file, sizeof(kc->file), "%s", file);
    else
        snprintf(kc->file, sizeof(kc->file), "%.*s/%s", (int)(slash - doc->src), doc->src, file);
}

int forge__cfg_resolve_secrets(forge__cfgdoc *doc, forge_error *err)
{
    if (!doc->root)
        return 0;
    keyconf kc;
    keyconf_of(doc, &kc);
    return walk(doc, &kc, doc->root, "", err);
}
