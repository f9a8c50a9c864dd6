/*
 * Route patterns: syntax and validation.
 *
 * A pattern is '/' followed by segments separated by '/'. A segment is
 *   :name or {name}   a parameter: one whole, non-empty path segment;
 *   *name             a wildcard: the rest of the path, possibly empty; last;
 *   anything else     static text.
 * Names are [A-Za-z0-9_]+ and unique within a pattern. In static text ':' and
 * '*' after the first byte are literal (`/v1/things:batchGet`), braces are
 * refused, and percent escapes are decoded (`/caf%C3%A9` is the same route as
 * `/café`), except that an encoded '/' or NUL is refused: a path's encoded
 * slash never separates segments, so such a static segment could never match.
 * Bytes below 0x21, DEL, '?' and '#' are refused: they are never part of a
 * request path.
 */
#include "router_tree.h"

#include <stdlib.h>
#include <string.h>

static int bad(forge_error *err, const char *pattern, const char *why)
{
    return forge_error_setk(err, FORGE_EINVAL, pattern, "route pattern '%s': %s", pattern, why);
}

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* Decode a static segment onto `*o`. Returns NULL or the reason it is refused. */
static const char *decode_static(const char *s, size_t n, char **o)
{
    char *w = *o;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
            return "control character, space, '?' or '#' in a static segment";
        if (c == '{' || c == '}')
            return "a {name} parameter must be a whole segment";
        if (c == '%') {
            int hi = i + 2 < n ? hexv((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexv((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return "malformed percent escape";
            c = (unsigned char)(hi << 4 | lo);
            if (c == '/' || c == 0)
                return "an encoded '/' or NUL in a static segment can never match";
            i += 2;
        }
        *w++ = (char)c;
    }
    *o = w;
    return NULL;
}

static int add_tok(rpattern *out, uint8_t kind, const char *s, size_t n)
{
    if (out->ntoks == RPAT_MAX_TOKS)
        return -1;
    out->toks[out->ntoks++] = (rtok){kind, s, n};
    return 0;
}

/* One segment (without its leading '/'); `last` when nothing follows it. */
static int parse_segment(const char *pattern, const char *seg, size_t n, bool last, rpattern *out,
                         char **w, const char **run, unsigned *nparams, forge_error *err)
{
    uint8_t kind = RNODE_STATIC;
    const char *name = NULL;
    size_t namelen = 0;
    if (n > 0 && seg[0] == ':') {
        kind = RNODE_PARAM, name = seg + 1, namelen = n - 1;
    } else if (n > 0 && seg[0] == '{') {
        if (n < 2 || seg[n - 1] != '}')
            return bad(err, pattern, "unclosed '{' in a parameter");
        kind = RNODE_PARAM, name = seg + 1, namelen = n - 2;
    } else if (n > 0 && seg[0] == '*') {
        if (!last)
            return bad(err, pattern, "a *wildcard must be the last segment");
        kind = RNODE_WILD, name = seg + 1, namelen = n - 1;
    }
    if (kind == RNODE_STATIC) {
        *(*w)++ = '/';
        const char *why = decode_static(seg, n, w);
        return why ? bad(err, pattern, why) : 0;
    }
    if (namelen == 0)
        return bad(err, pattern, "empty parameter name");
    if (!name_ok(name, namelen))
        return bad(err, pattern, "a parameter name is made of [A-Za-z0-9_]");
    if (++*nparams > FORGE_ROUTER_MAX_PARAMS)
        return bad(err, pattern, "too many parameters (FORGE_ROUTER_MAX_PARAMS is 16)");
    for (size_t i = 0; i < out->ntoks; i++)
        if (out->toks[i].kind != RNODE_STATIC && out->toks[i].n == namelen &&
            memcmp(out->toks[i].s, name, namelen) == 0)
            return bad(err, pattern, "a parameter name appears twice");
    /* The static run so far ends with the '/' before this parameter. */
    *(*w)++ = '/';
    if (add_tok(out, RNODE_STATIC, *run, (size_t)(*w - *run)) || add_tok(out, kind, name, namelen))
        return bad(err, pattern, "too many parameters");
    *run = *w;
    return 0;
}

int forge__rpattern_parse(const char *pattern, rpattern *out, forge_error *err)
{
    out->ntoks = 0;
    out->text = NULL;
    if (!pattern)
        return forge_error_set(err, FORGE_EINVAL, "route pattern is NULL");
    if (pattern[0] != '/')
        return bad(err, pattern, "must start with '/'");
    size_t len = strlen(pattern);
    out->text = malloc(len + 1);
    if (!out->text)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    char *w = out->text;
    const char *run = w;
    unsigned nparams = 0;
    const char *p = pattern + 1, *end = pattern + len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *segend = slash ? slash : end;
        int rc =
            parse_segment(pattern, p, (size_t)(segend - p), !slash, out, &w, &run, &nparams, err);
        if (rc) {
            free(out->text);
            out->text = NULL;
            return rc;
        }
        if (!slash)
            break;
        p = slash + 1;
    }
    /* Text after the last parameter (or the whole pattern when it has none). */
    if (w > run)
        add_tok(out, RNODE_STATIC, run, (size_t)(w - run));
    return 0;
}
