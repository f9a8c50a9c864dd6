/*
 * Fuzz the router: build a router from the input, then look paths up.
 *
 * Input: lines separated by '\n'. A line's first byte picks the operation
 * and method: below 0x80 it adds the rest of the line as a pattern, from 0x80
 * it looks the rest up as a path; the method is the byte modulo
 * FORGE_METHOD_COUNT + 1 (so FORGE_METHOD_UNKNOWN is tried too).
 *
 * Beyond "never crashes" (ASan/UBSan), this checks invariants and aborts on
 * a violation: every successful lookup returns a registered value, the
 * pattern registered with it, well-formed NUL-terminated parameters inside
 * the buffer; a 405 carries a non-empty mask; a static pattern (no
 * parameter) looked up as a path with its method finds itself; walk and
 * count agree. And every lookup agrees with a brute-force reference matcher
 * (fuzz_router_ref.h): result code, value, allowed mask.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forge/router.h>

#define MAX_ROUTES 64
#define MAX_LINE   512

typedef struct rec {
    forge_method method;
    char pattern[MAX_LINE + 1];
} rec;

static rec recs[MAX_ROUTES];
static size_t nrecs;

static void check(int ok, const char *what);
#include "fuzz_router_ref.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_router: invariant broken: %s\n", what);
        abort();
    }
}

static bool is_static(const char *p)
{
    for (const char *s = p; *s; s++)
        if (s[0] == '/' && (s[1] == ':' || s[1] == '{' || s[1] == '*'))
            return false;
    return true;
}

static int lookup_checked(const forge_router *r, forge_method method, const char *path, size_t n)
{
    /* Exactly `n` bytes, on the heap so ASan sees any overrun: router.h promises it suffices. */
    char *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    forge_match m;
    m.buf = buf;
    m.cap = n;
    int rc = forge_router_lookup(r, method, path, n, &m);
    ref_result want = ref_lookup(recs, nrecs, method, path, n);
    if (rc != want.rc || (rc == FORGE_OK && m.value != want.value) ||
        ((rc == FORGE_OK || rc == FORGE_EMETHOD) && m.allowed != want.allowed)) {
        fprintf(stderr, "fuzz_router: %s '%.*s': router %s %p allowed %x, reference %s %p %x\n",
                forge_method_name(method), (int)n, path, forge_err_name(rc), m.value, m.allowed,
                forge_err_name(want.rc), want.value, want.allowed);
        check(0, "router agrees with the reference");
    }
    if (rc == FORGE_OK) {
        rec *v = m.value;
        check(v >= recs && v < recs + MAX_ROUTES, "value is a registered record");
        check(strcmp(m.pattern, v->pattern) == 0, "pattern belongs to the value");
        check(v->method == method ||
                  (method == FORGE_METHOD_HEAD && m.head_from_get && v->method == FORGE_METHOD_GET),
              "value registered for the method");
        check(m.nparams <= FORGE_ROUTER_MAX_PARAMS, "nparams bounded");
        for (unsigned i = 0; i < m.nparams; i++) {
            const forge_param *p = &m.params[i];
            check(p->name.n > 0, "parameter name non-empty");
            check(p->value.p >= buf && p->value.p + p->value.n < buf + n,
                  "value inside the buffer");
            check(p->value.p[p->value.n] == '\0', "value NUL-terminated");
            check(memchr(p->value.p, '\0', p->value.n) == NULL, "no NUL inside a value");
        }
    } else if (rc == FORGE_EMETHOD) {
        check(m.allowed != 0 && m.value == NULL && m.pattern != NULL, "405 has allowed methods");
    } else {
        check(rc == FORGE_ENOENT || rc == FORGE_EPARSE, "known result (a buffer of len suffices)");
        check(m.value == NULL && m.nparams == 0, "failure clears outputs");
    }
    free(buf);
    return rc;
}

static int count_visit(forge_method m, const char *pattern, void *value, void *udata)
{
    ++*(size_t *)udata;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    forge_router *r = forge_router_new();
    if (!r)
        return 0;
    size_t nrec = 0;
    nrecs = 0;
    const uint8_t *p = data, *end = data + size;
    /* pass 1: adds; pass 2: lookups (so lookups see the finished router) */
    for (int pass = 0; pass < 2; pass++) {
        for (p = data; p < end;) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            const uint8_t *le = nl ? nl : end;
            size_t n = (size_t)(le - p);
            if (n >= 1 && n <= MAX_LINE) {
                uint8_t op = p[0];
                forge_method method = (forge_method)(op % (FORGE_METHOD_COUNT + 1));
                if (pass == 0 && op < 0x80 && nrec < MAX_ROUTES) {
                    rec *rc = &recs[nrec];
                    memcpy(rc->pattern, p + 1, n - 1);
                    rc->pattern[n - 1] = '\0';
                    rc->method = method;
                    forge_error err;
                    if (forge_router_add(r, method, rc->pattern, rc, &err) == 0)
                        nrecs = ++nrec;
                    else
                        check(err.message[0] != '\0', "a refusal says why");
                } else if (pass == 1 && op >= 0x80) {
                    lookup_checked(r, method, (const char *)p + 1, n - 1);
                }
            }
            p = nl ? nl + 1 : end;
        }
    }
    for (size_t i = 0; i < nrec; i++) {
        int rc = lookup_checked(r, recs[i].method, recs[i].pattern, strlen(recs[i].pattern));
        if (is_static(recs[i].pattern))
            check(rc == FORGE_OK, "a static pattern finds itself");
    }
    size_t walked = 0;
    forge_router_walk(r, count_visit, &walked);
    check(walked == forge_router_count(r) && walked == nrec, "walk, count and adds agree");
    forge_router_free(r);
    return 0;
}
