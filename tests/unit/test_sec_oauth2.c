/*
 * OAuth2 against a real local authorization server (python3 http.server,
 * tests/integration/security_authserver.py, port 18286): RFC 7662
 * introspection (active/inactive, errors, audience, caching bounded by exp,
 * negative caching, server failures not cached, timeouts), client-credentials
 * tokens (cached until shortly before expiry, one fetch for concurrent
 * callers), and introspection as a policy's authentication on the test host.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sec_impl.h"

#include "auth_server.h"

#include <forge/forge.h>
#include <forge/testhost.h>
#include <stdio.h>

#define PORT   18286
#define AS     "http://127.0.0.1:18286"
#define SECRET "s3cr3t:&="

static pid_t server = -1;

static int setup(void **state)
{
    server = auth_server_start(PORT, NULL);
    return server > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    auth_server_stop(server);
    return 0;
}

static forge_oauth2_introspector *intro(uint32_t ttl_ms, uint32_t timeout_ms, bool post)
{
    forge_oauth2_opts o = {.url = AS "/introspect",
                           .client_id = "api",
                           .client_secret = SECRET,
                           .secret_in_body = post,
                           .audience = "forge-api",
                           .cache_ttl_ms = ttl_ms,
                           .negative_ttl_ms = 60000,
                           .timeout_ms = timeout_ms};
    forge_error err;
    forge_oauth2_introspector *in = forge_oauth2_introspector_new(&o, &err);
    assert_non_null(in);
    return in;
}

static int check(forge_oauth2_introspector *in, const char *tok, json_t **claims, forge_error *err)
{
    forge_error_clear(err);
    return forge_oauth2_introspect(in, tok, strlen(tok), claims, err);
}

static void test_introspect(void **state)
{
    forge_oauth2_introspector *in = intro(0, 0, false);
    json_t *c = NULL;
    forge_error err;
    assert_int_equal(check(in, "good-1", &c, &err), 0);
    assert_string_equal(json_string_value(json_object_get(c, "sub")), "alice");
    json_decref(c);
    assert_int_equal(check(in, "good-1", &c, &err), 0); /* cached */
    json_decref(c);
    assert_int_equal(auth_count(PORT, "introspect", "good-1"), 1);

    assert_int_equal(check(in, "inactive-1", &c, &err), FORGE_EACCES);
    assert_null(c);
    assert_int_equal(check(in, "inactive-1", &c, &err), FORGE_EACCES); /* negative cache */
    assert_int_equal(auth_count(PORT, "introspect", "inactive-1"), 1);
    assert_null(strstr(err.message, "inactive-1")); /* tokens never in messages */

    assert_int_equal(check(in, "wrongaud-1", &c, &err), FORGE_EACCES);
    assert_non_null(strstr(err.message, "audience"));

    assert_int_equal(check(in, "boom-1", &c, &err), FORGE_EIO);
    assert_non_null(strstr(err.message, "HTTP 500"));
    assert_int_equal(check(in, "boom-1", &c, &err), FORGE_EIO); /* failures are not cached */
    assert_int_equal(auth_count(PORT, "introspect", "boom-1"), 2);
    assert_int_equal(check(in, "garbage-1", &c, &err), FORGE_EPARSE);
    assert_int_equal(check(in, "noactive-1", &c, &err), FORGE_EPARSE);
    assert_int_equal(forge_oauth2_introspect(in, "", 0, &c, &err), FORGE_EACCES);
    assert_int_equal(forge_oauth2_introspect(in, "a\0b", 3, &c, &err), FORGE_EACCES);
    assert_int_equal(forge_oauth2_introspect(NULL, "x", 1, &c, &err), FORGE_EINVAL);
    assert_int_equal(forge__oauth2_calls(in), 7);
    forge_oauth2_introspector_free(in);

    /* client_secret_post works too; a wrong secret is a server error, never a cached refusal */
    in = intro(0, 0, true);
    assert_int_equal(check(in, "good-post", &c, &err), 0);
    json_decref(c);
    forge_oauth2_introspector_free(in);
    forge_oauth2_opts bad = {.url = AS "/introspect", .client_id = "api", .client_secret = "no"};
    in = forge_oauth2_introspector_new(&bad, &err);
    assert_int_equal(check(in, "good-badclient", &c, &err), FORGE_EIO);
    assert_non_null(strstr(err.message, "HTTP 401"));
    assert_null(strstr(err.message, "no"));
    forge_oauth2_introspector_free(in);

    /* option errors */
    forge_oauth2_opts o = {.url = "ftp://x", .client_id = "a", .client_secret = "b"};
    assert_null(forge_oauth2_introspector_new(&o, &err));
    assert_non_null(strstr(err.message, "http"));
    o.url = AS;
    o.client_id = NULL;
    assert_null(forge_oauth2_introspector_new(&o, &err));
    assert_null(forge_oauth2_introspector_new(NULL, &err));
}

static void test_cache_lifetimes(void **state)
{
    forge_oauth2_introspector *in = intro(400, 0, false);
    json_t *c = NULL;
    forge_error err;
    /* exp bounds the cache: "short" tokens expire in 1 s */
    assert_int_equal(check(in, "short-1", &c, &err), 0);
    json_decref(c);
    sleep_ms(1100);
    assert_int_equal(check(in, "short-1", &c, &err), 0); /* the server renews exp: active */
    json_decref(c);
    assert_int_equal(auth_count(PORT, "introspect", "short-1"), 2);
    /* without exp, cache_ttl (400 ms) */
    assert_int_equal(check(in, "noexp-1", &c, &err), 0);
    json_decref(c);
    assert_int_equal(check(in, "noexp-1", &c, &err), 0);
    json_decref(c);
    assert_int_equal(auth_count(PORT, "introspect", "noexp-1"), 1);
    sleep_ms(500);
    assert_int_equal(check(in, "noexp-1", &c, &err), 0);
    json_decref(c);
    assert_int_equal(auth_count(PORT, "introspect", "noexp-1"), 2);
    forge_oauth2_introspector_free(in);

    /* timeouts */
    in = intro(0, 300, false);
    assert_int_equal(check(in, "slow-1", &c, &err), FORGE_ETIMEDOUT);
    forge_oauth2_introspector_free(in);

    /* a bounded cache: the entry expiring first goes */
    forge_oauth2_opts o = {
        .url = AS "/introspect", .client_id = "api", .client_secret = SECRET, .cache_max = 2};
    in = forge_oauth2_introspector_new(&o, &err);
    const char *toks[] = {"good-b1", "good-b2", "good-b3", "good-b1"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(check(in, toks[i], &c, &err), 0);
        json_decref(c);
        sleep_ms(5); /* distinct expiry times: the oldest entry is the one evicted */
    }
    assert_int_equal(forge__oauth2_calls(in), 4); /* b1 was evicted by b3 */
    forge_oauth2_introspector_free(in);
}

typedef struct tok_arg {
    forge_oauth2_client *c;
    char *tok;
    int rc;
} tok_arg;

static void *get_token(void *v)
{
    tok_arg *a = v;
    forge_error err;
    a->rc = forge_oauth2_client_token(a->c, &a->tok, &err);
    return NULL;
}

static void test_client_credentials(void **state)
{
    forge_oauth2_opts o = {.url = AS "/token", .client_id = "api", .client_secret = SECRET};
    forge_error err;
    forge_oauth2_client *c = forge_oauth2_client_new(&o, &err);
    assert_non_null(c);
    long before = auth_count(PORT, "token", NULL);
    /* concurrent first callers: one fetch */
    tok_arg a[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (tok_arg){.c = c};
        pthread_create(&t[i], NULL, get_token, &a[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].rc, 0);
        assert_string_equal(a[i].tok, a[0].tok);
    }
    assert_int_equal(auth_count(PORT, "token", NULL), before + 1);
    for (int i = 0; i < 8; i++)
        free(a[i].tok);
    char *tok = NULL;
    assert_int_equal(forge_oauth2_client_token(c, &tok, &err), 0); /* cached */
    free(tok);
    assert_int_equal(auth_count(PORT, "token", NULL), before + 1);
    forge_oauth2_client_free(c);

    /* expires_in 1: refreshed before it expires */
    o.scope = "short";
    o.secret_in_body = true;
    c = forge_oauth2_client_new(&o, &err);
    char *t1 = NULL, *t2 = NULL, *t3 = NULL;
    assert_int_equal(forge_oauth2_client_token(c, &t1, &err), 0);
    assert_int_equal(forge_oauth2_client_token(c, &t2, &err), 0);
    assert_string_equal(t1, t2);
    sleep_ms(950); /* past 90% of the lifetime */
    assert_int_equal(forge_oauth2_client_token(c, &t3, &err), 0);
    assert_string_not_equal(t1, t3);
    assert_int_equal(auth_count(PORT, "token", NULL), before + 3);
    free(t1);
    free(t2);
    free(t3);
    forge_oauth2_client_free(c);

    /* refusals */
    forge_oauth2_opts bad = {.url = AS "/token", .client_id = "api", .client_secret = "wrong"};
    c = forge_oauth2_client_new(&bad, &err);
    assert_int_equal(forge_oauth2_client_token(c, &tok, &err), FORGE_EIO);
    assert_null(tok);
    assert_non_null(strstr(err.message, "HTTP 401"));
    forge_oauth2_client_free(c);
    forge_oauth2_opts down = {.url = "http://127.0.0.1:18299/token",
                              .client_id = "a",
                              .client_secret = "b",
                              .timeout_ms = 500};
    c = forge_oauth2_client_new(&down, &err);
    assert_true(forge_oauth2_client_token(c, &tok, &err) < 0);
    forge_oauth2_client_free(c);
    assert_int_equal(forge_oauth2_client_token(NULL, &tok, &err), FORGE_EINVAL);
}

/* ---- the middleware ---- */

static int h_me(forge_req *req, void *u)
{
    const forge_principal *p = forge_req_principal(req);
    json_t *scopes = json_array();
    for (size_t i = 0; p && i < p->nscopes; i++)
        json_array_append_new(scopes, json_string(p->scopes[i]));
    json_t *j = json_pack("{s:s,s:s,s:o}", "subject", p ? p->subject : "", "method",
                          p ? p->method : "", "scopes", scopes);
    int rc = forge_res_json(req, 200, j);
    json_decref(j);
    return rc;
}

static int h_token(forge_req *req, void *u)
{
    forge_oauth2_client *c = forge_security_oauth2_client(forge_req_app(req), "billing");
    char *tok = NULL;
    forge_error err;
    if (!c || forge_oauth2_client_token(c, &tok, &err) < 0)
        return forge_res_text(req, 502, "no token\n");
    int rc = forge_res_text(req, 200, tok);
    free(tok);
    return rc;
}

FORGE_APP("oauth", "1.0")
{
    int rc = forge_security_init(app, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/me", h_me, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/admin", h_me, NULL, NULL, err);
    if (rc == 0)
        rc = forge_app_route(app, "GET", "/out", h_token, NULL,
                             &(forge_route_opts){.flags = FORGE_ROUTE_BLOCKING}, err);
    return rc;
}

static const char cfg[] = "security:\n"
                          "  introspection:\n"
                          "    main:\n"
                          "      url: " AS "/introspect\n"
                          "      client_id: api\n"
                          "      client_secret: \"" SECRET "\"\n"
                          "      audience: forge-api\n"
                          "      issuer: https://as.test\n"
                          "      timeout: 2s\n"
                          "      negative_ttl: 30s\n"
                          "  oauth2_clients:\n"
                          "    billing: {url: " AS
                          "/token, client_id: api, client_secret: \"" SECRET "\", scope: billing}\n"
                          "  policies:\n"
                          "    reader: {auth: [introspection:main], permissions: [read]}\n"
                          "    admin: {auth: [introspection], permissions: [delete]}\n"
                          "  routes:\n"
                          "    \"GET /me\": reader\n"
                          "    \"GET /admin\": admin\n";

static void req(forge_test_host *th, const char *path, const char *tok, forge_test_response *res)
{
    char h[256];
    snprintf(h, sizeof(h), "Authorization: Bearer %s", tok ? tok : "");
    const char *hdrs[] = {h, NULL};
    forge_error err;
    assert_int_equal(forge_test_request(th, "GET", path, tok ? hdrs : NULL, NULL, 0, res, &err), 0);
}

static void test_middleware(void **state)
{
    forge_error err;
    forge_test_host *th = forge_test_host_new(&forge_app_entry, cfg, &err);
    if (!th)
        print_message("host: %s / %s\n", err.message, err.cause);
    assert_non_null(th);
    forge_test_response res;
    forge_test_response_init(&res);

    req(th, "/me", NULL, &res);
    assert_int_equal(res.status, 401);
    assert_string_equal(forge_test_response_header(&res, "WWW-Authenticate"),
                        "Bearer realm=\"forge\"");
    req(th, "/me", "good-mw", &res);
    assert_int_equal(res.status, 200);
    assert_true(res.async); /* enforced on the pool */
    assert_non_null(strstr(res.body, "\"subject\":\"alice\""));
    assert_non_null(strstr(res.body, "\"method\":\"introspection:main\""));
    assert_non_null(strstr(res.body, "\"read\""));
    req(th, "/me", "good-mw", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(auth_count(PORT, "introspect", "good-mw"), 1);

    req(th, "/admin", "good-mw", &res); /* scopes read, write: no delete */
    assert_int_equal(res.status, 403);
    assert_non_null(
        strstr(forge_test_response_header(&res, "WWW-Authenticate"), "insufficient_scope"));
    req(th, "/me", "inactive-mw", &res);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(forge_test_response_header(&res, "WWW-Authenticate"), "invalid_token"));
    req(th, "/me", "inactive-mw", &res);
    assert_int_equal(auth_count(PORT, "introspect", "inactive-mw"), 1);
    req(th, "/me", "boom-mw", &res);
    assert_int_equal(res.status, 503);
    assert_string_equal(forge_test_response_header(&res, "Retry-After"), "1");
    req(th, "/me", "garbage-mw", &res);
    assert_int_equal(res.status, 503);
    req(th, "/me", "wrongaud-mw", &res);
    assert_int_equal(res.status, 401);

    /* outgoing: a client-credentials token from the config */
    assert_int_equal(forge_test_request(th, "GET", "/out", NULL, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_memory_equal(res.body, "at-", 3);
    assert_null(forge_security_oauth2_client(forge_test_host_app(th), "nope"));
    forge_test_response_free(&res);
    forge_test_host_free(th);
}

static void expect_config_error(const char *text, const char *needle)
{
    forge_error err;
    forge_error_clear(&err);
    forge_test_host *th = forge_test_host_new(&forge_app_entry, text, &err);
    assert_null(th);
    bool found = strstr(err.message, needle) || strstr(err.cause, needle);
    if (!found)
        print_message("message: %s / %s\n", err.message, err.cause);
    assert_true(found);
}

static void test_config_errors(void **state)
{
    expect_config_error("security:\n  policies: {p: {auth: [introspection:x]}}\n",
                        "security.policies.p.auth[0]");
    expect_config_error("security:\n  introspection: {m: {url: ftp://x, client_id: a, "
                        "client_secret: b}}\n",
                        "security.introspection.m.url");
    expect_config_error("security:\n  introspection: {m: {url: \"http://x\", client_id: a}}\n",
                        "security.introspection.m: client_id and client_secret");
    expect_config_error("security:\n  introspection: {m: {url: \"http://x\", client_id: a, "
                        "client_secret: b, bogus: 1}}\n",
                        "security.introspection.m.bogus: unknown key");
    expect_config_error("security:\n  introspection: {m: {url: \"http://x\", client_id: a, "
                        "client_secret: b, cache_ttl: forever}}\n",
                        "security.introspection.m.cache_ttl");
    expect_config_error("security:\n  introspection: {m: {url: \"http://x\", client_id: a, "
                        "client_secret: b, auth_method: jwt}}\n",
                        "auth_method: basic or post");
    expect_config_error("security:\n  oauth2_clients: {c: {url: \"http://x\", client_id: a, "
                        "client_secret: b, cache_ttl: 1s}}\n",
                        "security.oauth2_clients.c.cache_ttl: unknown key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_introspect),         cmocka_unit_test(test_cache_lifetimes),
        cmocka_unit_test(test_client_credentials), cmocka_unit_test(test_middleware),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
