/*
 * CORS (Fetch standard, "CORS protocol"), server side.
 *
 * Preflight (OPTIONS with Origin and Access-Control-Request-Method): when
 * the origin is allowed and the requested method and headers are allowed,
 * answer 204 with Access-Control-Allow-Origin (the origin itself),
 * -Allow-Methods, -Allow-Headers, -Allow-Credentials, -Max-Age and Vary;
 * the route's policy never runs (a preflight carries no credentials).
 * Anything else is left to the route (no CORS headers: the browser refuses).
 * Actual requests from an allowed origin get Allow-Origin, -Allow-Credentials
 * and -Expose-Headers. `Vary: Origin` goes on every response whose headers
 * depend on the origin, so caches keep them apart.
 *
 * Origin patterns: "*" (any origin; not with credentials), exact
 * ("https://app.example.com"), or with `*` standing for one DNS label
 * (the pattern "https:" "//" "*.example.com" matches https://a.example.com,
 * not https://a.b.example.com nor https://example.com).
 */
#include "sec_impl.h"

#include <string.h>
#include <strings.h>

static bool glob_match(const char *pat, const char *s, size_t n)
{
    size_t i = 0;
    for (; *pat; pat++) {
        if (*pat == '*') {
            size_t start = i;
            while (i < n && s[i] != '.' && s[i] != '/' && s[i] != ':')
                i++;
            if (i == start)
                return false;
            /* One label: the next pattern byte must match where the label ends. */
            continue;
        }
        if (i >= n || s[i] != *pat)
            return false;
        i++;
    }
    return i == n;
}

bool forge__cors_origin_allowed(const forge__cors *c, const char *origin, size_t n)
{
    if (n == 0 || n > 512)
        return false;
    if (c->any_origin)
        return true;
    for (size_t i = 0; i < c->norigins; i++) {
        const char *o = c->origins[i];
        if (strchr(o, '*') ? glob_match(o, origin, n)
                           : (strlen(o) == n && memcmp(o, origin, n) == 0))
            return true;
    }
    return false;
}

static bool header_allowed(const forge__cors *c, const char *h, size_t n)
{
    for (size_t i = 0; i < c->nheaders; i++)
        if (strlen(c->headers[i]) == n && strncasecmp(c->headers[i], h, n) == 0)
            return true;
    return false;
}

/* Every name of a comma-separated Access-Control-Request-Headers is allowed. */
static bool headers_allowed(const forge__cors *c, forge_str list)
{
    size_t i = 0;
    while (i < list.n) {
        while (i < list.n && (list.p[i] == ' ' || list.p[i] == '\t' || list.p[i] == ','))
            i++;
        size_t s = i;
        while (i < list.n && list.p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (list.p[e - 1] == ' ' || list.p[e - 1] == '\t'))
            e--;
        if (e > s && !header_allowed(c, list.p + s, e - s))
            return false;
    }
    return true;
}

static bool method_allowed(const forge__cors *c, forge_str m)
{
    /* c->methods is "GET, POST, ..." */
    const char *p = c->methods;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == m.n && memcmp(p, m.p, n) == 0)
            return true;
        p = e ? e + 2 : NULL;
    }
    return false;
}

/* The CORS middleware's before: FORGE_DONE for an answered preflight. */
int forge__cors_before(forge_req *req, const forge__cors *c)
{
    if (!c->enabled)
        return FORGE_NEXT;
    forge_str origin;
    bool has_origin = forge_req_header(req, "Origin", &origin);
    if (!c->any_origin || c->credentials)
        forge_res_header(req, "Vary", "Origin");
    if (!has_origin)
        return FORGE_NEXT;
    char *o = forge_arena_strndup(forge_req_arena(req), origin.p, origin.n);
    if (!o)
        return FORGE_ENOMEM;
    bool allowed = forge__cors_origin_allowed(c, origin.p, origin.n);
    forge_str acrm;
    if (forge_req_method(req) == FORGE_METHOD_OPTIONS &&
        forge_req_header(req, "Access-Control-Request-Method", &acrm)) {
        forge_str acrh = {"", 0};
        forge_req_header(req, "Access-Control-Request-Headers", &acrh);
        if (!allowed || !method_allowed(c, acrm) || !headers_allowed(c, acrh))
            return FORGE_NEXT;
        forge_res_status(req, 204);
        forge_res_set_header(req, "Access-Control-Allow-Origin",
                             c->any_origin && !c->credentials ? "*" : o);
        forge_res_set_header(req, "Access-Control-Allow-Methods", c->methods);
        if (c->headers_joined && *c->headers_joined)
            forge_res_set_header(req, "Access-Control-Allow-Headers", c->headers_joined);
        if (c->credentials)
            forge_res_set_header(req, "Access-Control-Allow-Credentials", "true");
        if (c->max_age_s > 0) {
            char buf[24];
            snprintf(buf, sizeof(buf), "%lld", (long long)c->max_age_s);
            forge_res_set_header(req, "Access-Control-Max-Age", buf);
        }
        forge_res_header(req, "Vary", "Access-Control-Request-Method");
        forge_res_header(req, "Vary", "Access-Control-Request-Headers");
        return FORGE_DONE;
    }
    if (!allowed)
        return FORGE_NEXT;
    forge_res_set_header(req, "Access-Control-Allow-Origin",
                         c->any_origin && !c->credentials ? "*" : o);
    if (c->credentials)
        forge_res_set_header(req, "Access-Control-Allow-Credentials", "true");
    if (c->expose && *c->expose)
        forge_res_set_header(req, "Access-Control-Expose-Headers", c->expose);
    return FORGE_NEXT;
}
