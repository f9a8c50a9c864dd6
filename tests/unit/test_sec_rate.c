/*
 * Rate-limit buckets in shared memory: exact across processes (4 forked
 * workers hammering one key admit exactly the limit), windows reset,
 * keys and limiters are independent, a full table evicts the oldest window.
 * Also the API-key hash form and Argon2id password helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sec_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static forge_app *app;

static forge__ratelimit *limiter(const char *name, uint32_t limit, uint32_t capacity)
{
    forge__ratelimit *rl = calloc(1, sizeof(*rl));
    rl->name = strdup(name);
    rl->shm_name = strdup(name);
    rl->limit = limit;
    rl->window_ms = 60000;
    rl->capacity = capacity;
    forge_error err;
    assert_int_equal(forge__rl_reserve(rl, app, &err), 0);
    return rl;
}

static void limiter_free(forge__ratelimit *rl)
{
    free(rl->name);
    free(rl->shm_name);
    free(rl);
}

static forge__ratelimit *a, *b, *tiny;

static int setup(void **state)
{
    app = forge_app_new("rate", "1");
    a = limiter("a", 100, 4096);
    b = limiter("b", 3, 4096);
    tiny = limiter("tiny", 1, 16);
    forge_error err;
    return forge__shm_map_all(app->shm, NULL, NULL, &err);
}

static int teardown(void **state)
{
    limiter_free(a);
    limiter_free(b);
    limiter_free(tiny);
    forge_app_free(app);
    return 0;
}

static void test_exact_across_processes(void **state)
{
    /* 4 workers x 200 hits on one key with a limit of 100: exactly 100 pass. */
    int fds[4][2];
    pid_t pids[4];
    uint64_t now = 1700000000000ull;
    for (int w = 0; w < 4; w++) {
        assert_int_equal(pipe(fds[w]), 0);
        pids[w] = fork();
        if (pids[w] == 0) {
            int ok = 0;
            for (int i = 0; i < 200; i++) {
                forge__rl_result r;
                if (forge__rl_hit(a, "10.0.0.1", 8, now + (uint64_t)i, &r) == 0 && r.allowed)
                    ok++;
            }
            ssize_t wr = write(fds[w][1], &ok, sizeof(ok));
            _exit(wr == sizeof(ok) ? 0 : 1);
        }
    }
    int total = 0;
    for (int w = 0; w < 4; w++) {
        int ok = 0, st = 0;
        assert_int_equal(read(fds[w][0], &ok, sizeof(ok)), sizeof(ok));
        waitpid(pids[w], &st, 0);
        assert_int_equal(WEXITSTATUS(st), 0);
        close(fds[w][0]);
        close(fds[w][1]);
        total += ok;
    }
    assert_int_equal(total, 100);
}

static void test_windows_and_keys(void **state)
{
    forge__rl_result r;
    uint64_t t0 = 60000ull * 1000; /* a window boundary */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(forge__rl_hit(b, "k1", 2, t0 + 10, &r), 0);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 2 - i);
    }
    forge__rl_hit(b, "k1", 2, t0 + 20, &r);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset_ms, 60000 - 20);
    forge__rl_hit(b, "k2", 2, t0 + 20, &r); /* another key */
    assert_true(r.allowed);
    forge__rl_hit(a, "k1", 2, t0 + 20, &r); /* another limiter, same key */
    assert_true(r.allowed);
    forge__rl_hit(b, "k1", 2, t0 + 60000, &r); /* the next window */
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 2);
}

static void test_eviction(void **state)
{
    /* 16 buckets in 16 shards: many keys still each get their first hit. */
    forge__rl_result r;
    char key[16];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        assert_int_equal(forge__rl_hit(tiny, key, strlen(key), 5000, &r), 0);
        assert_true(r.allowed);
    }
}

static void test_apikey_hash(void **state)
{
    char h[72];
    assert_int_equal(forge_apikey_hash("123", 3, h, sizeof(h)), 0);
    assert_string_equal(h,
                        "sha256:a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3");
    forge__apikey keys[2] = {0};
    assert_int_equal(forge__apikey_parse_hash(h, keys[1].hash), 0);
    assert_ptr_equal(forge__apikey_find(keys, 2, "123", 3), &keys[1]);
    assert_null(forge__apikey_find(keys, 2, "124", 3));
    assert_int_not_equal(forge__apikey_parse_hash("sha256:zz", keys[0].hash), 0);
}

static void test_password(void **state)
{
    char enc[256];
    forge_error err;
    assert_int_equal(forge_password_hash("correct horse", 13, enc, sizeof(enc), &err), 0);
    assert_non_null(strstr(enc, "$argon2id$"));
    assert_int_equal(forge_password_verify(enc, "correct horse", 13), 0);
    assert_int_equal(forge_password_verify(enc, "correct house", 13), FORGE_EACCES);
    assert_int_equal(forge_password_verify("$argon2id$garbage", "x", 1), FORGE_EPARSE);
    assert_int_equal(forge_password_verify("plain", "x", 1), FORGE_EPARSE);
    char enc2[256];
    forge_password_hash("correct horse", 13, enc2, sizeof(enc2), &err);
    assert_string_not_equal(enc, enc2); /* salted */
    assert_int_not_equal(forge_password_hash("x", 1, enc, 10, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_across_processes),
        cmocka_unit_test(test_windows_and_keys),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_apikey_hash),
        cmocka_unit_test(test_password),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
