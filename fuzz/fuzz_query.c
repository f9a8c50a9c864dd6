/*
 * Fuzz query iteration and the decoding of what it yields.
 *
 * Checks: every key and value lies inside the input, contains no separator,
 * a key holds no '='; pairs come in input order without overlap and none is
 * empty; the number of pairs matches an independent count; decoding each
 * piece ('+' as space) either succeeds within its length or fails cleanly.
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
        fprintf(stderr, "fuzz_query: invariant broken: %s\n", what);
        abort();
    }
}

static bool has_sep(forge_str s)
{
    return memchr(s.p, '&', s.n) || memchr(s.p, ';', s.n);
}

static size_t count_pairs(const uint8_t *d, size_t n)
{
    size_t pairs = 0, run = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || d[i] == '&' || d[i] == ';') {
            pairs += run > 0;
            run = 0;
        } else {
            run++;
        }
    }
    return pairs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *q = (const char *)data, *end = q + size;
    forge_query_iter it;
    forge_query_iter_init(&it, q, size);
    forge_str k, v;
    const char *last = q;
    size_t pairs = 0;
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    while (forge_query_next(&it, &k, &v)) {
        pairs++;
        check(k.p >= last && k.p + k.n <= end, "key inside the input, in order");
        check(v.p >= k.p + k.n && v.p + v.n <= end, "value after its key, inside the input");
        check(k.n + v.n > 0 || v.p > k.p, "no empty pair");
        check(!has_sep(k) && !has_sep(v), "no separator inside");
        check(!memchr(k.p, '=', k.n), "no '=' in a key");
        last = v.p + v.n;
        long dk = forge_pct_decode(k.p, k.n, buf, size, true);
        long dv = forge_pct_decode(v.p, v.n, buf, size, true);
        check(dk <= (long)k.n && dv <= (long)v.n, "decoding never grows");
        check((dk >= 0 || dk == FORGE_EPARSE || dk == FORGE_EINVAL) &&
                  (dv >= 0 || dv == FORGE_EPARSE || dv == FORGE_EINVAL),
              "decoding fails only on bad escapes");
    }
    check(!forge_query_next(&it, &k, &v), "exhausted stays exhausted");
    check(pairs == count_pairs(data, size), "pair count");
    free(buf);
    return 0;
}
