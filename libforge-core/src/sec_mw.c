/*
 * The security middleware: the app-wide CORS half and policy enforcer, the
 * group form, and the principal handlers see.
 *
 * A policy runs in this order: limits (431, 413), rate limits keyed by
 * client address or header (429), authentication (401), rate limits keyed
 * by subject or API key (429), authorisation (403), body validation (400,
 * 422), then the policy's header overrides. Every refusal is an
 * application/problem+json body saying what the client must change, never
 * why a credential failed; the reason goes to the audit log.
 *
 * Routes find their policy through a table resolved when the worker starts
 * (sorted by the router's pattern pointer and method), so a request costs a
 * binary search and no string compares.
 */
#include "request_impl.h" /* struct forge_group: the group's app */
#include "sec_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PRINCIPAL_KEY "forge.security.principal"

static FORGE_TYPE_DEFINE(sec_type, "forge.security");

static forge__sec *sec_of(forge_app *app, forge_error *err)
{
    return forge_di_get(forge_app_container(app), "forge.security", &sec_type, err);
}

/* ---- principal ---- */

typedef struct principal {
    forge_principal pub;
    json_t *claims; /* reference held for the request */
} principal;

static void principal_free(void *v)
{
    json_decref(((principal *)v)->claims);
}

const forge_principal *forge_req_principal(const forge_req *req)
{
    principal *p = forge_req_value(req, PRINCIPAL_KEY);
    return p ? &p->pub : NULL;
}

const json_t *forge_req_claim(const forge_req *req, const char *name)
{
    principal *p = forge_req_value(req, PRINCIPAL_KEY);
    return p && p->claims ? json_object_get(p->claims, name) : NULL;
}

static bool principal_has(const forge__sec *s, const forge_principal *p, const char *perm)
{
    for (size_t i = 0; i < p->nscopes; i++)
        if (strcmp(p->scopes[i], perm) == 0)
            return true;
    for (size_t i = 0; i < p->nroles; i++)
        for (size_t j = 0; j < s->nroles; j++) {
            if (strcmp(s->roles[j].name, p->roles[i]) != 0)
                continue;
            for (size_t k = 0; k < s->roles[j].nperms; k++)
                if (strcmp(s->roles[j].perms[k], perm) == 0 ||
                    strcmp(s->roles[j].perms[k], "*") == 0)
                    return true;
        }
    return false;
}

bool forge_req_has_permission(const forge_req *req, const char *permission)
{
    const forge_principal *p = forge_req_principal(req);
    if (!p || !permission)
        return false;
    forge__sec *s = sec_of(forge_req_app(req), NULL);
    return s && principal_has(s, p, permission);
}

/* Strings of a claim that is a list of strings or one space-separated string. */
static const char **claim_strs(forge_req *req, const json_t *v, size_t *n)
{
    *n = 0;
    if (json_is_array(v)) {
        const char **out = forge_req_alloc(req, (json_array_size(v) + 1) * sizeof(char *));
        for (size_t i = 0; out && i < json_array_size(v); i++) {
            const char *s = json_string_value(json_array_get(v, i));
            if (s)
                out[(*n)++] = s;
        }
        return out;
    }
    if (!json_is_string(v))
        return NULL;
    char *copy =
        forge_arena_strndup(forge_req_arena(req), json_string_value(v), json_string_length(v));
    size_t cnt = 1;
    for (const char *p = copy; p && *p; p++)
        cnt += *p == ' ';
    const char **out = copy ? forge_req_alloc(req, (cnt + 1) * sizeof(char *)) : NULL;
    for (char *save = NULL, *t = out ? strtok_r(copy, " ", &save) : NULL; t;
         t = strtok_r(NULL, " ", &save))
        out[(*n)++] = t;
    return out;
}

static int set_jwt_principal(forge_req *req, forge_jwt_verifier *v, json_t *claims)
{
    principal *p = forge_req_alloc(req, sizeof(*p));
    char *method = forge_arena_sprintf(forge_req_arena(req), "jwt:%s", v->name);
    if (!p || !method) {
        json_decref(claims);
        return FORGE_ENOMEM;
    }
    memset(p, 0, sizeof(*p));
    p->claims = claims;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    p->pub.subject = sub ? sub : "";
    p->pub.method = method;
    p->pub.claims = claims;
    p->pub.roles = claim_strs(req, json_object_get(claims, v->roles_claim), &p->pub.nroles);
    p->pub.scopes = claim_strs(req, json_object_get(claims, v->scope_claim), &p->pub.nscopes);
    return forge_req_set_value(req, PRINCIPAL_KEY, p, principal_free);
}

static int set_intro_principal(forge_req *req, const forge__intro *it, json_t *claims)
{
    principal *p = forge_req_alloc(req, sizeof(*p));
    if (!p) {
        json_decref(claims);
        return FORGE_ENOMEM;
    }
    memset(p, 0, sizeof(*p));
    p->claims = claims;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!sub)
        sub = json_string_value(json_object_get(claims, "username"));
    if (!sub)
        sub = json_string_value(json_object_get(claims, "client_id"));
    p->pub.subject = sub ? sub : "";
    p->pub.method = it->method;
    p->pub.claims = claims;
    p->pub.roles = claim_strs(req, json_object_get(claims, it->roles_claim), &p->pub.nroles);
    p->pub.scopes = claim_strs(req, json_object_get(claims, "scope"), &p->pub.nscopes);
    return forge_req_set_value(req, PRINCIPAL_KEY, p, principal_free);
}

static int set_key_principal(forge_req *req, const forge__apikey *k)
{
    principal *p = forge_req_alloc(req, sizeof(*p));
    if (!p)
        return FORGE_ENOMEM;
    memset(p, 0, sizeof(*p));
    p->pub.subject = k->id;
    p->pub.method = "api_key";
    p->pub.roles = (const char *const *)k->roles;
    p->pub.nroles = k->nroles;
    p->pub.scopes = (const char *const *)k->scopes;
    p->pub.nscopes = k->nscopes;
    return forge_req_set_value(req, PRINCIPAL_KEY, p, NULL);
}

/* ---- refusals ---- */

static int refuse(forge_req *req, int status, const char *detail)
{
    int rc = forge_res_problem(req, status, NULL, detail);
    return rc < 0 ? rc : FORGE_DONE;
}

static int unauthorized(forge__sec *s, forge_req *req, const forge__policy *p, bool token_bad,
                        const char *reason)
{
    if (p->njwt || p->nintro)
        forge_res_set_header(req, "WWW-Authenticate",
                             token_bad ? "Bearer realm=\"forge\", error=\"invalid_token\""
                                       : "Bearer realm=\"forge\"");
    else
        forge_res_set_header(req, "WWW-Authenticate", "ApiKey realm=\"forge\"");
    forge__sec_audit_event(
        s, req, FORGE_LOG_WARN, "auth.failure",
        FORGE_LOG_FIELDS(FORGE_F_STR("reason", reason), FORGE_F_STR("policy", p->name)));
    return refuse(req, 401,
                  token_bad ? "The credentials are invalid or expired."
                            : "This resource requires authentication.");
}

/* ---- rate limits ---- */

static forge_str client_ip(const forge__sec *s, forge_req *req)
{
    forge_str xff;
    if (s->trust_proxy && forge_req_header(req, "X-Forwarded-For", &xff) && xff.n) {
        size_t i = xff.n;
        while (i > 0 && xff.p[i - 1] != ',')
            i--;
        while (i < xff.n && xff.p[i] == ' ')
            i++;
        if (i < xff.n)
            return (forge_str){xff.p + i, xff.n - i};
    }
    return forge_req_peer(req);
}

static bool rate_kind_before_auth(const forge__ratelimit *rl)
{
    return rl->kind == RL_KEY_IP || rl->kind == RL_KEY_HEADER || rl->kind == RL_KEY_CUSTOM;
}

static int rate_check(forge__sec *s, forge_req *req, forge__ratelimit *rl)
{
    char buf[512];
    forge_str key = {0};
    const forge_principal *pr = forge_req_principal(req);
    switch (rl->kind) {
    case RL_KEY_SUBJECT:
        if (pr) {
            key = forge_str_c(pr->subject);
            break;
        }
        key = client_ip(s, req);
        break;
    case RL_KEY_API_KEY:
        key =
            pr && strcmp(pr->method, "api_key") == 0 ? forge_str_c(pr->subject) : client_ip(s, req);
        break;
    case RL_KEY_HEADER:
        if (!forge_req_header(req, rl->header, &key))
            key = client_ip(s, req);
        break;
    case RL_KEY_CUSTOM:
        if (!rl->custom)
            return FORGE_NEXT;
        key.n = rl->custom(req, buf, sizeof(buf), rl->custom_udata);
        if (key.n == 0)
            return FORGE_NEXT;
        key.p = buf;
        if (key.n > sizeof(buf))
            key.n = sizeof(buf);
        break;
    default:
        key = client_ip(s, req);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    forge__rl_result r;
    int rc = FORGE_EIO;
    if (rl->redis)
        rc = forge__rl_redis_hit(rl, key.p ? key.p : "", key.n, &r);
    if (rc == FORGE_EIO && rl->redis && rl->on_error == RL_FALLBACK_OPEN)
        return FORGE_NEXT;
    if (rc == FORGE_EIO && rl->redis && rl->on_error == RL_FALLBACK_CLOSED) {
        forge_res_set_header(req, "Retry-After", "1");
        forge__sec_audit_event(s, req, FORGE_LOG_WARN, "rate.unavailable",
                               FORGE_LOG_FIELDS(FORGE_F_STR("limit", rl->name)));
        return refuse(req, 503, "The rate limiter is unavailable; retry shortly.");
    }
    if (rc == FORGE_EIO) /* shared memory: no Redis, or Redis down with on_redis_error: local */
        rc = forge__rl_hit(rl, key.p ? key.p : "", key.n, now, &r);
    if (rc < 0)
        return rc;
    char v[32];
    uint64_t reset_s = (r.reset_ms + 999) / 1000;
    snprintf(v, sizeof(v), "%u", r.limit);
    forge_res_set_header(req, "RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%u", r.remaining);
    forge_res_set_header(req, "RateLimit-Remaining", v);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)reset_s);
    forge_res_set_header(req, "RateLimit-Reset", v);
    snprintf(v, sizeof(v), "%u;w=%llu", r.limit, (unsigned long long)(rl->window_ms / 1000));
    forge_res_set_header(req, "RateLimit-Policy", v);
    if (r.allowed)
        return FORGE_NEXT;
    snprintf(v, sizeof(v), "%llu", (unsigned long long)(reset_s ? reset_s : 1));
    forge_res_set_header(req, "Retry-After", v);
    forge__sec_audit_event(s, req, FORGE_LOG_INFO, "rate.limited",
                           FORGE_LOG_FIELDS(FORGE_F_STR("limit", rl->name)));
    return refuse(req, 429, "Too many requests; see Retry-After.");
}

/* ---- authentication ---- */

static int authenticate(forge__sec *s, forge_req *req, const forge__policy *p)
{
    forge_str auth;
    bool has_auth = forge_req_header(req, "Authorization", &auth);
    if ((p->njwt || p->nintro) && has_auth && auth.n > 7 &&
        strncasecmp(auth.p, "Bearer ", 7) == 0) {
        const char *tok = auth.p + 7;
        size_t n = auth.n - 7;
        while (n && *tok == ' ') {
            tok++;
            n--;
        }
        forge_error e, first;
        forge_error_clear(&first);
        for (size_t i = 0; i < p->njwt; i++) {
            json_t *claims = NULL;
            forge_error_clear(&e);
            if (forge_jwt_verify(p->jwt[i], tok, n, 0, &claims, &e) == 0)
                return set_jwt_principal(req, p->jwt[i], claims) < 0 ? FORGE_ENOMEM : FORGE_NEXT;
            if (i == 0)
                first = e;
        }
        for (size_t i = 0; i < p->nintro; i++) {
            json_t *claims = NULL;
            forge_error_clear(&e);
            int rc = forge_oauth2_introspect(p->intro[i]->in, tok, n, &claims, &e);
            if (rc == 0)
                return set_intro_principal(req, p->intro[i], claims) < 0 ? FORGE_ENOMEM
                                                                         : FORGE_NEXT;
            if (rc != FORGE_EACCES) { /* the server failed: say so, never "invalid token" */
                forge__sec_audit_event(s, req, FORGE_LOG_ERROR, "auth.unavailable",
                                       FORGE_LOG_FIELDS(FORGE_F_STR("reason", e.message),
                                                        FORGE_F_STR("policy", p->name)));
                forge_res_set_header(req, "Retry-After", "1");
                return refuse(req, 503, "The authorization server is unavailable; retry shortly.");
            }
            if (i == 0 && p->njwt == 0)
                first = e;
        }
        return unauthorized(s, req, p, true, first.message);
    }
    if (p->api_key) {
        forge_str key = {0};
        bool have = forge_req_header(req, s->key_header, &key);
        if (!have && s->key_query)
            have = forge_req_query_param(req, s->key_query, &key);
        if (have) {
            const forge__apikey *k = key.n > 0 && key.n <= 512
                                         ? forge__apikey_find(s->keys, s->nkeys, key.p, key.n)
                                         : NULL;
            if (!k)
                return unauthorized(s, req, p, true, "unknown api key");
            return set_key_principal(req, k) < 0 ? FORGE_ENOMEM : FORGE_NEXT;
        }
    }
    if (p->optional)
        return FORGE_NEXT;
    return unauthorized(s, req, p, false,
                        has_auth ? "unsupported authorization scheme" : "no credentials");
}

static int authorize(forge__sec *s, forge_req *req, const forge__policy *p)
{
    const forge_principal *pr = forge_req_principal(req);
    if (!pr)
        return p->nroles || p->npermissions ? FORGE_EACCES : FORGE_NEXT;
    bool ok = p->nroles == 0;
    for (size_t i = 0; i < p->nroles && !ok; i++)
        for (size_t j = 0; j < pr->nroles && !ok; j++)
            ok = strcmp(p->roles[i], pr->roles[j]) == 0;
    const char *missing = ok ? NULL : "role";
    for (size_t i = 0; i < p->npermissions && ok; i++)
        if (!principal_has(s, pr, p->permissions[i])) {
            ok = false;
            missing = p->permissions[i];
        }
    if (ok)
        return FORGE_NEXT;
    if (strncmp(pr->method, "jwt:", 4) == 0 || strncmp(pr->method, "introspection:", 14) == 0)
        forge_res_set_header(req, "WWW-Authenticate",
                             "Bearer realm=\"forge\", error=\"insufficient_scope\"");
    forge__sec_audit_event(
        s, req, FORGE_LOG_WARN, "authz.denied",
        FORGE_LOG_FIELDS(FORGE_F_STR("missing", missing), FORGE_F_STR("policy", p->name)));
    return refuse(req, 403, "The credentials do not grant access to this resource.");
}

static int check_body(forge_req *req, const forge__policy *p)
{
    forge_error e;
    forge_error_clear(&e);
    json_t *body = forge_req_json(req, &e);
    if (!body)
        return refuse(req, e.code == FORGE_ETOOBIG ? 400 : 400,
                      e.code == FORGE_ETOOBIG ? "The JSON body is nested too deeply."
                                              : "The request body is not valid JSON.");
    if (p->json_depth && forge__json_depth(body) > p->json_depth)
        return refuse(req, 400, "The JSON body is nested too deeply.");
    if (!p->schema)
        return FORGE_NEXT;
    json_t *errors = NULL;
    int n = forge_schema_validate(p->schema, body, &errors, 32);
    if (n > 0) {
        json_t *extra = json_pack("{s:o}", "errors", errors);
        int rc = forge_res_problem_ex(
            req, 422, NULL, NULL, "The request body does not match the schema; see errors.", extra);
        json_decref(extra);
        return rc < 0 ? rc : FORGE_DONE;
    }
    json_decref(errors);
    return FORGE_NEXT;
}

static int enforce(forge__sec *s, const forge__policy *p, forge_req *req)
{
    if (p->max_headers && forge_req_header_count(req) > p->max_headers)
        return refuse(req, 431, "The request has too many header fields.");
    if (p->max_header_size) {
        forge_header h;
        for (size_t i = 0; forge_req_header_at(req, i, &h); i++)
            if (h.name.n + h.value.n > p->max_header_size)
                return refuse(req, 431, "A request header field is too large.");
    }
    if (p->max_body && forge_req_body(req).n > p->max_body)
        return refuse(req, 413, "The request body is too large.");
    int rc;
    if (p->rate && rate_kind_before_auth(p->rate) &&
        (rc = rate_check(s, req, p->rate)) != FORGE_NEXT)
        return rc;
    if (p->authenticate && (rc = authenticate(s, req, p)) != FORGE_NEXT)
        return rc;
    if (p->rate && !rate_kind_before_auth(p->rate) &&
        (rc = rate_check(s, req, p->rate)) != FORGE_NEXT)
        return rc;
    if ((rc = authorize(s, req, p)) != FORGE_NEXT)
        return rc == FORGE_EACCES ? refuse(req, 403, "Access denied.") : rc;
    if ((p->schema || p->json_depth) && (rc = check_body(req, p)) != FORGE_NEXT)
        return rc;
    if (p->has_headers)
        forge__sec_headers_apply(req, &p->headers);
    return FORGE_NEXT;
}

/* ---- the route table ---- */

static int cmp_entry(const void *a, const void *b)
{
    const forge__route_policy *x = a, *y = b;
    if (x->pattern != y->pattern)
        return (uintptr_t)x->pattern < (uintptr_t)y->pattern ? -1 : 1;
    return x->method - y->method;
}

static const forge__policy *lookup(const forge__sec *s, const char *pattern, forge_method m)
{
    if (!pattern || s->ntable == 0)
        return NULL;
    forge__route_policy key = {.pattern = pattern, .method = (int)m};
    const forge__route_policy *e = bsearch(&key, s->table, s->ntable, sizeof(*s->table), cmp_entry);
    if (!e && m == FORGE_METHOD_HEAD) { /* HEAD answered by the GET handler: GET's policy */
        key.method = FORGE_METHOD_GET;
        e = bsearch(&key, s->table, s->ntable, sizeof(*s->table), cmp_entry);
    }
    return e ? e->policy : NULL;
}

typedef struct resolve_ctx {
    forge__sec *s;
    size_t n, cap;
    bool oom;
} resolve_ctx;

static int resolve_route(const forge_route_info *info, void *ud)
{
    resolve_ctx *c = ud;
    forge__sec *s = c->s;
    forge__policy *best = NULL;
    bool best_specific = false;
    for (size_t i = 0; i < s->nrules; i++) {
        forge__route_rule *r = &s->rules[i];
        if (strcmp(r->pattern, info->pattern) != 0)
            continue;
        if (r->method && strcmp(r->method, forge_method_name(info->method)) != 0)
            continue;
        r->matched = true;
        if (!best || (r->method && !best_specific)) {
            best = forge__sec_policy(s, r->policy);
            best_specific = r->method != NULL;
        }
    }
    if (!best)
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        forge__route_policy *v = realloc(s->table, cap * sizeof(*v));
        if (!v) {
            c->oom = true;
            return 1;
        }
        s->table = v;
        c->cap = cap;
    }
    s->table[c->n++] = (forge__route_policy){info->pattern, (int)info->method, best};
    return 0;
}

static int sec_start(forge_app *app, void *udata, forge_error *err)
{
    forge__sec *s = udata;
    free(s->table);
    s->table = NULL;
    resolve_ctx c = {.s = s};
    for (size_t i = 0; i < s->nrules; i++)
        s->rules[i].matched = false;
    forge_app_routes(app, resolve_route, &c);
    if (c.oom)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    s->ntable = c.n;
    if (s->ntable > 1)
        qsort(s->table, s->ntable, sizeof(*s->table), cmp_entry);
    for (size_t i = 0; i < s->nrules; i++)
        if (!s->rules[i].matched)
            return forge_error_setk(err, FORGE_ECONFIG, s->rules[i].key,
                                    "%s: \"%s%s%s\" matches no registered route", s->rules[i].key,
                                    s->rules[i].method ? s->rules[i].method : "",
                                    s->rules[i].method ? " " : "", s->rules[i].pattern);
    for (size_t i = 0; i < s->nlimits; i++)
        s->limits[i]->region = forge_shm_get(app, s->limits[i]->shm_name);
    for (size_t i = 0; i < s->njwt; i++)
        if (s->jwt[i]->jwks_url)
            forge__jwks_start(s->jwt[i], forge_app_runtime(app));
    return 0;
}

static void sec_stop(forge_app *app, void *udata)
{
    forge__sec *s = udata;
    for (size_t i = 0; i < s->njwt; i++)
        forge__jwks_stop(s->jwt[i]);
}

/* A policy that talks to Redis or an authorization server, enforced where blocking is allowed. */
static int enforce_deferred(forge_req *req, void *arg)
{
    const forge__policy *p = arg;
    return enforce(p->sec, p, req);
}

static int enforce_or_defer(forge__sec *s, const forge__policy *p, forge_req *req)
{
    if (p->blocking) /* the pool on event-loop hosts, in place where the host can block */
        return forge__mw_defer(req, enforce_deferred, (void *)p);
    return enforce(s, p, req);
}

static int sec_before(forge_req *req, void *udata)
{
    forge__sec *s = udata;
    if (s->headers_on)
        forge__sec_headers_apply(req, &s->headers);
    const forge__policy *p = lookup(s, forge_req_route_pattern(req), forge_req_method(req));
    return p ? enforce_or_defer(s, p, req) : FORGE_NEXT;
}

static int cors_before(forge_req *req, void *udata)
{
    return forge__cors_before(req, &((forge__sec *)udata)->cors);
}

static int group_before(forge_req *req, void *udata)
{
    const forge__policy *p = udata;
    return enforce_or_defer(p->sec, p, req);
}

/* ---- public ---- */

static void sec_dtor(void *v)
{
    forge__sec_free(v);
}

int forge_security_init(forge_app *app, forge_error *err)
{
    if (!app)
        return forge_error_set(err, FORGE_EINVAL, "security: app is NULL");
    forge_container *di = forge_app_container(app);
    if (forge_di_get_optional(di, "forge.security", &sec_type, NULL))
        return forge_error_set(err, FORGE_EEXIST, "security: forge_security_init called twice");
    forge__sec *s = calloc(1, sizeof(*s));
    if (!s)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    int rc = forge__sec_config(s, app, err);
    if (rc) {
        forge__sec_free(s);
        return rc;
    }
    if ((rc = forge_di_value(di, "forge.security", &sec_type, s, sec_dtor, err)) < 0) {
        forge__sec_free(s);
        return rc;
    }
    if (s->cors.enabled) {
        forge_middleware cors = {.name = "forge.security.cors",
                                 .priority = FORGE_MW_PRIO_CORS,
                                 .before = cors_before,
                                 .udata = s};
        if ((rc = forge_app_use(app, &cors, err)) < 0)
            return rc;
    }
    forge_middleware mw = {.name = "forge.security",
                           .priority = FORGE_MW_PRIO_SECURITY,
                           .before = sec_before,
                           .on_start = sec_start,
                           .on_stop = sec_stop,
                           .udata = s};
    return forge_app_use(app, &mw, err);
}

int forge_security_protect(forge_app *app, const char *route, const char *policy, forge_error *err)
{
    forge__sec *s = app ? sec_of(app, err) : NULL;
    if (!s)
        return forge_error_set(err, FORGE_ESTATE,
                               "security: call forge_security_init before forge_security_protect");
    if (!route)
        return forge_error_set(err, FORGE_EINVAL, "security: no route");
    char key[FORGE_ERROR_KEY_MAX];
    snprintf(key, sizeof(key), "forge_security_protect(%.200s)", route);
    return forge__sec_add_rule(s, route, policy, key, err);
}

int forge_security_group(forge_group *g, const char *policy, forge_error *err)
{
    if (!g)
        return forge_error_set(err, FORGE_EINVAL, "security: group is NULL");
    forge__sec *s = sec_of(g->app, err);
    forge__policy *p = s ? forge__sec_policy(s, policy) : NULL;
    if (!p)
        return forge_error_setk(err, FORGE_ECONFIG, policy ? policy : "",
                                "security: no policy security.policies.%.64s (or "
                                "forge_security_init was not called)",
                                policy ? policy : "(null)");
    forge_middleware mw = {.name = "forge.security.group",
                           .priority = FORGE_MW_PRIO_SECURITY,
                           .before = group_before,
                           .udata = p};
    return forge_group_use(g, &mw, err);
}

int forge_security_rate_key(forge_app *app, const char *limiter, forge_rate_key_fn fn, void *udata,
                            forge_error *err)
{
    forge__sec *s = app ? sec_of(app, err) : NULL;
    for (size_t i = 0; s && i < s->nlimits; i++) {
        forge__ratelimit *rl = s->limits[i];
        if (strcmp(rl->name, limiter ? limiter : "") != 0)
            continue;
        if (rl->kind != RL_KEY_CUSTOM)
            return forge_error_setk(err, FORGE_ECONFIG, limiter,
                                    "security.rate_limits.%.64s: key is not custom", limiter);
        rl->custom = fn;
        rl->custom_udata = udata;
        return 0;
    }
    return forge_error_set(err, FORGE_ENOENT, "security: no rate limit %.64s",
                           limiter ? limiter : "(null)");
}

void forge_security_audit(forge_req *req, const char *event, const forge_log_field *f, size_t n)
{
    forge__sec *s = req ? sec_of(forge_req_app(req), NULL) : NULL;
    if (s)
        forge__sec_audit_event(s, req, FORGE_LOG_INFO, event ? event : "admin", f, n);
}

forge_oauth2_client *forge_security_oauth2_client(forge_app *app, const char *name)
{
    forge__sec *s = app && name ? sec_of(app, NULL) : NULL;
    for (size_t i = 0; s && i < s->nclients; i++)
        if (strcmp(s->clients[i].name, name) == 0)
            return s->clients[i].c;
    return NULL;
}
