/*
 * JWT verification: every algorithm round-trips through forge_jwt_sign and
 * forge_jwt_verify with keys from PEM and from JWK/JWKS, and the negative
 * matrix is refused with the right reason: wrong signature, alg none, an
 * algorithm outside the verifier's list, HMAC keyed with the RSA public key,
 * expired, not yet valid, issued in the future, wrong issuer or audience,
 * missing required claims, malformed base64url and JSON, duplicate claims,
 * crit headers, unknown kid, oversized tokens.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sec_impl.h"

#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "0123456789abcdef0123456789abcdef-test-secret"

static EVP_PKEY *rsa, *ec256, *ec384, *ed;
static char *rsa_priv, *rsa_pub, *ec256_priv, *ec256_pub, *ec384_priv, *ec384_pub, *ed_priv,
    *ed_pub;

static char *pem_of(EVP_PKEY *k, bool priv)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (priv)
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(b, k);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static int setup(void **state)
{
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!rsa || !ec256 || !ec384 || !ed)
        return -1;
    rsa_priv = pem_of(rsa, true);
    rsa_pub = pem_of(rsa, false);
    ec256_priv = pem_of(ec256, true);
    ec256_pub = pem_of(ec256, false);
    ec384_priv = pem_of(ec384, true);
    ec384_pub = pem_of(ec384, false);
    ed_priv = pem_of(ed, true);
    ed_pub = pem_of(ed, false);
    return 0;
}

static int teardown(void **state)
{
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ed);
    free(rsa_priv);
    free(rsa_pub);
    free(ec256_priv);
    free(ec256_pub);
    free(ec384_priv);
    free(ec384_pub);
    free(ed_priv);
    free(ed_pub);
    return 0;
}

/* A verifier for HS256 + RS256 (the example's shape) plus options. */
static forge_jwt_verifier *verifier(const char *algs_json, json_t *keys, json_t *extra)
{
    json_error_t je;
    json_t *d = json_pack("{s:o, s:o, s:s, s:s, s:i, s:[s]}", "algorithms",
                          json_loads(algs_json, 0, &je), "keys", keys, "issuer", "iss-1",
                          "audience", "aud-1", "leeway_s", 5, "required_claims", "sub");
    if (extra)
        json_object_update(d, extra);
    json_decref(extra);
    forge_error err;
    forge_jwt_verifier *v = forge_jwt_verifier_new(d, NULL, &err);
    if (!v)
        print_message("verifier: %s\n", err.message);
    json_decref(d);
    return v;
}

static json_t *good_claims(void)
{
    int64_t now = (int64_t)time(NULL);
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:[s,s]}", "sub", "alice", "iss", "iss-1",
                     "aud", "aud-1", "exp", (json_int_t)(now + 600), "iat", (json_int_t)now, "nbf",
                     (json_int_t)(now - 10), "roles", "admin", "user");
}

static int verify(forge_jwt_verifier *v, const char *tok, forge_error *err)
{
    json_t *claims = NULL;
    forge_error_clear(err);
    int rc = forge_jwt_verify(v, tok, strlen(tok), 0, &claims, err);
    if (rc == 0) {
        assert_string_equal(json_string_value(json_object_get(claims, "sub")), "alice");
        json_decref(claims);
    }
    return rc;
}

static void roundtrip(const char *alg, const char *priv, const char *pub)
{
    json_t *keys = json_pack("[{s:s}]", "pem", pub);
    char algs[32];
    snprintf(algs, sizeof(algs), "[\"%s\"]", alg);
    forge_jwt_verifier *v = verifier(algs, keys, NULL);
    assert_non_null(v);
    json_t *c = good_claims();
    forge_error err;
    char *tok = forge_jwt_sign(alg, priv, strlen(priv), NULL, c, &err);
    assert_non_null(tok);
    assert_int_equal(verify(v, tok, &err), 0);
    /* Flip one bit of the signature's first byte: refused. */
    char *sig = strrchr(tok, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(v, tok, &err), FORGE_EACCES);
    assert_string_equal(err.message, "bad signature");
    free(tok);
    /* Another payload under the original signature: refused. */
    tok = forge_jwt_sign(alg, priv, strlen(priv), NULL, c, &err);
    json_object_set_new(c, "sub", json_string("mallory"));
    char *other = forge_jwt_sign(alg, priv, strlen(priv), NULL, c, &err);
    char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    char *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
    char forged[4096];
    snprintf(forged, sizeof(forged), "%.*s%.*s%s", (int)(d1 - tok), tok, (int)(o2 - o1), o1, d2);
    assert_int_equal(verify(v, forged, &err), FORGE_EACCES);
    free(tok);
    free(other);
    json_decref(c);
    forge_jwt_verifier_free(v);
}

static void test_all_algorithms(void **state)
{
    roundtrip("RS256", rsa_priv, rsa_pub);
    roundtrip("RS384", rsa_priv, rsa_pub);
    roundtrip("RS512", rsa_priv, rsa_pub);
    roundtrip("PS256", rsa_priv, rsa_pub);
    roundtrip("PS384", rsa_priv, rsa_pub);
    roundtrip("PS512", rsa_priv, rsa_pub);
    roundtrip("ES256", ec256_priv, ec256_pub);
    roundtrip("ES384", ec384_priv, ec384_pub);
    roundtrip("EdDSA", ed_priv, ed_pub);
}

static void test_hmac(void **state)
{
    const char *algs[] = {"HS256", "HS384", "HS512"};
    for (int i = 0; i < 3; i++) {
        char list[32];
        snprintf(list, sizeof(list), "[\"%s\"]", algs[i]);
        forge_jwt_verifier *v = verifier(list, json_pack("[{s:s}]", "secret", SECRET), NULL);
        assert_non_null(v);
        json_t *c = good_claims();
        forge_error err;
        char *tok = forge_jwt_sign(algs[i], SECRET, strlen(SECRET), NULL, c, &err);
        assert_int_equal(verify(v, tok, &err), 0);
        free(tok);
        tok = forge_jwt_sign(algs[i], "another secret of at least 32 bytes!!", 37, NULL, c, &err);
        assert_int_equal(verify(v, tok, &err), FORGE_EACCES);
        free(tok);
        json_decref(c);
        forge_jwt_verifier_free(v);
    }
}

/* The example's verifier: HS256 (kid hs) and RS256 (kid rs). */
static forge_jwt_verifier *mixed(void)
{
    return verifier("[\"HS256\", \"RS256\"]",
                    json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "kid", "hs", "alg", "HS256",
                              "secret", SECRET, "kid", "rs", "alg", "RS256", "pem", rsa_pub),
                    NULL);
}

/* header.payload.sig with raw JSON texts, HMAC-signed with `key` (NULL: empty signature). */
static char *raw_token(const char *hdr, const char *payload, const char *key)
{
    char *out = malloc(16384);
    size_t n = forge__b64url_encode((const unsigned char *)hdr, strlen(hdr), out);
    out[n++] = '.';
    n += forge__b64url_encode((const unsigned char *)payload, strlen(payload), out + n);
    out[n] = '\0';
    if (key) {
        unsigned char mac[64];
        unsigned int ml = 0;
        HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)out, n, mac, &ml);
        out[n++] = '.';
        forge__b64url_encode(mac, ml, out + n);
    } else {
        strcpy(out + n, ".");
    }
    return out;
}

static char *payload_text(json_t *c)
{
    char *s = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    return s;
}

static void test_negative_matrix(void **state)
{
    forge_jwt_verifier *v = mixed();
    assert_non_null(v);
    forge_error err;
    char *good = payload_text(good_claims());
    char *t;

    /* sanity: a raw HS256 token verifies */
    t = raw_token("{\"alg\":\"HS256\",\"kid\":\"hs\"}", good, SECRET);
    assert_int_equal(verify(v, t, &err), 0);
    free(t);

    /* alg none, with and without a signature part */
    t = raw_token("{\"alg\":\"none\"}", good, NULL);
    assert_int_equal(verify(v, t, &err), FORGE_EACCES);
    free(t);
    t = raw_token("{\"alg\":\"none\"}", good, SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EACCES);
    free(t);
    t = raw_token("{\"alg\":\"None\"}", good, SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EACCES);
    free(t);

    /* key confusion: HS256 keyed with the RSA public key's PEM text */
    t = raw_token("{\"alg\":\"HS256\"}", good, rsa_pub);
    assert_int_equal(verify(v, t, &err), FORGE_EACCES);
    free(t);
    t = raw_token("{\"alg\":\"HS256\",\"kid\":\"rs\"}", good, rsa_pub);
    assert_int_equal(verify(v, t, &err), FORGE_ENOENT); /* kid rs has no HMAC key */
    free(t);

    /* an algorithm outside the list */
    t = raw_token("{\"alg\":\"HS512\"}", good, SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EACCES);
    assert_string_equal(err.message, "algorithm not allowed");
    free(t);

    /* unknown kid, crit, malformed kid */
    t = raw_token("{\"alg\":\"HS256\",\"kid\":\"nope\"}", good, SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_ENOENT);
    free(t);
    t = raw_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", good, SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EPARSE);
    free(t);
    t = raw_token("{\"alg\":\"HS256\",\"kid\":7}", good, SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EPARSE);
    free(t);

    /* time: expired, not yet valid, issued in the future; leeway of 5 s honoured */
    int64_t now = (int64_t)time(NULL);
    struct {
        const char *claim;
        int64_t value;
        int rc;
    } times[] = {
        {"exp", now - 100, FORGE_ETIMEDOUT}, {"exp", now - 2, 0},
        {"nbf", now + 100, FORGE_ETIMEDOUT}, {"nbf", now + 2, 0},
        {"iat", now + 100, FORGE_ETIMEDOUT}, {"iat", now + 2, 0},
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        json_t *c = good_claims();
        json_object_set_new(c, times[i].claim, json_integer(times[i].value));
        char *p = payload_text(c);
        t = raw_token("{\"alg\":\"HS256\"}", p, SECRET);
        assert_int_equal(verify(v, t, &err), times[i].rc);
        free(t);
        free(p);
    }

    /* issuer, audience (string and list), required claims, exp required, claim types */
    struct {
        const char *key;
        json_t *value; /* NULL: delete */
        int rc;
    } claims[] = {
        {"iss", json_string("someone-else"), FORGE_EPERM},
        {"iss", NULL, FORGE_EPERM},
        {"aud", json_string("aud-2"), FORGE_EPERM},
        {"aud", json_pack("[s,s]", "x", "aud-1"), 0},
        {"aud", json_pack("[s]", "x"), FORGE_EPERM},
        {"aud", NULL, FORGE_EPERM},
        {"sub", NULL, FORGE_EPERM},
        {"sub", json_integer(5), FORGE_EPARSE},
        {"exp", NULL, FORGE_EPERM},
        {"exp", json_string("tomorrow"), FORGE_EPARSE},
    };
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        json_t *c = good_claims();
        if (claims[i].value)
            json_object_set_new(c, claims[i].key, claims[i].value);
        else
            json_object_del(c, claims[i].key);
        char *p = payload_text(c);
        t = raw_token("{\"alg\":\"HS256\"}", p, SECRET);
        assert_int_equal(verify(v, t, &err), claims[i].rc);
        free(t);
        free(p);
    }

    /* malformed: parts, base64url, JSON, duplicate keys, non-object payload */
    const char *bad[] = {
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        "eyJhbGciOiJIUzI1NiJ9=.e30.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.e30.A",
        "e30.e30.AAAA",
        "!!!.e30.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.e30.AA+A",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = verify(v, bad[i], &err);
        assert_true(rc == FORGE_EPARSE || rc == FORGE_EACCES);
    }
    t = raw_token("{\"alg\":\"HS256\",\"alg\":\"none\"}", good, SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EPARSE);
    free(t);
    t = raw_token("{\"alg\":\"HS256\"}", "{\"sub\":\"alice\",\"sub\":\"root\"}", SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EPARSE);
    free(t);
    t = raw_token("{\"alg\":\"HS256\"}", "[1,2]", SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EPARSE);
    free(t);
    t = raw_token("[\"HS256\"]", good, SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EPARSE);
    free(t);
    t = raw_token("{\"alg\":\"HS256\"}", "not json", SECRET);
    assert_int_equal(verify(v, t, &err), FORGE_EPARSE);
    free(t);

    /* oversized: over max_token_size (8 KiB by default) before any parsing */
    char *big = malloc(9000);
    memset(big, 'A', 8999);
    big[8999] = '\0';
    big[100] = '.';
    big[200] = '.';
    assert_int_equal(verify(v, big, &err), FORGE_ETOOBIG);
    free(big);
    free(good);
    forge_jwt_verifier_free(v);
}

static void test_config_refusals(void **state)
{
    forge_error err;
    json_error_t je;
    const char *bad[] = {
        "{\"algorithms\": [\"none\"], \"keys\": [{\"secret\": \"" SECRET "\"}]}",
        "{\"algorithms\": [], \"keys\": [{\"secret\": \"" SECRET "\"}]}",
        "{\"keys\": [{\"secret\": \"" SECRET "\"}]}",
        "{\"algorithms\": [\"HS256\"], \"keys\": [{\"secret\": \"short\"}]}",
        "{\"algorithms\": [\"HS256\", \"RS256\"], \"keys\": [{\"secret\": \"" SECRET "\"}]}",
        "{\"algorithms\": [\"HS256\"], \"keys\": [{\"secret\": \"" SECRET
        "\", \"alg\": \"RS256\"}]}",
        "{\"algorithms\": [\"HS256\"], \"keys\": [{\"secret\": \"" SECRET "\"}], \"bogus\": 1}",
        "{\"algorithms\": [\"HS256\"], \"keys\": [{\"jwk\": {\"kty\": \"oct\", \"k\": "
        "\"c2hvcnQ\"}}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *d = json_loads(bad[i], 0, &je);
        assert_non_null(d);
        forge_error_clear(&err);
        assert_null(forge_jwt_verifier_new(d, NULL, &err));
        assert_true(err.code != 0);
        assert_null(strstr(err.message, SECRET)); /* secrets never in messages */
        json_decref(d);
    }
    /* An RSA public key offered for HS256 only: no key fits. */
    json_t *d = json_pack("{s:[s], s:[{s:s}]}", "algorithms", "HS256", "keys", "pem", rsa_pub);
    assert_null(forge_jwt_verifier_new(d, NULL, &err));
    json_decref(d);
    /* A small RSA key is refused. */
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    char *sp = pem_of(small, false);
    d = json_pack("{s:[s], s:[{s:s}]}", "algorithms", "RS256", "keys", "pem", sp);
    assert_null(forge_jwt_verifier_new(d, NULL, &err));
    assert_non_null(strstr(err.message, "2048"));
    json_decref(d);
    free(sp);
    EVP_PKEY_free(small);
}

/* ---- JWK / JWKS ---- */

static char *b64url_bn(EVP_PKEY *k, const char *param)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    unsigned char buf[1024];
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    char *out = malloc(2048);
    forge__b64url_encode(buf, (size_t)n, out);
    return out;
}

static char *b64url_padded(EVP_PKEY *k, const char *param, int len)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    unsigned char buf[128];
    BN_bn2binpad(bn, buf, len);
    BN_free(bn);
    char *out = malloc(256);
    forge__b64url_encode(buf, (size_t)len, out);
    return out;
}

static void test_jwks(void **state)
{
    char *n = b64url_bn(rsa, OSSL_PKEY_PARAM_RSA_N), *e = b64url_bn(rsa, OSSL_PKEY_PARAM_RSA_E);
    char *x = b64url_padded(ec256, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    char *y = b64url_padded(ec256, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    unsigned char raw[32];
    size_t rl = sizeof(raw);
    EVP_PKEY_get_raw_public_key(ed, raw, &rl);
    char edx[64];
    forge__b64url_encode(raw, rl, edx);
    json_t *jwks = json_pack("{s:[{s:s,s:s,s:s,s:s,s:s}, {s:s,s:s,s:s,s:s,s:s}, {s:s,s:s,s:s,s:s}, "
                             "{s:s,s:s,s:s}]}",
                             "keys", "kty", "RSA", "kid", "r1", "use", "sig", "n", n, "e", e, "kty",
                             "EC", "kid", "e1", "crv", "P-256", "x", x, "y", y, "kty", "OKP", "kid",
                             "d1", "crv", "Ed25519", "x", edx, "kty", "RSA", "use", "enc", "n", n);
    forge_jwt_verifier *v = verifier("[\"RS256\", \"PS256\", \"ES256\", \"EdDSA\"]",
                                     json_pack("[{s:o}]", "jwk", jwks), NULL);
    assert_non_null(v);
    json_t *c = good_claims();
    forge_error err;
    struct {
        const char *alg, *kid, *priv;
        int rc;
    } cases[] = {
        {"RS256", "r1", rsa_priv, 0},
        {"PS256", "r1", rsa_priv, 0},
        {"ES256", "e1", ec256_priv, 0},
        {"EdDSA", "d1", ed_priv, 0},
        {"ES256", "r1", ec256_priv, FORGE_ENOENT}, /* kid of another key type */
        {"RS256", "e1", rsa_priv, FORGE_ENOENT},
        {"RS256", NULL, rsa_priv, 0}, /* no kid: every key of the right type is tried */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = forge_jwt_sign(cases[i].alg, cases[i].priv, strlen(cases[i].priv), cases[i].kid,
                                 c, &err);
        assert_non_null(t);
        assert_int_equal(verify(v, t, &err), cases[i].rc);
        free(t);
    }
    /* An EC point not on the curve is refused when loading. */
    json_t *bad = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", x);
    forge__sec_keyset *ks = forge__sec_keyset_new();
    assert_int_not_equal(forge__sec_keyset_add_jwk(ks, bad, "test", &err), 0);
    forge__sec_keyset_unref(ks);
    json_decref(bad);
    json_decref(c);
    forge_jwt_verifier_free(v);
    free(n);
    free(e);
    free(x);
    free(y);
}

static void test_b64url(void **state)
{
    unsigned char out[16];
    assert_int_equal(forge__b64url_decode("", 0, out), 0);
    assert_int_equal(forge__b64url_decode("QQ", 2, out), 1);
    assert_int_equal(out[0], 'A');
    assert_int_equal(forge__b64url_decode("QR", 2, out), -1); /* non-zero trailing bits */
    assert_int_equal(forge__b64url_decode("QQ==", 4, out), -1);
    assert_int_equal(forge__b64url_decode("Q", 1, out), -1);
    assert_int_equal(forge__b64url_decode("-_-_", 4, out), 3);
    assert_int_equal(forge__b64url_decode("+/+/", 4, out), -1);
    char enc[16];
    assert_int_equal(forge__b64url_encode((const unsigned char *)"\xfb\xff", 2, enc), 3);
    assert_string_equal(enc, "-_8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_all_algorithms),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_negative_matrix),
        cmocka_unit_test(test_config_refusals),
        cmocka_unit_test(test_jwks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
