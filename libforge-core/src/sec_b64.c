/*
 * Base64url (RFC 4648 section 5) for JOSE, strict: no padding, no
 * whitespace, no characters outside the alphabet, a length that is not 1
 * modulo 4, and zero bits after the last byte, so every token has exactly
 * one encoding. Standard base64 (with padding) for stored secrets.
 */
#include "sec_impl.h"

#include <pthread.h>
#include <string.h>

static const char url_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char std_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of each byte in the two alphabets, -1 outside; built from the alphabets once. */
static signed char url_val[256], std_val[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    memset(url_val, -1, sizeof(url_val));
    memset(std_val, -1, sizeof(std_val));
    for (int i = 0; i < 64; i++) {
        url_val[(unsigned char)url_abc[i]] = (signed char)i;
        std_val[(unsigned char)std_abc[i]] = (signed char)i;
    }
}

static long decode(const char *in, size_t n, unsigned char *out, bool url)
{
    if (n % 4 == 1)
        return -1;
    pthread_once(&tables_once, build_tables);
    const signed char *t = url ? url_val : std_val;
    size_t o = 0, i = 0;
    for (; i + 4 <= n; i += 4) { /* whole quanta: 24 bits, 3 bytes */
        int a = t[(unsigned char)in[i]], b = t[(unsigned char)in[i + 1]],
            c = t[(unsigned char)in[i + 2]], d = t[(unsigned char)in[i + 3]];
        if ((a | b | c | d) < 0)
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    uint32_t acc = 0;
    int bits = 0;
    for (; i < n; i++) {
        int v = t[(unsigned char)in[i]];
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical trailing bits */
        return -1;
    return (long)o;
}

long forge__b64url_decode(const char *in, size_t n, unsigned char *out)
{
    return decode(in, n, out, true);
}

long forge__b64_decode(const char *in, size_t n, unsigned char *out)
{
    size_t pad = 0;
    while (n > 0 && in[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (pad && (n + pad) % 4 != 0)
        return -1;
    return decode(in, n, out, false);
}

static size_t encode(const unsigned char *in, size_t n, char *out, const char *abc, bool pad)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = abc[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t forge__b64url_encode(const unsigned char *in, size_t n, char *out)
{
    return encode(in, n, out, url_abc, false);
}

size_t forge__b64_encode(const unsigned char *in, size_t n, char *out)
{
    return encode(in, n, out, std_abc, true);
}
