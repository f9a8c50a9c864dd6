/*
 * Verification keys: JWK / JWKS documents (RFC 7517/7518/8037) and PEM
 * files, turned into OpenSSL 3 EVP_PKEYs (or raw secrets for HMAC), each
 * tagged with the only key type it may be used for. An RSA, EC or OKP key can
 * never serve as an HMAC secret: that is what rules out the "HS256 signed
 * with the RSA public key" confusion, whatever a token's header says.
 */
#include "sec_impl.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIN_RSA_BITS   2048
#define MIN_HMAC_BYTES 32

static const char *const alg_names[SEC_ALG_COUNT] = {
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
};

int forge__sec_alg_parse(const char *s)
{
    for (int i = 0; s && i < SEC_ALG_COUNT; i++)
        if (strcmp(s, alg_names[i]) == 0)
            return i;
    return -1;
}

const char *forge__sec_alg_name(int alg)
{
    return alg >= 0 && alg < SEC_ALG_COUNT ? alg_names[alg] : "?";
}

forge__sec_kty forge__sec_alg_kty(int alg)
{
    switch (alg) {
    case SEC_HS256:
    case SEC_HS384:
    case SEC_HS512:
        return SEC_KTY_OCT;
    case SEC_ES256:
        return SEC_KTY_EC256;
    case SEC_ES384:
        return SEC_KTY_EC384;
    case SEC_EDDSA:
        return SEC_KTY_ED25519;
    default:
        return SEC_KTY_RSA;
    }
}

forge__sec_keyset *forge__sec_keyset_new(void)
{
    forge__sec_keyset *ks = calloc(1, sizeof(*ks));
    if (ks)
        atomic_init(&ks->refs, 1);
    return ks;
}

static void key_clear(forge__sec_key *k)
{
    free(k->kid);
    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof(*k));
}

void forge__sec_keyset_unref(forge__sec_keyset *ks)
{
    if (!ks || atomic_fetch_sub(&ks->refs, 1) != 1)
        return;
    for (size_t i = 0; i < ks->n; i++)
        key_clear(&ks->v[i]);
    free(ks->v);
    free(ks);
}

int forge__sec_keyset_add(forge__sec_keyset *ks, forge__sec_key *k)
{
    forge__sec_key *v = realloc(ks->v, (ks->n + 1) * sizeof(*v));
    if (!v) {
        key_clear(k);
        return FORGE_ENOMEM;
    }
    static atomic_uint_fast64_t serials;
    ks->v = v;
    k->serial = atomic_fetch_add(&serials, 1) + 1;
    ks->v[ks->n++] = *k;
    memset(k, 0, sizeof(*k));
    return FORGE_OK;
}

/* A base64url member of a JWK, decoded into a malloc'd buffer. */
static unsigned char *member_b64(const json_t *jwk, const char *name, size_t *len)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (!s)
        return NULL;
    size_t n = strlen(s);
    unsigned char *out = malloc(n * 3 / 4 + 2);
    if (!out)
        return NULL;
    long r = forge__b64url_decode(s, n, out);
    if (r <= 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)r;
    return out;
}

static EVP_PKEY *fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

static EVP_PKEY *rsa_from_jwk(const json_t *jwk)
{
    size_t nl = 0, el = 0;
    unsigned char *n = member_b64(jwk, "n", &nl), *e = member_b64(jwk, "e", &el);
    EVP_PKEY *pk = NULL;
    BIGNUM *bn = n ? BN_bin2bn(n, (int)nl, NULL) : NULL,
           *be = e ? BN_bin2bn(e, (int)el, NULL) : NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
        OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(bld);
        if (p)
            pk = fromdata("RSA", p);
        OSSL_PARAM_free(p);
    }
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pk;
}

static EVP_PKEY *ec_from_jwk(const json_t *jwk, forge__sec_kty *kty)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    size_t clen;
    const char *group;
    if (crv && strcmp(crv, "P-256") == 0) {
        clen = 32;
        group = "prime256v1";
        *kty = SEC_KTY_EC256;
    } else if (crv && strcmp(crv, "P-384") == 0) {
        clen = 48;
        group = "secp384r1";
        *kty = SEC_KTY_EC384;
    } else {
        return NULL;
    }
    size_t xl = 0, yl = 0;
    unsigned char *x = member_b64(jwk, "x", &xl), *y = member_b64(jwk, "y", &yl);
    EVP_PKEY *pk = NULL;
    if (x && y && xl == clen && yl == clen) {
        unsigned char pub[1 + 2 * 48];
        pub[0] = 0x04;
        memcpy(pub + 1, x, clen);
        memcpy(pub + 1 + clen, y, clen);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * clen),
            OSSL_PARAM_construct_end(),
        };
        pk = fromdata("EC", params); /* refuses points not on the curve */
    }
    free(x);
    free(y);
    return pk;
}

/* The key type of a parsed public key, or -1 when it is not one we verify with. */
static int pkey_kty(EVP_PKEY *pk)
{
    int id = EVP_PKEY_get_base_id(pk);
    if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS)
        return EVP_PKEY_get_bits(pk) >= MIN_RSA_BITS ? SEC_KTY_RSA : -2;
    if (id == EVP_PKEY_ED25519)
        return SEC_KTY_ED25519;
    if (id == EVP_PKEY_EC) {
        char g[64];
        size_t gl = 0;
        if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g), &gl) != 1)
            return -1;
        if (strcmp(g, "prime256v1") == 0 || strcmp(g, "P-256") == 0)
            return SEC_KTY_EC256;
        if (strcmp(g, "secp384r1") == 0 || strcmp(g, "P-384") == 0)
            return SEC_KTY_EC384;
    }
    return -1;
}

static int check_alg_kty(int alg, forge__sec_kty kty, const char *what, forge_error *err)
{
    if (alg >= 0 && forge__sec_alg_kty(alg) != kty)
        return forge_error_set(err, FORGE_ECONFIG, "%s: the key does not fit algorithm %s", what,
                               forge__sec_alg_name(alg));
    return FORGE_OK;
}

static int add_one_jwk(forge__sec_keyset *ks, const json_t *jwk, const char *what, forge_error *err)
{
    if (!json_is_object(jwk))
        return forge_error_set(err, FORGE_ECONFIG, "%s: a JWK must be an object", what);
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const char *algs = json_string_value(json_object_get(jwk, "alg"));
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    if (use && strcmp(use, "sig") != 0)
        return FORGE_OK; /* an encryption key in a shared JWKS: not ours to use */
    int alg = -1;
    if (algs && (alg = forge__sec_alg_parse(algs)) < 0)
        return forge_error_set(err, FORGE_ECONFIG, "%s: unsupported alg \"%.32s\"", what, algs);
    forge__sec_key k = {.alg = alg};
    if (!kty)
        return forge_error_set(err, FORGE_ECONFIG, "%s: a JWK needs \"kty\"", what);
    if (strcmp(kty, "oct") == 0) {
        k.kty = SEC_KTY_OCT;
        k.secret = member_b64(jwk, "k", &k.secret_len);
        if (!k.secret || k.secret_len < MIN_HMAC_BYTES) {
            key_clear(&k);
            return forge_error_set(err, FORGE_ECONFIG,
                                   "%s: an oct JWK needs \"k\" of at least %d bytes", what,
                                   MIN_HMAC_BYTES);
        }
    } else if (strcmp(kty, "RSA") == 0) {
        k.kty = SEC_KTY_RSA;
        k.pkey = rsa_from_jwk(jwk);
    } else if (strcmp(kty, "EC") == 0) {
        k.pkey = ec_from_jwk(jwk, &k.kty);
    } else if (strcmp(kty, "OKP") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        size_t xl = 0;
        unsigned char *x = crv && strcmp(crv, "Ed25519") == 0 ? member_b64(jwk, "x", &xl) : NULL;
        k.kty = SEC_KTY_ED25519;
        if (x && xl == 32)
            k.pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
        free(x);
    } else {
        return forge_error_set(err, FORGE_ECONFIG, "%s: unsupported kty \"%.16s\"", what, kty);
    }
    if (k.kty != SEC_KTY_OCT && (!k.pkey || pkey_kty(k.pkey) != (int)k.kty)) {
        key_clear(&k);
        return forge_error_set(err, FORGE_ECONFIG,
                               "%s: invalid %s JWK (missing or malformed members, a point not on "
                               "the curve, or an RSA key under %d bits)",
                               what, kty, MIN_RSA_BITS);
    }
    int rc = check_alg_kty(alg, k.kty, what, err);
    if (rc) {
        key_clear(&k);
        return rc;
    }
    if (kid && !(k.kid = strdup(kid))) {
        key_clear(&k);
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    }
    return forge__sec_keyset_add(ks, &k) ? forge_error_set(err, FORGE_ENOMEM, "out of memory") : 0;
}

int forge__sec_keyset_add_jwk(forge__sec_keyset *ks, const json_t *jwk, const char *what,
                              forge_error *err)
{
    const json_t *keys = json_object_get(jwk, "keys");
    if (!keys)
        return add_one_jwk(ks, jwk, what, err);
    if (!json_is_array(keys))
        return forge_error_set(err, FORGE_ECONFIG, "%s: \"keys\" must be a list", what);
    for (size_t i = 0; i < json_array_size(keys); i++) {
        char sub[FORGE_ERROR_KEY_MAX];
        snprintf(sub, sizeof(sub), "%.200s keys[%zu]", what, i);
        int rc = add_one_jwk(ks, json_array_get(keys, i), sub, err);
        if (rc)
            return rc;
    }
    return FORGE_OK;
}

int forge__sec_keyset_add_pem(forge__sec_keyset *ks, const char *pem, size_t len, const char *kid,
                              int alg, const char *what, forge_error *err)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!pk) {
        BIO_reset(bio);
        pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    if (!pk)
        return forge_error_set(err, FORGE_ECONFIG, "%s: not a PEM public or private key", what);
    int kty = pkey_kty(pk);
    if (kty < 0) {
        EVP_PKEY_free(pk);
        return forge_error_set(err, FORGE_ECONFIG,
                               kty == -2 ? "%s: RSA keys need at least 2048 bits"
                                         : "%s: unsupported key type (RSA, P-256, P-384, Ed25519)",
                               what);
    }
    forge__sec_key k = {.alg = alg, .kty = (forge__sec_kty)kty, .pkey = pk};
    int rc = check_alg_kty(alg, k.kty, what, err);
    if (!rc && kid && !(k.kid = strdup(kid)))
        rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
    if (rc) {
        key_clear(&k);
        return rc;
    }
    return forge__sec_keyset_add(ks, &k) ? forge_error_set(err, FORGE_ENOMEM, "out of memory") : 0;
}

int forge__sec_read_file(const char *path, size_t max, char **out, size_t *len, forge_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return forge_error_set(err, FORGE_ENOENT, "cannot open %.300s", path);
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool bad = ferror(f);
    fclose(f);
    if (!buf)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    if (bad || n > max) {
        free(buf);
        return forge_error_set(err, bad ? FORGE_EIO : FORGE_ETOOBIG, "%.300s: %s", path,
                               bad ? "read error" : "file too large");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return FORGE_OK;
}

char *forge__sec_path(const char *base_dir, const char *path)
{
    if (path[0] == '/' || !base_dir || !*base_dir)
        return strdup(path);
    size_t a = strlen(base_dir), b = strlen(path);
    char *s = malloc(a + b + 2);
    if (s) {
        memcpy(s, base_dir, a);
        s[a] = '/';
        memcpy(s + a + 1, path, b + 1);
    }
    return s;
}
