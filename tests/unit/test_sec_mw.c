/*
 * The security middleware end to end on the test host, with examples/secure
 * and its forge.yaml: open and protected routes, JWT and API-key
 * authentication, RBAC, rate limits with their headers, body validation,
 * CORS preflights and actual requests, security headers; plus config errors
 * that name their key, groups and code-declared policies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <forge/forge.h>
#include <forge/security.h>
#include <forge/testhost.h>

#include "secure/secure.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EX FORGE_SOURCE_DIR "/examples/secure/"

static forge_test_host *th;
static char hs_secret[256];
static char *rs_priv;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n'))
        buf[--n] = '\0';
    return buf;
}

static int setup(void **state)
{
    forge_error err;
    forge_test_opts o = {.entry = &forge_app_entry, .config_path = EX "forge.yaml"};
    th = forge_test_host_new_opts(&o, &err);
    if (!th) {
        print_message("host: %s\n", err.message);
        return -1;
    }
    char *s = slurp(EX "keys/hs256.secret");
    snprintf(hs_secret, sizeof(hs_secret), "%s", s ? s : "");
    free(s);
    rs_priv = slurp(EX "keys/rs256.pem");
    return rs_priv ? 0 : -1;
}

static int teardown(void **state)
{
    forge_test_host_free(th);
    free(rs_priv);
    return 0;
}

static char *token(const char *alg, json_t *claims)
{
    forge_error err;
    const char *key = strcmp(alg, "HS256") == 0 ? hs_secret : rs_priv;
    char *t = forge_jwt_sign(alg, key, strlen(key), NULL, claims, &err);
    json_decref(claims);
    assert_non_null(t);
    return t;
}

static json_t *claims(const char *sub, const char *role)
{
    int64_t now = (int64_t)time(NULL);
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I}", "sub", sub, "iss", "forge-example", "aud",
                          "forge-api", "exp", (json_int_t)(now + 300), "iat", (json_int_t)now);
    if (role)
        json_object_set_new(c, "roles", json_pack("[s]", role));
    return c;
}

static int get(const char *method, const char *path, const char *h1, const char *h2,
               const char *body, forge_test_response *res)
{
    const char *hdrs[3] = {h1, h1 ? h2 : NULL, NULL};
    forge_error err;
    int rc = forge_test_request(th, method, path, hdrs, body, body ? strlen(body) : 0, res, &err);
    assert_int_equal(rc, 0);
    return res->status;
}

static const char *hdr(forge_test_response *r, const char *n)
{
    return forge_test_response_header(r, n);
}

static void test_public_and_headers(void **state)
{
    forge_test_response r;
    forge_test_response_init(&r);
    assert_int_equal(get("GET", "/public", NULL, NULL, NULL, &r), 200);
    assert_string_equal(hdr(&r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(hdr(&r, "X-Frame-Options"), "DENY");
    assert_non_null(hdr(&r, "Strict-Transport-Security"));
    assert_non_null(hdr(&r, "Content-Security-Policy"));
    assert_string_equal(hdr(&r, "Referrer-Policy"), "no-referrer");
    assert_string_equal(hdr(&r, "Cross-Origin-Opener-Policy"), "same-origin");
    assert_string_equal(hdr(&r, "Cross-Origin-Resource-Policy"), "same-origin");
    assert_null(hdr(&r, "Access-Control-Allow-Origin"));
    forge_test_response_free(&r);
}

static void test_jwt(void **state)
{
    forge_test_response r;
    forge_test_response_init(&r);
    char auth[4096];

    assert_int_equal(get("GET", "/private", NULL, NULL, NULL, &r), 401);
    assert_string_equal(hdr(&r, "WWW-Authenticate"), "Bearer realm=\"forge\"");
    assert_string_equal(hdr(&r, "Content-Type"), "application/problem+json");
    assert_non_null(hdr(&r, "X-Content-Type-Options")); /* refusals carry the headers too */

    const char *algs[] = {"HS256", "RS256"};
    for (int i = 0; i < 2; i++) {
        char *t = token(algs[i], claims("alice", NULL));
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t);
        assert_int_equal(get("GET", "/private", auth, NULL, NULL, &r), 200);
        json_t *b = json_loadb(r.body, r.body_len, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(b, "sub")), "alice");
        json_decref(b);
        /* HEAD is answered by the GET handler: the same policy applies. */
        assert_int_equal(get("HEAD", "/private", NULL, NULL, NULL, &r), 401);
        assert_int_equal(get("HEAD", "/private", auth, NULL, NULL, &r), 200);
        free(t);
    }

    /* invalid tokens: each answers 401 invalid_token and the body says nothing more */
    json_t *bad_iss = claims("alice", NULL);
    json_object_set_new(bad_iss, "iss", json_string("evil"));
    json_t *bad_aud = claims("alice", NULL);
    json_object_set_new(bad_aud, "aud", json_string("other-api"));
    json_t *expired = claims("alice", NULL);
    json_object_set_new(expired, "exp", json_integer((json_int_t)time(NULL) - 3600));
    json_t *future = claims("alice", NULL);
    json_object_set_new(future, "nbf", json_integer((json_int_t)time(NULL) + 3600));
    char *toks[] = {token("HS256", bad_iss), token("HS256", bad_aud), token("RS256", expired),
                    token("RS256", future)};
    for (size_t i = 0; i < 4; i++) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", toks[i]);
        assert_int_equal(get("GET", "/private", auth, NULL, NULL, &r), 401);
        assert_string_equal(hdr(&r, "WWW-Authenticate"),
                            "Bearer realm=\"forge\", error=\"invalid_token\"");
        /* the same body whatever the reason */
        assert_non_null(strstr(r.body, "\"detail\":\"The credentials are invalid or expired.\""));
        assert_null(strstr(r.body, "issuer"));
        assert_null(strstr(r.body, "audience"));
        free(toks[i]);
    }
    const char *garbage[] = {"Authorization: Bearer x.y.z", "Authorization: Bearer ",
                             "Authorization: Bearer eyJhbGciOiJub25lIn0.e30.",
                             "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(get("GET", "/private", garbage[i], NULL, NULL, &r), 401);
    forge_test_response_free(&r);
}

static void test_rbac_and_api_keys(void **state)
{
    forge_test_response r;
    forge_test_response_init(&r);
    char auth[4096], key[256];
    char *t = token("HS256", claims("bob", "user"));
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t);
    assert_int_equal(get("GET", "/admin", auth, NULL, NULL, &r), 403);
    assert_string_equal(hdr(&r, "WWW-Authenticate"),
                        "Bearer realm=\"forge\", error=\"insufficient_scope\"");
    free(t);
    t = token("RS256", claims("root", "admin"));
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t);
    assert_int_equal(get("GET", "/admin", auth, NULL, NULL, &r), 200);
    free(t);
    assert_int_equal(get("GET", "/admin", NULL, NULL, NULL, &r), 401);

    char *k = slurp(EX "keys/admin.apikey");
    snprintf(key, sizeof(key), "X-API-Key: %s", k);
    free(k);
    assert_int_equal(get("GET", "/admin", key, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "ops-console"));
    k = slurp(EX "keys/reports.apikey");
    snprintf(key, sizeof(key), "X-API-Key: %s", k);
    free(k);
    assert_int_equal(get("GET", "/admin", key, NULL, NULL, &r), 403);
    assert_null(hdr(&r, "WWW-Authenticate")); /* not a bearer token */
    assert_int_equal(get("GET", "/admin", "X-API-Key: fk_admin_guess", NULL, NULL, &r), 401);
    /* an API key is not a JWT: /private accepts JWTs only */
    assert_int_equal(get("GET", "/private", key, NULL, NULL, &r), 401);
    forge_test_response_free(&r);
}

static void test_validation(void **state)
{
    forge_test_response r;
    forge_test_response_init(&r);
    const char *ct = "Content-Type: application/json";
    assert_int_equal(get("POST", "/validate", ct, NULL, "{\"name\":\"Ada\",\"age\":36}", &r), 200);
    assert_int_equal(get("POST", "/validate", ct, NULL, "{\"name\":\"Ada\"}", &r), 200);
    assert_int_equal(get("POST", "/validate", ct, NULL, "{\"age\":200,\"extra\":1}", &r), 422);
    json_t *b = json_loadb(r.body, r.body_len, 0, NULL);
    json_t *errs = json_object_get(b, "errors");
    assert_int_equal(json_array_size(errs), 3);
    const char *ptrs[] = {"/name", "/age", "/extra"};
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(errs, i), "pointer")),
                            ptrs[i]);
    json_decref(b);
    assert_int_equal(get("POST", "/validate", ct, NULL, "{\"name\":5,\"age\":1.5}", &r), 422);
    assert_int_equal(get("POST", "/validate", ct, NULL, "{\"name\":\"\",\"age\":-1}", &r), 422);
    assert_int_equal(get("POST", "/validate", ct, NULL, "[1]", &r), 422);
    assert_int_equal(get("POST", "/validate", ct, NULL, "{\"name\":", &r), 400);
    assert_int_equal(get("POST", "/validate", ct, NULL, "", &r), 400);
    assert_int_equal(get("POST", "/validate", ct, NULL, "{\"name\":[[[[[[[[[[1]]]]]]]]]]}", &r),
                     400);
    char *big = malloc(20000);
    memset(big, ' ', 19999);
    big[0] = '{';
    big[19997] = '}';
    big[19998] = '\0';
    assert_int_equal(get("POST", "/validate", ct, NULL, big, &r), 413);
    free(big);
    forge_test_response_free(&r);
}

static void test_cors(void **state)
{
    forge_test_response r;
    forge_test_response_init(&r);
    const char *ok = "Origin: https://app.example.com";
    /* preflight on a protected route: answered without credentials */
    const char *h[] = {ok, "Access-Control-Request-Method: GET",
                       "Access-Control-Request-Headers: authorization, content-type", NULL};
    forge_error err;
    assert_int_equal(forge_test_request(th, "OPTIONS", "/private", h, NULL, 0, &r, &err), 0);
    assert_int_equal(r.status, 204);
    assert_string_equal(hdr(&r, "Access-Control-Allow-Origin"), "https://app.example.com");
    assert_string_equal(hdr(&r, "Access-Control-Allow-Credentials"), "true");
    assert_string_equal(hdr(&r, "Access-Control-Allow-Methods"), "GET, POST");
    assert_non_null(strstr(hdr(&r, "Access-Control-Allow-Headers"), "Authorization"));
    assert_string_equal(hdr(&r, "Access-Control-Max-Age"), "600");
    assert_string_equal(hdr(&r, "Vary"), "Origin");
    /* a method or header not allowed: no CORS headers */
    const char *h2[] = {ok, "Access-Control-Request-Method: DELETE", NULL};
    forge_test_request(th, "OPTIONS", "/private", h2, NULL, 0, &r, &err);
    assert_null(hdr(&r, "Access-Control-Allow-Origin"));
    const char *h3[] = {ok, "Access-Control-Request-Method: GET",
                        "Access-Control-Request-Headers: x-evil", NULL};
    forge_test_request(th, "OPTIONS", "/private", h3, NULL, 0, &r, &err);
    assert_null(hdr(&r, "Access-Control-Allow-Origin"));
    /* a disallowed origin, exact match only */
    const char *origins[] = {"Origin: https://evil.example.com", "Origin: http://app.example.com",
                             "Origin: https://app.example.com.evil.com", "Origin: null"};
    for (size_t i = 0; i < 4; i++) {
        const char *hh[] = {origins[i], "Access-Control-Request-Method: GET", NULL};
        forge_test_request(th, "OPTIONS", "/private", hh, NULL, 0, &r, &err);
        assert_null(hdr(&r, "Access-Control-Allow-Origin"));
        assert_int_equal(get("GET", "/public", origins[i], NULL, NULL, &r), 200);
        assert_null(hdr(&r, "Access-Control-Allow-Origin"));
        assert_string_equal(hdr(&r, "Vary"), "Origin");
    }
    /* an actual request from the allowed origin, also when refused */
    assert_int_equal(get("GET", "/public", ok, NULL, NULL, &r), 200);
    assert_string_equal(hdr(&r, "Access-Control-Allow-Origin"), "https://app.example.com");
    assert_string_equal(hdr(&r, "Access-Control-Allow-Credentials"), "true");
    assert_non_null(strstr(hdr(&r, "Access-Control-Expose-Headers"), "RateLimit-Remaining"));
    assert_int_equal(get("GET", "/private", ok, NULL, NULL, &r), 401);
    assert_string_equal(hdr(&r, "Access-Control-Allow-Origin"), "https://app.example.com");
    forge_test_response_free(&r);
}

/* Runs last: it uses up the address's budget on /limited. */
static void test_rate_limit(void **state)
{
    forge_test_response r;
    forge_test_response_init(&r);
    int ok = 0, limited = 0;
    for (int i = 0; i < 8; i++) {
        int s = get("GET", "/limited", NULL, NULL, NULL, &r);
        if (s == 200) {
            ok++;
            assert_string_equal(hdr(&r, "RateLimit-Limit"), "5");
            char rem[16];
            snprintf(rem, sizeof(rem), "%d", 5 - ok);
            assert_string_equal(hdr(&r, "RateLimit-Remaining"), rem);
        } else {
            assert_int_equal(s, 429);
            limited++;
            int ra = atoi(hdr(&r, "Retry-After"));
            assert_true(ra >= 1 && ra <= 60);
            assert_string_equal(hdr(&r, "RateLimit-Remaining"), "0");
            assert_string_equal(hdr(&r, "RateLimit-Policy"), "5;w=60");
            assert_string_equal(hdr(&r, "Content-Type"), "application/problem+json");
        }
    }
    /* A window boundary may fall inside the loop: then up to 10 pass. */
    assert_true(ok == 5 || (ok > 5 && ok <= 10));
    assert_int_equal(ok + limited, 8);
    assert_int_equal(get("GET", "/public", NULL, NULL, NULL, &r),
                     200); /* other routes unaffected */
    forge_test_response_free(&r);
}

/* ---- config errors and code-declared policies ---- */

static int h_ok(forge_req *req, void *u)
{
    return forge_res_text(req, 200, "ok");
}

static int grp_init(forge_app *app, forge_error *err)
{
    int rc = forge_security_init(app, err);
    if (rc < 0)
        return rc;
    forge_group *g = forge_app_group(app, "/api");
    if ((rc = forge_security_group(g, "keyed", err)) < 0 ||
        (rc = forge_group_route(g, "GET", "/x", h_ok, NULL, NULL, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/y", h_ok, NULL, NULL, err)) < 0)
        return rc;
    return forge_security_protect(app, "/y", "keyed", err);
}

static const struct forge_app_entry grp_entry = {
    FORGE_ABI_VERSION, sizeof(struct forge_app_entry), "grp", "1", grp_init, {0}};

static void test_groups_and_code(void **state)
{
    forge_error err;
    const char *cfg =
        "security:\n"
        "  api_keys:\n"
        "    keys:\n"
        "      - {id: k1, hash: "
        "\"sha256:a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3\"}\n"
        "  policies:\n"
        "    keyed: {auth: [api_key], headers: {frame_options: SAMEORIGIN, csp: "
        "false}}\n";
    forge_test_host *h = forge_test_host_new(&grp_entry, cfg, &err);
    assert_non_null(h);
    forge_test_response r;
    forge_test_response_init(&r);
    const char *paths[] = {"/api/x", "/y"};
    for (int i = 0; i < 2; i++) {
        const char *none[] = {NULL};
        const char *good[] = {"X-API-Key: 123", NULL};
        forge_test_request(h, "GET", paths[i], none, NULL, 0, &r, &err);
        assert_int_equal(r.status, 401);
        forge_test_request(h, "GET", paths[i], good, NULL, 0, &r, &err);
        assert_int_equal(r.status, 200);
        assert_string_equal(forge_test_response_header(&r, "X-Frame-Options"), "SAMEORIGIN");
        assert_null(forge_test_response_header(&r, "Content-Security-Policy"));
    }
    forge_test_response_free(&r);
    forge_test_host_free(h);
}

static void expect_config_error(const char *cfg, const char *key_part)
{
    forge_error err;
    forge_error_clear(&err);
    forge_test_host *h = forge_test_host_new(&forge_app_entry, cfg, &err);
    if (h)
        forge_test_host_free(h);
    assert_null(h);
    bool found = strstr(err.message, key_part) || strstr(err.cause, key_part);
    if (!found)
        print_message("message: %s / %s\n", err.message, err.cause);
    assert_true(found);
}

static void test_config_errors(void **state)
{
    expect_config_error("security: {bogus: 1}", "security.bogus");
    expect_config_error("security: {jwt: {m: {algorithms: [HS257], keys: []}}}",
                        "security.jwt.m.algorithms[0]");
    expect_config_error("security: {jwt: {m: {algorithms: [none], keys: []}}}", "never none");
    expect_config_error("security: {rate_limits: {r: {limit: 0, window: 1m}}}",
                        "security.rate_limits.r.limit");
    expect_config_error("security: {rate_limits: {r: {limit: 5, window: 10}}}",
                        "security.rate_limits.r.window");
    expect_config_error("security: {policies: {p: {auth: [jwt]}}}", "security.policies.p.auth");
    expect_config_error("security: {policies: {p: {rate_limit: nope}}}",
                        "security.policies.p.rate_limit");
    expect_config_error("security: {policies: {p: {schema: {type: object, oneOf: []}}}}", "/oneOf");
    expect_config_error("security: {routes: {\"GET /private\": nope}}", "security.routes");
    expect_config_error("security: {policies: {p: {}}, routes: {\"GET /privat\": p}}",
                        "matches no registered route");
    expect_config_error("security: {cors: {origins: [\"*\"], credentials: true}}", "security.cors");
    expect_config_error("security: {api_keys: {keys: [{id: a, hash: \"plain-key\"}]}}",
                        "security.api_keys.keys[0].hash");
    expect_config_error("security: {redis: {url: \"http://127.0.0.1:6379\"}}",
                        "security.redis.url");
#ifndef FORGE_HAVE_HIREDIS
    /* built without hiredis: a Redis store is refused at load, saying why */
    expect_config_error("security: {redis: {url: \"redis://127.0.0.1:6379/0\"}}",
                        "built without hiredis");
#else
    /* with hiredis a valid URL loads (connections are made on first use) */
    forge_error err;
    forge_error_clear(&err);
    forge_test_host *h = forge_test_host_new(
        &forge_app_entry, "security: {redis: {url: \"redis://127.0.0.1:6379/0\"}}", &err);
    assert_non_null(h);
    forge_test_host_free(h);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_and_headers),
        cmocka_unit_test(test_jwt),
        cmocka_unit_test(test_rbac_and_api_keys),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_groups_and_code),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_rate_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
