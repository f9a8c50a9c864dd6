/*
 * YAML configuration documents (libyaml's event parser).
 *
 * The subset Forge accepts, so that a config file means one thing:
 *   - one document whose top level is a map (or an empty document);
 *   - keys are plain strings without '.', '[' or ']' (they form key paths);
 *   - duplicate keys are refused, naming the key path;
 *   - anchors, aliases and merge keys (<<) are refused (they let one value
 *     appear under many paths, which breaks "this key came from line n");
 *   - plain scalars resolve by the YAML 1.2 core schema (null, true/false,
 *     integers incl. 0x/0o, floats); quoted scalars are strings; the core
 *     tags !!str !!int !!float !!bool !!null !!map !!seq are honoured and
 *     any other tag is refused;
 *   - nesting is limited to FORGE__CFG_DEPTH_MAX levels.
 * Every value's line is recorded in the doc's meta.
 */
#include "config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef struct ystate {
    yaml_parser_t p;
    forge__cfgdoc *doc;
    forge_error *err;
} ystate;

static int syntax_error(ystate *s)
{
    const yaml_parser_t *p = &s->p;
    return forge_error_set(s->err, FORGE_EPARSE, "%s:%zu:%zu: invalid YAML: %s%s%s", s->doc->src,
                           p->problem_mark.line + 1, p->problem_mark.column + 1,
                           p->problem ? p->problem : "syntax error", p->context ? " " : "",
                           p->context ? p->context : "");
}

static int next(ystate *s, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&s->p, ev))
        return syntax_error(s);
    return 0;
}

static int at_error(ystate *s, const yaml_event_t *ev, const char *path, int code, const char *what)
{
    return forge_error_setk(s->err, code, path, "%s:%zu:%zu: %s%s%s", s->doc->src,
                            ev->start_mark.line + 1, ev->start_mark.column + 1, path,
                            *path ? ": " : "", what);
}

static bool all(const char *s, size_t n, const char *set)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i]))
            return false;
    return true;
}

static bool one_of(const char *v, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(*words, v, n) == 0)
            return true;
    return false;
}

static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const trues[] = {"true", "True", "TRUE", NULL};
static const char *const falses[] = {"false", "False", "FALSE", NULL};

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *v, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (v[i] == '-' || v[i] == '+'))
        i++;
    while (i < n && v[i] >= '0' && v[i] <= '9')
        i++, digits++;
    if (i < n && v[i] == '.') {
        i++;
        while (i < n && v[i] >= '0' && v[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return false;
    if (i < n && (v[i] == 'e' || v[i] == 'E')) {
        i++;
        if (i < n && (v[i] == '-' || v[i] == '+'))
            i++;
        size_t exp = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9')
            i++, exp++;
        if (!exp)
            return false;
    }
    return i == n;
}

enum kind { K_AUTO, K_STR, K_INT, K_FLOAT, K_BOOL, K_NULL };

/* The value of a scalar of the given kind; NULL with *why set when it does not fit. */
static json_t *scalar(const char *v, size_t n, enum kind k, const char **why)
{
    char buf[128];
    *why = NULL;
    if (k == K_STR) {
        if (memchr(v, '\0', n)) {
            *why = "a string holds a NUL character";
            return NULL;
        }
        json_t *s = json_stringn(v, n);
        if (!s)
            *why = "a string is not valid UTF-8";
        return s;
    }
    if ((k == K_AUTO || k == K_NULL) && one_of(v, n, nulls))
        return json_null();
    if ((k == K_AUTO || k == K_BOOL) && one_of(v, n, trues))
        return json_true();
    if ((k == K_AUTO || k == K_BOOL) && one_of(v, n, falses))
        return json_false();
    bool sign = n > 0 && (v[0] == '-' || v[0] == '+');
    bool dec = all(v + sign, n - sign, "0123456789");
    bool hex = n > 2 && v[0] == '0' && v[1] == 'x' && all(v + 2, n - 2, "0123456789abcdefABCDEF");
    bool oct = n > 2 && v[0] == '0' && v[1] == 'o' && all(v + 2, n - 2, "01234567");
    if ((k == K_AUTO || k == K_INT) && (dec || hex || oct)) {
        if (n >= sizeof(buf)) {
            *why = "integer out of range (quote it to keep it as a string)";
            return NULL;
        }
        memcpy(buf, v, n);
        buf[n] = '\0';
        errno = 0;
        char *end;
        long long x;
        if (dec) {
            x = strtoll(buf, &end, 10);
        } else {
            unsigned long long u = strtoull(buf + 2, &end, hex ? 16 : 8);
            if (u > INT64_MAX)
                errno = ERANGE;
            x = (long long)u;
        }
        if (errno == ERANGE) {
            *why = "integer out of range (quote it to keep it as a string)";
            return NULL;
        }
        return json_integer(x);
    }
    if ((k == K_AUTO || k == K_FLOAT) && is_float(v, n) && n < sizeof(buf)) {
        memcpy(buf, v, n);
        buf[n] = '\0';
        double d = strtod(buf, NULL);
        json_t *r = json_real(d);
        if (!r)
            *why = "number out of range";
        return r;
    }
    if (k == K_AUTO)
        return scalar(v, n, K_STR, why);
    static const char *const expected[] = {"",
                                           "",
                                           "not an integer (tag !!int)",
                                           "not a float (tag !!float)",
                                           "not a boolean (tag !!bool)",
                                           "not null (tag !!null)"};
    *why = expected[k];
    return NULL;
}

static int tag_kind(const char *tag, enum kind *k)
{
    static const struct {
        const char *name;
        enum kind k;
    } tags[] = {{"str", K_STR},   {"int", K_INT},  {"float", K_FLOAT}, {"bool", K_BOOL},
                {"null", K_NULL}, {"map", K_AUTO}, {"seq", K_AUTO}};
    if (!tag || strcmp(tag, "!") == 0) {
        *k = K_AUTO;
        return 0;
    }
    size_t pl = strlen(TAG_PREFIX);
    if (strncmp(tag, TAG_PREFIX, pl) == 0)
        for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
            if (strcmp(tag + pl, tags[i].name) == 0) {
                *k = tags[i].k;
                return 0;
            }
    return -1;
}

static int node(ystate *s, yaml_event_t *ev, const char *path, int depth, json_t **out);

static int mapping(ystate *s, const char *path, int depth, json_t *obj)
{
    for (;;) {
        yaml_event_t kev, vev;
        int rc = next(s, &kev);
        if (rc)
            return rc;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return 0;
        }
        if (kev.type != YAML_SCALAR_EVENT || kev.data.scalar.anchor || kev.data.scalar.tag) {
            rc = at_error(s, &kev, path, FORGE_EPARSE,
                          kev.type == YAML_ALIAS_EVENT
                              ? "aliases (*name) are not supported"
                              : "keys must be plain strings (no lists, maps, anchors or tags)");
            yaml_event_delete(&kev);
            return rc;
        }
        const char *k = (const char *)kev.data.scalar.value;
        size_t kn = kev.data.scalar.length;
        char sub[FORGE__CFG_PATH_MAX];
        char what[160];
        if (kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && kn == 2 && memcmp(k, "<<", 2) == 0)
            rc = at_error(s, &kev, path, FORGE_EPARSE, "merge keys (<<) are not supported");
        else if (!forge__cfg_key_ok(k, kn)) {
            snprintf(what, sizeof(what),
                     "key \"%.*s\" is empty or holds '.', '[', ']' or a control character; nest "
                     "maps instead",
                     (int)(kn > 64 ? 64 : kn), k);
            rc = at_error(s, &kev, path, FORGE_EPARSE, what);
        } else if (snprintf(sub, sizeof(sub), "%s%s%.*s", path, *path ? "." : "", (int)kn, k) >=
                   (int)sizeof(sub))
            rc = at_error(s, &kev, path, FORGE_EPARSE, "key path too long");
        else if (json_object_getn(obj, k, kn))
            rc = at_error(s, &kev, sub, FORGE_EPARSE, "duplicate key");
        if (rc) {
            yaml_event_delete(&kev);
            return rc;
        }
        json_t *child = NULL;
        rc = next(s, &vev);
        if (rc == 0)
            rc = node(s, &vev, sub, depth + 1, &child);
        if (rc == 0 && json_object_setn_new(obj, k, kn, child) != 0)
            rc = forge_error_set(s->err, FORGE_ENOMEM, "out of memory");
        yaml_event_delete(&kev);
        if (rc)
            return rc;
    }
}

static int sequence(ystate *s, const char *path, int depth, json_t *arr)
{
    for (size_t i = 0;; i++) {
        yaml_event_t ev;
        int rc = next(s, &ev);
        if (rc)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        char sub[FORGE__CFG_PATH_MAX];
        if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) >= (int)sizeof(sub)) {
            rc = at_error(s, &ev, path, FORGE_EPARSE, "key path too long");
            yaml_event_delete(&ev);
            return rc;
        }
        json_t *child = NULL;
        rc = node(s, &ev, sub, depth + 1, &child);
        if (rc == 0 && json_array_append_new(arr, child) != 0)
            rc = forge_error_set(s->err, FORGE_ENOMEM, "out of memory");
        if (rc)
            return rc;
    }
}

/* Build the value starting at ev (consumed). */
static int node(ystate *s, yaml_event_t *ev, const char *path, int depth, json_t **out)
{
    int rc = 0;
    const char *anchor = NULL, *tag = NULL;
    if (ev->type == YAML_SCALAR_EVENT) {
        anchor = (const char *)ev->data.scalar.anchor;
        tag = (const char *)ev->data.scalar.tag;
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        anchor = (const char *)ev->data.sequence_start.anchor;
        tag = (const char *)ev->data.sequence_start.tag;
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        anchor = (const char *)ev->data.mapping_start.anchor;
        tag = (const char *)ev->data.mapping_start.tag;
    }
    enum kind k = K_AUTO;
    if (ev->type == YAML_ALIAS_EVENT)
        rc = at_error(s, ev, path, FORGE_EPARSE, "aliases (*name) are not supported");
    else if (anchor)
        rc = at_error(s, ev, path, FORGE_EPARSE, "anchors (&name) are not supported");
    else if (tag_kind(tag, &k) != 0)
        rc = at_error(s, ev, path, FORGE_EPARSE, "unsupported tag");
    else if (depth > FORGE__CFG_DEPTH_MAX)
        rc = at_error(s, ev, path, FORGE_EPARSE, "nested too deeply");
    if (rc) {
        yaml_event_delete(ev);
        return rc;
    }
    if (*path)
        forge__cfg_meta_src(s->doc->meta, path, "%s:%zu", s->doc->src, ev->start_mark.line + 1);
    json_t *v = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *why;
        if (k == K_AUTO && !ev->data.scalar.plain_implicit)
            k = K_STR; /* quoted, no tag */
        v = scalar((const char *)ev->data.scalar.value, ev->data.scalar.length, k, &why);
        if (!v)
            rc = at_error(s, ev, path, FORGE_EPARSE, why ? why : "out of memory");
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
        v = json_array();
        rc = v ? sequence(s, path, depth, v) : forge_error_set(s->err, FORGE_ENOMEM, "no memory");
        break;
    case YAML_MAPPING_START_EVENT:
        v = json_object();
        rc = v ? mapping(s, path, depth, v) : forge_error_set(s->err, FORGE_ENOMEM, "no memory");
        break;
    default:
        rc = at_error(s, ev, path, FORGE_EPARSE, "unexpected YAML event");
        break;
    }
    yaml_event_delete(ev);
    if (rc) {
        json_decref(v);
        return rc;
    }
    *out = v;
    return 0;
}

/* Expect an event of `type`; anything else is a structural error. */
static int expect(ystate *s, yaml_event_type_t type, const char *what)
{
    yaml_event_t ev;
    int rc = next(s, &ev);
    if (rc)
        return rc;
    if (ev.type != type)
        rc = at_error(s, &ev, "", FORGE_EPARSE, what);
    yaml_event_delete(&ev);
    return rc;
}

static int document(ystate *s)
{
    yaml_event_t ev;
    int rc = next(s, &ev);
    if (rc)
        return rc;
    if (ev.type == YAML_STREAM_END_EVENT) { /* nothing but comments */
        yaml_event_delete(&ev);
        return 0;
    }
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        rc = at_error(s, &ev, "", FORGE_EPARSE, "expected a document");
        yaml_event_delete(&ev);
        return rc;
    }
    yaml_event_delete(&ev);
    if ((rc = next(s, &ev)) != 0)
        return rc;
    yaml_event_t start = ev; /* marks of the top node, for the message below */
    json_t *root = NULL;
    if ((rc = node(s, &ev, "", 0, &root)) != 0)
        return rc;
    if (json_is_null(root)) {
        json_decref(root);
        root = NULL;
    } else if (!json_is_object(root)) {
        json_decref(root);
        return at_error(s, &start, "", FORGE_EPARSE, "the top level must be a map of keys");
    }
    s->doc->root = root;
    if ((rc = expect(s, YAML_DOCUMENT_END_EVENT, "expected the end of the document")) != 0)
        return rc;
    return expect(s, YAML_STREAM_END_EVENT,
                  "more than one document (---) in a config file is not supported");
}

int forge__cfg_parse_yaml(forge__cfgdoc *doc, const char *text, size_t len, forge_error *err)
{
    ystate s;
    s.doc = doc;
    s.err = err;
    if (!yaml_parser_initialize(&s.p))
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&s.p, (const unsigned char *)text, len);
    int rc = expect(&s, YAML_STREAM_START_EVENT, "expected a YAML stream");
    if (rc == 0)
        rc = document(&s);
    yaml_parser_delete(&s.p);
    if (rc) {
        json_decref(doc->root);
        doc->root = NULL;
    }
    return rc;
}
