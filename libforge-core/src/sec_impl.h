/*
 * Internal to the security area: keys, verifiers, policies and the calls
 * between sec_*.c files. Nothing here is exported; names are forge__sec_*.
 *
 * Ownership: everything hangs off one forge__sec record per app, built in
 * the app's init (single thread) and read-only afterwards, except the JWKS
 * key sets (swapped under the verifier's lock) and the rate-limit buckets
 * (shared memory, under per-shard robust mutexes).
 */
#ifndef FORGE_SEC_IMPL_H
#define FORGE_SEC_IMPL_H

#include "internal.h"

#include <forge/security.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>

/* ---- base64url (sec_b64.c) ---- */

/* Strict base64url without padding: returns the decoded length or -1. out: >= n*3/4+1 bytes. */
long forge__b64url_decode(const char *in, size_t n, unsigned char *out);
/* Encode without padding; out: >= 4*ceil(n/3)+1 bytes. Returns the length (NUL-terminated). */
size_t forge__b64url_encode(const unsigned char *in, size_t n, char *out);
/* Standard base64 (with padding) encode, for AES-GCM secrets; same contract. */
size_t forge__b64_encode(const unsigned char *in, size_t n, char *out);
long forge__b64_decode(const char *in, size_t n, unsigned char *out);

/* ---- keys and JWT (sec_jwk.c, sec_jwt.c, sec_jwks.c) ---- */

typedef enum forge__sec_alg {
    SEC_HS256 = 0,
    SEC_HS384,
    SEC_HS512,
    SEC_RS256,
    SEC_RS384,
    SEC_RS512,
    SEC_PS256,
    SEC_PS384,
    SEC_PS512,
    SEC_ES256,
    SEC_ES384,
    SEC_EDDSA,
    SEC_ALG_COUNT
} forge__sec_alg;

typedef enum forge__sec_kty {
    SEC_KTY_OCT = 0,
    SEC_KTY_RSA,
    SEC_KTY_EC256,
    SEC_KTY_EC384,
    SEC_KTY_ED25519
} forge__sec_kty;

typedef struct forge__sec_key {
    char *kid; /* may be NULL */
    int alg;   /* a forge__sec_alg the key is bound to, or -1: any compatible */
    forge__sec_kty kty;
    unsigned char *secret; /* SEC_KTY_OCT */
    size_t secret_len;
    EVP_PKEY *pkey;  /* the others */
    uint64_t serial; /* set by forge__sec_keyset_add, unique per process: names the key in
                        the per-thread prepared contexts (sec_jwt_ctx.c) */
} forge__sec_key;

typedef struct forge__sec_keyset {
    atomic_int refs;
    forge__sec_key *v;
    size_t n;
} forge__sec_keyset;

int forge__sec_alg_parse(const char *s); /* -1 when unknown ("none" included) */
const char *forge__sec_alg_name(int alg);
/* The key type an algorithm needs. */
forge__sec_kty forge__sec_alg_kty(int alg);

forge__sec_keyset *forge__sec_keyset_new(void);
void forge__sec_keyset_unref(forge__sec_keyset *ks);
/* Append a key (moved in: the keyset owns kid, secret, pkey from now on, also on failure). */
int forge__sec_keyset_add(forge__sec_keyset *ks, forge__sec_key *k);
/* Add the keys of a JWK (object with kty) or a JWKS (object with keys). */
int forge__sec_keyset_add_jwk(forge__sec_keyset *ks, const json_t *jwk, const char *what,
                              forge_error *err);
/* Add a PEM public (or private: its public half is used) key, from text. */
int forge__sec_keyset_add_pem(forge__sec_keyset *ks, const char *pem, size_t len, const char *kid,
                              int alg, const char *what, forge_error *err);

/* Read a file (at most `max` bytes) into a malloc'd NUL-terminated buffer. */
int forge__sec_read_file(const char *path, size_t max, char **out, size_t *len, forge_error *err);
/* `path` made absolute against `base_dir` when relative (malloc'd). */
char *forge__sec_path(const char *base_dir, const char *path);

struct forge_jwt_verifier {
    char *name;
    uint32_t algs; /* bit per forge__sec_alg */
    pthread_mutex_t mu;
    forge__sec_keyset *keys; /* under mu: swapped by JWKS refreshes */
    char *issuer;
    char **audience;
    size_t naudience;
    char **required;
    size_t nrequired;
    int64_t leeway_s;
    size_t max_token;
    bool require_exp;
    char *roles_claim; /* default "roles" */
    char *scope_claim; /* default "scope" */
    /* JWKS URL (sec_jwks.c): fetched off the request path. */
    char *jwks_url;
    int64_t jwks_refresh_s;  /* periodic refresh */
    int64_t jwks_min_gap_ms; /* refreshes on unknown kid at most this often */
    atomic_int_fast64_t jwks_last_ms;
    atomic_bool jwks_busy;
    forge_runtime *rt;
    int64_t jwks_timer;
    forge_log *log;
};

/* The current key set with a reference (drop with forge__sec_keyset_unref). */
forge__sec_keyset *forge__jwt_keys(forge_jwt_verifier *v);
/* sec_jwt_ctx.c: the digest of an algorithm (fetched once; NULL for EdDSA), and a JWS
 * signature check with contexts prepared once per thread and key. Thread-safe. */
const EVP_MD *forge__sec_alg_md(int alg);
bool forge__jwt_check_sig(const forge__sec_key *k, int alg, const char *input, size_t n,
                          const unsigned char *sig, size_t siglen);
/* Replace the key set (the verifier takes ks's reference). */
void forge__jwt_set_keys(forge_jwt_verifier *v, forge__sec_keyset *ks);

/* JWKS URL: first fetch (blocking, at start), refresh timer, unknown-kid refresh. */
int forge__jwks_fetch_now(forge_jwt_verifier *v, forge_error *err);
int forge__jwks_start(forge_jwt_verifier *v, forge_runtime *rt);
void forge__jwks_stop(forge_jwt_verifier *v);
void forge__jwks_kick(forge_jwt_verifier *v); /* unknown kid: refresh soon, rate-limited */

/* ---- JSON Schema (sec_schema.c) ---- */

/* Depth of a parsed JSON value (a scalar is 0, [] is 1). */
int forge__json_depth(const json_t *v);

/* ---- rate limits (sec_rate.c) ---- */

typedef enum forge__rl_keykind {
    RL_KEY_IP = 0,
    RL_KEY_SUBJECT,
    RL_KEY_API_KEY,
    RL_KEY_HEADER,
    RL_KEY_CUSTOM
} forge__rl_keykind;

typedef struct forge__rl_result {
    bool allowed;
    uint32_t limit;
    uint32_t remaining;
    uint64_t reset_ms; /* until the window ends */
} forge__rl_result;

/* What a Redis-backed limiter does when Redis cannot answer. */
typedef enum forge__rl_fallback {
    RL_FALLBACK_LOCAL = 0, /* count in this host's shared memory (per machine) */
    RL_FALLBACK_OPEN,      /* let the request through */
    RL_FALLBACK_CLOSED     /* refuse it: 503 with Retry-After */
} forge__rl_fallback;

/* A Redis server for shared rate limits (sec_redis.c). Connections are per worker, lazily made. */
typedef struct forge__redis {
    bool ready;
    char *host;
    int port;
    int db;
    char *password;
    char *prefix;
    uint64_t timeout_ms;
    char sha[41]; /* SHA-1 of the script, for EVALSHA */
    pthread_mutex_t mu;
    void **idle; /* redisContext *, under mu */
    size_t nidle, capidle;
    atomic_int_fast64_t down_until_ms; /* monotonic: no connect attempts before */
    atomic_int_fast64_t last_warn_ms;
    forge_log *log;
} forge__redis;

typedef struct forge__ratelimit {
    char *name;
    char *shm_name;
    uint32_t limit;
    uint64_t window_ms;
    forge__rl_keykind kind;
    char *header; /* RL_KEY_HEADER */
    forge_rate_key_fn custom;
    void *custom_udata;
    uint32_t capacity; /* buckets */
    uint32_t nshards;
    forge_app *app;
    void *region;        /* forge_shm_get, resolved on first use */
    forge__redis *redis; /* store: redis (NULL: shared memory only) */
    forge__rl_fallback on_error;
} forge__ratelimit;

int forge__rl_reserve(forge__ratelimit *rl, forge_app *app, forge_error *err);
/* Count one hit of `key` at `now_ms` (CLOCK_REALTIME): exact across processes. */
int forge__rl_hit(forge__ratelimit *rl, const char *key, size_t klen, uint64_t now_ms,
                  forge__rl_result *out);
size_t forge__rl_region_size(uint32_t capacity, uint32_t nshards);
/* Parse the URL, hash the script. `key` names the config key in errors. */
int forge__redis_init(forge__redis *r, const char *url, const char *key, forge_error *err);
void forge__redis_free(forge__redis *r);
/* Count one hit in Redis (blocks up to the timeout): FORGE_EIO when Redis cannot answer. */
int forge__rl_redis_hit(forge__ratelimit *rl, const char *key, size_t klen, forge__rl_result *out);

/* ---- API keys (sec_apikey.c) ---- */

typedef struct forge__apikey {
    char *id;
    unsigned char hash[32]; /* SHA-256 of the key */
    char **roles;
    size_t nroles;
    char **scopes;
    size_t nscopes;
} forge__apikey;

/* The key matching `key` (SHA-256 then a constant-time compare against every stored hash). */
const forge__apikey *forge__apikey_find(const forge__apikey *keys, size_t n, const char *key,
                                        size_t len);
/* Parse "sha256:<64 hex>" into 32 bytes. */
int forge__apikey_parse_hash(const char *s, unsigned char out[32]);

/* ---- CORS and headers (sec_cors.c, sec_headers.c) ---- */

typedef struct forge__cors {
    bool enabled;
    char **origins; /* exact, "*" (any), or with '*' wildcards matching [^./:]+ */
    size_t norigins;
    bool any_origin;
    char *methods;  /* "GET, POST" */
    char **headers; /* allowed request headers, lower case */
    size_t nheaders;
    char *headers_joined;
    char *expose;
    bool credentials;
    int64_t max_age_s;
} forge__cors;

bool forge__cors_origin_allowed(const forge__cors *c, const char *origin, size_t n);
/* The CORS before-half: FORGE_DONE for an answered preflight, else FORGE_NEXT. */
int forge__cors_before(forge_req *req, const forge__cors *c);

#define SEC_NHDRS 8
typedef struct forge__sec_headers {
    const char *value[SEC_NHDRS]; /* NULL: not sent */
} forge__sec_headers;

extern const char *const forge__sec_header_names[SEC_NHDRS];
extern const char *const forge__sec_header_keys[SEC_NHDRS];
void forge__sec_headers_defaults(forge__sec_headers *h);
void forge__sec_headers_apply(forge_req *req, const forge__sec_headers *h);

/* ---- OAuth2 (sec_oauth2.c) ---- */

typedef struct forge__intro {
    char *name;
    char *method; /* "introspection:<name>" */
    char *roles_claim;
    forge_oauth2_introspector *in;
} forge__intro;

typedef struct forge__oauth2_client_entry {
    char *name;
    forge_oauth2_client *c;
} forge__oauth2_client_entry;

/* Requests sent to the authorization server so far (tests). */
uint64_t forge__oauth2_calls(const forge_oauth2_introspector *in);

/* ---- policies and the app record (sec_config.c, sec_mw.c) ---- */

#define SEC_AUTH_API_KEY 0x1u

struct forge__sec;

typedef struct forge__policy {
    struct forge__sec *sec;
    char *name;
    bool authenticate;
    bool optional; /* authenticate when credentials are present, else go on */
    forge_jwt_verifier **jwt;
    size_t njwt;
    forge__intro **intro; /* introspection:NAME, tried after the JWT verifiers */
    size_t nintro;
    bool api_key;
    char **permissions; /* all required */
    size_t npermissions;
    char **roles; /* any of */
    size_t nroles;
    forge__ratelimit *rate;
    bool blocking; /* needs I/O (Redis, introspection): enforced on the pool */
    forge_schema *schema;
    size_t max_body;    /* 0: no policy limit */
    size_t max_headers; /* 0: none */
    size_t max_header_size;
    int json_depth; /* 0: none */
    bool has_headers;
    forge__sec_headers headers;
} forge__policy;

typedef struct forge__route_policy {
    const char *pattern; /* the router's string (pointer compared) */
    int method;          /* forge_method, or -1: every method */
    forge__policy *policy;
} forge__route_policy;

typedef struct forge__route_rule {
    char *method; /* NULL: any */
    char *pattern;
    char *policy;
    char *key; /* config key path or "code" */
    bool matched;
} forge__route_rule;

typedef struct forge__role {
    char *name;
    char **perms;
    size_t nperms;
} forge__role;

typedef struct forge__sec {
    forge_app *app;
    char *base_dir;
    forge_jwt_verifier **jwt;
    char **jwt_names;
    size_t njwt;
    forge__apikey *keys;
    size_t nkeys;
    char *key_header; /* default X-API-Key */
    char *key_query;  /* NULL: not from the query */
    forge__role *roles;
    size_t nroles;
    forge__ratelimit **limits;
    size_t nlimits;
    forge__policy **policies;
    size_t npolicies;
    forge__route_rule *rules;
    size_t nrules, caprules;
    forge__route_policy *table; /* resolved at start, sorted by pattern pointer */
    size_t ntable;
    forge__cors cors;
    forge__sec_headers headers;
    bool headers_on;
    forge_log *audit; /* NULL: audit off */
    int audit_fd;
    bool trust_proxy;    /* the client address from X-Forwarded-For (rightmost) */
    forge__redis redis;  /* security.redis (ready: configured) */
    forge__intro *intro; /* security.introspection */
    size_t nintro;
    forge__oauth2_client_entry *clients; /* security.oauth2_clients */
    size_t nclients;
} forge__sec;

int forge__sec_config(forge__sec *s, forge_app *app, forge_error *err);
void forge__sec_free(forge__sec *s);
forge__policy *forge__sec_policy(const forge__sec *s, const char *name);
int forge__sec_audit_open(forge__sec *s, const char *path, forge_error *err);
void forge__sec_audit_event(forge__sec *s, forge_req *req, forge_log_level lvl, const char *event,
                            const forge_log_field *f, size_t n);
/* Give a route ("METHOD /pattern" or "/pattern") a policy; `key` names the source for errors. */
int forge__sec_add_rule(forge__sec *s, const char *route, const char *policy, const char *key,
                        forge_error *err);

#endif
