/*
 * Typed values: text parsers for sizes and durations, conversions from tree
 * nodes (shared by the getters and the binder) and their error messages.
 *
 * Strings convert to numbers, booleans, sizes and durations (environment
 * variables are always strings); numbers never convert to strings: a string
 * field given `1.10` is an error that says to quote it, rather than "1.1".
 */
#include "config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- text parsers ---- */

static int parse_u64(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    if (!isdigit((unsigned char)*s))
        return FORGE_EINVAL;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return FORGE_ERANGE;
        v = v * 10 + d;
        s++;
    }
    *sp = s;
    *out = v;
    return 0;
}

int forge__cfg_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        unsigned shift;
    } units[] = {{"", 0},     {"b", 0},   {"k", 10},   {"kb", 10}, {"kib", 10},
                 {"m", 20},   {"mb", 20}, {"mib", 20}, {"g", 30},  {"gb", 30},
                 {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40}};
    uint64_t v;
    int rc = parse_u64(&s, &v);
    if (rc)
        return rc;
    while (*s == ' ')
        s++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(s, units[i].unit) == 0) {
            if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
                return FORGE_ERANGE;
            *out = v << units[i].shift;
            return 0;
        }
    }
    return FORGE_EINVAL;
}

int forge__cfg_parse_duration_ms(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    uint64_t total = 0;
    if (!*s)
        return FORGE_EINVAL;
    while (*s) {
        uint64_t v;
        int rc = parse_u64(&s, &v);
        if (rc)
            return rc;
        size_t n = 0;
        while (isalpha((unsigned char)s[n]))
            n++;
        size_t i;
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strlen(units[i].unit) == n && strncmp(s, units[i].unit, n) == 0)
                break;
        if (i == sizeof(units) / sizeof(units[0]))
            return FORGE_EINVAL;
        if (v > UINT64_MAX / units[i].ms || total > UINT64_MAX - v * units[i].ms)
            return FORGE_ERANGE;
        total += v * units[i].ms;
        s += n;
    }
    *out = total;
    return 0;
}

int forge__cfg_parse_int(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    uint64_t v;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isxdigit((unsigned char)s[2])) {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(s + 2, &end, 16);
        if (*end)
            return FORGE_EINVAL;
        if (errno == ERANGE)
            return FORGE_ERANGE;
        v = u;
    } else {
        int rc = parse_u64(&s, &v);
        if (rc)
            return rc;
        if (*s)
            return FORGE_EINVAL;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > INT64_MAX)
        return FORGE_ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int forge__cfg_parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"true", "yes", "on", "1"};
    static const char *const f[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, f[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return FORGE_EINVAL;
}

/* ---- messages ---- */

const char *forge__cfg_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a map";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a float";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* What was found, for a message: the value itself unless it is secret or not a scalar. */
static void describe(const forge_config *cfg, const char *path, const json_t *v, char *buf,
                     size_t size)
{
    if (forge__cfg_is_secret(cfg, path)) {
        snprintf(buf, size, "%s (secret, not shown)", forge__cfg_type_name(v));
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = 0, o = 0;
        buf[o++] = '"';
        for (; s[n] && n < 40 && o + 6 < size; n++)
            buf[o++] = (unsigned char)s[n] < 0x20 ? '?' : s[n];
        if (s[n] && o + 5 < size) {
            memcpy(buf + o, "...", 3);
            o += 3;
        }
        buf[o++] = '"';
        buf[o] = '\0';
        break;
    }
    case JSON_INTEGER:
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, size, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(buf, size, "true");
        break;
    case JSON_FALSE:
        snprintf(buf, size, "false");
        break;
    default:
        snprintf(buf, size, "%s", forge__cfg_type_name(v));
    }
}

int forge__cfg_type_error(const forge_config *cfg, const char *path, const json_t *v, int code,
                          const char *expected, forge_error *err)
{
    if (!err)
        return code;
    char got[64];
    describe(cfg, path, v, got, sizeof(got));
    const char *src = forge__cfg_src(cfg, path);
    return forge_error_setk(err, code, path, "%s: %s %s, got %s%s%s%s", path,
                            code == FORGE_ERANGE ? "out of range:" : "expected", expected, got,
                            src ? " (" : "", src ? src : "", src ? ")" : "");
}

/* ---- conversions ---- */

static int from_text(const forge_config *cfg, const char *path, const json_t *v, int rc,
                     const char *expected, forge_error *err)
{
    return forge__cfg_type_error(cfg, path, v, rc == FORGE_ERANGE ? FORGE_ERANGE : FORGE_ETYPE,
                                 expected, err);
}

int forge__cfg_to_int(const forge_config *cfg, const char *path, const json_t *v, int64_t *out,
                      forge_error *err)
{
    static const char what[] = "an integer";
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        int rc = forge__cfg_parse_int(json_string_value(v), out);
        return rc ? from_text(cfg, path, v, rc, what, err) : 0;
    }
    return forge__cfg_type_error(cfg, path, v, FORGE_ETYPE, what, err);
}

int forge__cfg_to_uint(const forge_config *cfg, const char *path, const json_t *v, uint64_t *out,
                       forge_error *err)
{
    int64_t i;
    int rc = forge__cfg_to_int(cfg, path, v, &i, err);
    if (rc)
        return rc;
    if (i < 0)
        return forge__cfg_type_error(cfg, path, v, FORGE_ERANGE, "(must not be negative)", err);
    *out = (uint64_t)i;
    return 0;
}

int forge__cfg_to_double(const forge_config *cfg, const char *path, const json_t *v, double *out,
                         forge_error *err)
{
    static const char what[] = "a number";
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (end != s && !*end && !isspace((unsigned char)*s) && isfinite(d) && errno != ERANGE) {
            *out = d;
            return 0;
        }
    }
    return forge__cfg_type_error(cfg, path, v, FORGE_ETYPE, what, err);
}

int forge__cfg_to_bool(const forge_config *cfg, const char *path, const json_t *v, bool *out,
                       forge_error *err)
{
    static const char what[] = "a boolean (true/false)";
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v) && forge__cfg_parse_bool(json_string_value(v), out) == 0)
        return 0;
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *out = json_integer_value(v) == 1;
        return 0;
    }
    return forge__cfg_type_error(cfg, path, v, FORGE_ETYPE, what, err);
}

int forge__cfg_to_string(const forge_config *cfg, const char *path, const json_t *v,
                         const char **out, forge_error *err)
{
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return 0;
    }
    return forge__cfg_type_error(
        cfg, path, v, FORGE_ETYPE,
        json_is_number(v) || json_is_boolean(v) ? "a string (quote the value)" : "a string", err);
}

int forge__cfg_to_size(const forge_config *cfg, const char *path, const json_t *v, uint64_t *out,
                       forge_error *err)
{
    static const char what[] = "a size (512, 64k, 8m, 1g)";
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        int rc = forge__cfg_parse_size(json_string_value(v), out);
        return rc ? from_text(cfg, path, v, rc, what, err) : 0;
    }
    return forge__cfg_type_error(cfg, path, v, FORGE_ETYPE, what, err);
}

int forge__cfg_to_duration(const forge_config *cfg, const char *path, const json_t *v,
                           uint64_t *out, forge_error *err)
{
    static const char what[] = "a duration (250ms, 5s, 2m, 1h, 1m30s)";
    if (json_is_integer(v) && json_integer_value(v) == 0) {
        *out = 0;
        return 0;
    }
    if (json_is_string(v)) {
        int rc = forge__cfg_parse_duration_ms(json_string_value(v), out);
        return rc ? from_text(cfg, path, v, rc, what, err) : 0;
    }
    return forge__cfg_type_error(cfg, path, v, FORGE_ETYPE, what, err);
}
