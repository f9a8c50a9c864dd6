/*
 * API keys. Only the SHA-256 of each key is stored (config
 * `hash: "sha256:<hex>"`, made by `forge_apikey_hash` or
 * `printf %s KEY | sha256sum`). A presented key is hashed once and compared
 * with every stored hash with CRYPTO_memcmp, all of them, so the time taken
 * says nothing about which key, or how much of one, matched. API keys are
 * long random strings, so a fast unsalted hash is the right tool here (a
 * password hash would only slow every request down).
 */
#include "sec_impl.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int forge__apikey_parse_hash(const char *s, unsigned char out[32])
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
        return FORGE_EINVAL;
    s += 7;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return FORGE_EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return FORGE_OK;
}

int forge_apikey_hash(const char *key, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    if (!key || !out || cap < 72)
        return FORGE_EINVAL;
    unsigned char d[32];
    SHA256((const unsigned char *)key, len, d);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[d[i] >> 4];
        out[8 + 2 * i] = hex[d[i] & 15];
    }
    out[71] = '\0';
    return FORGE_OK;
}

const forge__apikey *forge__apikey_find(const forge__apikey *keys, size_t n, const char *key,
                                        size_t len)
{
    unsigned char d[32];
    SHA256((const unsigned char *)key, len, d);
    const forge__apikey *found = NULL;
    for (size_t i = 0; i < n; i++) {
        /* No early exit: every stored hash is compared. */
        bool eq = CRYPTO_memcmp(d, keys[i].hash, 32) == 0;
        if (eq && !found)
            found = &keys[i];
    }
    return found;
}
