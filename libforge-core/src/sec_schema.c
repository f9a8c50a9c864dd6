/*
 * JSON Schema validation for request bodies: the keyword subset listed in
 * docs/security.md, compiled once (unknown keywords are refused, so a
 * schema never silently means less than it says) and applied to a Jansson
 * value. Why hand-written: docs/adr/0100-json-schema-subset.md.
 *
 * Errors carry the RFC 6901 pointer of the offending value and a message
 * that never quotes the instance, so a 422 body cannot echo attacker input.
 */
#include "sec_impl.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCHEMA_DEPTH 64
#define PTR_MAX          512

enum {
    T_NULL = 1 << 0,
    T_BOOL = 1 << 1,
    T_OBJECT = 1 << 2,
    T_ARRAY = 1 << 3,
    T_NUMBER = 1 << 4,
    T_INTEGER = 1 << 5,
    T_STRING = 1 << 6
};

static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "integer", "string"};

typedef struct node node;
typedef struct prop {
    char *name;
    node *schema;
} prop;

struct node {
    bool never;     /* the schema `false` */
    unsigned types; /* 0: any */
    json_t *enumv;
    prop *props;
    size_t nprops;
    char **required;
    size_t nrequired;
    int addl; /* 1 allowed (default), 0 forbidden, 2 schema */
    node *addl_schema;
    bool has_min, has_max, has_xmin, has_xmax;
    double min, max, xmin, xmax;
    int64_t min_len, max_len; /* -1: none */
    regex_t *pattern;
    node *items;
    int64_t min_items, max_items;
};

struct forge_schema {
    node *root;
};

static void node_free(node *n)
{
    if (!n)
        return;
    json_decref(n->enumv);
    for (size_t i = 0; i < n->nprops; i++) {
        free(n->props[i].name);
        node_free(n->props[i].schema);
    }
    free(n->props);
    for (size_t i = 0; i < n->nrequired; i++)
        free(n->required[i]);
    free(n->required);
    node_free(n->addl_schema);
    if (n->pattern) {
        regfree(n->pattern);
        free(n->pattern);
    }
    node_free(n->items);
    free(n);
}

void forge_schema_free(forge_schema *s)
{
    if (s) {
        node_free(s->root);
        free(s);
    }
}

/* Append an RFC 6901 token to a pointer. */
static void ptr_push(char *buf, size_t cap, const char *base, const char *tok)
{
    size_t n = (size_t)snprintf(buf, cap, "%s/", base);
    for (const char *p = tok; *p && n + 3 < cap; p++) {
        if (*p == '~' || *p == '/') {
            buf[n++] = '~';
            buf[n++] = *p == '~' ? '0' : '1';
        } else {
            buf[n++] = *p;
        }
    }
    buf[n < cap ? n : cap - 1] = '\0';
}

static int cerr(forge_error *err, const char *ptr, const char *msg)
{
    return forge_error_setk(err, FORGE_EINVAL, ptr, "schema %s: %s", *ptr ? ptr : "(root)", msg);
}

static int nonneg_int(const json_t *v, int64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

static node *compile(const json_t *s, const char *ptr, int depth, forge_error *err);

static int compile_kw(node *n, const char *k, const json_t *v, const char *ptr, int depth,
                      forge_error *err)
{
    char sub[PTR_MAX];
    ptr_push(sub, sizeof(sub), ptr, k);
    if (strcmp(k, "$schema") == 0 || strcmp(k, "$id") == 0 || strcmp(k, "title") == 0 ||
        strcmp(k, "description") == 0 || strcmp(k, "default") == 0 || strcmp(k, "examples") == 0 ||
        strcmp(k, "$comment") == 0)
        return 0;
    if (strcmp(k, "type") == 0) {
        size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
        if (!json_is_string(v) && (!json_is_array(v) || cnt == 0))
            return cerr(err, sub, "type must be a name or a non-empty list of names");
        for (size_t i = 0; i < cnt; i++) {
            const char *t = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
            size_t j = 0;
            for (; t && j < sizeof(type_names) / sizeof(*type_names); j++)
                if (strcmp(t, type_names[j]) == 0)
                    break;
            if (!t || j == sizeof(type_names) / sizeof(*type_names))
                return cerr(err, sub, "unknown type");
            n->types |= 1u << j;
        }
        return 0;
    }
    if (strcmp(k, "enum") == 0 || strcmp(k, "const") == 0) {
        if (strcmp(k, "enum") == 0 && !json_is_array(v))
            return cerr(err, sub, "enum must be a list");
        json_t *e = json_is_array(v) && strcmp(k, "enum") == 0 ? json_incref((json_t *)v)
                                                               : json_pack("[O]", v);
        if (n->enumv) {
            json_decref(e);
            return cerr(err, sub, "enum and const together are not supported");
        }
        n->enumv = e;
        return 0;
    }
    if (strcmp(k, "required") == 0) {
        if (!json_is_array(v))
            return cerr(err, sub, "required must be a list of names");
        n->required = calloc(json_array_size(v) + 1, sizeof(char *));
        for (size_t i = 0; n->required && i < json_array_size(v); i++) {
            const char *r = json_string_value(json_array_get(v, i));
            if (!r)
                return cerr(err, sub, "required must be a list of names");
            n->required[n->nrequired++] = strdup(r);
        }
        return n->required ? 0 : FORGE_ENOMEM;
    }
    if (strcmp(k, "properties") == 0) {
        if (!json_is_object(v))
            return cerr(err, sub, "properties must be a map");
        n->props = calloc(json_object_size(v) + 1, sizeof(prop));
        const char *pk;
        json_t *pv;
        json_object_foreach((json_t *)v, pk, pv)
        {
            char pp[PTR_MAX];
            ptr_push(pp, sizeof(pp), sub, pk);
            node *c = compile(pv, pp, depth + 1, err);
            if (!c)
                return err ? err->code : FORGE_EINVAL;
            n->props[n->nprops].name = strdup(pk);
            n->props[n->nprops++].schema = c;
        }
        return 0;
    }
    if (strcmp(k, "additionalProperties") == 0) {
        if (json_is_boolean(v)) {
            n->addl = json_is_true(v);
            return 0;
        }
        n->addl = 2;
        n->addl_schema = compile(v, sub, depth + 1, err);
        return n->addl_schema ? 0 : (err ? err->code : FORGE_EINVAL);
    }
    if (strcmp(k, "items") == 0) {
        n->items = compile(v, sub, depth + 1, err);
        return n->items ? 0 : (err ? err->code : FORGE_EINVAL);
    }
    struct {
        const char *name;
        bool *has;
        double *val;
    } nums[] = {{"minimum", &n->has_min, &n->min},
                {"maximum", &n->has_max, &n->max},
                {"exclusiveMinimum", &n->has_xmin, &n->xmin},
                {"exclusiveMaximum", &n->has_xmax, &n->xmax}};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(k, nums[i].name) != 0)
            continue;
        if (!json_is_number(v))
            return cerr(err, sub, "must be a number");
        *nums[i].has = true;
        *nums[i].val = json_number_value(v);
        return 0;
    }
    struct {
        const char *name;
        int64_t *val;
    } ints[] = {{"minLength", &n->min_len},
                {"maxLength", &n->max_len},
                {"minItems", &n->min_items},
                {"maxItems", &n->max_items}};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(k, ints[i].name) != 0)
            continue;
        if (nonneg_int(v, ints[i].val))
            return cerr(err, sub, "must be a non-negative integer");
        return 0;
    }
    if (strcmp(k, "pattern") == 0) {
        if (!json_is_string(v))
            return cerr(err, sub, "pattern must be a string");
        n->pattern = malloc(sizeof(regex_t));
        if (!n->pattern)
            return FORGE_ENOMEM;
        if (regcomp(n->pattern, json_string_value(v), REG_EXTENDED | REG_NOSUB) != 0) {
            free(n->pattern);
            n->pattern = NULL;
            return cerr(err, sub, "pattern is not a valid POSIX extended regular expression");
        }
        return 0;
    }
    return cerr(err, sub, "unsupported keyword");
}

static node *compile(const json_t *s, const char *ptr, int depth, forge_error *err)
{
    if (depth > MAX_SCHEMA_DEPTH) {
        cerr(err, ptr, "nested too deep");
        return NULL;
    }
    node *n = calloc(1, sizeof(*n));
    if (!n) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    n->addl = 1;
    n->min_len = n->max_len = n->min_items = n->max_items = -1;
    if (json_is_boolean(s)) {
        n->never = json_is_false(s);
        return n;
    }
    if (!json_is_object(s)) {
        cerr(err, ptr, "a schema must be a map or a boolean");
        node_free(n);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        int rc = compile_kw(n, k, v, ptr, depth, err);
        if (rc) {
            if (rc == FORGE_ENOMEM)
                forge_error_set(err, FORGE_ENOMEM, "out of memory");
            node_free(n);
            return NULL;
        }
    }
    return n;
}

forge_schema *forge_schema_new(const json_t *schema, forge_error *err)
{
    forge_schema *s = calloc(1, sizeof(*s));
    if (!s) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    s->root = compile(schema, "", 0, err);
    if (!s->root) {
        free(s);
        return NULL;
    }
    return s;
}

/* ---- validation ---- */

typedef struct vctx {
    json_t *errors; /* may be NULL: count only */
    size_t count, max;
} vctx;

static void report(vctx *c, const char *ptr, const char *msg)
{
    c->count++;
    if (c->errors && json_array_size(c->errors) < c->max)
        json_array_append_new(c->errors, json_pack("{s:s, s:s}", "pointer", ptr, "message", msg));
}

static unsigned type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOL;
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_INTEGER:
        return T_NUMBER | T_INTEGER;
    case JSON_REAL: {
        double d = json_real_value(v);
        return T_NUMBER | (isfinite(d) && d == floor(d) ? T_INTEGER : 0);
    }
    default:
        return T_STRING;
    }
}

/* Unicode code points in valid UTF-8 (Jansson guarantees validity). */
static size_t utf8_len(const char *s, size_t n)
{
    size_t cp = 0;
    for (size_t i = 0; i < n; i++)
        cp += ((unsigned char)s[i] & 0xC0) != 0x80;
    return cp;
}

static void type_message(char *buf, size_t cap, unsigned types)
{
    size_t n = (size_t)snprintf(buf, cap, "must be of type ");
    bool first = true;
    for (size_t j = 0; j < sizeof(type_names) / sizeof(*type_names); j++) {
        if (!(types & (1u << j)))
            continue;
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", first ? "" : " or ",
                              type_names[j]);
        first = false;
        if (n >= cap)
            break;
    }
}

static void validate(const node *n, const json_t *v, const char *ptr, vctx *c)
{
    char msg[160];
    if (n->never) {
        report(c, ptr, "is not allowed");
        return;
    }
    unsigned t = type_of(v);
    if (n->types && !(n->types & t)) {
        type_message(msg, sizeof(msg), n->types);
        report(c, ptr, msg);
        return; /* the other keywords would only repeat the type error */
    }
    if (n->enumv) {
        bool ok = false;
        for (size_t i = 0; i < json_array_size(n->enumv) && !ok; i++)
            ok = json_equal(json_array_get(n->enumv, i), (json_t *)v);
        if (!ok)
            report(c, ptr, "must be one of the allowed values");
    }
    if (t & T_NUMBER) {
        double d = json_number_value(v);
        if (n->has_min && d < n->min) {
            snprintf(msg, sizeof(msg), "must be at least %g", n->min);
            report(c, ptr, msg);
        }
        if (n->has_max && d > n->max) {
            snprintf(msg, sizeof(msg), "must be at most %g", n->max);
            report(c, ptr, msg);
        }
        if (n->has_xmin && d <= n->xmin) {
            snprintf(msg, sizeof(msg), "must be greater than %g", n->xmin);
            report(c, ptr, msg);
        }
        if (n->has_xmax && d >= n->xmax) {
            snprintf(msg, sizeof(msg), "must be less than %g", n->xmax);
            report(c, ptr, msg);
        }
    }
    if (t == T_STRING) {
        const char *s = json_string_value(v);
        size_t bytes = json_string_length(v), len = utf8_len(s, bytes);
        if (n->min_len >= 0 && len < (size_t)n->min_len) {
            snprintf(msg, sizeof(msg), "must be at least %lld characters long",
                     (long long)n->min_len);
            report(c, ptr, msg);
        }
        if (n->max_len >= 0 && len > (size_t)n->max_len) {
            snprintf(msg, sizeof(msg), "must be at most %lld characters long",
                     (long long)n->max_len);
            report(c, ptr, msg);
        }
        /* regexec needs a C string: a value holding NUL cannot match safely. */
        if (n->pattern && (strlen(s) != bytes || regexec(n->pattern, s, 0, NULL, 0) != 0))
            report(c, ptr, "does not match the required pattern");
    }
    if (t == T_ARRAY) {
        size_t sz = json_array_size(v);
        if (n->min_items >= 0 && sz < (size_t)n->min_items) {
            snprintf(msg, sizeof(msg), "must have at least %lld items", (long long)n->min_items);
            report(c, ptr, msg);
        }
        if (n->max_items >= 0 && sz > (size_t)n->max_items) {
            snprintf(msg, sizeof(msg), "must have at most %lld items", (long long)n->max_items);
            report(c, ptr, msg);
        }
        for (size_t i = 0; n->items && i < sz; i++) {
            char sub[PTR_MAX], idx[24];
            snprintf(idx, sizeof(idx), "%zu", i);
            ptr_push(sub, sizeof(sub), ptr, idx);
            validate(n->items, json_array_get(v, i), sub, c);
        }
    }
    if (t == T_OBJECT) {
        char sub[PTR_MAX];
        for (size_t i = 0; i < n->nrequired; i++) {
            if (!json_object_get(v, n->required[i])) {
                ptr_push(sub, sizeof(sub), ptr, n->required[i]);
                report(c, sub, "is required");
            }
        }
        const char *k;
        json_t *pv;
        json_object_foreach((json_t *)v, k, pv)
        {
            ptr_push(sub, sizeof(sub), ptr, k);
            const node *ps = NULL;
            for (size_t i = 0; i < n->nprops && !ps; i++)
                if (strcmp(n->props[i].name, k) == 0)
                    ps = n->props[i].schema;
            if (ps)
                validate(ps, pv, sub, c);
            else if (n->addl == 0)
                report(c, sub, "is not an allowed property");
            else if (n->addl == 2)
                validate(n->addl_schema, pv, sub, c);
        }
    }
}

int forge_schema_validate(const forge_schema *s, const json_t *instance, json_t **errors,
                          size_t max_errors)
{
    vctx c = {.max = max_errors ? max_errors : 32};
    if (errors)
        *errors = c.errors = json_array();
    validate(s->root, instance, "", &c);
    return (int)(c.count > INT32_MAX ? INT32_MAX : c.count);
}

int forge__json_depth(const json_t *v)
{
    int max = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            int d = forge__json_depth(x);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int d = forge__json_depth(json_array_get(v, i));
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    return 0;
}
