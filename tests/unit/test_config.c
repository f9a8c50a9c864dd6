/*
 * Configuration: loading (YAML, JSON, files), merging, environment
 * overrides, typed getters, struct binding, unknown keys, secrets, dumps,
 * and every error those can give.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_internal.h"

/* ---- helpers ---- */

static forge_config *load(const char *text, forge_config_format fmt)
{
    forge_config *cfg = forge_config_new();
    forge_error err;
    forge_error_clear(&err);
    int rc = forge_config_load_string(cfg, text, strlen(text), fmt, &err);
    if (rc != 0)
        fail_msg("load failed: %s", err.message);
    return cfg;
}

/* Load text expecting failure; returns the code and leaves the message in err. */
static int load_fail(const char *text, forge_config_format fmt, forge_error *err)
{
    forge_config *cfg = forge_config_new();
    forge_error_clear(err);
    int rc = forge_config_load_string(cfg, text, strlen(text), fmt, err);
    forge_config_free(cfg);
    assert_int_not_equal(rc, 0);
    return rc;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("\"%s\" contains \"%s\"", hay, needle);
}

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup_tmp(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/forge-test-config-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown_tmp(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- YAML and JSON ---- */

static void test_yaml_scalars(void **state)
{
    forge_config *cfg = load("app:\n"
                             "  name: shop\n"
                             "  version: \"1.10\"\n"
                             "  port: 8080\n"
                             "  ratio: 0.25\n"
                             "  debug: true\n"
                             "  off: FALSE\n"
                             "  hex: 0x1F\n"
                             "  oct: 0o17\n"
                             "  nothing: ~\n"
                             "  neg: -42\n"
                             "  text: 'yes'\n"
                             "  forced: !!str 123\n"
                             "  list: [a, b, c]\n"
                             "  block:\n"
                             "    - x: 1\n"
                             "    - x: 2\n",
                             FORGE_CONFIG_YAML);
    assert_string_equal(forge_config_string(cfg, "app.name", NULL), "shop");
    assert_string_equal(forge_config_string(cfg, "app.version", NULL), "1.10");
    assert_int_equal(forge_config_int(cfg, "app.port", 0), 8080);
    assert_true(forge_config_double(cfg, "app.ratio", 0) == 0.25);
    assert_true(forge_config_bool(cfg, "app.debug", false));
    assert_false(forge_config_bool(cfg, "app.off", true));
    assert_int_equal(forge_config_int(cfg, "app.hex", 0), 31);
    assert_int_equal(forge_config_int(cfg, "app.oct", 0), 15);
    assert_int_equal(forge_config_int(cfg, "app.neg", 0), -42);
    assert_false(forge_config_has(cfg, "app.nothing")); /* null counts as absent */
    assert_int_equal(forge_config_int(cfg, "app.nothing", 7), 7);
    assert_string_equal(forge_config_string(cfg, "app.text", NULL), "yes");
    assert_string_equal(forge_config_string(cfg, "app.forced", NULL), "123");
    assert_int_equal(forge_config_len(cfg, "app.list"), 3);
    assert_string_equal(forge_config_string(cfg, "app.list[1]", NULL), "b");
    assert_int_equal(forge_config_int(cfg, "app.block[1].x", 0), 2);
    assert_false(forge_config_has(cfg, "app.list[3]"));
    assert_false(forge_config_has(cfg, "app.missing"));
    assert_false(forge_config_has(cfg, "app.name.deeper"));
    assert_string_equal(forge_config_source(cfg, "app.port"), "<string>:4");
    assert_string_equal(forge_config_source(cfg, "app.block[1].x"), "<string>:17");
    forge_config_free(cfg);
}

static void test_yaml_empty_documents(void **state)
{
    const char *texts[] = {"", "# only a comment\n", "---\n", "---\n...\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        forge_config *cfg = load(texts[i], FORGE_CONFIG_YAML);
        assert_int_equal(forge_config_len(cfg, "x"), 0);
        forge_config_free(cfg);
    }
}

static void test_json_load_with_lines(void **state)
{
    forge_config *cfg = load("{\n"
                             "  \"http\": {\n"
                             "    \"max_body_size\": \"8m\",\n"
                             "    \"port\": 9090,\n"
                             "    \"ratio\": 1.5,\n"
                             "    \"on\": true\n"
                             "  }\n"
                             "}\n",
                             FORGE_CONFIG_AUTO);
    assert_int_equal(forge_config_size(cfg, "http.max_body_size", 0), 8u << 20);
    assert_int_equal(forge_config_int(cfg, "http.port", 0), 9090);
    assert_true(forge_config_double(cfg, "http.ratio", 0) == 1.5);
    assert_true(forge_config_bool(cfg, "http.on", false));
    assert_string_equal(forge_config_source(cfg, "http.port"), "<string>:4");
    forge_config_free(cfg);
}

static void test_merge(void **state)
{
    forge_config *cfg = load("http:\n  port: 80\n  hosts: [a, b]\n  tls:\n    on: true\n"
                             "log:\n  level: info\n",
                             FORGE_CONFIG_YAML);
    forge_error err;
    forge_error_clear(&err);
    const char *over =
        "{\"http\": {\"port\": 8080, \"hosts\": [\"c\"], \"tls\": {\"cert\": \"x\"}}}";
    assert_int_equal(forge_config_load_string(cfg, over, strlen(over), FORGE_CONFIG_JSON, &err), 0);
    assert_int_equal(forge_config_int(cfg, "http.port", 0), 8080);
    assert_int_equal(forge_config_len(cfg, "http.hosts"), 1); /* lists replace */
    assert_string_equal(forge_config_string(cfg, "http.hosts[0]", NULL), "c");
    assert_true(forge_config_bool(cfg, "http.tls.on", false)); /* maps merge */
    assert_string_equal(forge_config_string(cfg, "http.tls.cert", NULL), "x");
    assert_string_equal(forge_config_string(cfg, "log.level", NULL), "info");
    /* A scalar over a map replaces the map and its sources. */
    const char *flat = "http:\n  tls: off\n";
    assert_int_equal(forge_config_load_string(cfg, flat, strlen(flat), FORGE_CONFIG_YAML, &err), 0);
    assert_false(forge_config_has(cfg, "http.tls.cert"));
    assert_string_equal(forge_config_string(cfg, "http.tls", NULL), "off");
    forge_config_free(cfg);
}

static void test_load_file(void **state)
{
    const char *y = write_tmp("app.yaml", "http:\n  port: 81\n");
    forge_config *cfg = forge_config_new();
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_config_load_file(cfg, y, &err), 0);
    char expect[600];
    snprintf(expect, sizeof(expect), "%s:2", y);
    assert_string_equal(forge_config_source(cfg, "http.port"), expect);
    const char *j = write_tmp("over.json", "{\"http\": {\"port\": 82}}");
    assert_int_equal(forge_config_load_file(cfg, j, &err), 0);
    assert_int_equal(forge_config_int(cfg, "http.port", 0), 82);
    /* Unknown extension: sniffed. */
    const char *c = write_tmp("app.conf", "  {\"a\": 1}");
    assert_int_equal(forge_config_load_file(cfg, c, &err), 0);
    assert_int_equal(forge_config_int(cfg, "a", 0), 1);
    /* A .json file holding YAML is a JSON error, not a guess. */
    const char *bad = write_tmp("bad.json", "a: 1\n");
    assert_int_equal(forge_config_load_file(cfg, bad, &err), FORGE_EPARSE);
    assert_contains(err.message, "bad.json:1:");
    snprintf(expect, sizeof(expect), "%s/nope.yaml", tmpdir);
    assert_int_equal(forge_config_load_file(cfg, expect, &err), FORGE_ENOENT);
    assert_contains(err.message, "nope.yaml");
    forge_config_free(cfg);
}

/* ---- malformed and refused input ---- */

static void test_malformed_yaml(void **state)
{
    forge_error err;
    assert_int_equal(load_fail("a: [1, 2\nb: 3\n", FORGE_CONFIG_YAML, &err), FORGE_EPARSE);
    assert_contains(err.message, "<string>:");
    assert_contains(err.message, "invalid YAML");
    load_fail("a:\n  b: 1\n c: 2\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "<string>:3:");
    load_fail("a: \"unterminated\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "invalid YAML");
    load_fail("\t- tab\n", FORGE_CONFIG_YAML, &err);
    load_fail("a: b: c\n", FORGE_CONFIG_YAML, &err);
    load_fail("\xff\xfe\n", FORGE_CONFIG_YAML, &err);
    load_fail("a: \"\\0\"\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "NUL");
}

static void test_malformed_json(void **state)
{
    forge_error err;
    assert_int_equal(load_fail("{\"a\": 1,\n \"b\": }", FORGE_CONFIG_JSON, &err), FORGE_EPARSE);
    assert_contains(err.message, "<string>:2:");
    assert_contains(err.message, "invalid JSON");
    load_fail("[1, 2]", FORGE_CONFIG_JSON, &err);
    assert_contains(err.message, "top level");
    load_fail("", FORGE_CONFIG_JSON, &err);
    load_fail("{\"a\": {\"b.c\": 1}}", FORGE_CONFIG_JSON, &err);
    assert_contains(err.message, "b.c");
    assert_string_equal(err.key, "a");
}

static void test_duplicate_keys(void **state)
{
    forge_error err;
    load_fail("http:\n  port: 1\n  tls: {}\n  port: 2\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "http.port: duplicate key");
    assert_contains(err.message, "<string>:4:");
    assert_string_equal(err.key, "http.port");
    load_fail("{\"http\": {\"port\": 1, \"port\": 2}}", FORGE_CONFIG_JSON, &err);
    assert_contains(err.message, "duplicate");
    assert_contains(err.message, "port");
}

static void test_yaml_refused_features(void **state)
{
    forge_error err;
    load_fail("base: &b\n  x: 1\nother: *b\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "anchors");
    assert_string_equal(err.key, "base");
    load_fail("other:\n  <<: {x: 1}\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "merge keys");
    load_fail("a: 1\n---\nb: 2\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "more than one document");
    load_fail("- a\n- b\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "top level must be a map");
    load_fail("just a string\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "top level must be a map");
    load_fail("a: !custom 1\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "a: unsupported tag");
    load_fail("a: !!int twelve\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "not an integer");
    load_fail("a.b: 1\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "nest maps");
    load_fail("? [a, b]\n: 1\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "keys must be plain strings");
    load_fail("n: 99999999999999999999\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "n: integer out of range");
    /* Deep nesting is refused, not recursed into. */
    char deep[4096];
    size_t o = 0;
    o += (size_t)snprintf(deep, sizeof(deep), "a: ");
    for (int i = 0; i < 200; i++)
        deep[o++] = '[';
    for (int i = 0; i < 200; i++)
        deep[o++] = ']';
    deep[o] = '\0';
    load_fail(deep, FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "nested too deeply");
    load_fail(deep + 3, FORGE_CONFIG_JSON, &err);
}

/* ---- sizes, durations, typed getters ---- */

static void test_sizes(void **state)
{
    struct {
        const char *s;
        uint64_t v;
    } ok[] = {{"512", 512},       {"64k", 64 << 10},   {"64K", 64 << 10},
              {"64kb", 64 << 10}, {"64KiB", 64 << 10}, {"8m", 8u << 20},
              {"8 MB", 8u << 20}, {"1g", 1ull << 30},  {"2t", 2ull << 40},
              {"0", 0},           {"10b", 10},         {"16777215T", 16777215ull << 40}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 1;
        assert_int_equal(forge__cfg_parse_size(ok[i].s, &v), 0);
        assert_true(v == ok[i].v);
    }
    const char *bad[] = {"", "k", "-1", "1.5m", "12x", "1 g b", " 1", "1kk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v;
        assert_int_equal(forge__cfg_parse_size(bad[i], &v), FORGE_EINVAL);
    }
    uint64_t v;
    assert_int_equal(forge__cfg_parse_size("16777216t", &v), FORGE_ERANGE);
    assert_int_equal(forge__cfg_parse_size("99999999999999999999", &v), FORGE_ERANGE);
}

static void test_durations(void **state)
{
    struct {
        const char *s;
        uint64_t ms;
    } ok[] = {{"250ms", 250},
              {"5s", 5000},
              {"2m", 120000},
              {"1h", 3600000},
              {"1d", 86400000},
              {"1m30s", 90000},
              {"1h0m5s", 3600000 + 5000},
              {"0", 0},
              {"0s", 0}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 1;
        assert_int_equal(forge__cfg_parse_duration_ms(ok[i].s, &v), 0);
        assert_true(v == ok[i].ms);
    }
    const char *bad[] = {"", "5", "s", "5 s", "5sec", "-5s", "1.5s", "5S"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v;
        assert_int_equal(forge__cfg_parse_duration_ms(bad[i], &v), FORGE_EINVAL);
    }
    uint64_t v;
    assert_int_equal(forge__cfg_parse_duration_ms("999999999999999999d", &v), FORGE_ERANGE);
}

static void test_typed_getters(void **state)
{
    forge_config *cfg = load("http:\n"
                             "  max_body_size: [1, 2]\n"
                             "  body: 1m\n"
                             "  timeout: 1m30s\n"
                             "  bare_timeout: 30\n"
                             "  port: \"8080\"\n"
                             "  bad_port: eighty\n"
                             "  on: \"yes\"\n"
                             "  version: 1.10\n"
                             "  big: 9223372036854775807\n",
                             FORGE_CONFIG_YAML);
    forge_error err;
    forge_error_clear(&err);
    uint64_t u;
    int64_t i;
    const char *s;
    bool b;
    double d;
    assert_int_equal(forge_config_get_size(cfg, "http.max_body_size", &u, &err), FORGE_ETYPE);
    assert_string_equal(err.message,
                        "http.max_body_size: expected a size (512, 64k, 8m, 1g), got a list "
                        "(<string>:2)");
    assert_string_equal(err.key, "http.max_body_size");
    assert_int_equal(forge_config_get_size(cfg, "http.body", &u, &err), 0);
    assert_true(u == 1u << 20);
    assert_int_equal(forge_config_get_duration_ms(cfg, "http.timeout", &u, &err), 0);
    assert_true(u == 90000);
    assert_int_equal(forge_config_get_duration_ms(cfg, "http.bare_timeout", &u, &err), FORGE_ETYPE);
    assert_contains(err.message, "expected a duration");
    assert_contains(err.message, "got 30");
    assert_int_equal(forge_config_get_int(cfg, "http.port", &i, &err), 0);
    assert_int_equal(i, 8080);
    assert_int_equal(forge_config_get_int(cfg, "http.bad_port", &i, &err), FORGE_ETYPE);
    assert_string_equal(err.message,
                        "http.bad_port: expected an integer, got \"eighty\" (<string>:7)");
    assert_int_equal(forge_config_get_bool(cfg, "http.on", &b, &err), 0);
    assert_true(b);
    assert_int_equal(forge_config_get_string(cfg, "http.version", &s, &err), FORGE_ETYPE);
    assert_contains(err.message, "quote the value");
    assert_int_equal(forge_config_get_double(cfg, "http.version", &d, &err), 0);
    assert_int_equal(forge_config_get_int(cfg, "http.big", &i, &err), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(forge_config_get_int(cfg, "http.none", &i, &err), FORGE_ENOENT);
    assert_string_equal(err.key, "http.none");
    assert_int_equal(forge_config_get_bool(cfg, "http.port", &b, &err), FORGE_ETYPE);
    /* Plain getters fall back to the default on a wrong type. */
    assert_int_equal(forge_config_int(cfg, "http.bad_port", 5), 5);
    assert_int_equal(forge_config_size(cfg, "http.max_body_size", 7), 7);
    assert_null(forge_config_string(cfg, "http.port.x", NULL));
    forge_config_free(cfg);
}

/* ---- environment ---- */

static void test_env_overrides(void **state)
{
    forge_config *cfg = load("http:\n  max_body_size: 1m\n  port: 80\n", FORGE_CONFIG_YAML);
    setenv("FORGE_HTTP__MAX_BODY_SIZE", "4m", 1);
    setenv("FORGE_HTTP_PORT", "8081", 1);             /* single form: key is in the file */
    setenv("FORGE_SERVICES__START_TIMEOUT", "9s", 1); /* double form: any key */
    setenv("FORGE_RUNTIME_POOL_THREADS", "3", 1);     /* single form, absent key: not applied yet */
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_config_apply_env(cfg, &err), 0);
    assert_int_equal(forge_config_size(cfg, "http.max_body_size", 0), 4u << 20);
    assert_string_equal(forge_config_source(cfg, "http.max_body_size"),
                        "env FORGE_HTTP__MAX_BODY_SIZE");
    assert_int_equal(forge_config_int(cfg, "http.port", 0), 8081);
    assert_int_equal(forge_config_duration_ms(cfg, "services.start_timeout", 0), 9000);
    assert_false(forge_config_has(cfg, "runtime.pool_threads"));
    /* Declaring the key picks the single form up. */
    assert_int_equal(forge_config_declare(cfg, "runtime.pool_threads", 0, &err), 0);
    assert_int_equal(forge_config_int(cfg, "runtime.pool_threads", 0), 3);
    /* The double form wins over the single one. */
    setenv("FORGE_HTTP__PORT", "8082", 1);
    assert_int_equal(forge_config_apply_env(cfg, &err), 0);
    assert_int_equal(forge_config_int(cfg, "http.port", 0), 8082);
    unsetenv("FORGE_HTTP__MAX_BODY_SIZE");
    unsetenv("FORGE_HTTP_PORT");
    unsetenv("FORGE_HTTP__PORT");
    unsetenv("FORGE_SERVICES__START_TIMEOUT");
    unsetenv("FORGE_RUNTIME_POOL_THREADS");
    forge_config_free(cfg);
}

/* ---- binding ---- */

typedef struct mw_cfg {
    bool cors;
    bool request_id;
} mw_cfg;

typedef struct http_cfg {
    int port;
    uint64_t max_body;
    uint32_t timeout_ms;
    double ratio;
    const char *name;
    const char *token;
    int format;
    uint8_t small;
    int16_t offset;
    mw_cfg mw;
} http_cfg;

static int port_ok(const void *v, const forge_config_field *f, forge_error *err)
{
    int p = *(const int *)v;
    return p > 0 && p < 65536 ? 0 : forge_error_set(err, FORGE_ERANGE, "%d is not a port", p);
}

static const char *const formats[] = {"text", "json", NULL};

static const forge_config_field mw_fields[] = {
    {FORGE_CFG_BOOL(mw_cfg, cors, "cors"), .def = "false"},
    {FORGE_CFG_BOOL(mw_cfg, request_id, "request_id"), .def = "true"},
};
static const forge_config_section mw_schema = FORGE_CFG_SECTION_OF(mw_fields);

static const forge_config_field http_fields[] = {
    {FORGE_CFG_INT(http_cfg, port, "port"), .def = "8080", .validate = port_ok},
    {FORGE_CFG_SIZE(http_cfg, max_body, "max_body_size"), .def = "1m"},
    {FORGE_CFG_DURATION(http_cfg, timeout_ms, "timeout"), .def = "30s"},
    {FORGE_CFG_DOUBLE(http_cfg, ratio, "ratio")},
    {FORGE_CFG_STRING(http_cfg, name, "name"), .def = "forge"},
    {FORGE_CFG_STRING(http_cfg, token, "token"), .flags = FORGE_CFG_SECRET,
     .env = "TEST_HTTP_TOKEN"},
    {FORGE_CFG_ENUM(http_cfg, format, "format", formats), .def = "text"},
    {FORGE_CFG_UINT(http_cfg, small, "small")},
    {FORGE_CFG_INT(http_cfg, offset, "offset")},
    {FORGE_CFG_NESTED(http_cfg, mw, "middleware", &mw_schema)},
};
static const forge_config_section http_schema = FORGE_CFG_SECTION_OF(http_fields);

static void test_bind_defaults_and_values(void **state)
{
    forge_config *cfg = load("http:\n"
                             "  port: 9000\n"
                             "  ratio: 0.5\n"
                             "  format: JSON\n"
                             "  small: 200\n"
                             "  offset: -300\n"
                             "  middleware:\n"
                             "    cors: true\n",
                             FORGE_CONFIG_YAML);
    http_cfg h = {.ratio = -1};
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_config_bind(cfg, "http", &http_schema, &h, &err), 0);
    assert_int_equal(h.port, 9000);
    assert_true(h.max_body == 1u << 20);
    assert_int_equal(h.timeout_ms, 30000);
    assert_true(h.ratio == 0.5);
    assert_string_equal(h.name, "forge");
    assert_null(h.token); /* absent, not required: untouched */
    assert_int_equal(h.format, 1);
    assert_int_equal(h.small, 200);
    assert_int_equal(h.offset, -300);
    assert_true(h.mw.cors);
    assert_true(h.mw.request_id);
    assert_string_equal(forge_config_source(cfg, "http.max_body_size"), "default");
    assert_int_equal(forge_config_check_unknown(cfg, &err), 0);
    forge_config_free(cfg);
}

static void test_bind_env_precedence(void **state)
{
    forge_config *cfg = load("http:\n  port: 9000\n  name: file\n", FORGE_CONFIG_YAML);
    setenv("TEST_HTTP_TOKEN", "tok-explicit", 1);
    setenv("FORGE_HTTP__TOKEN", "tok-double", 1);
    setenv("FORGE_HTTP_PORT", "9001", 1);
    setenv("FORGE_HTTP__MIDDLEWARE__CORS", "on", 1);
    setenv("FORGE_HTTP_NAME", "single", 1);
    setenv("FORGE_HTTP__NAME", "double", 1);
    http_cfg h = {0};
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_config_bind(cfg, "http", &http_schema, &h, &err), 0);
    assert_string_equal(h.token, "tok-explicit");
    assert_int_equal(h.port, 9001);
    assert_true(h.mw.cors);
    assert_string_equal(h.name, "double");
    assert_string_equal(forge_config_source(cfg, "http.token"), "env TEST_HTTP_TOKEN");
    /* Bound from env with FORGE_CFG_SECRET: never dumped. */
    char *dump = forge_config_dump_string(cfg, FORGE_CONFIG_DUMP_FLAT);
    assert_lacks(dump, "tok-explicit");
    assert_contains(dump, "http.token = \"***\"  # env TEST_HTTP_TOKEN");
    free(dump);
    unsetenv("TEST_HTTP_TOKEN");
    unsetenv("FORGE_HTTP__TOKEN");
    unsetenv("FORGE_HTTP_PORT");
    unsetenv("FORGE_HTTP__MIDDLEWARE__CORS");
    unsetenv("FORGE_HTTP_NAME");
    unsetenv("FORGE_HTTP__NAME");
    forge_config_free(cfg);
}

typedef struct db_cfg {
    const char *url;
    int pool;
    int min_pool;
} db_cfg;

static int pool_order(void *obj, forge_error *err)
{
    db_cfg *d = obj;
    return d->min_pool <= d->pool
               ? 0
               : forge_error_set(err, FORGE_ECONFIG, "min_pool (%d) exceeds pool (%d)", d->min_pool,
                                 d->pool);
}

static const forge_config_field db_fields[] = {
    {FORGE_CFG_STRING(db_cfg, url, "url"), .flags = FORGE_CFG_REQUIRED | FORGE_CFG_SECRET},
    {FORGE_CFG_INT(db_cfg, pool, "pool"), .def = "4"},
    {FORGE_CFG_INT(db_cfg, min_pool, "min_pool"), .def = "1"},
};
static const forge_config_section db_schema = {db_fields, 3, pool_order, 0};

static void test_bind_errors(void **state)
{
    forge_error err;
    forge_error_clear(&err);
    /* Missing required. */
    forge_config *cfg = load("db:\n  pool: 2\n", FORGE_CONFIG_YAML);
    db_cfg d = {0};
    assert_int_equal(forge_config_bind(cfg, "db", &db_schema, &d, &err), FORGE_ECONFIG);
    assert_string_equal(err.message,
                        "db.url: required but not set (in the config file or FORGE_DB__URL)");
    assert_string_equal(err.key, "db.url");
    forge_config_free(cfg);
    /* Section validator. */
    cfg = load("db:\n  url: x\n  pool: 2\n  min_pool: 3\n", FORGE_CONFIG_YAML);
    assert_int_equal(forge_config_bind(cfg, "db", &db_schema, &d, &err), FORGE_ECONFIG);
    assert_string_equal(err.message, "db: min_pool (3) exceeds pool (2)");
    forge_config_free(cfg);
    /* Several failures: the first in full, then a count. */
    cfg = load("http:\n"
               "  port: 70000\n"
               "  max_body_size: lots\n"
               "  timeout: 5\n"
               "  format: xml\n"
               "  small: 300\n"
               "  name: 12\n"
               "  middleware: [1]\n",
               FORGE_CONFIG_YAML);
    http_cfg h = {0};
    assert_int_equal(forge_config_bind(cfg, "http", &http_schema, &h, &err), FORGE_ERANGE);
    assert_string_equal(err.message,
                        "http.port: 70000 is not a port (<string>:2) (and 6 more errors)");
    assert_string_equal(err.key, "http.port");
    forge_config_free(cfg);
    /* Each of those on its own. */
    struct {
        const char *yaml;
        const char *msg;
    } cases[] = {
        {"http:\n  max_body_size: lots\n",
         "http.max_body_size: expected a size (512, 64k, 8m, 1g), got \"lots\" (<string>:2)"},
        {"http:\n  max_body_size: [1]\n",
         "http.max_body_size: expected a size (512, 64k, 8m, 1g), got a list (<string>:2)"},
        {"http:\n  timeout: 5\n", "http.timeout: expected a duration"},
        {"http:\n  format: xml\n",
         "http.format: expected one of text, json, got \"xml\" (<string>:2)"},
        {"http:\n  small: 300\n",
         "http.small: out of range: for a 8-bit unsigned value, got 300 (<string>:2)"},
        {"http:\n  small: -1\n", "http.small: out of range: (must not be negative), got -1"},
        {"http:\n  offset: 40000\n", "http.offset: out of range: for a 16-bit integer"},
        {"http:\n  name: 12\n", "http.name: expected a string (quote the value), got 12"},
        {"http:\n  middleware: [1]\n", "http.middleware: expected a map, got a list"},
        {"http: 5\n", "http: expected a map, got 5"},
        {"http:\n  ratio: {a: 1}\n", "http.ratio: expected a number, got a map"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg = load(cases[i].yaml, FORGE_CONFIG_YAML);
        memset(&h, 0, sizeof(h));
        forge_error_clear(&err);
        assert_true(forge_config_bind(cfg, "http", &http_schema, &h, &err) < 0);
        assert_contains(err.message, cases[i].msg);
        assert_lacks(err.message, "more error");
        forge_config_free(cfg);
    }
}

static void test_bind_bad_descriptor(void **state)
{
    static const forge_config_field bad[] = {
        {.key = "x", .type = FORGE_CFG_T_INT, .offset = 0, .size = 3},
    };
    static const forge_config_section sec = FORGE_CFG_SECTION_OF(bad);
    forge_config *cfg = forge_config_new();
    char obj[8];
    forge_error err;
    assert_int_equal(forge_config_bind(cfg, "s", &sec, obj, &err), FORGE_EINVAL);
    assert_contains(err.message, "s.x: bad field descriptor");
    forge_config_free(cfg);
}

/* ---- unknown keys ---- */

static void test_unknown_keys(void **state)
{
    forge_config *cfg = load("http:\n"
                             "  port: 1\n"
                             "  max_body_sise: 1m\n"
                             "  middleware:\n"
                             "    cors: true\n"
                             "    corz: true\n"
                             "plugins:\n"
                             "  anything:\n"
                             "    goes: here\n"
                             "extra: 1\n",
                             FORGE_CONFIG_YAML);
    setenv("FORGE_HTTP__PROT", "80", 1);
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_config_apply_env(cfg, &err), 0);
    unsetenv("FORGE_HTTP__PROT");
    http_cfg h = {0};
    assert_int_equal(forge_config_bind(cfg, "http", &http_schema, &h, &err), 0);
    assert_int_equal(forge_config_declare(cfg, "plugins", FORGE_CFG_OPEN, &err), 0);
    assert_int_equal(forge_config_check_unknown(cfg, &err), FORGE_ECONFIG);
    assert_contains(err.message, "unknown config keys: ");
    assert_contains(err.message,
                    "http.max_body_sise (<string>:3; did you mean http.max_body_size?)");
    assert_contains(err.message, "http.middleware.corz (<string>:6; did you mean "
                                 "http.middleware.cors?)");
    assert_contains(err.message, "http.prot (env FORGE_HTTP__PROT; did you mean http.port?)");
    assert_contains(err.message, "extra (<string>:10)");
    assert_lacks(err.message, "plugins");
    forge_config_free(cfg);
}

/* ---- secrets ---- */

static void test_secrets_env_and_file(void **state)
{
    setenv("TEST_DB_PASSWORD", "s3cr3t-env", 1);
    const char *pw = write_tmp("token", "s3cr3t-file\n");
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "db:\n"
             "  password: ${env:TEST_DB_PASSWORD}\n"
             "  url: postgres://app:${env:TEST_DB_PASSWORD}@db/app\n"
             "  token: \"${file:%s}\"\n"
             "  literal: \"$${env:NOT_A_REF}\"\n"
             "  list: [\"${env:TEST_DB_PASSWORD}\", plain]\n"
             "  pool: \"${env:TEST_DB_PASSWORD}\"\n",
             pw);
    forge_config *cfg = load(yaml, FORGE_CONFIG_YAML);
    assert_string_equal(forge_config_string(cfg, "db.password", NULL), "s3cr3t-env");
    assert_string_equal(forge_config_string(cfg, "db.url", NULL),
                        "postgres://app:s3cr3t-env@db/app");
    assert_string_equal(forge_config_string(cfg, "db.token", NULL), "s3cr3t-file");
    assert_string_equal(forge_config_string(cfg, "db.literal", NULL), "${env:NOT_A_REF}");
    assert_true(forge_config_is_secret(cfg, "db.password"));
    assert_true(forge_config_is_secret(cfg, "db.list[0]"));
    assert_false(forge_config_is_secret(cfg, "db.list[1]"));
    assert_false(forge_config_is_secret(cfg, "db.literal"));
    for (int f = 0; f < 2; f++) {
        char *dump =
            forge_config_dump_string(cfg, f ? FORGE_CONFIG_DUMP_FLAT : FORGE_CONFIG_DUMP_JSON);
        assert_non_null(dump);
        assert_lacks(dump, "s3cr3t");
        assert_contains(dump, "***");
        assert_contains(dump, "plain");
        free(dump);
    }
    /* A wrong type on a secret value never quotes it. */
    forge_error err;
    forge_error_clear(&err);
    int64_t i;
    assert_int_equal(forge_config_get_int(cfg, "db.pool", &i, &err), FORGE_ETYPE);
    assert_lacks(err.message, "s3cr3t");
    assert_contains(err.message, "db.pool: expected an integer, got a string (secret, not shown)");
    db_cfg d = {0};
    assert_int_not_equal(forge_config_bind(cfg, "db", &db_schema, &d, &err), 0);
    assert_lacks(err.message, "s3cr3t");
    /* The same through a dump to a FILE. */
    char path[512];
    snprintf(path, sizeof(path), "%s/dump.txt", tmpdir);
    FILE *f = fopen(path, "w+");
    assert_int_equal(forge_config_dump(cfg, f, FORGE_CONFIG_DUMP_FLAT), 0);
    rewind(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_contains(buf, "db.password = \"***\"");
    assert_lacks(buf, "s3cr3t");
    unsetenv("TEST_DB_PASSWORD");
    forge_config_free(cfg);
}

static void test_secret_errors(void **state)
{
    forge_error err;
    unsetenv("TEST_UNSET_VAR");
    assert_int_equal(load_fail("db:\n  pw: ${env:TEST_UNSET_VAR}\n", FORGE_CONFIG_YAML, &err),
                     FORGE_ECONFIG);
    assert_string_equal(err.message,
                        "db.pw: secret variable TEST_UNSET_VAR is not set (<string>:2)");
    assert_string_equal(err.key, "db.pw");
    load_fail("db:\n  pw: ${file:/nonexistent/forge/secret}\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "db.pw: secret file: /nonexistent/forge/secret:");
    load_fail("db:\n  pw: ${file:/tmp}\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "db.pw: secret file: /tmp: not a regular file");
    char fifo[600], yaml[700];
    snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(yaml, sizeof(yaml), "db:\n  pw: ${file:%s}\n", fifo);
    load_fail(yaml, FORGE_CONFIG_YAML, &err); /* refused without blocking */
    assert_contains(err.message, "not a regular file");
    load_fail("db:\n  pw: ${vault:x}\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "unknown reference ${vault:...}");
    load_fail("db:\n  pw: ${env:X\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "malformed reference");
    load_fail("db:\n  pw: ${env:}\n", FORGE_CONFIG_YAML, &err);
    assert_contains(err.message, "empty");
    /* Through the environment as well. */
    forge_config *cfg = forge_config_new();
    setenv("FORGE_DB__PW", "${env:TEST_UNSET_VAR}", 1);
    assert_int_equal(forge_config_apply_env(cfg, &err), FORGE_ECONFIG);
    assert_contains(err.message,
                    "db.pw: secret variable TEST_UNSET_VAR is not set (env FORGE_DB__PW)");
    setenv("TEST_SET_VAR", "hidden-value", 1);
    setenv("FORGE_DB__PW", "${env:TEST_SET_VAR}", 1);
    assert_int_equal(forge_config_apply_env(cfg, &err), 0);
    assert_true(forge_config_is_secret(cfg, "db.pw"));
    char *dump = forge_config_dump_string(cfg, FORGE_CONFIG_DUMP_JSON);
    assert_lacks(dump, "hidden-value");
    free(dump);
    unsetenv("FORGE_DB__PW");
    unsetenv("TEST_SET_VAR");
    forge_config_free(cfg);
}

static int fail_always(const void *v, const forge_config_field *f, forge_error *err)
{
    return forge_error_set(err, FORGE_ECONFIG, "rejected");
}

static void test_validator_error_hides_secret(void **state)
{
    typedef struct {
        const char *key;
    } s_cfg;
    static const forge_config_field fields[] = {
        {FORGE_CFG_STRING(s_cfg, key, "key"), .flags = FORGE_CFG_SECRET, .validate = fail_always},
    };
    static const forge_config_section sec = FORGE_CFG_SECTION_OF(fields);
    forge_config *cfg = load("api:\n  key: plain-but-declared-secret\n", FORGE_CONFIG_YAML);
    s_cfg s = {0};
    forge_error err;
    assert_int_equal(forge_config_bind(cfg, "api", &sec, &s, &err), FORGE_ECONFIG);
    assert_string_equal(err.message, "api.key: rejected (<string>:2)");
    char *dump = forge_config_dump_string(cfg, FORGE_CONFIG_DUMP_JSON);
    assert_lacks(dump, "plain-but-declared-secret");
    free(dump);
    forge_config_free(cfg);
}

static void test_dump_flat(void **state)
{
    forge_config *cfg = load("b:\n  y: [1, 2]\n  x: \"s\"\na: true\n", FORGE_CONFIG_YAML);
    char *dump = forge_config_dump_string(cfg, FORGE_CONFIG_DUMP_FLAT);
    assert_string_equal(dump, "a = true  # <string>:4\n"
                              "b.x = \"s\"  # <string>:3\n"
                              "b.y = [1,2]  # <string>:2\n");
    free(dump);
    forge_config_free(cfg);
}

static void test_core_sections(void **state)
{
    forge_config *cfg = load("http:\n  max_body_size: 8m\n  middleware:\n    access_log: off\n"
                             "log:\n  format: json\nservices:\n  stop_timeout: 2s\n",
                             FORGE_CONFIG_YAML);
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_config_check_core(cfg, &err), 0);
    assert_int_equal(forge_config_size(cfg, "http.max_body_size", 0), 8u << 20);
    assert_false(forge_config_bool(cfg, "http.middleware.access_log", true));
    assert_true(forge_config_bool(cfg, "http.middleware.request_id", false));
    assert_int_equal(forge_config_int(cfg, "runtime.pool_threads", 0), 4);
    assert_int_equal(forge_config_duration_ms(cfg, "services.start_timeout", 0), 30000);
    assert_int_equal(forge_config_duration_ms(cfg, "services.stop_timeout", 0), 2000);
    assert_string_equal(forge_config_source(cfg, "runtime.pool_threads"), "default");
    assert_int_equal(forge_config_check_unknown(cfg, &err), 0);
    forge_config_free(cfg);

    struct {
        const char *yaml;
        const char *msg;
    } bad[] = {
        {"http:\n  max_body_size: [1]\n", "http.max_body_size: expected a size"},
        {"http:\n  max_body_size: 0\n", "http.max_body_size: must be between 1 byte and 1t"},
        {"http: 5\n", "http: expected a map, got 5"},
        {"log:\n  level: loud\n", "log.level: expected one of trace, debug"},
        {"runtime:\n  pool_threads: 0\n", "runtime.pool_threads: must be between 1 and 1024"},
        {"services:\n  start_timeout: 30\n", "services.start_timeout: expected a duration"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg = load(bad[i].yaml, FORGE_CONFIG_YAML);
        forge_error_clear(&err);
        assert_true(forge_config_check_core(cfg, &err) < 0);
        assert_contains(err.message, bad[i].msg);
        forge_config_free(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_scalars),
        cmocka_unit_test(test_yaml_empty_documents),
        cmocka_unit_test(test_json_load_with_lines),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_malformed_yaml),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_yaml_refused_features),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_bind_defaults_and_values),
        cmocka_unit_test(test_bind_env_precedence),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_bind_bad_descriptor),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_secrets_env_and_file),
        cmocka_unit_test(test_secret_errors),
        cmocka_unit_test(test_validator_error_hides_secret),
        cmocka_unit_test(test_dump_flat),
        cmocka_unit_test(test_core_sections),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
