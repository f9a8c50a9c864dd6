/*
 * Router tests: patterns, specificity whatever the registration order,
 * parameters and decoding, 404/405/HEAD, conflicts and malformed patterns,
 * the GitHub API table, and zero heap allocation per lookup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forge/router.h>

#include "alloc_count.h"
#include "../../bench/github_routes.h"

#define GET     FORGE_METHOD_GET
#define HEAD    FORGE_METHOD_HEAD
#define POST    FORGE_METHOD_POST
#define PUT     FORGE_METHOD_PUT
#define DELETE  FORGE_METHOD_DELETE
#define OPTIONS FORGE_METHOD_OPTIONS
#define BIT(m)  (1u << (m))

typedef struct lk {
    forge_match m;
    char buf[512];
} lk;

static int look(const forge_router *r, forge_method method, const char *path, lk *l)
{
    memset(&l->m, 0xAB, sizeof(l->m)); /* outputs must all be written */
    l->m.buf = l->buf;
    l->m.cap = sizeof(l->buf);
    return forge_router_lookup(r, method, path, strlen(path), &l->m);
}

static void add_ok(forge_router *r, forge_method m, const char *pattern, void *value)
{
    forge_error err;
    forge_error_clear(&err);
    int rc = forge_router_add(r, m, pattern, value, &err);
    if (rc != 0)
        fail_msg("add %s %s: %s", forge_method_name(m), pattern, err.message);
}

/* The pattern a lookup matched, or "404"/"405". */
static const char *which(const forge_router *r, forge_method method, const char *path)
{
    static lk l;
    int rc = look(r, method, path, &l);
    if (rc == FORGE_ENOENT)
        return "404";
    if (rc == FORGE_EMETHOD)
        return "405";
    if (rc != 0)
        return forge_err_name(rc);
    return l.m.pattern;
}

static void expect_param(const lk *l, const char *name, const char *value)
{
    forge_str v = forge_match_param(&l->m, name);
    if (!v.p)
        fail_msg("no parameter %s", name);
    assert_int_equal(v.n, strlen(value));
    assert_memory_equal(v.p, value, v.n);
    assert_int_equal(v.p[v.n], '\0'); /* values are NUL-terminated in the buffer */
}

static void test_new_free(void **state)
{
    forge_router *r = forge_router_new();
    assert_non_null(r);
    assert_int_equal(forge_router_count(r), 0);
    lk l;
    assert_int_equal(look(r, GET, "/", &l), FORGE_ENOENT);
    assert_null(l.m.value);
    assert_int_equal(l.m.nparams, 0);
    forge_router_free(r);
    forge_router_free(NULL);
    assert_int_equal(forge_router_count(NULL), 0);
}

static void test_static(void **state)
{
    forge_router *r = forge_router_new();
    int a, b, c, d, e;
    add_ok(r, GET, "/", &a);
    add_ok(r, GET, "/users", &b);
    add_ok(r, GET, "/users/", &c);
    add_ok(r, GET, "/user", &d);
    add_ok(r, GET, "/users/list", &e);
    lk l;
    assert_int_equal(look(r, GET, "/", &l), 0);
    assert_ptr_equal(l.m.value, &a);
    assert_string_equal(l.m.pattern, "/");
    assert_int_equal(look(r, GET, "/users", &l), 0);
    assert_ptr_equal(l.m.value, &b);
    assert_int_equal(look(r, GET, "/users/", &l), 0); /* trailing slash is another route */
    assert_ptr_equal(l.m.value, &c);
    assert_int_equal(look(r, GET, "/user", &l), 0);
    assert_ptr_equal(l.m.value, &d);
    assert_int_equal(look(r, GET, "/users/list", &l), 0);
    assert_ptr_equal(l.m.value, &e);
    assert_int_equal(l.m.nparams, 0);
    assert_int_equal(look(r, GET, "/use", &l), FORGE_ENOENT);
    assert_int_equal(look(r, GET, "/usersx", &l), FORGE_ENOENT);
    assert_int_equal(look(r, GET, "/users/lis", &l), FORGE_ENOENT);
    assert_int_equal(look(r, GET, "/users/listx", &l), FORGE_ENOENT);
    assert_int_equal(look(r, GET, "/USERS", &l), FORGE_ENOENT); /* case-sensitive */
    assert_int_equal(look(r, GET, "", &l), FORGE_ENOENT);
    assert_int_equal(look(r, GET, "users", &l), FORGE_ENOENT);
    assert_int_equal(look(r, OPTIONS, "*", &l), FORGE_ENOENT);
    /* The length bounds the path: bytes after it are not looked at. */
    l.m.buf = l.buf;
    l.m.cap = sizeof(l.buf);
    assert_int_equal(forge_router_lookup(r, GET, "/users/list", 6, &l.m), 0);
    assert_ptr_equal(l.m.value, &b);
    assert_int_equal(forge_router_count(r), 5);
    forge_router_free(r);
}

static void test_params(void **state)
{
    forge_router *r = forge_router_new();
    add_ok(r, GET, "/users/:id", NULL);
    add_ok(r, GET, "/users/{id}/posts/{post_id}", NULL);
    add_ok(r, GET, "/:lang/docs", NULL);
    lk l;
    assert_int_equal(look(r, GET, "/users/42", &l), 0);
    assert_null(l.m.value); /* a NULL value is a registered value */
    assert_int_equal(l.m.nparams, 1);
    assert_int_equal(l.m.params[0].name.n, 2);
    assert_memory_equal(l.m.params[0].name.p, "id", 2);
    expect_param(&l, "id", "42");
    assert_int_equal(look(r, GET, "/users/42/posts/7", &l), 0);
    assert_string_equal(l.m.pattern, "/users/{id}/posts/{post_id}");
    assert_int_equal(l.m.nparams, 2);
    expect_param(&l, "id", "42");
    expect_param(&l, "post_id", "7");
    assert_null(forge_match_param(&l.m, "nope").p);
    assert_null(forge_match_param(&l.m, "i").p);
    assert_null(forge_match_param(NULL, "id").p);
    assert_int_equal(look(r, GET, "/en/docs", &l), 0);
    expect_param(&l, "lang", "en");
    /* A parameter is one whole, non-empty segment. */
    assert_int_equal(look(r, GET, "/users/", &l), FORGE_ENOENT);
    assert_int_equal(look(r, GET, "/users/42/", &l), FORGE_ENOENT);
    assert_int_equal(look(r, GET, "/users/42/posts", &l), FORGE_ENOENT);
    assert_int_equal(look(r, GET, "//docs", &l), FORGE_ENOENT);
    forge_router_free(r);
}

/* ---- specificity: every registration order gives the same answers ---- */

static const char *spec_patterns[] = {
    "/users/new", "/users/:id", "/users/*rest", "/users/:id/profile", "/users/new/profile",
};
#define NSPEC (sizeof(spec_patterns) / sizeof(spec_patterns[0]))

static const struct {
    const char *path, *want;
} spec_cases[] = {
    {"/users/new", "/users/new"},
    {"/users/newer", "/users/:id"},
    {"/users/ne", "/users/:id"},
    {"/users/42", "/users/:id"},
    {"/users/42/profile", "/users/:id/profile"},
    {"/users/new/profile", "/users/new/profile"},
    {"/users/newx/profile", "/users/:id/profile"},
    {"/users/new/other", "/users/*rest"}, /* static fails deeper: back to the wildcard */
    {"/users/42/profile/x", "/users/*rest"},
    {"/users/", "/users/*rest"}, /* a wildcard may be empty */
    {"/users/a/b/c", "/users/*rest"},
    {"/users", "404"},
};

static void check_spec(const forge_router *r, const char *order)
{
    for (size_t i = 0; i < sizeof(spec_cases) / sizeof(spec_cases[0]); i++) {
        const char *got = which(r, GET, spec_cases[i].path);
        if (strcmp(got, spec_cases[i].want) != 0)
            fail_msg("order %s: %s matched %s, want %s", order, spec_cases[i].path, got,
                     spec_cases[i].want);
    }
}

static void permute(size_t *idx, size_t k, size_t n, unsigned *runs)
{
    if (k == n) {
        forge_router *r = forge_router_new();
        char order[64] = "";
        for (size_t i = 0; i < n; i++) {
            add_ok(r, GET, spec_patterns[idx[i]], NULL);
            char d[4];
            snprintf(d, sizeof(d), "%zu", idx[i]);
            strcat(order, d);
        }
        check_spec(r, order);
        forge_router_free(r);
        ++*runs;
        return;
    }
    for (size_t i = k; i < n; i++) {
        size_t t = idx[k];
        idx[k] = idx[i];
        idx[i] = t;
        permute(idx, k + 1, n, runs);
        idx[i] = idx[k];
        idx[k] = t;
    }
}

static void test_specificity_all_orders(void **state)
{
    size_t idx[NSPEC];
    for (size_t i = 0; i < NSPEC; i++)
        idx[i] = i;
    unsigned runs = 0;
    permute(idx, 0, NSPEC, &runs);
    assert_int_equal(runs, 120); /* 5! orders */
}

static void test_backtracking(void **state)
{
    forge_router *r = forge_router_new();
    add_ok(r, GET, "/a/b/c/d", NULL);
    add_ok(r, GET, "/a/:x/c/e", NULL);
    add_ok(r, GET, "/a/:x/:y/f", NULL);
    add_ok(r, GET, "/*all", NULL);
    lk l;
    assert_string_equal(which(r, GET, "/a/b/c/d"), "/a/b/c/d");
    assert_int_equal(look(r, GET, "/a/b/c/e", &l), 0);
    assert_string_equal(l.m.pattern, "/a/:x/c/e");
    expect_param(&l, "x", "b");
    assert_int_equal(look(r, GET, "/a/b/c/f", &l), 0);
    assert_string_equal(l.m.pattern, "/a/:x/:y/f");
    assert_int_equal(l.m.nparams, 2);
    expect_param(&l, "x", "b");
    expect_param(&l, "y", "c");
    /* Spans of abandoned branches do not leak into the result. */
    assert_int_equal(look(r, GET, "/a/b/c/g", &l), 0);
    assert_string_equal(l.m.pattern, "/*all");
    assert_int_equal(l.m.nparams, 1);
    expect_param(&l, "all", "a/b/c/g");
    forge_router_free(r);
}

static void test_wildcards(void **state)
{
    forge_router *r = forge_router_new();
    add_ok(r, GET, "/files/*path", NULL);
    add_ok(r, GET, "/files/index", NULL);
    add_ok(r, GET, "/static/:v/*p", NULL);
    lk l;
    assert_int_equal(look(r, GET, "/files/a/b/c.txt", &l), 0);
    expect_param(&l, "path", "a/b/c.txt");
    assert_int_equal(look(r, GET, "/files/", &l), 0);
    expect_param(&l, "path", "");
    assert_int_equal(look(r, GET, "/files/index", &l), 0);
    assert_string_equal(l.m.pattern, "/files/index");
    assert_int_equal(look(r, GET, "/files/indexes", &l), 0);
    assert_string_equal(l.m.pattern, "/files/*path");
    expect_param(&l, "path", "indexes");
    assert_int_equal(look(r, GET, "/files", &l), FORGE_ENOENT);
    assert_int_equal(look(r, GET, "/files/a%20b/%2F", &l), 0);
    expect_param(&l, "path", "a b//");
    assert_int_equal(look(r, GET, "/static/v1/css/site.css", &l), 0);
    expect_param(&l, "v", "v1");
    expect_param(&l, "p", "css/site.css");
    forge_router_free(r);
}

static void test_decoding(void **state)
{
    forge_router *r = forge_router_new();
    add_ok(r, GET, "/users/:id", NULL);
    add_ok(r, GET, "/users/:id/profile", NULL);
    add_ok(r, GET, "/users/new", NULL);
    add_ok(r, GET, "/caf%C3%A9/menu", NULL);
    add_ok(r, GET, "/a+b", NULL);
    add_ok(r, GET, "/100%25", NULL);
    lk l;
    assert_int_equal(look(r, GET, "/users/a%20b", &l), 0);
    expect_param(&l, "id", "a b");
    assert_int_equal(look(r, GET, "/users/a+b", &l), 0); /* '+' is no space in a path */
    expect_param(&l, "id", "a+b");
    assert_int_equal(look(r, GET, "/users/%e2%82%ac", &l), 0);
    expect_param(&l, "id", "\xe2\x82\xac");
    /* An encoded '/' stays inside its segment. */
    assert_int_equal(look(r, GET, "/users/x%2Fprofile", &l), 0);
    assert_string_equal(l.m.pattern, "/users/:id");
    expect_param(&l, "id", "x/profile");
    assert_int_equal(look(r, GET, "/users/x%2fprofile", &l), 0);
    expect_param(&l, "id", "x/profile");
    /* Static text matches the decoded path... */
    assert_string_equal(which(r, GET, "/users/%6Eew"), "/users/new");
    assert_string_equal(which(r, GET, "/%75sers/new"), "/users/new");
    assert_string_equal(which(r, GET, "/caf%C3%A9/menu"), "/caf%C3%A9/menu");
    assert_string_equal(which(r, GET, "/caf%c3%a9/menu"), "/caf%C3%A9/menu");
    assert_string_equal(which(r, GET, "/caf\xc3\xa9/menu"), "/caf%C3%A9/menu");
    assert_string_equal(which(r, GET, "/a+b"), "/a+b");
    assert_string_equal(which(r, GET, "/a%2Bb"), "/a+b");
    /* A literal '%' in a pattern is matched by its escape only. */
    assert_string_equal(which(r, GET, "/100%25"), "/100%25");
    assert_string_equal(which(r, GET, "/100%"), "404");
    assert_string_equal(which(r, GET, "/100%2"), "404");
    assert_string_equal(which(r, GET, "/100%2525"), "404");
    /* ...but an encoded '/' is never a separator. */
    assert_string_equal(which(r, GET, "/users%2Fnew"), "404");
    assert_string_equal(which(r, GET, "%2Fusers/new"), "404");
    /* Malformed escapes: in a parameter an error, in static text no match. */
    assert_int_equal(look(r, GET, "/users/a%zz", &l), FORGE_EPARSE);
    assert_null(l.m.value);
    assert_int_equal(l.m.nparams, 0);
    assert_int_equal(look(r, GET, "/users/a%2", &l), FORGE_EPARSE);
    assert_int_equal(look(r, GET, "/users/%", &l), FORGE_EPARSE);
    assert_int_equal(look(r, GET, "/users/a%00b", &l), FORGE_EPARSE);
    assert_int_equal(look(r, GET, "/us%zzers/new", &l), FORGE_ENOENT);
    /* A raw NUL in a parameter is refused too: values are C strings. */
    l.m.buf = l.buf;
    l.m.cap = sizeof(l.buf);
    assert_int_equal(forge_router_lookup(r, GET, "/users/a\0b", 10, &l.m), FORGE_EPARSE);
    assert_int_equal(look(r, GET, "/users/%6", &l), FORGE_EPARSE);
    forge_router_free(r);
}

static void test_buffer_limits(void **state)
{
    forge_router *r = forge_router_new();
    add_ok(r, GET, "/p/:a/:b", NULL);
    forge_match m;
    char buf[8];
    const char *path = "/p/abc/def"; /* needs 4 + 4 bytes */
    m.buf = buf;
    m.cap = 8;
    assert_int_equal(forge_router_lookup(r, GET, path, strlen(path), &m), 0);
    assert_string_equal(m.params[0].value.p, "abc");
    assert_string_equal(m.params[1].value.p, "def");
    m.cap = 7;
    assert_int_equal(forge_router_lookup(r, GET, path, strlen(path), &m), FORGE_ETOOBIG);
    assert_null(m.value);
    assert_int_equal(m.nparams, 0);
    m.cap = 5;
    path = "/p/a%41%42/x";
    assert_int_equal(forge_router_lookup(r, GET, path, strlen(path), &m), FORGE_ETOOBIG);
    m.cap = 6;
    assert_int_equal(forge_router_lookup(r, GET, path, strlen(path), &m), 0);
    assert_string_equal(m.params[0].value.p, "aAB");
    m.buf = NULL;
    m.cap = 0;
    assert_int_equal(forge_router_lookup(r, GET, path, strlen(path), &m), FORGE_ETOOBIG);
    /* Without parameters no buffer is needed. */
    add_ok(r, GET, "/static", NULL);
    assert_int_equal(forge_router_lookup(r, GET, "/static", 7, &m), 0);
    forge_router_free(r);
}

static void test_methods_405(void **state)
{
    forge_router *r = forge_router_new();
    int g, p, d;
    add_ok(r, GET, "/items/:id", &g);
    add_ok(r, POST, "/items/:id", &p);
    add_ok(r, DELETE, "/items/{id}", &d); /* same route, another spelling */
    lk l;
    assert_int_equal(look(r, POST, "/items/1", &l), 0);
    assert_ptr_equal(l.m.value, &p);
    assert_int_equal(l.m.allowed, BIT(GET) | BIT(HEAD) | BIT(POST) | BIT(DELETE));
    assert_int_equal(look(r, DELETE, "/items/1", &l), 0);
    assert_string_equal(l.m.pattern, "/items/{id}");
    assert_int_equal(look(r, PUT, "/items/1", &l), FORGE_EMETHOD);
    assert_null(l.m.value);
    assert_int_equal(l.m.allowed, BIT(GET) | BIT(HEAD) | BIT(POST) | BIT(DELETE));
    assert_non_null(l.m.pattern);
    assert_int_equal(look(r, OPTIONS, "/items/1", &l), FORGE_EMETHOD);
    assert_int_equal(l.m.allowed, BIT(GET) | BIT(HEAD) | BIT(POST) | BIT(DELETE));
    assert_int_equal(look(r, FORGE_METHOD_UNKNOWN, "/items/1", &l), FORGE_EMETHOD);
    assert_int_equal(look(r, (forge_method)77, "/items/1", &l), FORGE_EMETHOD);
    assert_int_equal(look(r, PUT, "/items", &l), FORGE_ENOENT);
    assert_int_equal(l.m.allowed, 0);
    /* An explicit OPTIONS route is served like any other. */
    add_ok(r, OPTIONS, "/items/:id", NULL);
    assert_int_equal(look(r, OPTIONS, "/items/1", &l), 0);
    forge_router_free(r);
}

/* A less specific pattern serves the methods the more specific one lacks. */
static void test_method_aware_fallback(void **state)
{
    forge_router *r = forge_router_new();
    int wild, upload;
    add_ok(r, GET, "/files/*path", &wild);
    add_ok(r, POST, "/files/upload", &upload);
    lk l;
    assert_int_equal(look(r, POST, "/files/upload", &l), 0);
    assert_ptr_equal(l.m.value, &upload);
    assert_int_equal(look(r, GET, "/files/upload", &l), 0);
    assert_ptr_equal(l.m.value, &wild);
    expect_param(&l, "path", "upload");
    assert_int_equal(look(r, DELETE, "/files/upload", &l), FORGE_EMETHOD);
    assert_int_equal(l.m.allowed, BIT(GET) | BIT(HEAD) | BIT(POST));
    assert_string_equal(l.m.pattern, "/files/upload"); /* the most specific path match */
    assert_int_equal(look(r, DELETE, "/files/other", &l), FORGE_EMETHOD);
    assert_int_equal(l.m.allowed, BIT(GET) | BIT(HEAD));
    forge_router_free(r);
}

static void test_head(void **state)
{
    forge_router *r = forge_router_new();
    int get, head, wildhead;
    add_ok(r, GET, "/a", &get);
    add_ok(r, GET, "/b", &get);
    add_ok(r, HEAD, "/b", &head);
    add_ok(r, GET, "/c/:x", &get);
    add_ok(r, HEAD, "/c/*rest", &wildhead);
    add_ok(r, POST, "/d", NULL);
    lk l;
    assert_int_equal(look(r, HEAD, "/a", &l), 0);
    assert_ptr_equal(l.m.value, &get);
    assert_true(l.m.head_from_get);
    assert_string_equal(l.m.pattern, "/a");
    assert_int_equal(look(r, GET, "/a", &l), 0);
    assert_false(l.m.head_from_get);
    assert_int_equal(look(r, HEAD, "/b", &l), 0); /* an explicit HEAD wins */
    assert_ptr_equal(l.m.value, &head);
    assert_false(l.m.head_from_get);
    assert_int_equal(look(r, HEAD, "/c/1", &l), 0); /* the more specific GET wins */
    assert_ptr_equal(l.m.value, &get);
    assert_true(l.m.head_from_get);
    assert_int_equal(look(r, HEAD, "/c/1/2", &l), 0);
    assert_ptr_equal(l.m.value, &wildhead);
    assert_int_equal(look(r, HEAD, "/d", &l), FORGE_EMETHOD);
    assert_int_equal(l.m.allowed, BIT(POST));
    forge_router_free(r);
}

static void expect_refused(forge_router *r, forge_method m, const char *pattern, int code,
                           const char *mention1, const char *mention2)
{
    forge_error err;
    forge_error_clear(&err);
    size_t before = forge_router_count(r);
    int rc = forge_router_add(r, m, pattern, NULL, &err);
    if (rc != code)
        fail_msg("%s: got %s, want %s (%s)", pattern ? pattern : "(null)", forge_err_name(rc),
                 forge_err_name(code), err.message);
    assert_int_equal(err.code, code);
    if (mention1 && !strstr(err.message, mention1))
        fail_msg("message '%s' does not name '%s'", err.message, mention1);
    if (mention2 && !strstr(err.message, mention2))
        fail_msg("message '%s' does not name '%s'", err.message, mention2);
    if (pattern)
        assert_string_equal(err.key, pattern);
    assert_int_equal(forge_router_count(r), before);
    /* NULL err is allowed too */
    assert_int_equal(forge_router_add(r, m, pattern, NULL, NULL), code);
}

static void test_conflicts(void **state)
{
    forge_router *r = forge_router_new();
    int v1, v2;
    add_ok(r, GET, "/a/:x", &v1);
    expect_refused(r, GET, "/a/:y", FORGE_ECONFLICT, "'/a/:y'", "'/a/:x'");
    expect_refused(r, POST, "/a/:y/deeper", FORGE_ECONFLICT, "'/a/:y/deeper'", "'/a/:x'");
    expect_refused(r, GET, "/a/:x", FORGE_ECONFLICT, "'/a/:x'", "already registered");
    expect_refused(r, GET, "/a/{x}", FORGE_ECONFLICT, "'/a/{x}'", "'/a/:x'");
    add_ok(r, POST, "/a/{x}", &v2); /* same position and name, another method */
    add_ok(r, GET, "/a/:x/b", NULL);
    add_ok(r, GET, "/f/*rest", NULL);
    expect_refused(r, GET, "/f/*other", FORGE_ECONFLICT, "'/f/*other'", "'/f/*rest'");
    expect_refused(r, GET, "/f/*rest", FORGE_ECONFLICT, "'/f/*rest'", "already");
    add_ok(r, PUT, "/f/*rest", NULL);
    add_ok(r, GET, "/f/:name", NULL); /* a param beside a wildcard is fine: it is more specific */
    /* A refused pattern left the router as it was. */
    lk l;
    assert_int_equal(look(r, GET, "/a/1", &l), 0);
    assert_ptr_equal(l.m.value, &v1);
    assert_int_equal(look(r, POST, "/a/1", &l), 0);
    assert_ptr_equal(l.m.value, &v2);
    assert_int_equal(look(r, POST, "/a/1/deeper", &l), FORGE_ENOENT);
    assert_int_equal(forge_router_count(r), 6);
    forge_router_free(r);
}

static void test_malformed(void **state)
{
    forge_router *r = forge_router_new();
    add_ok(r, GET, "/ok", NULL);
    expect_refused(r, GET, "", FORGE_EINVAL, "must start with '/'", NULL);
    expect_refused(r, GET, "a/b", FORGE_EINVAL, "'a/b'", "must start with '/'");
    expect_refused(r, GET, NULL, FORGE_EINVAL, "NULL", NULL);
    expect_refused(r, GET, "/a/:", FORGE_EINVAL, "'/a/:'", "empty parameter name");
    expect_refused(r, GET, "/a/{}", FORGE_EINVAL, "'/a/{}'", "empty parameter name");
    expect_refused(r, GET, "/a/{x", FORGE_EINVAL, "'/a/{x'", "unclosed");
    expect_refused(r, GET, "/a/{x}y", FORGE_EINVAL, "'/a/{x}y'", "unclosed");
    expect_refused(r, GET, "/a/b{x}", FORGE_EINVAL, "'/a/b{x}'", "whole segment");
    expect_refused(r, GET, "/a/*x/b", FORGE_EINVAL, "'/a/*x/b'", "last segment");
    expect_refused(r, GET, "/a/*x/", FORGE_EINVAL, "'/a/*x/'", "last segment");
    expect_refused(r, GET, "/a/*", FORGE_EINVAL, "'/a/*'", "empty parameter name");
    expect_refused(r, GET, "/a/:x-y", FORGE_EINVAL, "'/a/:x-y'", "[A-Za-z0-9_]");
    expect_refused(r, GET, "/a/:x/:x", FORGE_EINVAL, "'/a/:x/:x'", "twice");
    expect_refused(r, GET, "/a/:x/*x", FORGE_EINVAL, "'/a/:x/*x'", "twice");
    expect_refused(r, GET, "/a/%zz", FORGE_EINVAL, "'/a/%zz'", "percent");
    expect_refused(r, GET, "/a/%4", FORGE_EINVAL, "'/a/%4'", "percent");
    expect_refused(r, GET, "/a/%2F", FORGE_EINVAL, "'/a/%2F'", "encoded '/'");
    expect_refused(r, GET, "/a/%00", FORGE_EINVAL, "'/a/%00'", NULL);
    expect_refused(r, GET, "/a b", FORGE_EINVAL, "'/a b'", "space");
    expect_refused(r, GET, "/a?b=1", FORGE_EINVAL, "'/a?b=1'", "'?'");
    expect_refused(r, GET, "/a#x", FORGE_EINVAL, "'/a#x'", NULL);
    expect_refused(r, FORGE_METHOD_UNKNOWN, "/x", FORGE_EINVAL, "'/x'", "unknown method");
    char many[256] = "";
    for (int i = 0; i <= FORGE_ROUTER_MAX_PARAMS; i++) {
        char seg[8];
        snprintf(seg, sizeof(seg), "/:p%d", i);
        strcat(many, seg);
    }
    expect_refused(r, GET, many, FORGE_EINVAL, "too many parameters", NULL);
    /* 16 is fine, and all 16 come back. */
    *strrchr(many, '/') = '\0';
    add_ok(r, GET, many, NULL);
    lk l;
    assert_int_equal(look(r, GET, "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", &l), 0);
    assert_int_equal(l.m.nparams, FORGE_ROUTER_MAX_PARAMS);
    expect_param(&l, "p0", "a");
    expect_param(&l, "p15", "p");
    assert_int_equal(forge_router_add(NULL, GET, "/x", NULL, NULL), FORGE_EINVAL);
    assert_int_equal(forge_router_count(r), 2);
    forge_router_free(r);
}

static void test_literal_colon_and_star(void **state)
{
    forge_router *r = forge_router_new();
    add_ok(r, POST, "/v1/things:batchGet", NULL);
    add_ok(r, GET, "/v1/things/:id", NULL);
    add_ok(r, GET, "/glob/a*b", NULL);
    assert_string_equal(which(r, POST, "/v1/things:batchGet"), "/v1/things:batchGet");
    assert_string_equal(which(r, GET, "/v1/things/7"), "/v1/things/:id");
    assert_string_equal(which(r, GET, "/glob/a*b"), "/glob/a*b");
    assert_string_equal(which(r, GET, "/glob/axb"), "404");
    forge_router_free(r);
}

typedef struct walked {
    size_t n;
    char seen[64][64];
    forge_method methods[64];
    size_t stop_after;
} walked;

static int visit(forge_method m, const char *pattern, void *value, void *udata)
{
    walked *w = udata;
    if (w->n < 64) {
        snprintf(w->seen[w->n], sizeof(w->seen[0]), "%s", pattern);
        w->methods[w->n] = m;
    }
    w->n++;
    return (w->stop_after && w->n == w->stop_after) ? 42 : 0;
}

static void test_walk(void **state)
{
    forge_router *r = forge_router_new();
    add_ok(r, GET, "/b", NULL);
    add_ok(r, GET, "/a/*rest", NULL);
    add_ok(r, POST, "/a/:id", NULL);
    add_ok(r, GET, "/a/:id", NULL);
    add_ok(r, GET, "/a/list", NULL);
    add_ok(r, GET, "/", NULL);
    walked w = {0};
    assert_int_equal(forge_router_walk(r, visit, &w), 0);
    assert_int_equal(w.n, 6);
    assert_int_equal(forge_router_count(r), 6);
    /* byte order of static text, static before parameter before wildcard, methods in enum order */
    assert_string_equal(w.seen[0], "/");
    assert_string_equal(w.seen[1], "/a/list");
    assert_string_equal(w.seen[2], "/a/:id");
    assert_int_equal(w.methods[2], GET);
    assert_string_equal(w.seen[3], "/a/:id");
    assert_int_equal(w.methods[3], POST);
    assert_string_equal(w.seen[4], "/a/*rest");
    assert_string_equal(w.seen[5], "/b");
    walked stop = {.stop_after = 2};
    assert_int_equal(forge_router_walk(r, visit, &stop), 42);
    assert_int_equal(stop.n, 2);
    assert_int_equal(forge_router_walk(r, NULL, NULL), FORGE_EINVAL);
    forge_router_free(r);
}

/* ---- the GitHub API table ---- */

static forge_router *github_router(void)
{
    forge_router *r = forge_router_new();
    for (size_t i = 0; i < GITHUB_ROUTES_COUNT; i++)
        add_ok(r, github_routes[i].method, github_routes[i].pattern, (void *)&github_routes[i]);
    return r;
}

/* Checks the parameters of a match against the pattern's names and the path's segments. */
static void check_github_params(const github_route *gr, const lk *l)
{
    char pat[256], path[256];
    snprintf(pat, sizeof(pat), "%s", gr->pattern);
    snprintf(path, sizeof(path), "%s", gr->path);
    char *sp, *spp;
    char *ps = strtok_r(pat, "/", &sp), *qs = strtok_r(path, "/", &spp);
    unsigned n = 0;
    for (; ps && qs; ps = strtok_r(NULL, "/", &sp), qs = strtok_r(NULL, "/", &spp)) {
        if (ps[0] != ':')
            continue;
        char want[256];
        long k = forge_pct_decode(qs, strlen(qs), want, sizeof(want) - 1, false);
        assert_true(k >= 0);
        want[k] = '\0';
        expect_param(l, ps + 1, want);
        n++;
    }
    assert_int_equal(l->m.nparams, n);
}

static void test_github_table(void **state)
{
    assert_int_equal(GITHUB_ROUTES_COUNT, 203);
    forge_router *r = github_router();
    assert_int_equal(forge_router_count(r), 203);
    lk l;
    for (size_t i = 0; i < GITHUB_ROUTES_COUNT; i++) {
        const github_route *gr = &github_routes[i];
        int rc = look(r, gr->method, gr->path, &l);
        if (rc != 0)
            fail_msg("%s %s: %s", forge_method_name(gr->method), gr->path, forge_err_name(rc));
        assert_ptr_equal(l.m.value, gr);
        assert_string_equal(l.m.pattern, gr->pattern);
        check_github_params(gr, &l);
        /* Every GET route answers HEAD from GET. */
        if (gr->method == GET) {
            assert_int_equal(look(r, HEAD, gr->path, &l), 0);
            assert_ptr_equal(l.m.value, gr);
            assert_true(l.m.head_from_get);
        }
        /* PATCH is in none of the routes: always 405 with the path's methods. */
        assert_int_equal(look(r, FORGE_METHOD_PATCH, gr->path, &l), FORGE_EMETHOD);
        assert_true(l.m.allowed & BIT(gr->method));
    }
    assert_string_equal(which(r, GET, "/user/repos"), "/user/repos");
    assert_string_equal(which(r, GET, "/users/repos"), "/users/:user");
    assert_string_equal(which(r, GET, "/repos/a/b/nope"), "404");
    assert_string_equal(which(r, GET, "/repos/a"), "404");
    assert_string_equal(which(r, POST, "/user"), "405");
    walked w = {0};
    assert_int_equal(forge_router_walk(r, visit, &w), 0);
    assert_int_equal(w.n, 203);
    forge_router_free(r);
}

static atomic_int thread_go;

static void *alloc_on_thread(void *arg)
{
    while (!atomic_load(&thread_go))
        ;
    void *(*volatile m)(size_t) = malloc;
    free(m(64));
    return arg;
}

/* The counter really counts: otherwise a "zero allocations" result would prove nothing. */
static void test_alloc_counter_counts(void **state)
{
    if (!FORGE_ALLOC_COUNT_ENABLED)
        skip();
    void *(*volatile m)(size_t) = malloc;
    forge_alloc_count_begin();
    void *p = m(32);
    size_t n = forge_alloc_count_end();
    free(p);
    assert_int_equal(n, 1);
    forge_alloc_count_begin();
    forge_router *r = forge_router_new();
    add_ok(r, GET, "/x/:y", NULL);
    forge_router_free(r);
    assert_true(forge_alloc_count_end() >= 3);
    /* process-wide: another thread's allocation is counted, and only there */
    pthread_t t;
    atomic_store(&thread_go, 0);
    assert_int_equal(pthread_create(&t, NULL, alloc_on_thread, NULL), 0);
    forge_alloc_count_begin();
    forge_alloc_count_begin_all();
    atomic_store(&thread_go, 1);
    pthread_join(t, NULL);
    size_t all = forge_alloc_count_end_all();
    size_t mine = forge_alloc_count_end();
    assert_true(all >= 1);
    assert_int_equal(mine, 0);
}

static void test_lookup_allocates_nothing(void **state)
{
    if (!FORGE_ALLOC_COUNT_ENABLED)
        skip();
    forge_router *r = github_router();
    add_ok(r, GET, "/files/*path", NULL);
    lk l;
    l.m.buf = l.buf;
    l.m.cap = sizeof(l.buf);
    size_t lens[GITHUB_ROUTES_COUNT];
    for (size_t i = 0; i < GITHUB_ROUTES_COUNT; i++)
        lens[i] = strlen(github_routes[i].path);
    int bad = 0;
    forge_alloc_count_begin();
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < GITHUB_ROUTES_COUNT; i++) {
            const github_route *gr = &github_routes[i];
            bad |= forge_router_lookup(r, gr->method, gr->path, lens[i], &l.m);
            bad |= forge_router_lookup(r, HEAD, gr->path, lens[i], &l.m) == FORGE_ENOENT;
            bad |= forge_router_lookup(r, FORGE_METHOD_PATCH, gr->path, lens[i], &l.m) !=
                   FORGE_EMETHOD;
        }
        bad |= forge_router_lookup(r, GET, "/nope/x", 7, &l.m) != FORGE_ENOENT;
        bad |= forge_router_lookup(r, GET, "/files/a%20b/c", 14, &l.m);
        bad |= forge_router_lookup(r, GET, "/users/%zz", 10, &l.m) != FORGE_EPARSE;
    }
    size_t n = forge_alloc_count_end();
    assert_int_equal(bad, 0);
    assert_int_equal(n, 0);
    forge_router_free(r);
}

/* Deep and odd inputs: long paths, many segments, binary bytes. */
static void test_odd_paths(void **state)
{
    forge_router *r = forge_router_new();
    add_ok(r, GET, "/:a/:b", NULL);
    add_ok(r, GET, "/x/*rest", NULL);
    size_t n = 100000;
    char *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (i % 2) ? 'a' : '/';
    p[n] = '\0';
    lk l;
    assert_int_equal(look(r, GET, p, &l), FORGE_ENOENT);
    p[0] = '/', p[1] = 'x', p[2] = '/';
    assert_int_equal(look(r, GET, p, &l), FORGE_ETOOBIG); /* the rest outgrows the buffer */
    free(p);
    const char bin[] = "/\x01\xff/\x7f";
    l.m.buf = l.buf;
    l.m.cap = sizeof(l.buf);
    assert_int_equal(forge_router_lookup(r, GET, bin, sizeof(bin) - 1, &l.m), 0);
    assert_int_equal(l.m.params[0].value.n, 2);
    forge_router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_free),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_specificity_all_orders),
        cmocka_unit_test(test_backtracking),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_buffer_limits),
        cmocka_unit_test(test_methods_405),
        cmocka_unit_test(test_method_aware_fallback),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_literal_colon_and_star),
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_github_table),
        cmocka_unit_test(test_alloc_counter_counts),
        cmocka_unit_test(test_lookup_allocates_nothing),
        cmocka_unit_test(test_odd_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
