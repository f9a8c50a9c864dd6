/*
 * Fuzz the JWT verifier with arbitrary tokens (the bytes after
 * "Authorization: Bearer "). Verifiers for HMAC and for an EC key (built
 * once) see the same input; the input may also be a whole token whose
 * signature is fixed up with the HMAC key when its first byte is '!', so
 * the claim checks behind the signature are reached too.
 */
#include "sec_impl.h"

#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "fuzzing-secret-fuzzing-secret-0123456789"

static forge_jwt_verifier *hs, *es;

static void init(void)
{
    json_t *d = json_pack("{s:[s,s], s:[{s:s}], s:s, s:s, s:i}", "algorithms", "HS256", "HS512",
                          "keys", "secret", SECRET, "issuer", "i", "audience", "a", "leeway_s", 5);
    hs = forge_jwt_verifier_new(d, NULL, NULL);
    json_decref(d);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *pem = strndup(p, (size_t)n);
    d = json_pack("{s:[s], s:[{s:s}]}", "algorithms", "ES256", "keys", "pem", pem);
    es = forge_jwt_verifier_new(d, NULL, NULL);
    json_decref(d);
    free(pem);
    BIO_free(b);
    EVP_PKEY_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!hs)
        init();
    if (!hs || !es)
        __builtin_trap(); /* the harness itself is broken */
    forge_error err;
    json_t *claims = NULL;
    if (size > 0 && data[0] == '!' && size < 4096) {
        /* header.payload, signed here */
        char *tok = malloc(size + 128);
        memcpy(tok, data + 1, size - 1);
        size_t n = size - 1;
        unsigned char mac[32];
        unsigned int ml = 0;
        HMAC(EVP_sha256(), SECRET, sizeof(SECRET) - 1, (unsigned char *)tok, n, mac, &ml);
        tok[n++] = '.';
        n += forge__b64url_encode(mac, ml, tok + n);
        if (forge_jwt_verify(hs, tok, n, 1700000000, &claims, &err) == 0)
            json_decref(claims);
        free(tok);
        return 0;
    }
    if (forge_jwt_verify(hs, (const char *)data, size, 1700000000, &claims, &err) == 0)
        json_decref(claims);
    if (forge_jwt_verify(es, (const char *)data, size, 1700000000, &claims, &err) == 0)
        json_decref(claims);
    return 0;
}
