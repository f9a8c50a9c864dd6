/*
 * Encrypted config values (sec_secret.c, the ${enc:...} hook in
 * config_secret.c): round trips, wrong key, tampering anywhere in the value,
 * malformed input, key loading, and that decrypted values are secret (dumps
 * and error messages never show them).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sec_impl.h"

#include <forge/config.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static forge_secret_key new_key(const char *what)
{
    char b64[64];
    forge_error err;
    forge_secret_key k;
    assert_int_equal(forge_secret_keygen(b64, sizeof(b64), &err), 0);
    assert_int_equal(strlen(b64), 44);
    assert_int_equal(forge_secret_key_parse(b64, strlen(b64), what, &k, &err), 0);
    return k;
}

static char *decrypt(const forge_secret_key *k, const char *v, int *rc, forge_error *err)
{
    char *out = NULL;
    size_t n = 0;
    forge_error_clear(err);
    *rc = forge_secret_decrypt(k, v, strlen(v), &out, &n, err);
    if (*rc == 0)
        assert_int_equal(n, strlen(out));
    return out;
}

static void test_round_trip(void **state)
{
    (void)state;
    forge_secret_key k = new_key("test");
    const char *inputs[] = {"", "p", "hunter2", "pässwörd ✓ 秘密", "a}b${env:X}c"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(*inputs); i++) {
        forge_error err;
        char *v = forge_secret_encrypt(&k, inputs[i], strlen(inputs[i]), &err);
        assert_non_null(v);
        assert_memory_equal(v, "${enc:v1:", 9);
        assert_int_equal(v[strlen(v) - 1], '}');
        if (strlen(inputs[i]) > 3)
            assert_null(strstr(v, inputs[i]));
        int rc;
        char *p = decrypt(&k, v, &rc, &err);
        assert_int_equal(rc, 0);
        assert_string_equal(p, inputs[i]);
        free(p);
        /* the body alone ("v1:...") works too */
        char body[1024];
        snprintf(body, sizeof(body), "%.*s", (int)strlen(v) - 7, v + 6);
        p = decrypt(&k, body, &rc, &err);
        assert_int_equal(rc, 0);
        assert_string_equal(p, inputs[i]);
        free(p);
        /* fresh nonce every time */
        char *v2 = forge_secret_encrypt(&k, inputs[i], strlen(inputs[i]), &err);
        assert_string_not_equal(v, v2);
        free(v2);
        free(v);
    }
    /* big input */
    size_t big = 48 * 1024;
    char *s = malloc(big + 2);
    memset(s, 'x', big + 1);
    forge_error err;
    char *v = forge_secret_encrypt(&k, s, big, &err);
    assert_non_null(v);
    int rc;
    char *p = decrypt(&k, v, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(p), big);
    free(p);
    free(v);
    assert_null(forge_secret_encrypt(&k, s, big + 1, &err));
    assert_int_equal(err.code, FORGE_ETOOBIG);
    free(s);
    /* not text */
    assert_null(forge_secret_encrypt(&k, "a\0b", 3, &err));
    assert_int_equal(err.code, FORGE_EINVAL);
    assert_null(forge_secret_encrypt(&k, "\xff\xfe", 2, &err));
    assert_null(forge_secret_encrypt(NULL, "x", 1, &err));
}

static void test_wrong_key(void **state)
{
    (void)state;
    forge_secret_key a = new_key("key A"), b = new_key("secrets.key_file /run/b");
    forge_error err;
    char *v = forge_secret_encrypt(&a, "hunter2", 7, &err);
    int rc;
    assert_null(decrypt(&b, v, &rc, &err));
    assert_int_equal(rc, FORGE_EACCES);
    assert_non_null(strstr(err.message, "another key"));
    assert_non_null(strstr(err.message, "secrets.key_file /run/b"));
    assert_null(strstr(err.message, "hunter2"));
    /* same key id, different key bytes (id forged into the value): the tag fails */
    memcpy(b.id, a.id, sizeof(a.id));
    assert_null(decrypt(&b, v, &rc, &err));
    assert_int_equal(rc, FORGE_EACCES);
    assert_non_null(strstr(err.message, "fails authentication"));
    free(v);
}

/* Flip each byte of the decoded value in turn: every change is refused. */
static void test_tampering(void **state)
{
    (void)state;
    forge_secret_key k = new_key("k");
    forge_error err;
    char *v = forge_secret_encrypt(&k, "hunter2", 7, &err);
    size_t bn = strlen(v) - 10; /* between "${enc:v1:" and "}" */
    unsigned char raw[256];
    long rawn = forge__b64_decode(v + 9, bn, raw);
    assert_int_equal(rawn, 4 + 12 + 7 + 16);
    for (long i = 0; i < rawn; i++) {
        unsigned char t[256];
        memcpy(t, raw, (size_t)rawn);
        t[i] ^= 0x01;
        char enc[512] = "${enc:v1:";
        size_t o = 9 + forge__b64_encode(t, (size_t)rawn, enc + 9);
        strcpy(enc + o, "}");
        int rc;
        assert_null(decrypt(&k, enc, &rc, &err));
        assert_int_equal(rc, FORGE_EACCES);
        if (i >= 4) /* not the key id */
            assert_non_null(strstr(err.message, "tampered"));
    }
    /* truncated tag, missing tag */
    for (long cut = 1; cut <= 17; cut += 8) {
        char enc[512] = "${enc:v1:";
        size_t o = 9 + forge__b64_encode(raw, (size_t)(rawn - cut), enc + 9);
        strcpy(enc + o, "}");
        int rc;
        assert_null(decrypt(&k, enc, &rc, &err));
        assert_true(rc == FORGE_EACCES || rc == FORGE_EPARSE);
    }
    free(v);
}

static void test_malformed(void **state)
{
    (void)state;
    forge_secret_key k = new_key("k");
    const char *bad[] = {"",
                         "${enc:v1:}",
                         "${enc:v2:AAAA}",
                         "${enc:v1:AAAA",
                         "${enc:v1:!!!!}",
                         "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "${enc:v1:QUJD}",
                         "hunter2",
                         "${env:HOME}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        forge_error err;
        int rc;
        assert_null(decrypt(&k, bad[i], &rc, &err));
        assert_true(rc == FORGE_EPARSE || rc == FORGE_EACCES);
        assert_true(err.message[0] != '\0');
    }
    char *out;
    forge_error err;
    assert_int_equal(forge_secret_decrypt(NULL, "x", 1, &out, NULL, &err), FORGE_EINVAL);
    /* keys must be the base64 of exactly 32 bytes */
    forge_secret_key x;
    const char *badkeys[] = {"", "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof(badkeys) / sizeof(*badkeys); i++) {
        assert_int_equal(
            forge_secret_key_parse(badkeys[i], strlen(badkeys[i]), "FORGE_SECRETS_KEY", &x, &err),
            FORGE_ECONFIG);
        assert_non_null(strstr(err.message, "FORGE_SECRETS_KEY"));
    }
    char small[10];
    assert_int_equal(forge_secret_keygen(small, sizeof(small), &err), FORGE_EINVAL);
}

static void test_key_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/forge-secret-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], b64[64];
    forge_error err;
    snprintf(path, sizeof(path), "%s/key", dir);
    forge_secret_keygen(b64, sizeof(b64), &err);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n", b64);
    fclose(f);
    unsetenv("FORGE_SECRETS_KEY");
    unsetenv("FORGE_SECRETS_KEY_FILE");
    forge_secret_key k;
    assert_int_equal(forge_secret_key_load(NULL, NULL, &k, &err), FORGE_ENOENT);
    assert_non_null(strstr(err.message, "FORGE_SECRETS_KEY_FILE"));
    assert_int_equal(forge_secret_key_load(path, NULL, &k, &err), 0);
    assert_non_null(strstr(k.source, path));
    setenv("MY_KEY", b64, 1);
    forge_secret_key k2;
    assert_int_equal(forge_secret_key_load(NULL, "MY_KEY", &k2, &err), 0);
    assert_memory_equal(k.k, k2.k, 32);
    assert_int_equal(forge_secret_key_load(NULL, "NOT_SET_VAR_X", &k2, &err), FORGE_ENOENT);
    assert_non_null(strstr(err.message, "NOT_SET_VAR_X"));
    setenv("FORGE_SECRETS_KEY_FILE", path, 1);
    assert_int_equal(forge_secret_key_load(NULL, NULL, &k2, &err), 0);
    assert_non_null(strstr(k2.source, "FORGE_SECRETS_KEY_FILE"));
    unsetenv("FORGE_SECRETS_KEY_FILE");
    assert_int_equal(forge_secret_key_load("/nonexistent/key", NULL, &k2, &err), FORGE_ECONFIG);
    assert_non_null(strstr(err.message, "/nonexistent/key"));
    unlink(path);
    rmdir(dir);
}

/* Through the config loader: decrypted at load, secret in dumps and messages. */
static void test_config(void **state)
{
    (void)state;
    char dir[] = "/tmp/forge-secret-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char keypath[256], cfgpath[256], b64[64];
    forge_error err;
    forge_secret_keygen(b64, sizeof(b64), &err);
    snprintf(keypath, sizeof(keypath), "%s/forge.key", dir);
    FILE *f = fopen(keypath, "w");
    fprintf(f, "%s\n", b64);
    fclose(f);
    forge_secret_key k;
    assert_int_equal(forge_secret_key_parse(b64, 44, "t", &k, &err), 0);
    char *v = forge_secret_encrypt(&k, "s3cr3t-pw", 9, &err);
    char *n = forge_secret_encrypt(&k, "42", 2, &err);

    /* key file relative to the config file's directory */
    snprintf(cfgpath, sizeof(cfgpath), "%s/app.yaml", dir);
    f = fopen(cfgpath, "w");
    fprintf(f,
            "secrets: {key_file: forge.key}\ndb:\n  password: \"%s\"\n  url: \"pg://u:%s@h/db\"\n"
            "  pool: \"%s\"\n",
            v, v, n);
    fclose(f);
    unsetenv("FORGE_SECRETS_KEY");
    unsetenv("FORGE_SECRETS_KEY_FILE");
    forge_config *cfg = forge_config_new();
    forge_error_clear(&err);
    assert_int_equal(forge_config_load_file(cfg, cfgpath, &err), 0);
    assert_string_equal(forge_config_string(cfg, "db.password", ""), "s3cr3t-pw");
    assert_string_equal(forge_config_string(cfg, "db.url", ""), "pg://u:s3cr3t-pw@h/db");
    assert_true(forge_config_is_secret(cfg, "db.password"));
    assert_true(forge_config_is_secret(cfg, "db.url"));
    for (int fmt = 0; fmt < 2; fmt++) {
        char *dump = forge_config_dump_string(cfg, (forge_config_dump_format)fmt);
        assert_non_null(dump);
        assert_null(strstr(dump, "s3cr3t"));
        assert_non_null(strstr(dump, "***"));
        free(dump);
    }
    /* a type error on a decrypted value does not quote it */
    int64_t i64;
    bool b;
    assert_int_not_equal(forge_config_get_bool(cfg, "db.pool", &b, &err), 0);
    assert_null(strstr(err.message, "42"));
    assert_int_equal(forge_config_get_int(cfg, "db.pool", &i64, &err), 0);
    assert_int_equal(i64, 42);
    forge_config_free(cfg);

    /* wrong key: the error names the key path and the key's source, never plaintext */
    char other[64];
    forge_secret_keygen(other, sizeof(other), &err);
    setenv("FORGE_SECRETS_KEY", other, 1);
    char text[1024];
    snprintf(text, sizeof(text), "db:\n  password: \"%s\"\n", v);
    cfg = forge_config_new();
    forge_error_clear(&err);
    assert_int_equal(forge_config_load_string(cfg, text, strlen(text), FORGE_CONFIG_YAML, &err),
                     FORGE_ECONFIG);
    assert_string_equal(err.key, "db.password");
    assert_non_null(strstr(err.message, "db.password"));
    assert_non_null(strstr(err.message, "another key"));
    assert_non_null(strstr(err.message, "FORGE_SECRETS_KEY"));
    assert_null(strstr(err.message, "s3cr3t"));
    forge_config_free(cfg);

    /* right key from the environment; a tampered value names the key path */
    setenv("FORGE_SECRETS_KEY", b64, 1);
    cfg = forge_config_new();
    assert_int_equal(forge_config_load_string(cfg, text, strlen(text), FORGE_CONFIG_YAML, &err), 0);
    assert_string_equal(forge_config_string(cfg, "db.password", ""), "s3cr3t-pw");
    forge_config_free(cfg);
    char *t = strdup(v);
    size_t tl = strlen(t);
    /*
     * Flip a character inside the tag, in a full base64 quantum: every bit of
     * it is significant, so the value still decodes and fails authentication
     * (a character of the last quantum may only change padding bits, which
     * the strict decoder refuses as malformed instead).
     */
    t[tl - 8] = t[tl - 8] == 'A' ? 'B' : 'A';
    snprintf(text, sizeof(text), "db:\n  password: \"%s\"\n", t);
    cfg = forge_config_new();
    assert_int_equal(forge_config_load_string(cfg, text, strlen(text), FORGE_CONFIG_YAML, &err),
                     FORGE_ECONFIG);
    assert_string_equal(err.key, "db.password");
    assert_non_null(strstr(err.message, "tampered"));
    forge_config_free(cfg);
    /* no key at all */
    unsetenv("FORGE_SECRETS_KEY");
    snprintf(text, sizeof(text), "db:\n  password: \"%s\"\n", v);
    cfg = forge_config_new();
    assert_int_equal(forge_config_load_string(cfg, text, strlen(text), FORGE_CONFIG_YAML, &err),
                     FORGE_ECONFIG);
    assert_non_null(strstr(err.message, "no secrets key"));
    forge_config_free(cfg);
    /* from an environment variable override (key from FORGE_SECRETS_KEY) */
    setenv("FORGE_SECRETS_KEY", b64, 1);
    setenv("FORGE_DB__PASSWORD", v, 1);
    cfg = forge_config_new();
    assert_int_equal(
        forge_config_load_string(cfg, "db: {password: x}", 17, FORGE_CONFIG_YAML, &err), 0);
    assert_int_equal(forge_config_apply_env(cfg, &err), 0);
    assert_string_equal(forge_config_string(cfg, "db.password", ""), "s3cr3t-pw");
    assert_true(forge_config_is_secret(cfg, "db.password"));
    forge_config_free(cfg);
    unsetenv("FORGE_DB__PASSWORD");
    unsetenv("FORGE_SECRETS_KEY");
    free(t);
    free(v);
    free(n);
    unlink(keypath);
    unlink(cfgpath);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_tampering),  cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_key_load),   cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
