/*
 * Fuzz the configuration loader: arbitrary bytes as YAML, JSON or sniffed,
 * then the binder, the unknown-key check, getters and the redacted dumps over
 * whatever loaded. The first byte picks the format.
 *
 * Inputs naming ${file:...} are skipped: they would read files of the fuzzing
 * machine, which is not what this target is about (the secret resolver's
 * string handling is still reached through ${env:...}).
 */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct sub_cfg {
    bool on;
    uint16_t port;
} sub_cfg;

typedef struct fz_cfg {
    int64_t i;
    uint8_t u8;
    double d;
    bool b;
    const char *s;
    uint64_t size;
    uint32_t ms;
    int e;
    sub_cfg sub;
} fz_cfg;

static const char *const names[] = {"text", "json", NULL};

static int nonneg(const void *v, const forge_config_field *f, forge_error *err)
{
    return *(const int64_t *)v >= 0 ? 0 : forge_error_set(err, FORGE_ERANGE, "negative");
}

static const forge_config_field sub_fields[] = {
    {FORGE_CFG_BOOL(sub_cfg, on, "on"), .def = "true"},
    {FORGE_CFG_UINT(sub_cfg, port, "port"), .flags = FORGE_CFG_REQUIRED},
};
static const forge_config_section sub_schema = FORGE_CFG_SECTION_OF(sub_fields);

static const forge_config_field fields[] = {
    {FORGE_CFG_INT(fz_cfg, i, "i"), .validate = nonneg},
    {FORGE_CFG_UINT(fz_cfg, u8, "u8")},
    {FORGE_CFG_DOUBLE(fz_cfg, d, "d")},
    {FORGE_CFG_BOOL(fz_cfg, b, "b")},
    {FORGE_CFG_STRING(fz_cfg, s, "s"), .flags = FORGE_CFG_SECRET},
    {FORGE_CFG_SIZE(fz_cfg, size, "size"), .def = "1m"},
    {FORGE_CFG_DURATION(fz_cfg, ms, "ms"), .def = "5s"},
    {FORGE_CFG_ENUM(fz_cfg, e, "e", names)},
    {FORGE_CFG_NESTED(fz_cfg, sub, "sub", &sub_schema)},
};
static const forge_config_section schema = FORGE_CFG_SECTION_OF(fields);

static const char *const keys[] = {"a", "a.b", "a.b[0]", "a[1].c", "x.y.z", "app.i", "app.sub"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || memmem(data, size, "file:", 5))
        return 0;
    forge_config_format fmt = (forge_config_format)(data[0] % 3);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    forge_config *cfg = forge_config_new();
    if (!cfg)
        return 0;
    forge_error err;
    forge_error_clear(&err);
    if (forge_config_load_string(cfg, text, len, fmt, &err) == 0) {
        fz_cfg c;
        memset(&c, 0, sizeof(c));
        forge_config_bind(cfg, "app", &schema, &c, &err);
        forge_config_declare(cfg, "open", FORGE_CFG_OPEN, &err);
        forge_config_check_unknown(cfg, &err);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            uint64_t u;
            forge_config_get_size(cfg, keys[i], &u, &err);
            forge_config_get_duration_ms(cfg, keys[i], &u, &err);
            forge_config_string(cfg, keys[i], NULL);
            forge_config_double(cfg, keys[i], 0);
            forge_config_len(cfg, keys[i]);
        }
        free(forge_config_dump_string(cfg, FORGE_CONFIG_DUMP_JSON));
        free(forge_config_dump_string(cfg, FORGE_CONFIG_DUMP_FLAT));
    }
    forge_config_free(cfg);

    /* The value parsers on the raw text. */
    char buf[64];
    size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    uint64_t u;
    int64_t i;
    bool b;
    forge__cfg_parse_size(buf, &u);
    forge__cfg_parse_duration_ms(buf, &u);
    forge__cfg_parse_int(buf, &i);
    forge__cfg_parse_bool(buf, &b);
    return 0;
}
