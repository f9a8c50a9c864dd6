/*
 * Fuzz percent-decoding against a straightforward reference, in both modes
 * ('+' as space or not), with every capacity class and in place.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forge/http.h>
#include <forge/error.h>

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_pct: invariant broken: %s\n", what);
        abort();
    }
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The reference: returns the decoded length or the error, output in out (n bytes). */
static long reference(const uint8_t *in, size_t n, uint8_t *out, bool plus)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '%') {
            if (n - i < 3)
                return FORGE_EPARSE;
            int hi = hexv(in[i + 1]), lo = hexv(in[i + 2]);
            if (hi < 0 || lo < 0)
                return FORGE_EPARSE;
            if (hi == 0 && lo == 0)
                return FORGE_EINVAL;
            out[o++] = (uint8_t)(hi * 16 + lo);
            i += 2;
        } else if (in[i] == 0) {
            return FORGE_EINVAL;
        } else {
            out[o++] = (plus && in[i] == '+') ? ' ' : in[i];
        }
    }
    return (long)o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *want = malloc(size + 1), *got = malloc(size + 1), *inplace = malloc(size + 1);
    if (!want || !got || !inplace)
        abort();
    for (int plus = 0; plus < 2; plus++) {
        long w = reference(data, size, want, plus);
        long g = forge_pct_decode((const char *)data, size, (char *)got, size, plus);
        check(g == w, "same result as the reference");
        if (w >= 0) {
            check((size_t)w <= size, "never grows");
            check(memcmp(want, got, (size_t)w) == 0, "same bytes as the reference");
            if (w > 0) {
                long t =
                    forge_pct_decode((const char *)data, size, (char *)got, (size_t)w - 1, plus);
                check(t == FORGE_ETOOBIG, "one byte short is too big");
            }
            long e = forge_pct_decode((const char *)data, size, (char *)got, (size_t)w, plus);
            check(e == w, "exact capacity fits");
        } else {
            long t = forge_pct_decode((const char *)data, size, (char *)got, 0, plus);
            check(t == w, "malformed input reported whatever the capacity");
        }
        if (size)
            memcpy(inplace, data, size);
        long ip = forge_pct_decode((char *)inplace, size, (char *)inplace, size, plus);
        check(ip == w && (w < 0 || memcmp(inplace, want, (size_t)w) == 0), "in place");
    }
    free(want);
    free(got);
    free(inplace);
    return 0;
}
