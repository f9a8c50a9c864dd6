/*
 * Forge: security middleware. JWT and API-key authentication, RBAC, CORS,
 * security headers, rate limits shared by all workers, JSON Schema request
 * validation, an audit log and password hashing. The same on every host.
 *
 * Configuration lives under `security:` (docs/security.md): named JWT
 * verifiers, API keys, roles, rate limits and *policies*; a policy says what a
 * route needs (authentication, permissions, a rate limit, a body schema,
 * limits, header overrides). Routes get a policy from the config
 * (`security.routes: {"GET /private": private}`) or from code
 * (forge_security_protect, forge_security_group).
 *
 *     FORGE_APP("api", "1.0")
 *     {
 *         int rc = forge_security_init(app, err);   // first: reserves shm before fork
 *         ...routes...
 *     }
 *
 * Failures answer with the status and headers clients expect (401 with
 * WWW-Authenticate, 403, 422 with JSON pointers, 429 with Retry-After and
 * RateLimit-*, 413, 431) and an application/problem+json body that never
 * says which check failed beyond what the client needs; the reason goes to
 * the audit log.
 *
 * Thread safety: configuration belongs to the app's init; the verifiers,
 * validators and helpers below are safe from any thread once built.
 */
#ifndef FORGE_SECURITY_H
#define FORGE_SECURITY_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/log.h>
#include <forge/route.h>
#include <jansson.h>

/* Priorities of the security middleware (after request id, access log, errors). */
#define FORGE_MW_PRIO_CORS     (-700)
#define FORGE_MW_PRIO_SECURITY (-600)

/*
 * Read the `security` section, build verifiers, keys, limiters and policies,
 * reserve the rate limiters' shared memory and install the app-wide
 * middleware (CORS, security headers, the policy enforcer). Call once from
 * the app's init, before fork. Config errors name the key path
 * ("security.jwt.main.algorithms[1]: unknown algorithm \"HS257\"").
 * Without a `security` section it installs the default security headers only.
 */
FORGE_API int forge_security_init(forge_app *app, forge_error *err);

/*
 * Give a route a policy from code. `route` is "METHOD /pattern" or
 * "/pattern" (every method), exactly as registered. Checked when the app
 * starts: a route that matches nothing, or an unknown policy, fails the start.
 */
FORGE_API int forge_security_protect(forge_app *app, const char *route, const char *policy,
                                     forge_error *err);

/* Every route of a group (and its subgroups) gets `policy`: group middleware. */
FORGE_API int forge_security_group(forge_group *g, const char *policy, forge_error *err);

/* Who made the request, once a policy authenticated it. */
typedef struct forge_principal {
    const char *subject;      /* JWT `sub`, or the API key's id */
    const char *method;       /* "jwt:<verifier>" or "api_key" */
    const char *const *roles; /* from the roles claim or the API key */
    size_t nroles;
    const char *const *scopes; /* API key scopes, or the JWT `scope` claim split */
    size_t nscopes;
    const json_t *claims; /* the JWT claims (NULL for API keys); request-owned */
} forge_principal;

/* The request's principal; NULL when no policy authenticated it. */
FORGE_API const forge_principal *forge_req_principal(const forge_req *req);
/* A JWT claim of the request's principal; NULL when absent. Borrowed (request-owned). */
FORGE_API const json_t *forge_req_claim(const forge_req *req, const char *name);
/* True when the principal holds the permission (through a role in `security.rbac.roles`, or a
 * scope). */
FORGE_API bool forge_req_has_permission(const forge_req *req, const char *permission);

/*
 * A custom rate-limit key for limiters configured with `key: custom`:
 * fn writes the key into out (at most cap bytes) and returns its length, or
 * 0 to skip limiting this request. Register from init, after forge_security_init.
 */
typedef size_t (*forge_rate_key_fn)(forge_req *req, char *out, size_t cap, void *udata);
FORGE_API int forge_security_rate_key(forge_app *app, const char *limiter, forge_rate_key_fn fn,
                                      void *udata, forge_error *err);

/* ---- audit ---- */

/*
 * One audit record (admin actions and the like) to the audit sink
 * (`security.audit`), with the request's id, route, peer and principal.
 * Values of fields named like credentials (token, password, secret,
 * authorization, api_key, cookie) are written as "***".
 */
FORGE_API void forge_security_audit(forge_req *req, const char *event, const forge_log_field *f,
                                    size_t n);

/* ---- JWT, usable on its own ---- */

typedef struct forge_jwt_verifier forge_jwt_verifier;

/*
 * A verifier from a JSON description shaped like one `security.jwt.<name>`
 * entry (docs/security.md): algorithms, keys (secret, secret_file, pem_file,
 * jwk, jwks_file, jwks_url), issuer, audience, leeway_s, required_claims,
 * max_token_size. `base_dir` resolves relative file names (may be NULL).
 */
FORGE_API forge_jwt_verifier *forge_jwt_verifier_new(const json_t *desc, const char *base_dir,
                                                     forge_error *err);
FORGE_API void forge_jwt_verifier_free(forge_jwt_verifier *v);

/*
 * Verify a compact JWS. 0 with *claims (a new reference) on success; on
 * failure a negative code (FORGE_EPARSE malformed, FORGE_EACCES signature or
 * algorithm or key, FORGE_ETIMEDOUT expired / not yet valid, FORGE_EPERM
 * issuer, audience or a required claim, FORGE_ETOOBIG oversized, FORGE_ENOENT
 * unknown kid) with err->message naming the reason for logs (never token
 * bytes). `now` is seconds since the epoch (0: the current time).
 */
FORGE_API int forge_jwt_verify(forge_jwt_verifier *v, const char *token, size_t len, int64_t now,
                               json_t **claims, forge_error *err);

/*
 * Sign claims into a compact JWS (tests, examples, service tokens): `alg` as
 * in the header, `key` a secret (HS*) or a PEM private key file's text,
 * `kid` optional. Returns a malloc'd string or NULL with err set.
 */
FORGE_API char *forge_jwt_sign(const char *alg, const void *key, size_t key_len, const char *kid,
                               const json_t *claims, forge_error *err);

/* ---- JSON Schema (the keyword subset of docs/security.md) ---- */

typedef struct forge_schema forge_schema;

/* Compile a schema (unsupported keywords are refused, naming their pointer). */
FORGE_API forge_schema *forge_schema_new(const json_t *schema, forge_error *err);
FORGE_API void forge_schema_free(forge_schema *s);

/*
 * Validate. Returns the number of violations (0: valid); when `errors` is not
 * NULL it receives a new array of {"pointer": "/age", "message": "..."}
 * (at most `max_errors`, 0: 32). Messages never quote the instance's values.
 */
FORGE_API int forge_schema_validate(const forge_schema *s, const json_t *instance, json_t **errors,
                                    size_t max_errors);

/* ---- API keys and passwords ---- */

/* The stored form of an API key: "sha256:" + 64 hex digits. out: at least 72 bytes. */
FORGE_API int forge_apikey_hash(const char *key, size_t len, char *out, size_t cap);

/*
 * Argon2id password hashing (libargon2, PHC string format). Defaults: t=3,
 * m=64 MiB, p=1, 16-byte salt, 32-byte hash. out: at least 128 bytes.
 * forge_password_verify returns 0 on a match, FORGE_EACCES on a mismatch,
 * FORGE_EPARSE for a malformed encoded hash. Both take tens of milliseconds:
 * call them from blocking routes or the pool, never on an event loop.
 */
FORGE_API int forge_password_hash(const char *password, size_t len, char *out, size_t cap,
                                  forge_error *err);
FORGE_API int forge_password_verify(const char *encoded, const char *password, size_t len);

/* ---- encrypted config values (AES-256-GCM; docs/security.md, ADR 0101) ---- */

/*
 * A secrets key: 32 random bytes, kept as their base64 (`forge secret keygen`).
 * `source` names where it came from for messages ("secrets.key_file
 * /run/keys/forge", "FORGE_SECRETS_KEY"); never the key itself. Wipe it with
 * forge_secret_key_wipe when done.
 */
typedef struct forge_secret_key {
    unsigned char k[32];
    unsigned char id[4]; /* first bytes of SHA-256("forge-secret-key" || k): names the key */
    char source[300];
} forge_secret_key;

/*
 * Load the key from the file `key_file` (base64 text), else from the
 * environment variable named `key_env`, else from FORGE_SECRETS_KEY_FILE,
 * else FORGE_SECRETS_KEY. Both may be NULL. FORGE_ENOENT when none is set.
 */
FORGE_API int forge_secret_key_load(const char *key_file, const char *key_env,
                                    forge_secret_key *out, forge_error *err);
/* A key from its base64 text (`what` names the source in messages and in out->source). */
FORGE_API int forge_secret_key_parse(const char *b64, size_t n, const char *what,
                                     forge_secret_key *out, forge_error *err);
FORGE_API void forge_secret_key_wipe(forge_secret_key *key);
/* A new random key as base64 (44 characters + NUL); out: at least 45 bytes. */
FORGE_API int forge_secret_keygen(char *out, size_t cap, forge_error *err);

/*
 * Encrypt `plain` (at most 48 KiB, valid UTF-8 without NUL bytes, as config
 * strings must be) into the config value "${enc:v1:<base64>}" (malloc'd).
 * A fresh random 96-bit nonce each call.
 */
FORGE_API char *forge_secret_encrypt(const forge_secret_key *key, const void *plain, size_t n,
                                     forge_error *err);
/*
 * Decrypt a value "${enc:v1:...}" (or the reference body "v1:..."). On success
 * *out is malloc'd and NUL-terminated (wipe and free it). Errors: FORGE_EPARSE
 * (malformed, unknown version), FORGE_EACCES (made with another key: the
 * message names both key ids and the key's source; or authentication failed:
 * tampered or truncated). Messages never contain plaintext.
 */
FORGE_API int forge_secret_decrypt(const forge_secret_key *key, const char *value, size_t n,
                                   char **out, size_t *out_len, forge_error *err);

#endif
