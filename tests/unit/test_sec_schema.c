/*
 * The JSON Schema subset: each keyword accepts and refuses what the
 * specification says, errors carry RFC 6901 pointers (with ~0 and ~1
 * escapes), messages never quote instance values, and unsupported keywords
 * are refused when compiling.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sec_impl.h"

#include <string.h>

static forge_schema *compile(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    assert_non_null(j);
    forge_error err;
    forge_schema *s = forge_schema_new(j, &err);
    json_decref(j);
    return s;
}

static int check(forge_schema *s, const char *instance, json_t **errors)
{
    json_error_t je;
    json_t *j = json_loads(instance, JSON_DECODE_ANY, &je);
    assert_non_null(j);
    int n = forge_schema_validate(s, j, errors, 0);
    json_decref(j);
    return n;
}

static void test_keywords(void **state)
{
    struct {
        const char *schema, *instance;
        int errors;
    } cases[] = {
        {"{\"type\":\"string\"}", "\"x\"", 0},
        {"{\"type\":\"string\"}", "1", 1},
        {"{\"type\":[\"string\",\"null\"]}", "null", 0},
        {"{\"type\":\"integer\"}", "3", 0},
        {"{\"type\":\"integer\"}", "3.0", 0},
        {"{\"type\":\"integer\"}", "3.5", 1},
        {"{\"type\":\"number\"}", "3.5", 0},
        {"{\"type\":\"boolean\"}", "false", 0},
        {"{\"type\":\"object\"}", "[]", 1},
        {"{\"type\":\"array\"}", "[]", 0},
        {"{\"enum\":[1,\"a\",null]}", "\"a\"", 0},
        {"{\"enum\":[1,\"a\",null]}", "\"b\"", 1},
        {"{\"const\":{\"a\":1}}", "{\"a\":1}", 0},
        {"{\"minimum\":0,\"maximum\":150}", "150", 0},
        {"{\"minimum\":0,\"maximum\":150}", "151", 1},
        {"{\"minimum\":0,\"maximum\":150}", "-0.5", 1},
        {"{\"exclusiveMinimum\":0}", "0", 1},
        {"{\"exclusiveMaximum\":10}", "9.99", 0},
        {"{\"minimum\":5}", "\"not a number\"", 0},
        {"{\"minLength\":2,\"maxLength\":3}", "\"\\u00e9\\u00e9\"", 0}, /* code points */
        {"{\"minLength\":2,\"maxLength\":3}", "\"abcd\"", 1},
        {"{\"minLength\":2}", "\"a\"", 1},
        {"{\"pattern\":\"^[a-z]+$\"}", "\"abc\"", 0},
        {"{\"pattern\":\"^[a-z]+$\"}", "\"abc1\"", 1},
        {"{\"pattern\":\"b\"}", "\"abc\"", 0}, /* unanchored, as JSON Schema says */
        {"{\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}", "[1,2]", 0},
        {"{\"items\":{\"type\":\"integer\"}}", "[1,\"x\",3.5]", 2},
        {"{\"maxItems\":1}", "[1,2]", 1},
        {"{\"required\":[\"a\",\"b\"]}", "{\"a\":1}", 1},
        {"{\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":false}",
         "{\"a\":\"x\",\"b\":1,\"c\":2}", 2},
        {"{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"a\":1,\"b\":\"x\"}", 1},
        {"true", "{\"anything\":[1]}", 0},
        {"false", "1", 1},
        {"{\"properties\":{\"a\":false}}", "{\"a\":1}", 1},
        {"{\"properties\":{\"a\":false}}", "{}", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        forge_schema *s = compile(cases[i].schema);
        assert_non_null(s);
        int n = check(s, cases[i].instance, NULL);
        if (n != cases[i].errors)
            print_message("case %zu: %s on %s gave %d\n", i, cases[i].schema, cases[i].instance, n);
        assert_int_equal(n, cases[i].errors);
        forge_schema_free(s);
    }
}

static void test_pointers_and_messages(void **state)
{
    forge_schema *s = compile("{\"type\":\"object\",\"properties\":{"
                              "\"a/b\":{\"type\":\"integer\"},"
                              "\"m~n\":{\"type\":\"array\",\"items\":{\"properties\":{"
                              "\"deep\":{\"enum\":[1]}}}}},"
                              "\"required\":[\"need\"]}");
    assert_non_null(s);
    json_t *errs = NULL;
    int n = check(s, "{\"a/b\":\"secret-value\",\"m~n\":[{},{\"deep\":\"secret-value\"}]}", &errs);
    assert_int_equal(n, 3);
    const char *want[] = {"/need", "/a~1b", "/m~0n/1/deep"};
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(errs, i);
        assert_string_equal(json_string_value(json_object_get(e, "pointer")), want[i]);
        assert_null(strstr(json_string_value(json_object_get(e, "message")), "secret"));
    }
    json_decref(errs);
    forge_schema_free(s);
}

static void test_error_cap(void **state)
{
    forge_schema *s = compile("{\"items\":{\"type\":\"string\"}}");
    json_t *big = json_array();
    for (int i = 0; i < 100; i++)
        json_array_append_new(big, json_integer(i));
    json_t *errs = NULL;
    assert_int_equal(forge_schema_validate(s, big, &errs, 10), 100);
    assert_int_equal(json_array_size(errs), 10);
    json_decref(errs);
    json_decref(big);
    forge_schema_free(s);
}

static void test_compile_refusals(void **state)
{
    const char *bad[] = {
        "{\"$ref\":\"#/x\"}",
        "{\"oneOf\":[]}",
        "{\"type\":\"strin\"}",
        "{\"type\":[]}",
        "{\"minimum\":\"0\"}",
        "{\"minLength\":-1}",
        "{\"pattern\":\"(\"}",
        "{\"enum\":1}",
        "{\"required\":\"a\"}",
        "{\"properties\":{\"a\":{\"format\":\"email\"}}}",
        "1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_error_t je;
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, &je);
        forge_error err;
        forge_error_clear(&err);
        assert_null(forge_schema_new(j, &err));
        assert_true(err.code != 0);
        json_decref(j);
    }
    forge_error err;
    json_t *j = json_loads("{\"properties\":{\"x\":{\"oneOf\":[]}}}", 0, NULL);
    assert_null(forge_schema_new(j, &err));
    assert_non_null(strstr(err.message, "/properties/x/oneOf"));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_pointers_and_messages),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_compile_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
