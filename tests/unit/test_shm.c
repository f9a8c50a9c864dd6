/*
 * Shared memory: reservations, mapping (mmap and host allocator), and
 * robust process-shared mutexes across forked workers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Only the part of the app record shm uses, so this test needs no other area. */
static forge_app *shm_app(void)
{
    forge_app *app = calloc(1, sizeof(*app));
    assert_non_null(app);
    app->shm = forge__shm_new();
    assert_non_null(app->shm);
    return app;
}

static void shm_app_free(forge_app *app)
{
    forge__shm_free(app->shm);
    free(app);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_reserve_rules(void **state)
{
    (void)state;
    forge_app *app = shm_app();
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_shm_reserve(app, "a", 100, &err), 0);
    assert_int_equal(forge_shm_reserve(app, "a", 100, &err), 0);
    assert_int_equal(forge_shm_reserve(app, "a", 200, &err), FORGE_EEXIST);
    assert_string_equal(err.key, "a");
    assert_non_null(strstr(err.message, "100"));
    assert_int_equal(forge_shm_reserve(app, "", 10, &err), FORGE_EINVAL);
    assert_int_equal(forge_shm_reserve(app, NULL, 10, &err), FORGE_EINVAL);
    assert_int_equal(forge_shm_reserve(app, "z", 0, &err), FORGE_EINVAL);
    char longname[200];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(forge_shm_reserve(app, longname, 10, &err), FORGE_EINVAL);
    assert_null(forge_shm_get(app, "a")); /* not mapped yet */
    shm_app_free(app);
}

static void test_map_anonymous(void **state)
{
    (void)state;
    forge_app *app = shm_app();
    assert_int_equal(forge_shm_reserve(app, "one", 10, NULL), 0);
    assert_int_equal(forge_shm_reserve(app, "two", 1000, NULL), 0);
    assert_int_equal(forge_shm_reserve(app, "three", 1, NULL), 0);
    assert_int_equal(forge__shm_map_all(app->shm, NULL, NULL, NULL), 0);
    unsigned char *one = forge_shm_get(app, "one");
    unsigned char *two = forge_shm_get(app, "two");
    unsigned char *three = forge_shm_get(app, "three");
    assert_non_null(one);
    assert_non_null(two);
    assert_non_null(three);
    assert_int_equal((uintptr_t)one % 64, 0);
    assert_int_equal((uintptr_t)two % 64, 0);
    assert_int_equal((uintptr_t)three % 64, 0);
    assert_true(two >= one + 10 || one >= two + 1000);
    assert_true(three >= two + 1000 || two >= three + 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(two[i], 0);
    memset(one, 1, 10);
    memset(two, 2, 1000);
    memset(three, 3, 1);
    assert_int_equal(one[9], 1);
    assert_int_equal(three[0], 3);
    assert_null(forge_shm_get(app, "four"));
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge_shm_reserve(app, "late", 8, &err), FORGE_ESTATE);
    assert_string_equal(err.key, "late");
    assert_int_equal(forge__shm_map_all(app->shm, NULL, NULL, NULL), 0); /* idempotent */
    assert_ptr_equal(forge_shm_get(app, "one"), one);
    shm_app_free(app);
}

static void test_map_nothing(void **state)
{
    (void)state;
    forge_app *app = shm_app();
    assert_int_equal(forge__shm_map_all(app->shm, NULL, NULL, NULL), 0);
    assert_null(forge_shm_get(app, "x"));
    shm_app_free(app);
}

struct host_shm {
    int calls;
    char names[4][32];
    size_t sizes[4];
    void *mem[4];
    int fail_at; /* call index that returns NULL, -1: none */
};

static void *host_alloc(void *hctx, const char *name, size_t size)
{
    struct host_shm *h = hctx;
    int i = h->calls++;
    if (i == h->fail_at || i >= 4)
        return NULL;
    snprintf(h->names[i], sizeof(h->names[i]), "%s", name);
    h->sizes[i] = size;
    h->mem[i] = calloc(1, size);
    return h->mem[i];
}

static void test_map_with_host_allocator(void **state)
{
    (void)state;
    forge_app *app = shm_app();
    struct host_shm h = {.fail_at = -1};
    assert_int_equal(forge_shm_reserve(app, "metrics", 4096, NULL), 0);
    assert_int_equal(forge_shm_reserve(app, "ratelimit", 512, NULL), 0);
    assert_int_equal(forge__shm_map_all(app->shm, host_alloc, &h, NULL), 0);
    assert_int_equal(h.calls, 2);
    assert_string_equal(h.names[0], "metrics");
    assert_int_equal(h.sizes[0], 4096);
    assert_string_equal(h.names[1], "ratelimit");
    assert_ptr_equal(forge_shm_get(app, "metrics"), h.mem[0]);
    assert_ptr_equal(forge_shm_get(app, "ratelimit"), h.mem[1]);
    shm_app_free(app); /* the host's memory is the host's: not freed by Forge */
    free(h.mem[0]);
    free(h.mem[1]);
}

static void test_host_allocator_failure_names_region(void **state)
{
    (void)state;
    forge_app *app = shm_app();
    struct host_shm h = {.fail_at = 1};
    assert_int_equal(forge_shm_reserve(app, "first", 64, NULL), 0);
    assert_int_equal(forge_shm_reserve(app, "second", 64, NULL), 0);
    forge_error err;
    forge_error_clear(&err);
    assert_int_equal(forge__shm_map_all(app->shm, host_alloc, &h, &err), FORGE_ENOMEM);
    assert_string_equal(err.key, "second");
    assert_non_null(strstr(err.message, "second"));
    assert_null(forge_shm_get(app, "first"));
    shm_app_free(app);
    free(h.mem[0]);
}

/* ---- across fork ---- */

struct shared_counter {
    pthread_mutex_t mu;
    long plain;         /* under mu */
    atomic_long atomic; /* lock-free */
    atomic_int holding; /* a child holds mu and is about to be killed */
};

static struct shared_counter *mapped_counter(forge_app *app)
{
    assert_int_equal(forge_shm_reserve(app, "counter", sizeof(struct shared_counter), NULL), 0);
    assert_int_equal(forge__shm_map_all(app->shm, NULL, NULL, NULL), 0);
    struct shared_counter *c = forge_shm_get(app, "counter");
    assert_non_null(c);
    assert_int_equal(forge_shm_mutex_init(&c->mu), 0);
    return c;
}

static void add_many(struct shared_counter *c, int n)
{
    for (int i = 0; i < n; i++) {
        if (forge_shm_mutex_lock(&c->mu) != 0)
            _exit(3);
        long v = c->plain;
        if (i % 64 == 0)
            sched_yield(); /* widen the window a lost update would need */
        c->plain = v + 1;
        forge_shm_mutex_unlock(&c->mu);
        atomic_fetch_add(&c->atomic, 1);
    }
}

/* Wait for a child; fails the test if it does not exit 0 within a generous bound. */
static void reap_ok(pid_t pid)
{
    int status = 0;
    for (int i = 0; i < 60000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        assert_int_not_equal(r, -1);
        if (r == pid) {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
            return;
        }
        sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("child %d did not finish (deadlock?)", (int)pid);
}

static void test_counters_across_processes(void **state)
{
    (void)state;
    forge_app *app = shm_app();
    struct shared_counter *c = mapped_counter(app);
    enum { CHILDREN = 4, EACH = 5000 };
    pid_t pids[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            alarm(60); /* a deadlock kills the child instead of hanging the test */
            add_many(c, EACH);
            _exit(0);
        }
    }
    add_many(c, EACH); /* the parent takes part too */
    for (int i = 0; i < CHILDREN; i++)
        reap_ok(pids[i]);
    assert_int_equal(c->plain, (CHILDREN + 1) * EACH);
    assert_int_equal(atomic_load(&c->atomic), (CHILDREN + 1) * EACH);
    shm_app_free(app);
}

static void test_holder_killed_does_not_deadlock(void **state)
{
    (void)state;
    forge_app *app = shm_app();
    struct shared_counter *c = mapped_counter(app);
    pid_t holder = fork();
    assert_true(holder >= 0);
    if (holder == 0) {
        forge_shm_mutex_lock(&c->mu);
        c->plain = 100;
        atomic_store(&c->holding, 1);
        for (;;)
            pause();
    }
    for (int i = 0; i < 60000 && !atomic_load(&c->holding); i++)
        sleep_ms(1);
    assert_int_equal(atomic_load(&c->holding), 1);
    kill(holder, SIGKILL);
    int status;
    assert_int_equal(waitpid(holder, &status, 0), holder);
    assert_true(WIFSIGNALED(status));

    /* Other workers: each gets the mutex (one of them recovers it) and adds. */
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            alarm(60);
            add_many(c, 1000);
            _exit(0);
        }
    }
    for (int i = 0; i < 3; i++)
        reap_ok(pids[i]);
    assert_int_equal(forge_shm_mutex_lock(&c->mu), 0);
    assert_int_equal(c->plain, 100 + 3000);
    forge_shm_mutex_unlock(&c->mu);
    shm_app_free(app);
}

static void test_mutex_bad_args(void **state)
{
    (void)state;
    assert_int_equal(forge_shm_mutex_init(NULL), FORGE_EINVAL);
    assert_int_equal(forge_shm_mutex_lock(NULL), FORGE_EINVAL);
    forge_shm_mutex_unlock(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_rules),
        cmocka_unit_test(test_map_anonymous),
        cmocka_unit_test(test_map_nothing),
        cmocka_unit_test(test_map_with_host_allocator),
        cmocka_unit_test(test_host_allocator_failure_names_region),
        cmocka_unit_test(test_counters_across_processes),
        cmocka_unit_test(test_holder_killed_does_not_deadlock),
        cmocka_unit_test(test_mutex_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
