/*
 * The JWKS URL path against a real HTTP server (python3 http.server serving a
 * JWKS file, tests/integration/security_authserver.py, port 18287): the first
 * fetch at start, a refresh when a token names an unknown kid (that request
 * is refused, the next sees the key), refreshes on unknown kids rate-limited
 * by the minimum gap, the periodic refresh, a failed fetch keeping the keys,
 * and the same through `security.jwt.<name>.jwks_url` on the test host.
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

#define PORT 18287
#define URL  "http://127.0.0.1:18287/jwks"

static pid_t server = -1;
static char jwks_path[128];
static forge_test_host *th;

static const char *secret(int kid)
{
    static char s[4][40];
    snprintf(s[kid], sizeof(s[kid]), "secret-number-%d-0123456789abcdefghij", kid);
    return s[kid];
}

/* Write a JWKS holding the oct keys kid1..kidN of the mask (or raw text). */
static void write_jwks(unsigned mask, const char *raw)
{
    FILE *f = fopen(jwks_path, "w");
    if (raw) {
        fputs(raw, f);
    } else {
        fputs("{\"keys\":[", f);
        bool first = true;
        for (int k = 1; k <= 3; k++) {
            if (!(mask & (1u << k)))
                continue;
            char b64[128];
            forge__b64url_encode((const unsigned char *)secret(k), strlen(secret(k)), b64);
            fprintf(f, "%s{\"kty\":\"oct\",\"kid\":\"k%d\",\"alg\":\"HS256\",\"k\":\"%s\"}",
                    first ? "" : ",", k, b64);
            first = false;
        }
        fputs("]}", f);
    }
    fclose(f);
}

static char *token(int kid)
{
    char k[8];
    snprintf(k, sizeof(k), "k%d", kid);
    json_t *c = json_pack("{s:s,s:I}", "sub", "alice", "exp", (json_int_t)time(NULL) + 600);
    forge_error err;
    char *t = forge_jwt_sign("HS256", secret(kid), strlen(secret(kid)), k, c, &err);
    json_decref(c);
    assert_non_null(t);
    return t;
}

static int verify(forge_jwt_verifier *v, int kid)
{
    char *t = token(kid);
    json_t *claims = NULL;
    forge_error err;
    int rc = forge_jwt_verify(v, t, strlen(t), 0, &claims, &err);
    json_decref(claims);
    free(t);
    return rc;
}

static long jwks_hits(void)
{
    return auth_count(PORT, "jwks", NULL);
}

/* Wait (at most 5 s) for the server to have served n JWKS documents. */
static long wait_hits(long n)
{
    for (int i = 0; i < 100 && jwks_hits() < n; i++)
        sleep_ms(50);
    sleep_ms(100); /* let the fetch task swap the keys in */
    return jwks_hits();
}

static int h_private(forge_req *req, void *u)
{
    const forge_principal *p = forge_req_principal(req);
    return forge_res_text(req, 200, p ? p->subject : "-");
}

FORGE_APP("jwks", "1.0")
{
    int rc = forge_security_init(app, err);
    return rc < 0 ? rc : forge_app_route(app, "GET", "/private", h_private, NULL, NULL, err);
}

static int setup(void **state)
{
    snprintf(jwks_path, sizeof(jwks_path), "/tmp/forge-jwks-%d.json", (int)getpid());
    write_jwks(1u << 1, NULL);
    server = auth_server_start(PORT, jwks_path);
    return server > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    auth_server_stop(server);
    unlink(jwks_path);
    return 0;
}

static void test_fetch_and_refresh(void **state)
{
    forge_error err;
    th = forge_test_host_new(&forge_app_entry, NULL, &err); /* for its runtime (pool, timers) */
    assert_non_null(th);
    forge_runtime *rt = forge_app_runtime(forge_test_host_app(th));
    assert_non_null(rt);
    write_jwks(1u << 1, NULL);
    json_t *desc = json_pack("{s:s,s:[s],s:s,s:i}", "name", "t", "algorithms", "HS256", "jwks_url",
                             URL, "jwks_refresh_s", 3600);
    forge_jwt_verifier *v = forge_jwt_verifier_new(desc, NULL, &err);
    json_decref(desc);
    assert_non_null(v);
    v->jwks_min_gap_ms = 600;
    long h0 = jwks_hits();
    assert_int_equal(forge__jwks_start(v, rt), 0); /* first fetch, blocking */
    assert_int_equal(jwks_hits(), h0 + 1);
    assert_int_equal(verify(v, 1), 0);
    assert_int_equal(verify(v, 2), FORGE_ENOENT); /* unknown kid, within the gap of the */
    sleep_ms(200);                                /* first fetch: no refresh */
    assert_int_equal(jwks_hits(), h0 + 1);

    /* the key appears on the server; past the gap, an unknown kid asks for one refresh */
    write_jwks((1u << 1) | (1u << 2), NULL);
    sleep_ms(700);
    assert_int_equal(verify(v, 2), FORGE_ENOENT); /* refused, but asks for a refresh */
    assert_int_equal(wait_hits(h0 + 2), h0 + 2);
    assert_int_equal(verify(v, 2), 0); /* the next request sees the new key */
    assert_int_equal(verify(v, 1), 0);

    /* rate-limited: a burst of unknown kids within the gap fetches nothing more */
    for (int i = 0; i < 20; i++)
        assert_int_equal(verify(v, 3), FORGE_ENOENT);
    sleep_ms(200);
    assert_int_equal(jwks_hits(), h0 + 2);

    /* after the gap, one more refresh; a failed fetch (bad JSON) keeps the keys */
    write_jwks(0, "{not json");
    sleep_ms(700);
    assert_int_equal(verify(v, 3), FORGE_ENOENT);
    assert_int_equal(wait_hits(h0 + 3), h0 + 3);
    assert_int_equal(verify(v, 1), 0);
    assert_int_equal(verify(v, 2), 0);
    /* a JWKS with no usable key is refused too */
    write_jwks(0, "{\"keys\":[]}");
    assert_true(forge__jwks_fetch_now(v, &err) < 0);
    assert_non_null(strstr(err.message, "no usable"));
    assert_int_equal(verify(v, 1), 0);
    forge_jwt_verifier_free(v);

    /* the periodic refresh (every second here) picks up a rotation without any request */
    write_jwks(1u << 1, NULL);
    desc = json_pack("{s:s,s:[s],s:s,s:i}", "name", "p", "algorithms", "HS256", "jwks_url", URL,
                     "jwks_refresh_s", 1);
    v = forge_jwt_verifier_new(desc, NULL, &err);
    json_decref(desc);
    forge__jwks_start(v, rt);
    assert_int_equal(verify(v, 3), FORGE_ENOENT);
    write_jwks((1u << 1) | (1u << 3), NULL);
    int rc = FORGE_ENOENT;
    for (int i = 0; i < 40 && rc != 0; i++) {
        sleep_ms(100);
        /* verify without kicking: a token whose kid is known does not ask for refreshes */
        forge__sec_keyset *ks = forge__jwt_keys(v);
        bool have = false;
        for (size_t k = 0; k < ks->n; k++)
            have |= ks->v[k].kid && strcmp(ks->v[k].kid, "k3") == 0;
        forge__sec_keyset_unref(ks);
        rc = have ? 0 : FORGE_ENOENT;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(verify(v, 3), 0);
    forge_jwt_verifier_free(v);

    /* an unreachable URL: start logs and keeps going, tokens are refused */
    desc = json_pack("{s:s,s:[s],s:s}", "name", "d", "algorithms", "HS256", "jwks_url",
                     "http://127.0.0.1:18298/jwks");
    v = forge_jwt_verifier_new(desc, NULL, &err);
    json_decref(desc);
    assert_int_equal(forge__jwks_start(v, rt), 0);
    assert_true(verify(v, 1) < 0);
    forge_jwt_verifier_free(v);
    forge_test_host_free(th);
}

static void test_from_config(void **state)
{
    write_jwks((1u << 1) | (1u << 2), NULL);
    const char *cfg = "security:\n"
                      "  jwt:\n"
                      "    remote: {algorithms: [HS256], jwks_url: \"" URL "\", jwks_refresh: 1h}\n"
                      "  policies: {user: {auth: [jwt:remote]}}\n"
                      "  routes: {\"GET /private\": user}\n";
    forge_error err;
    forge_test_host *h = forge_test_host_new(&forge_app_entry, cfg, &err);
    assert_non_null(h);
    forge_test_response res;
    forge_test_response_init(&res);
    char *t = token(2), hdr[512];
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", t);
    const char *hdrs[] = {hdr, NULL};
    assert_int_equal(forge_test_request(h, "GET", "/private", hdrs, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "alice");
    free(t);
    t = token(3);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", t);
    assert_int_equal(forge_test_request(h, "GET", "/private", hdrs, NULL, 0, &res, &err), 0);
    assert_int_equal(res.status, 401);
    free(t);
    forge_test_response_free(&res);
    forge_test_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_and_refresh),
        cmocka_unit_test(test_from_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
