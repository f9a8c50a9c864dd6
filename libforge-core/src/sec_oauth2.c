/*
 * OAuth2 for services: RFC 7662 token introspection (an authentication
 * option of policies: `auth: [introspection:NAME]`) and RFC 6749 client
 * credentials for outgoing calls. ADR 0103.
 *
 * Introspection results are cached per process by SHA-256 of the token:
 * active ones until min(exp, now + cache_ttl), inactive ones for
 * negative_ttl; server failures are not cached. The cache is a chained hash
 * table under one mutex, bounded by cache_max (expired entries are swept
 * when it is full; if none expired, the entry expiring first goes).
 *
 * Client-credentials tokens are cached until a margin before they expire;
 * one caller fetches while the others wait on a condition variable.
 *
 * HTTP is libcurl's blocking API with a timeout: both run where blocking is
 * allowed (the middleware defers introspecting policies to the pool).
 */
#include "sec_impl.h"
#include "http_client.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_MAX (256 * 1024)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- HTTP POST ---- */

typedef struct buf {
    char *p;
    size_t n;
} buf;

typedef struct endpoint {
    char *url, *client_id, *client_secret;
    bool secret_in_body;
    uint32_t timeout_ms;
} endpoint;

/* Append "&name=urlencoded(value)" to a form. */
static bool form_add(buf *f, const char *name, const char *value)
{
    char *e = forge__http_escape(value);
    if (!e)
        return false;
    size_t need = strlen(name) + strlen(e) + 3;
    char *np = realloc(f->p, f->n + need + 1);
    if (np) {
        f->p = np;
        f->n += (size_t)sprintf(f->p + f->n, "%s%s=%s", f->n ? "&" : "", name, e);
    }
    OPENSSL_cleanse(e, strlen(e));
    free(e);
    return np != NULL;
}

/* "Authorization: Basic base64(urlencode(id):urlencode(secret))" (RFC 6749 2.3.1); malloc'd. */
static char *basic_auth(const endpoint *ep)
{
    char *id = forge__http_escape(ep->client_id);
    char *sec = forge__http_escape(ep->client_secret);
    size_t n = id && sec ? strlen(id) + strlen(sec) + 1 : 0;
    char *plain = n ? malloc(n + 1) : NULL;
    char *auth = plain ? malloc(21 + 4 * ((n + 2) / 3) + 1) : NULL;
    if (auth) {
        sprintf(plain, "%s:%s", id, sec);
        size_t o = (size_t)sprintf(auth, "Authorization: Basic ");
        forge__b64_encode((unsigned char *)plain, n, auth + o);
    }
    if (plain)
        OPENSSL_cleanse(plain, n);
    if (sec)
        OPENSSL_cleanse(sec, strlen(sec));
    free(plain);
    free(id);
    free(sec);
    return auth;
}

/*
 * POST the form (`fields`: name, value pairs, NULL-terminated) with client
 * authentication; 0 with the parsed JSON object in *out when the server
 * answered 200 with a JSON object. `what` names the endpoint in messages.
 */
static int post_form(const endpoint *ep, const char *const *fields, json_t **out, const char *what,
                     forge_error *err)
{
    *out = NULL;
    buf form = {0};
    bool ok = true;
    for (size_t i = 0; fields[i]; i += 2)
        ok = ok && form_add(&form, fields[i], fields[i + 1]);
    char *auth = NULL;
    if (ep->secret_in_body)
        ok = ok && form_add(&form, "client_id", ep->client_id) &&
             form_add(&form, "client_secret", ep->client_secret);
    else
        ok = ok && (auth = basic_auth(ep)) != NULL;
    if (!ok || !form.p) {
        if (form.p)
            OPENSSL_cleanse(form.p, form.n);
        free(form.p);
        free(auth);
        return forge_error_set(err, FORGE_ENOMEM, "%s: out of memory", what);
    }
    const char *headers[] = {"Accept: application/json", auth, NULL};
    const forge__http_req rq = {.url = ep->url,
                                .body = form.p,
                                .body_len = form.n,
                                .headers = headers,
                                .timeout_ms = ep->timeout_ms,
                                .max_response = BODY_MAX};
    forge__http_res rs;
    forge_error herr;
    forge_error_clear(&herr);
    int rc = forge__http_fetch(&rq, &rs, &herr);
    OPENSSL_cleanse(form.p, form.n);
    free(form.p);
    if (auth)
        OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
    if (rc < 0) {
        rc = forge_error_set(err, rc, "%s %.200s: %s", what, ep->url, herr.message);
    } else if (rs.status != 200) {
        rc = forge_error_set(err, FORGE_EIO, "%s %.200s: HTTP %ld", what, ep->url, rs.status);
    } else {
        json_error_t je;
        json_t *j = json_loadb(rs.body ? rs.body : "", rs.len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(j)) {
            json_decref(j);
            rc = forge_error_set(err, FORGE_EPARSE, "%s %.200s: the response is not a JSON object",
                                 what, ep->url);
        } else {
            *out = j;
        }
    }
    forge__http_res_free(&rs);
    return rc;
}

static int endpoint_init(endpoint *ep, const forge_oauth2_opts *o, const char *what,
                         forge_error *err)
{
    if (!o || !o->url || (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8)))
        return forge_error_set(err, FORGE_EINVAL, "%s: url must be http:// or https://", what);
    if (!o->client_id || !*o->client_id || !o->client_secret)
        return forge_error_set(err, FORGE_EINVAL, "%s: client_id and client_secret are required",
                               what);
    ep->url = strdup(o->url);
    ep->client_id = strdup(o->client_id);
    ep->client_secret = strdup(o->client_secret);
    ep->secret_in_body = o->secret_in_body;
    ep->timeout_ms = o->timeout_ms ? o->timeout_ms : 3000;
    return ep->url && ep->client_id && ep->client_secret
               ? 0
               : forge_error_set(err, FORGE_ENOMEM, "out of memory");
}

static void endpoint_free(endpoint *ep)
{
    free(ep->url);
    free(ep->client_id);
    if (ep->client_secret)
        OPENSSL_cleanse(ep->client_secret, strlen(ep->client_secret));
    free(ep->client_secret);
}

/* ---- introspection ---- */

typedef struct centry {
    struct centry *next;
    unsigned char h[32];
    int64_t until_ms; /* wall clock */
    json_t *claims;   /* NULL: inactive */
} centry;

struct forge_oauth2_introspector {
    endpoint ep;
    char *audience, *issuer;
    uint32_t ttl_ms, neg_ttl_ms, max;
    pthread_mutex_t mu;
    centry **tab;
    size_t nbuckets, n;
    atomic_uint_fast64_t calls; /* requests sent to the server (tests, metrics) */
};

forge_oauth2_introspector *forge_oauth2_introspector_new(const forge_oauth2_opts *o,
                                                         forge_error *err)
{
    forge_oauth2_introspector *in = calloc(1, sizeof(*in));
    if (!in) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&in->mu, NULL);
    in->ttl_ms = o && o->cache_ttl_ms ? o->cache_ttl_ms : 300000;
    in->neg_ttl_ms = o && o->negative_ttl_ms ? o->negative_ttl_ms : 10000;
    in->max = o && o->cache_max ? o->cache_max : 10000;
    in->nbuckets = 64;
    while (in->nbuckets < in->max && in->nbuckets < (1u << 20))
        in->nbuckets *= 2;
    in->tab = calloc(in->nbuckets, sizeof(*in->tab));
    int rc = in->tab ? endpoint_init(&in->ep, o, "introspection", err)
                     : forge_error_set(err, FORGE_ENOMEM, "out of memory");
    if (!rc && o->audience && !(in->audience = strdup(o->audience)))
        rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
    if (!rc && o->issuer && !(in->issuer = strdup(o->issuer)))
        rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
    if (rc) {
        forge_oauth2_introspector_free(in);
        return NULL;
    }
    return in;
}

void forge_oauth2_introspector_free(forge_oauth2_introspector *in)
{
    if (!in)
        return;
    for (size_t i = 0; in->tab && i < in->nbuckets; i++)
        for (centry *e = in->tab[i], *next; e; e = next) {
            next = e->next;
            json_decref(e->claims);
            free(e);
        }
    free(in->tab);
    endpoint_free(&in->ep);
    free(in->audience);
    free(in->issuer);
    pthread_mutex_destroy(&in->mu);
    free(in);
}

static size_t bucket(const forge_oauth2_introspector *in, const unsigned char h[32])
{
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return (size_t)(v & (in->nbuckets - 1));
}

/* Under mu: a live entry for h, dropping it when expired. */
static centry *lookup(forge_oauth2_introspector *in, const unsigned char h[32], int64_t now)
{
    for (centry **pp = &in->tab[bucket(in, h)]; *pp; pp = &(*pp)->next) {
        centry *e = *pp;
        if (CRYPTO_memcmp(e->h, h, 32) != 0)
            continue;
        if (e->until_ms > now)
            return e;
        *pp = e->next;
        json_decref(e->claims);
        free(e);
        in->n--;
        return NULL;
    }
    return NULL;
}

/* Under mu: make room (expired entries first, else the one expiring first). */
static void make_room(forge_oauth2_introspector *in, int64_t now)
{
    centry **victim = NULL;
    for (size_t i = 0; i < in->nbuckets && in->n >= in->max; i++)
        for (centry **pp = &in->tab[i]; *pp;) {
            centry *e = *pp;
            if (e->until_ms <= now) {
                *pp = e->next;
                json_decref(e->claims);
                free(e);
                in->n--;
                continue;
            }
            if (!victim || e->until_ms < (*victim)->until_ms)
                victim = pp;
            pp = &e->next;
        }
    if (in->n >= in->max && victim) {
        centry *e = *victim;
        *victim = e->next;
        json_decref(e->claims);
        free(e);
        in->n--;
    }
}

static void store(forge_oauth2_introspector *in, const unsigned char h[32], json_t *claims,
                  int64_t until)
{
    centry *e = malloc(sizeof(*e));
    if (!e)
        return;
    memcpy(e->h, h, 32);
    e->until_ms = until;
    e->claims = claims ? json_incref(claims) : NULL;
    int64_t now = now_ms();
    pthread_mutex_lock(&in->mu);
    centry *old = lookup(in, h, now);
    if (old) { /* another thread got there first: keep theirs */
        pthread_mutex_unlock(&in->mu);
        json_decref(e->claims);
        free(e);
        return;
    }
    if (in->n >= in->max)
        make_room(in, now);
    size_t b = bucket(in, h);
    e->next = in->tab[b];
    in->tab[b] = e;
    in->n++;
    pthread_mutex_unlock(&in->mu);
}

static bool aud_has(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

/* Judge a response: 0 active, FORGE_EACCES inactive (reason in err), FORGE_EPARSE malformed. */
static int judge(const forge_oauth2_introspector *in, const json_t *r, int64_t now,
                 forge_error *err)
{
    const json_t *active = json_object_get(r, "active");
    if (!json_is_boolean(active))
        return forge_error_set(err, FORGE_EPARSE,
                               "introspection: the response has no boolean \"active\"");
    if (!json_is_true(active))
        return forge_error_set(err, FORGE_EACCES, "introspection: token inactive");
    const json_t *exp = json_object_get(r, "exp");
    if (exp && !json_is_integer(exp))
        return forge_error_set(err, FORGE_EPARSE, "introspection: \"exp\" is not an integer");
    if (exp && json_integer_value(exp) * 1000 <= now)
        return forge_error_set(err, FORGE_EACCES, "introspection: token expired");
    const json_t *nbf = json_object_get(r, "nbf");
    if (json_is_integer(nbf) && json_integer_value(nbf) * 1000 > now)
        return forge_error_set(err, FORGE_EACCES, "introspection: token not yet valid");
    if (in->audience && !aud_has(json_object_get(r, "aud"), in->audience))
        return forge_error_set(err, FORGE_EACCES, "introspection: wrong audience");
    if (in->issuer && (!json_is_string(json_object_get(r, "iss")) ||
                       strcmp(json_string_value(json_object_get(r, "iss")), in->issuer) != 0))
        return forge_error_set(err, FORGE_EACCES, "introspection: wrong issuer");
    const json_t *sc = json_object_get(r, "scope");
    if (sc && !json_is_string(sc))
        return forge_error_set(err, FORGE_EPARSE, "introspection: \"scope\" is not a string");
    return 0;
}

int forge_oauth2_introspect(forge_oauth2_introspector *in, const char *token, size_t len,
                            json_t **claims, forge_error *err)
{
    if (!in || !token || !claims)
        return forge_error_set(err, FORGE_EINVAL, "introspection: no introspector or token");
    *claims = NULL;
    if (len == 0 || len > 8192 || memchr(token, '\0', len))
        return forge_error_set(err, FORGE_EACCES, "introspection: token empty or over 8 KiB");
    unsigned char h[32];
    SHA256((const unsigned char *)token, len, h);
    int64_t now = now_ms();
    pthread_mutex_lock(&in->mu);
    centry *e = lookup(in, h, now);
    json_t *hit = e && e->claims ? json_incref(e->claims) : NULL;
    bool neg = e && !e->claims;
    pthread_mutex_unlock(&in->mu);
    if (hit) {
        *claims = hit;
        return 0;
    }
    if (neg)
        return forge_error_set(err, FORGE_EACCES, "introspection: token inactive (cached)");

    char *tok = strndup(token, len);
    if (!tok)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    const char *fields[] = {"token", tok, "token_type_hint", "access_token", NULL};
    json_t *r = NULL;
    atomic_fetch_add(&in->calls, 1);
    int rc = post_form(&in->ep, fields, &r, "introspection", err);
    OPENSSL_cleanse(tok, len);
    free(tok);
    if (rc)
        return rc;
    now = now_ms();
    rc = judge(in, r, now, err);
    if (rc == 0) {
        int64_t until = now + in->ttl_ms;
        const json_t *exp = json_object_get(r, "exp");
        if (exp && json_integer_value(exp) * 1000 < until)
            until = json_integer_value(exp) * 1000;
        store(in, h, r, until);
        *claims = r;
        return 0;
    }
    if (rc == FORGE_EACCES)
        store(in, h, NULL, now + in->neg_ttl_ms);
    json_decref(r);
    return rc;
}

uint64_t forge__oauth2_calls(const forge_oauth2_introspector *in)
{
    return atomic_load(&((forge_oauth2_introspector *)in)->calls);
}

/* ---- client credentials ---- */

struct forge_oauth2_client {
    endpoint ep;
    char *scope, *audience;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool fetching;
    char *token;        /* under mu */
    int64_t refresh_ms; /* wall clock: fetch again from then on */
};

forge_oauth2_client *forge_oauth2_client_new(const forge_oauth2_opts *o, forge_error *err)
{
    forge_oauth2_client *c = calloc(1, sizeof(*c));
    if (!c) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    int rc = endpoint_init(&c->ep, o, "client credentials", err);
    if (!rc && o->scope && !(c->scope = strdup(o->scope)))
        rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
    if (!rc && o->audience && !(c->audience = strdup(o->audience)))
        rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
    if (rc) {
        forge_oauth2_client_free(c);
        return NULL;
    }
    return c;
}

void forge_oauth2_client_free(forge_oauth2_client *c)
{
    if (!c)
        return;
    endpoint_free(&c->ep);
    free(c->scope);
    free(c->audience);
    if (c->token)
        OPENSSL_cleanse(c->token, strlen(c->token));
    free(c->token);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* One token request: *token malloc'd, *lifetime_s from expires_in (0 when absent). */
static int fetch_token(forge_oauth2_client *c, char **token, int64_t *lifetime_s, forge_error *err)
{
    const char *fields[7] = {"grant_type", "client_credentials"};
    size_t n = 2;
    if (c->scope) {
        fields[n++] = "scope";
        fields[n++] = c->scope;
    }
    if (c->audience) {
        fields[n++] = "audience";
        fields[n++] = c->audience;
    }
    fields[n] = NULL;
    json_t *r = NULL;
    int rc = post_form(&c->ep, fields, &r, "client credentials", err);
    if (rc)
        return rc;
    const char *tok = json_string_value(json_object_get(r, "access_token"));
    const json_t *exp = json_object_get(r, "expires_in");
    if (!tok || !*tok || strpbrk(tok, "\r\n"))
        rc = forge_error_set(err, FORGE_EPARSE, "client credentials %.200s: no access_token",
                             c->ep.url);
    else if (exp && (!json_is_integer(exp) || json_integer_value(exp) < 0))
        rc = forge_error_set(err, FORGE_EPARSE,
                             "client credentials %.200s: expires_in is not a positive integer",
                             c->ep.url);
    else if (!(*token = strdup(tok)))
        rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
    *lifetime_s = exp ? json_integer_value(exp) : 0;
    json_decref(r);
    return rc;
}

int forge_oauth2_client_token(forge_oauth2_client *c, char **token, forge_error *err)
{
    if (!c || !token)
        return forge_error_set(err, FORGE_EINVAL, "client credentials: no client or output");
    *token = NULL;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->token && now_ms() < c->refresh_ms) {
            *token = strdup(c->token);
            pthread_mutex_unlock(&c->mu);
            return *token ? 0 : forge_error_set(err, FORGE_ENOMEM, "out of memory");
        }
        if (!c->fetching)
            break;
        pthread_cond_wait(&c->cv, &c->mu);
        if (!c->fetching && !(c->token && now_ms() < c->refresh_ms)) {
            /* the fetch we waited for failed: try ourselves rather than fail blindly */
            break;
        }
    }
    c->fetching = true;
    pthread_mutex_unlock(&c->mu);

    char *fresh = NULL;
    int64_t life = 0;
    int64_t t0 = now_ms();
    int rc = fetch_token(c, &fresh, &life, err);

    pthread_mutex_lock(&c->mu);
    c->fetching = false;
    if (rc == 0) {
        if (c->token)
            OPENSSL_cleanse(c->token, strlen(c->token));
        free(c->token);
        c->token = fresh;
        /* No expires_in: use it for this call only. Else refresh 10% (at most 60 s) early. */
        int64_t margin = life * 100 < 60000 ? life * 100 : 60000;
        c->refresh_ms = life > 0 ? t0 + life * 1000 - margin : 0;
        *token = strdup(fresh);
        if (!*token)
            rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return rc;
}
