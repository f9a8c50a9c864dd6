/*
 * Fuzz the JSON Schema compiler and validator: the input is a schema and an
 * instance separated by a NUL byte (both JSON). Without a NUL, the input is
 * an instance checked against a fixed schema using every keyword.
 */
#include "sec_impl.h"

#include <string.h>

static forge_schema *fixed;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fixed) {
        json_t *s = json_loads(
            "{\"type\":\"object\",\"required\":[\"name\"],\"additionalProperties\":{\"type\":"
            "[\"integer\",\"null\"]},\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,"
            "\"maxLength\":5,\"pattern\":\"^[a-z]+$\"},\"age\":{\"type\":\"integer\",\"minimum\":0,"
            "\"maximum\":150},\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",1,null]},"
            "\"maxItems\":3},\"x\":{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}}}",
            0, NULL);
        fixed = forge_schema_new(s, NULL);
        json_decref(s);
    }
    const uint8_t *nul = memchr(data, 0, size);
    json_t *errs = NULL;
    if (!nul) {
        json_t *inst = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
        if (inst) {
            forge_schema_validate(fixed, inst, &errs, 8);
            json_decref(errs);
            json_decref(inst);
        }
        return 0;
    }
    json_t *sch = json_loadb((const char *)data, (size_t)(nul - data), JSON_DECODE_ANY, NULL);
    json_t *inst =
        json_loadb((const char *)nul + 1, size - (size_t)(nul - data) - 1, JSON_DECODE_ANY, NULL);
    if (sch && inst) {
        forge_schema *s = forge_schema_new(sch, NULL);
        if (s) {
            forge_schema_validate(s, inst, &errs, 0);
            json_decref(errs);
            forge_schema_free(s);
        }
    }
    json_decref(sch);
    json_decref(inst);
    return 0;
}
