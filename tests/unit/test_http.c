/*
 * HTTP vocabulary tests: methods, reason phrases, percent-decoding, query
 * iteration, string comparison.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <forge/http.h>
#include <forge/error.h>

static void test_methods(void **state)
{
    static const char *names[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
                                  "PATCH", "OPTIONS", "CONNECT", "TRACE"};
    for (int m = 0; m < FORGE_METHOD_COUNT; m++) {
        assert_string_equal(forge_method_name((forge_method)m), names[m]);
        assert_int_equal(forge_method_parse(names[m], strlen(names[m])), m);
    }
    assert_int_equal(forge_method_parse("get", 3), FORGE_METHOD_UNKNOWN); /* case-sensitive */
    assert_int_equal(forge_method_parse("GETX", 4), FORGE_METHOD_UNKNOWN);
    assert_int_equal(forge_method_parse("GET", 2), FORGE_METHOD_UNKNOWN);
    assert_int_equal(forge_method_parse("GETX", 3), FORGE_METHOD_GET); /* length bounds it */
    assert_int_equal(forge_method_parse("PROPFIND", 8), FORGE_METHOD_UNKNOWN);
    assert_int_equal(forge_method_parse("", 0), FORGE_METHOD_UNKNOWN);
    assert_int_equal(forge_method_parse(NULL, 3), FORGE_METHOD_UNKNOWN);
    assert_string_equal(forge_method_name(FORGE_METHOD_UNKNOWN), "UNKNOWN");
    assert_string_equal(forge_method_name((forge_method)1234), "UNKNOWN");
    assert_string_equal(forge_method_name((forge_method)-1), "UNKNOWN");
}

static void test_status_reason(void **state)
{
    assert_string_equal(forge_status_reason(200), "OK");
    assert_string_equal(forge_status_reason(404), "Not Found");
    assert_string_equal(forge_status_reason(405), "Method Not Allowed");
    assert_string_equal(forge_status_reason(413), "Content Too Large");
    assert_string_equal(forge_status_reason(429), "Too Many Requests");
    assert_string_equal(forge_status_reason(503), "Service Unavailable");
    assert_string_equal(forge_status_reason(511), "Network Authentication Required");
    assert_string_equal(forge_status_reason(299), "Unknown");
    assert_string_equal(forge_status_reason(99), "Unknown");
    assert_string_equal(forge_status_reason(512), "Unknown");
    assert_string_equal(forge_status_reason(-1), "Unknown");
    assert_string_equal(forge_status_reason(100000), "Unknown");
}

/* Decode a C string; returns the result code and the text in out. */
static long dec(const char *in, bool plus, char *out, size_t cap)
{
    memset(out, 0, cap);
    return forge_pct_decode(in, strlen(in), out, cap, plus);
}

static void test_pct_decode(void **state)
{
    char out[64];
    assert_int_equal(dec("plain", false, out, sizeof(out)), 5);
    assert_string_equal(out, "plain");
    assert_int_equal(dec("%41%62%2f%2F", false, out, sizeof(out)), 4);
    assert_string_equal(out, "Ab//");
    assert_int_equal(dec("caf%C3%A9", false, out, sizeof(out)), 5);
    assert_string_equal(out, "caf\xc3\xa9");
    assert_int_equal(dec("%ff", false, out, sizeof(out)), 1);
    assert_int_equal((unsigned char)out[0], 0xff);
    assert_int_equal(dec("", false, out, sizeof(out)), 0);
    /* '+' */
    assert_int_equal(dec("a+b", false, out, sizeof(out)), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(dec("a+b", true, out, sizeof(out)), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(dec("a%2Bb", true, out, sizeof(out)), 3); /* an encoded '+' stays '+' */
    assert_string_equal(out, "a+b");
    assert_int_equal(dec("%20+", true, out, sizeof(out)), 2);
    assert_string_equal(out, "  ");
    /* malformed */
    assert_int_equal(dec("%", false, out, sizeof(out)), FORGE_EPARSE);
    assert_int_equal(dec("a%", false, out, sizeof(out)), FORGE_EPARSE);
    assert_int_equal(dec("a%4", false, out, sizeof(out)), FORGE_EPARSE);
    assert_int_equal(dec("%G0", false, out, sizeof(out)), FORGE_EPARSE);
    assert_int_equal(dec("%0G", false, out, sizeof(out)), FORGE_EPARSE);
    assert_int_equal(dec("%%41", false, out, sizeof(out)), FORGE_EPARSE);
    assert_int_equal(dec("%-1", false, out, sizeof(out)), FORGE_EPARSE);
    assert_int_equal(dec("% 1", false, out, sizeof(out)), FORGE_EPARSE);
    /* an encoded NUL is refused */
    assert_int_equal(dec("a%00b", false, out, sizeof(out)), FORGE_EINVAL);
    /* and so is a raw one */
    assert_int_equal(forge_pct_decode("a\0b", 3, out, sizeof(out), false), FORGE_EINVAL);
    /* an escape cut by the length is malformed even if the bytes follow */
    assert_int_equal(forge_pct_decode("%41", 2, out, sizeof(out), false), FORGE_EPARSE);
    /* capacity: exact fits, one less is too small; malformed input wins over size */
    assert_int_equal(dec("abc", false, out, 3), 3);
    assert_int_equal(dec("abc", false, out, 2), FORGE_ETOOBIG);
    assert_int_equal(dec("a%41", false, out, 2), 2);
    assert_int_equal(dec("a%41", false, out, 1), FORGE_ETOOBIG);
    assert_int_equal(dec("abcdef%zz", false, out, 1), FORGE_EPARSE);
    assert_int_equal(forge_pct_decode("", 0, NULL, 0, false), 0);
    assert_int_equal(forge_pct_decode("x", 1, NULL, 0, false), FORGE_ETOOBIG);
    /* too small does not write past cap */
    out[0] = out[1] = out[2] = 'Z';
    assert_int_equal(forge_pct_decode("abc", 3, out, 1, false), FORGE_ETOOBIG);
    assert_int_equal(out[1], 'Z');
    /* in place */
    char buf[] = "a%20b%2Bc+d";
    long n = forge_pct_decode(buf, strlen(buf), buf, sizeof(buf), true);
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "a b+c d", 7);
}

typedef struct pair {
    const char *k, *v;
} pair;

static void expect_query(const char *q, const pair *want, size_t n)
{
    forge_query_iter it;
    forge_query_iter_init(&it, q, q ? strlen(q) : 0);
    forge_str k, v;
    size_t i = 0;
    while (forge_query_next(&it, &k, &v)) {
        if (i >= n)
            fail_msg("query '%s': extra pair '%.*s'", q, (int)k.n, k.p);
        assert_int_equal(k.n, strlen(want[i].k));
        assert_memory_equal(k.p, want[i].k, k.n);
        assert_int_equal(v.n, strlen(want[i].v));
        assert_memory_equal(v.p, want[i].v, v.n);
        i++;
    }
    assert_int_equal(i, n);
    /* exhausted stays exhausted */
    assert_false(forge_query_next(&it, &k, &v));
}

static void test_query(void **state)
{
    expect_query("", NULL, 0);
    expect_query(NULL, NULL, 0);
    expect_query("&&;", NULL, 0);
    expect_query("a=1", (pair[]){{"a", "1"}}, 1);
    expect_query("a=1&b=2;c=3", (pair[]){{"a", "1"}, {"b", "2"}, {"c", "3"}}, 3);
    expect_query("&&a=1&&b=2&", (pair[]){{"a", "1"}, {"b", "2"}}, 2);
    expect_query("flag&x=", (pair[]){{"flag", ""}, {"x", ""}}, 2);
    expect_query("=v", (pair[]){{"", "v"}}, 1);
    expect_query("a=1=2", (pair[]){{"a", "1=2"}}, 1);
    expect_query("a=1&a=2", (pair[]){{"a", "1"}, {"a", "2"}}, 2);
    /* still encoded: decoding is the caller's, with '+' as space */
    expect_query("q=a+b%26c&k%3D=1", (pair[]){{"q", "a+b%26c"}, {"k%3D", "1"}}, 2);
    expect_query("bad=%zz", (pair[]){{"bad", "%zz"}}, 1);

    /* the length bounds the query */
    forge_query_iter it;
    forge_str k, v;
    forge_query_iter_init(&it, "a=1&b=2", 3);
    assert_true(forge_query_next(&it, &k, &v));
    assert_int_equal(v.n, 1);
    assert_false(forge_query_next(&it, &k, &v));

    /* round trip through the decoder */
    const char *q = "name=J%C3%BCrgen+M&empty=";
    forge_query_iter_init(&it, q, strlen(q));
    assert_true(forge_query_next(&it, &k, &v));
    char out[32];
    long n = forge_pct_decode(v.p, v.n, out, sizeof(out), true);
    assert_int_equal(n, 9);
    assert_memory_equal(out, "J\xc3\xbcrgen M", 9);
}

static void test_strings(void **state)
{
    assert_true(forge_str_eq(FORGE_STR("abc"), forge_str_c("abc")));
    assert_false(forge_str_eq(FORGE_STR("abc"), FORGE_STR("abd")));
    assert_false(forge_str_eq(FORGE_STR("abc"), FORGE_STR("ab")));
    assert_true(forge_str_eq(FORGE_STR_NULL, FORGE_STR("")));
    assert_true(forge_str_ieq(FORGE_STR("Content-Type"), FORGE_STR("content-TYPE")));
    assert_false(forge_str_ieq(FORGE_STR("Content-Type"), FORGE_STR("content-typ")));
    assert_false(forge_str_ieq(FORGE_STR("a["), FORGE_STR("a{"))); /* only letters fold */
    assert_false(forge_str_ieq(FORGE_STR("\xc0"), FORGE_STR("\xe0")));
    assert_true(forge_str_ieq(FORGE_STR_NULL, FORGE_STR_NULL));
    forge_str s = forge_str_c(NULL);
    assert_null(s.p);
    assert_int_equal(s.n, 0);
    s = forge_str_c("hello");
    assert_int_equal(s.n, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods),    cmocka_unit_test(test_status_reason),
        cmocka_unit_test(test_pct_decode), cmocka_unit_test(test_query),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
