/*
 * Encrypted config values: AES-256-GCM (OpenSSL EVP), ADR 0101.
 *
 *   ${enc:v1:<base64(kid[4] | nonce[12] | ciphertext | tag[16])>}
 *
 * kid is the first 4 bytes of SHA-256("forge-secret-key" || key): it lets a
 * wrong key be told from a tampered value, and names keys in messages without
 * revealing anything usable about them. The additional authenticated data is
 * "forge-enc:v1:" || kid, so the version and key id cannot be swapped without
 * the tag failing. Nonces are random (96 bits): with one key, keep well under
 * 2^32 encryptions (config secrets are a handful).
 *
 * Thread safety: every function works on its arguments only.
 */
#include "sec_impl.h"
#include "sec_secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KID_LEN   4
#define NONCE_LEN 12
#define TAG_LEN   16
#define PLAIN_MAX (48u * 1024u)
#define AAD_PFX   "forge-enc:v1:"

static void hex4(const unsigned char id[KID_LEN], char out[9])
{
    snprintf(out, 9, "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
}

void forge_secret_key_wipe(forge_secret_key *key)
{
    if (key)
        OPENSSL_cleanse(key->k, sizeof(key->k));
}

int forge_secret_key_parse(const char *b64, size_t n, const char *what, forge_secret_key *out,
                           forge_error *err)
{
    if (!b64 || !out)
        return forge_error_set(err, FORGE_EINVAL, "secrets key: no text or output");
    while (n && (b64[n - 1] == '\n' || b64[n - 1] == '\r' || b64[n - 1] == ' '))
        n--;
    while (n && (*b64 == ' ' || *b64 == '\n')) {
        b64++;
        n--;
    }
    unsigned char raw[48];
    long got = n == 44 ? forge__b64_decode(b64, n, raw) : -1;
    if (got != 32) {
        OPENSSL_cleanse(raw, sizeof(raw));
        return forge_error_set(err, FORGE_ECONFIG,
                               "secrets key from %.280s: expected the base64 of 32 bytes (44 "
                               "characters, from `forge secret keygen`)",
                               what ? what : "?");
    }
    memcpy(out->k, raw, 32);
    OPENSSL_cleanse(raw, sizeof(raw));
    unsigned char d[SHA256_DIGEST_LENGTH], buf[16 + 32];
    memcpy(buf, "forge-secret-key", 16);
    memcpy(buf + 16, out->k, 32);
    SHA256(buf, sizeof(buf), d);
    OPENSSL_cleanse(buf, sizeof(buf));
    memcpy(out->id, d, KID_LEN);
    snprintf(out->source, sizeof(out->source), "%s", what ? what : "?");
    return FORGE_OK;
}

static int key_from_file(const char *path, const char *what, forge_secret_key *out,
                         forge_error *err)
{
    char *text = NULL;
    size_t len = 0;
    char src[300];
    snprintf(src, sizeof(src), "%s %.250s", what, path);
    forge_error ferr;
    forge_error_clear(&ferr);
    if (forge__sec_read_file(path, 4096, &text, &len, &ferr) < 0)
        return forge_error_set(err, FORGE_ECONFIG, "secrets key (%s): %s", what, ferr.message);
    int rc = forge_secret_key_parse(text, len, src, out, err);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

static int key_from_env(const char *var, const char *what, forge_secret_key *out, forge_error *err)
{
    const char *v = getenv(var);
    char src[300];
    snprintf(src, sizeof(src), "%s%s%.200s", what ? what : "", what ? " " : "", var);
    if (!v || !*v)
        return forge_error_set(err, FORGE_ENOENT, "secrets key: variable %.200s is not set", var);
    return forge_secret_key_parse(v, strlen(v), src, out, err);
}

int forge_secret_key_load(const char *key_file, const char *key_env, forge_secret_key *out,
                          forge_error *err)
{
    if (!out)
        return forge_error_set(err, FORGE_EINVAL, "secrets key: no output");
    memset(out, 0, sizeof(*out));
    if (key_file && *key_file)
        return key_from_file(key_file, "secrets.key_file", out, err);
    if (key_env && *key_env)
        return key_from_env(key_env, "secrets.key_env", out, err);
    const char *f = getenv("FORGE_SECRETS_KEY_FILE");
    if (f && *f)
        return key_from_file(f, "FORGE_SECRETS_KEY_FILE", out, err);
    if (getenv("FORGE_SECRETS_KEY"))
        return key_from_env("FORGE_SECRETS_KEY", NULL, out, err);
    return forge_error_set(err, FORGE_ENOENT,
                           "no secrets key: set secrets.key_file or secrets.key_env in the "
                           "config, or FORGE_SECRETS_KEY_FILE or FORGE_SECRETS_KEY");
}

int forge_secret_keygen(char *out, size_t cap, forge_error *err)
{
    unsigned char raw[32];
    if (!out || cap < 45)
        return forge_error_set(err, FORGE_EINVAL, "secret keygen: output needs 45 bytes");
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return forge_error_set(err, FORGE_EIO, "secret keygen: no randomness (RAND_bytes)");
    forge__b64_encode(raw, sizeof(raw), out);
    OPENSSL_cleanse(raw, sizeof(raw));
    return FORGE_OK;
}

/* AES-256-GCM one shot. enc: 1 encrypt, 0 decrypt (tag checked). Returns 0 or -1. */
static int gcm(int enc, const unsigned char *key, const unsigned char *nonce,
               const unsigned char *aad, size_t aadn, const unsigned char *in, size_t n,
               unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = c != NULL;
    ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
    ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1;
    ok = ok && EVP_CipherUpdate(c, NULL, &len, aad, (int)aadn) == 1;
    ok = ok && (n == 0 || EVP_CipherUpdate(c, out, &len, in, (int)n) == 1);
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + (n ? (size_t)len : 0), &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

static void aad_of(const unsigned char kid[KID_LEN], unsigned char aad[sizeof(AAD_PFX) - 1 + 4])
{
    memcpy(aad, AAD_PFX, sizeof(AAD_PFX) - 1);
    memcpy(aad + sizeof(AAD_PFX) - 1, kid, KID_LEN);
}

/* Config strings are UTF-8 without NUL: check before encrypting, so decrypting always loads. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (c == 0 || len == 0 || i + len > n || (len == 2 && c < 0xC2) || (c > 0xF4))
            return false;
        for (size_t j = 1; j < len; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        if (len == 3 && ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0)))
            return false;
        if (len == 4 && ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90)))
            return false;
        i += len;
    }
    return true;
}

char *forge_secret_encrypt(const forge_secret_key *key, const void *plain, size_t n,
                           forge_error *err)
{
    if (!key || (!plain && n)) {
        forge_error_set(err, FORGE_EINVAL, "secret encrypt: no key or input");
        return NULL;
    }
    if (n > PLAIN_MAX) {
        forge_error_set(err, FORGE_ETOOBIG, "secret encrypt: input over %u bytes", PLAIN_MAX);
        return NULL;
    }
    if (!utf8_ok(plain, n)) {
        forge_error_set(err, FORGE_EINVAL,
                        "secret encrypt: input must be UTF-8 text without NUL bytes (config "
                        "values are strings)");
        return NULL;
    }
    size_t rawn = KID_LEN + NONCE_LEN + n + TAG_LEN;
    unsigned char *raw = malloc(rawn);
    char *out = malloc(16 + 4 * ((rawn + 2) / 3) + 1);
    unsigned char aad[sizeof(AAD_PFX) - 1 + KID_LEN];
    if (!raw || !out) {
        free(raw);
        free(out);
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(raw, key->id, KID_LEN);
    aad_of(key->id, aad);
    if (RAND_bytes(raw + KID_LEN, NONCE_LEN) != 1 ||
        gcm(1, key->k, raw + KID_LEN, aad, sizeof(aad), plain, n, raw + KID_LEN + NONCE_LEN,
            raw + KID_LEN + NONCE_LEN + n) < 0) {
        free(raw);
        free(out);
        forge_error_set(err, FORGE_EIO, "secret encrypt: OpenSSL failed");
        return NULL;
    }
    size_t o = (size_t)sprintf(out, "${enc:v1:");
    o += forge__b64_encode(raw, rawn, out + o);
    memcpy(out + o, "}", 2);
    free(raw);
    return out;
}

int forge_secret_decrypt(const forge_secret_key *key, const char *value, size_t n, char **out,
                         size_t *out_len, forge_error *err)
{
    if (!key || !value || !out)
        return forge_error_set(err, FORGE_EINVAL, "secret decrypt: no key, value or output");
    *out = NULL;
    if (out_len)
        *out_len = 0;
    while (n && (value[n - 1] == '\n' || value[n - 1] == '\r' || value[n - 1] == ' '))
        n--;
    if (n >= 6 && memcmp(value, "${enc:", 6) == 0) {
        if (value[n - 1] != '}')
            return forge_error_set(err, FORGE_EPARSE, "encrypted value: missing closing }");
        value += 6;
        n -= 7;
    }
    if (n < 3 || memcmp(value, "v1:", 3) != 0)
        return forge_error_set(err, FORGE_EPARSE,
                               "encrypted value: unknown format (expected ${enc:v1:...}; this "
                               "Forge knows version v1)");
    value += 3;
    n -= 3;
    if (n > 4 * ((PLAIN_MAX + KID_LEN + NONCE_LEN + TAG_LEN + 2) / 3))
        return forge_error_set(err, FORGE_ETOOBIG, "encrypted value: too long");
    unsigned char *raw = malloc(n / 4 * 3 + 4);
    if (!raw)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    long rawn = forge__b64_decode(value, n, raw);
    if (rawn < KID_LEN + NONCE_LEN + TAG_LEN) {
        free(raw);
        return forge_error_set(err, FORGE_EPARSE, "encrypted value: %s",
                               rawn < 0 ? "not valid base64" : "too short (truncated?)");
    }
    char have[9], want[9];
    if (CRYPTO_memcmp(raw, key->id, KID_LEN) != 0) {
        hex4(raw, want);
        hex4(key->id, have);
        free(raw);
        return forge_error_set(err, FORGE_EACCES,
                               "encrypted with another key (value's key id %s; the key from "
                               "%.280s has id %s)",
                               want, key->source, have);
    }
    size_t cn = (size_t)rawn - KID_LEN - NONCE_LEN - TAG_LEN;
    char *plain = malloc(cn + 1);
    unsigned char aad[sizeof(AAD_PFX) - 1 + KID_LEN];
    aad_of(raw, aad);
    if (!plain) {
        free(raw);
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    }
    int bad = gcm(0, key->k, raw + KID_LEN, aad, sizeof(aad), raw + KID_LEN + NONCE_LEN, cn,
                  (unsigned char *)plain, raw + KID_LEN + NONCE_LEN + cn);
    free(raw);
    if (bad) {
        OPENSSL_cleanse(plain, cn + 1);
        free(plain);
        return forge_error_set(err, FORGE_EACCES,
                               "encrypted value fails authentication with the key from %.280s "
                               "(tampered or truncated)",
                               key->source);
    }
    plain[cn] = '\0';
    *out = plain;
    if (out_len)
        *out_len = cn;
    return FORGE_OK;
}

int forge__secret_open_ref(const char *ref, size_t n, const char *key_file, const char *key_env,
                           char **plain, size_t *len, forge_error *err)
{
    forge_secret_key key;
    int rc = forge_secret_key_load(key_file, key_env, &key, err);
    if (rc == 0)
        rc = forge_secret_decrypt(&key, ref, n, plain, len, err);
    forge_secret_key_wipe(&key);
    if (rc == 0 && (memchr(*plain, '\0', *len) || !utf8_ok((unsigned char *)*plain, *len))) {
        OPENSSL_cleanse(*plain, *len);
        free(*plain);
        *plain = NULL;
        rc = forge_error_set(err, FORGE_EPARSE, "encrypted value: plaintext is not UTF-8 text");
    }
    return rc;
}
