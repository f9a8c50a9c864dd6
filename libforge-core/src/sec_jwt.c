/*
 * JWT (RFC 7519) in JWS compact form (RFC 7515), verified with OpenSSL 3.
 *
 * The verifier's algorithm list is fixed by configuration: the token's `alg`
 * only selects among those, and selects a key of the one type that algorithm
 * needs (sec_jwk.c), so `alg: none` and HMAC keyed with an RSA public key are
 * refused by construction. The header is parsed first (it is needed to pick
 * the key), the signature is checked next, and only then is the payload
 * parsed and its claims checked. Every reason for refusal goes into
 * err->message for the audit log; none quotes token bytes.
 */
#include "sec_impl.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_TOKEN 8192
#define MAX_TOKEN_CEILING (64 * 1024)
#define HEADER_CACHE_N    4
#define HEADER_CACHE_TEXT 256
#define HEADER_CACHE_KID  (HEADER_CACHE_TEXT * 3 / 4) /* any kid of a kept header fits */

/* ---- the verifier ---- */

static char **strlist(const json_t *v, size_t *n, bool *bad)
{
    *n = 0;
    if (!v)
        return NULL;
    if (json_is_string(v)) {
        char **out = calloc(1, sizeof(*out));
        if (out && (out[0] = strdup(json_string_value(v))))
            *n = 1;
        return out;
    }
    if (!json_is_array(v)) {
        *bad = true;
        return NULL;
    }
    char **out = calloc(json_array_size(v) + 1, sizeof(*out));
    for (size_t i = 0; out && i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (!s) {
            *bad = true;
            break;
        }
        out[(*n)++] = strdup(s);
    }
    return out;
}

static void strlist_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void forge_jwt_verifier_free(forge_jwt_verifier *v)
{
    if (!v)
        return;
    forge__jwks_stop(v);
    forge__sec_keyset_unref(v->keys);
    pthread_mutex_destroy(&v->mu);
    free(v->name);
    free(v->issuer);
    strlist_free(v->audience, v->naudience);
    strlist_free(v->required, v->nrequired);
    free(v->roles_claim);
    free(v->scope_claim);
    free(v->jwks_url);
    free(v);
}

static int add_key_entry(forge_jwt_verifier *v, forge__sec_keyset *ks, const json_t *e,
                         const char *base_dir, const char *what, forge_error *err)
{
    static const char *const known[] = {"kid",      "alg", "secret",    "secret_file", "pem",
                                        "pem_file", "jwk", "jwks_file", NULL};
    if (!json_is_object(e))
        return forge_error_set(err, FORGE_ECONFIG, "%s: a key must be a map", what);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)e, k, x)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(k, known[i]) == 0;
        if (!ok)
            return forge_error_set(err, FORGE_ECONFIG,
                                   "%s.%.64s: unknown key (one of kid, alg, "
                                   "secret, secret_file, pem, pem_file, jwk, jwks_file)",
                                   what, k);
    }
    const char *kid = json_string_value(json_object_get(e, "kid"));
    const char *algs = json_string_value(json_object_get(e, "alg"));
    int alg = -1;
    if (algs && (alg = forge__sec_alg_parse(algs)) < 0)
        return forge_error_set(err, FORGE_ECONFIG, "%s.alg: unknown algorithm \"%.32s\"", what,
                               algs);
    const char *secret = json_string_value(json_object_get(e, "secret"));
    const char *file = NULL;
    const char *kind = NULL;
    static const char *const file_keys[] = {"secret_file", "pem_file", "jwks_file"};
    for (size_t i = 0; i < 3; i++)
        if ((file = json_string_value(json_object_get(e, file_keys[i])))) {
            kind = file_keys[i];
            break;
        }
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    if (file) {
        char *path = forge__sec_path(base_dir, file);
        forge_error ferr;
        forge_error_clear(&ferr);
        rc = path ? forge__sec_read_file(path, 1024 * 1024, &text, &len, &ferr) : FORGE_ENOMEM;
        free(path);
        if (rc)
            return forge_error_set(err, FORGE_ECONFIG, "%s.%s: %s", what, kind, ferr.message);
    }
    char w[FORGE_ERROR_KEY_MAX];
    snprintf(w, sizeof(w), "%.200s", what);
    if (secret || (kind && strcmp(kind, "secret_file") == 0)) {
        const char *s = secret ? secret : text;
        size_t n = secret ? strlen(secret) : len;
        if (!secret && n && s[n - 1] == '\n')
            n--;
        if (n < 32)
            rc =
                forge_error_set(err, FORGE_ECONFIG,
                                "%s: an HMAC secret needs at least 32 bytes (secret not shown)", w);
        else if (alg >= 0 && forge__sec_alg_kty(alg) != SEC_KTY_OCT)
            rc = forge_error_set(err, FORGE_ECONFIG, "%s: a secret only fits HS algorithms", w);
        else {
            forge__sec_key key = {.alg = alg, .kty = SEC_KTY_OCT, .secret_len = n};
            key.secret = malloc(n);
            key.kid = kid ? strdup(kid) : NULL;
            if (key.secret)
                memcpy(key.secret, s, n);
            rc = key.secret && (!kid || key.kid) ? forge__sec_keyset_add(ks, &key) : FORGE_ENOMEM;
            if (rc)
                rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
        }
    } else if (json_object_get(e, "pem") || (kind && strcmp(kind, "pem_file") == 0)) {
        const char *pem = text ? text : json_string_value(json_object_get(e, "pem"));
        rc = pem ? forge__sec_keyset_add_pem(ks, pem, strlen(pem), kid, alg, w, err)
                 : forge_error_set(err, FORGE_ECONFIG, "%s.pem: expected PEM text", w);
    } else if (json_object_get(e, "jwk") || kind) {
        json_t *doc = json_incref(json_object_get(e, "jwk"));
        if (text) {
            json_error_t je;
            doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
            if (!doc)
                rc =
                    forge_error_set(err, FORGE_ECONFIG, "%s.jwks_file: invalid JSON at line %d: %s",
                                    w, je.line, je.text);
        }
        if (doc)
            rc = forge__sec_keyset_add_jwk(ks, doc, w, err);
        json_decref(doc);
    } else {
        rc = forge_error_set(err, FORGE_ECONFIG,
                             "%s: a key needs one of secret, secret_file, pem, pem_file, jwk, "
                             "jwks_file",
                             w);
    }
    if (text) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    return rc;
}

forge_jwt_verifier *forge_jwt_verifier_new(const json_t *d, const char *base_dir, forge_error *err)
{
    static const char *const known[] = {"name",
                                        "algorithms",
                                        "keys",
                                        "jwks_url",
                                        "jwks_refresh_s",
                                        "issuer",
                                        "audience",
                                        "leeway_s",
                                        "required_claims",
                                        "max_token_size",
                                        "require_exp",
                                        "roles_claim",
                                        "scope_claim",
                                        NULL};
    const char *name = json_string_value(json_object_get(d, "name"));
    char what[FORGE_ERROR_KEY_MAX];
    snprintf(what, sizeof(what), "%.200s", name ? name : "jwt");
    if (!json_is_object(d)) {
        forge_error_set(err, FORGE_ECONFIG, "%s: a JWT verifier is described by a map", what);
        return NULL;
    }
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)d, k, x)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(k, known[i]) == 0;
        if (!ok) {
            forge_error_set(err, FORGE_ECONFIG, "%s.%.64s: unknown key", what, k);
            return NULL;
        }
    }
    forge_jwt_verifier *v = calloc(1, sizeof(*v));
    if (!v) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&v->mu, NULL);
    v->keys = forge__sec_keyset_new();
    v->name = strdup(name ? name : "jwt");
    v->leeway_s = 0;
    v->max_token = DEFAULT_MAX_TOKEN;
    v->require_exp = true;
    v->jwks_refresh_s = 300;
    v->jwks_min_gap_ms = 10000;
    v->jwks_timer = -1;
    if (!v->keys || !v->name)
        goto oom;

    const json_t *algs = json_object_get(d, "algorithms");
    if (!json_is_array(algs) || json_array_size(algs) == 0) {
        forge_error_set(err, FORGE_ECONFIG,
                        "%s.algorithms: required, a list such as [RS256] (never taken from the "
                        "token)",
                        what);
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(algs); i++) {
        const char *s = json_string_value(json_array_get(algs, i));
        int a = forge__sec_alg_parse(s);
        if (a < 0) {
            forge_error_set(err, FORGE_ECONFIG,
                            "%s.algorithms[%zu]: unknown algorithm \"%.32s\" (HS256/384/512, "
                            "RS256/384/512, PS256/384/512, ES256, ES384, EdDSA; never none)",
                            what, i, s ? s : "");
            goto fail;
        }
        v->algs |= 1u << a;
    }
    const json_t *keys = json_object_get(d, "keys");
    if (keys && !json_is_array(keys)) {
        forge_error_set(err, FORGE_ECONFIG, "%s.keys: expected a list", what);
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(keys); i++) {
        char kw[FORGE_ERROR_KEY_MAX];
        snprintf(kw, sizeof(kw), "%.200s.keys[%zu]", what, i);
        if (add_key_entry(v, v->keys, json_array_get(keys, i), base_dir, kw, err))
            goto fail;
    }
    const char *url = json_string_value(json_object_get(d, "jwks_url"));
    if (url && !(v->jwks_url = strdup(url)))
        goto oom;
    if (json_is_integer(json_object_get(d, "jwks_refresh_s")))
        v->jwks_refresh_s = json_integer_value(json_object_get(d, "jwks_refresh_s"));
    if (!url) {
        for (int a = 0; a < SEC_ALG_COUNT; a++) {
            if (!(v->algs & (1u << a)))
                continue;
            bool found = false;
            for (size_t i = 0; i < v->keys->n; i++)
                found |= v->keys->v[i].kty == forge__sec_alg_kty(a) &&
                         (v->keys->v[i].alg < 0 || v->keys->v[i].alg == a);
            if (!found) {
                forge_error_set(err, FORGE_ECONFIG, "%s.keys: no key fits algorithm %s", what,
                                forge__sec_alg_name(a));
                goto fail;
            }
        }
    }
    const char *iss = json_string_value(json_object_get(d, "issuer"));
    if (iss && !(v->issuer = strdup(iss)))
        goto oom;
    bool bad = false;
    v->audience = strlist(json_object_get(d, "audience"), &v->naudience, &bad);
    v->required = strlist(json_object_get(d, "required_claims"), &v->nrequired, &bad);
    if (bad) {
        forge_error_set(err, FORGE_ECONFIG,
                        "%s: audience and required_claims are strings or lists of strings", what);
        goto fail;
    }
    const json_t *lw = json_object_get(d, "leeway_s");
    if (lw &&
        (!json_is_integer(lw) || json_integer_value(lw) < 0 || json_integer_value(lw) > 3600)) {
        forge_error_set(err, FORGE_ECONFIG, "%s.leeway: between 0 and 1h", what);
        goto fail;
    }
    v->leeway_s = lw ? json_integer_value(lw) : 0;
    const json_t *mt = json_object_get(d, "max_token_size");
    if (mt && (!json_is_integer(mt) || json_integer_value(mt) < 64 ||
               json_integer_value(mt) > MAX_TOKEN_CEILING)) {
        forge_error_set(err, FORGE_ECONFIG, "%s.max_token_size: between 64 bytes and 64k", what);
        goto fail;
    }
    if (mt)
        v->max_token = (size_t)json_integer_value(mt);
    if (json_is_boolean(json_object_get(d, "require_exp")))
        v->require_exp = json_is_true(json_object_get(d, "require_exp"));
    const char *rc = json_string_value(json_object_get(d, "roles_claim"));
    const char *sc = json_string_value(json_object_get(d, "scope_claim"));
    v->roles_claim = strdup(rc ? rc : "roles");
    v->scope_claim = strdup(sc ? sc : "scope");
    if (!v->roles_claim || !v->scope_claim)
        goto oom;
    return v;
oom:
    forge_error_set(err, FORGE_ENOMEM, "out of memory");
fail:
    forge_jwt_verifier_free(v);
    return NULL;
}

forge__sec_keyset *forge__jwt_keys(forge_jwt_verifier *v)
{
    pthread_mutex_lock(&v->mu);
    forge__sec_keyset *ks = v->keys;
    atomic_fetch_add(&ks->refs, 1);
    pthread_mutex_unlock(&v->mu);
    return ks;
}

void forge__jwt_set_keys(forge_jwt_verifier *v, forge__sec_keyset *ks)
{
    pthread_mutex_lock(&v->mu);
    forge__sec_keyset *old = v->keys;
    v->keys = ks;
    pthread_mutex_unlock(&v->mu);
    forge__sec_keyset_unref(old);
}

/* ---- signatures ---- */

static size_t ec_coord_len(int alg)
{
    return alg == SEC_ES256 ? 32 : 48;
}

/* One DER INTEGER from a big-endian unsigned number: minimal, with a leading 0 when the
 * top bit is set. Writes at most n + 3 bytes. */
static size_t der_uint(const unsigned char *p, size_t n, unsigned char *out)
{
    while (n > 1 && p[0] == 0) {
        p++;
        n--;
    }
    size_t pad = (p[0] & 0x80) ? 1 : 0;
    out[0] = 0x02;
    out[1] = (unsigned char)(n + pad);
    out[2] = 0;
    memcpy(out + 2 + pad, p, n);
    return 2 + pad + n;
}

/* JOSE r||s (clen bytes each, clen <= 48) as the DER ECDSA-Sig-Value OpenSSL verifies, in
 * out (at least 2 * clen + 8 bytes). Hand-written (ADR 0104): every length fits the
 * short form, and it saves the BIGNUM and ECDSA_SIG allocations of i2d_ECDSA_SIG. */
static size_t ecdsa_raw_to_der(const unsigned char *sig, size_t clen, unsigned char *out)
{
    size_t n = der_uint(sig, clen, out + 2);
    n += der_uint(sig + clen, clen, out + 2 + n);
    out[0] = 0x30;
    out[1] = (unsigned char)n;
    return n + 2;
}

static bool verify_sig(const forge__sec_key *k, int alg, const char *input, size_t n,
                       const unsigned char *sig, size_t siglen)
{
    unsigned char der[2 * 48 + 8];
    if (k->kty == SEC_KTY_EC256 || k->kty == SEC_KTY_EC384) {
        size_t cl = ec_coord_len(alg);
        if (siglen != 2 * cl)
            return false;
        siglen = ecdsa_raw_to_der(sig, cl, der);
        sig = der;
    }
    return forge__jwt_check_sig(k, alg, input, n, sig, siglen);
}

/* ---- verification ---- */

static json_t *decode_json(const char *p, size_t n, unsigned char *scratch)
{
    long len = forge__b64url_decode(p, n, scratch);
    if (len <= 0)
        return NULL;
    json_t *j = json_loadb((const char *)scratch, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* What verification needs of a JOSE header. */
typedef struct jose_header {
    size_t n;                    /* length of the base64url text in b64 (0: empty entry) */
    char b64[HEADER_CACHE_TEXT]; /* the header as it appeared in the token */
    int alg;                     /* forge__sec_alg_parse of "alg": -1 if absent or unknown */
    bool crit, has_kid, kid_bad; /* "crit" present; "kid" a string; "kid" not a string */
    const char *kid;             /* has_kid: up to its first NUL, as strcmp sees it */
    char kidbuf[HEADER_CACHE_KID + 1];
} jose_header;

/* Headers recently parsed by this thread, by their exact base64url text (ADR 0104): an
 * issuer's tokens share one header, so it is parsed once, not per request. Only headers
 * that decoded to a JSON object are kept, and the entry holds what that parse said, so a
 * hit answers exactly as parsing again would. No heap, nothing to free. */
static _Thread_local jose_header header_cache[HEADER_CACHE_N];
static _Thread_local unsigned header_next;
static _Thread_local jose_header header_tmp; /* a header too long to keep */

/* The header of a token; NULL if it is not base64url of a JSON object. A header too long to
 * keep is parsed into *hold, which the caller releases after the last use of kid. */
static const jose_header *header_of(const char *p, size_t n, unsigned char *scratch, json_t **hold)
{
    bool keep = n < HEADER_CACHE_TEXT;
    for (size_t i = 0; keep && i < HEADER_CACHE_N; i++)
        if (header_cache[i].n == n && memcmp(header_cache[i].b64, p, n) == 0)
            return &header_cache[i];
    json_t *j = decode_json(p, n, scratch);
    if (!j)
        return NULL;
    const json_t *kid = json_object_get(j, "kid");
    const char *ks = json_string_value(kid);
    jose_header *h = keep ? &header_cache[header_next++ % HEADER_CACHE_N] : &header_tmp;
    h->n = 0;
    h->alg = forge__sec_alg_parse(json_string_value(json_object_get(j, "alg")));
    h->crit = json_object_get(j, "crit") != NULL;
    h->has_kid = ks != NULL;
    h->kid_bad = kid && !ks;
    h->kid = NULL;
    if (!keep) {
        h->kid = ks;
        *hold = j;
        return h;
    }
    if (ks) { /* the decoded header is at most HEADER_CACHE_KID bytes: the kid fits */
        size_t kl = strnlen(ks, HEADER_CACHE_KID);
        memcpy(h->kidbuf, ks, kl);
        h->kidbuf[kl] = '\0';
        h->kid = h->kidbuf;
    }
    json_decref(j);
    memcpy(h->b64, p, n);
    h->n = n;
    return h;
}

static bool is_num(const json_t *v)
{
    return json_is_integer(v) || json_is_real(v);
}

static int check_claims(forge_jwt_verifier *v, const json_t *c, int64_t now, forge_error *err)
{
    const json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf"),
                 *iat = json_object_get(c, "iat"), *sub = json_object_get(c, "sub");
    if ((exp && !is_num(exp)) || (nbf && !is_num(nbf)) || (iat && !is_num(iat)) ||
        (sub && !json_is_string(sub)))
        return forge_error_set(err, FORGE_EPARSE, "malformed registered claim");
    if (!exp && v->require_exp)
        return forge_error_set(err, FORGE_EPERM, "missing exp");
    double t = (double)now, lw = (double)v->leeway_s;
    if (exp && t >= json_number_value(exp) + lw)
        return forge_error_set(err, FORGE_ETIMEDOUT, "expired");
    if (nbf && t + lw < json_number_value(nbf))
        return forge_error_set(err, FORGE_ETIMEDOUT, "not yet valid (nbf)");
    if (iat && t + lw < json_number_value(iat))
        return forge_error_set(err, FORGE_ETIMEDOUT, "issued in the future (iat)");
    if (v->issuer) {
        const char *iss = json_string_value(json_object_get(c, "iss"));
        if (!iss || strcmp(iss, v->issuer) != 0)
            return forge_error_set(err, FORGE_EPERM, "wrong issuer");
    }
    if (v->naudience) {
        const json_t *aud = json_object_get(c, "aud");
        bool ok = false;
        for (size_t i = 0; i < v->naudience && !ok; i++) {
            if (json_is_string(aud))
                ok = strcmp(json_string_value(aud), v->audience[i]) == 0;
            for (size_t j = 0; json_is_array(aud) && j < json_array_size(aud) && !ok; j++) {
                const char *a = json_string_value(json_array_get(aud, j));
                ok = a && strcmp(a, v->audience[i]) == 0;
            }
        }
        if (!ok)
            return forge_error_set(err, FORGE_EPERM, "wrong audience");
    }
    for (size_t i = 0; i < v->nrequired; i++)
        if (!json_object_get(c, v->required[i]))
            return forge_error_set(err, FORGE_EPERM, "missing required claim %.64s",
                                   v->required[i]);
    return FORGE_OK;
}

int forge_jwt_verify(forge_jwt_verifier *v, const char *tok, size_t len, int64_t now,
                     json_t **claims, forge_error *err)
{
    *claims = NULL;
    if (len > v->max_token)
        return forge_error_set(err, FORGE_ETOOBIG, "token larger than %zu bytes", v->max_token);
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
        return forge_error_set(err, FORGE_EPARSE, "not a compact JWS (three parts)");
    if (now == 0)
        now = (int64_t)time(NULL);
    unsigned char stack[8192 * 3 / 4 + 4];
    unsigned char *scratch = len <= 8192 ? stack : malloc(len);
    if (!scratch)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    int rc = FORGE_OK;
    json_t *hold = NULL;
    const jose_header *h = header_of(tok, (size_t)(d1 - tok), scratch, &hold);
    forge__sec_keyset *ks = NULL;
    if (!h) {
        rc = forge_error_set(err, FORGE_EPARSE, "malformed header (base64url or JSON)");
        goto out;
    }
    int alg = h->alg;
    if (alg < 0 || !(v->algs & (1u << alg))) {
        rc = forge_error_set(err, FORGE_EACCES, "algorithm not allowed");
        goto out;
    }
    if (h->crit) {
        rc = forge_error_set(err, FORGE_EPARSE, "unsupported crit header");
        goto out;
    }
    if (h->kid_bad) {
        rc = forge_error_set(err, FORGE_EPARSE, "malformed kid");
        goto out;
    }
    const char *kid = h->has_kid ? h->kid : NULL;
    long siglen = forge__b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), scratch);
    if (siglen <= 0) {
        rc = forge_error_set(err, FORGE_EPARSE, "malformed signature encoding");
        goto out;
    }
    ks = forge__jwt_keys(v);
    bool candidate = false, verified = false;
    forge__sec_kty kty = forge__sec_alg_kty(alg);
    for (size_t i = 0; i < ks->n && !verified; i++) {
        const forge__sec_key *k = &ks->v[i];
        if (k->kty != kty || (k->alg >= 0 && k->alg != alg))
            continue;
        if (kid && (!k->kid || strcmp(k->kid, kid) != 0))
            continue;
        candidate = true;
        verified = verify_sig(k, alg, tok, (size_t)(d2 - tok), scratch, (size_t)siglen);
    }
    if (!candidate) {
        if (kid && v->jwks_url)
            forge__jwks_kick(v);
        rc = forge_error_set(err, kid ? FORGE_ENOENT : FORGE_EACCES,
                             kid ? "unknown kid" : "no key for the algorithm");
        goto out;
    }
    if (!verified) {
        rc = forge_error_set(err, FORGE_EACCES, "bad signature");
        goto out;
    }
    json_t *c = decode_json(d1 + 1, (size_t)(d2 - d1 - 1), scratch);
    if (!c) {
        rc = forge_error_set(err, FORGE_EPARSE, "malformed payload (base64url or JSON object)");
        goto out;
    }
    rc = check_claims(v, c, now, err);
    if (rc)
        json_decref(c);
    else
        *claims = c;
out:
    forge__sec_keyset_unref(ks);
    json_decref(hold);
    if (scratch != stack)
        free(scratch);
    return rc;
}

/* ---- signing ---- */

static unsigned char *sign_bytes(int alg, const void *key, size_t key_len, const char *input,
                                 size_t n, size_t *out_len, forge_error *err)
{
    const EVP_MD *md = forge__sec_alg_md(alg);
    if (forge__sec_alg_kty(alg) == SEC_KTY_OCT) {
        unsigned char *mac = malloc(EVP_MAX_MD_SIZE);
        unsigned int ml = 0;
        if (!mac || !HMAC(md, key, (int)key_len, (const unsigned char *)input, n, mac, &ml)) {
            free(mac);
            forge_error_set(err, FORGE_EIO, "HMAC failed");
            return NULL;
        }
        *out_len = ml;
        return mac;
    }
    BIO *bio = BIO_new_mem_buf(key, (int)key_len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pk) {
        forge_error_set(err, FORGE_EINVAL, "not a PEM private key");
        return NULL;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = NULL;
    size_t sl = 0;
    bool ok = ctx && EVP_DigestSignInit(ctx, &pctx, md, NULL, pk) == 1;
    if (ok && forge__sec_alg_kty(alg) == SEC_KTY_RSA) {
        bool pss = alg >= SEC_PS256 && alg <= SEC_PS512;
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) ==
             1;
        if (ok && pss)
            ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    ok = ok && EVP_DigestSign(ctx, NULL, &sl, (const unsigned char *)input, n) == 1 &&
         (sig = malloc(sl)) && EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)input, n) == 1;
    if (ok && (alg == SEC_ES256 || alg == SEC_ES384)) {
        size_t cl = ec_coord_len(alg);
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
        unsigned char *raw = malloc(2 * cl);
        ok = es && raw && BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)cl) == (int)cl &&
             BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + cl, (int)cl) == (int)cl;
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        sl = 2 * cl;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    if (!ok) {
        free(sig);
        forge_error_set(err, FORGE_EINVAL, "signing failed (does the key fit the algorithm?)");
        return NULL;
    }
    *out_len = sl;
    return sig;
}

char *forge_jwt_sign(const char *algs, const void *key, size_t key_len, const char *kid,
                     const json_t *claims, forge_error *err)
{
    int alg = forge__sec_alg_parse(algs);
    if (alg < 0 || !key || !json_is_object(claims)) {
        forge_error_set(err, FORGE_EINVAL, "jwt sign: unknown algorithm, no key or no claims");
        return NULL;
    }
    json_t *h = json_pack("{s:s, s:s}", "alg", forge__sec_alg_name(alg), "typ", "JWT");
    if (kid)
        json_object_set_new(h, "kid", json_string(kid));
    char *hs = json_dumps(h, JSON_COMPACT), *cs = json_dumps(claims, JSON_COMPACT);
    json_decref(h);
    char *out = NULL;
    if (hs && cs) {
        size_t hl = strlen(hs), cl = strlen(cs);
        out = malloc((hl + cl) * 2 + 1024);
        if (out) {
            size_t n = forge__b64url_encode((unsigned char *)hs, hl, out);
            out[n++] = '.';
            n += forge__b64url_encode((unsigned char *)cs, cl, out + n);
            size_t sl = 0;
            unsigned char *sig = sign_bytes(alg, key, key_len, out, n, &sl, err);
            if (sig && sl <= 700) {
                out[n++] = '.';
                forge__b64url_encode(sig, sl, out + n);
            } else {
                free(out);
                out = NULL;
            }
            free(sig);
        }
    }
    free(hs);
    free(cs);
    return out;
}
