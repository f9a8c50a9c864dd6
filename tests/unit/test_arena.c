/*
 * Arenas: alignment, reuse without malloc, big blocks, the string helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include <forge/arena.h>

/* Counting allocator (not under sanitizers: the tests using it skip there). */
#include "alloc_count.h"
#define HAVE_ALLOC_COUNT FORGE_ALLOC_COUNT_ENABLED

#define ALIGN alignof(max_align_t)

static void test_alignment_any_size(void **state)
{
    (void)state;
    forge_arena *a = forge_arena_new(0);
    assert_non_null(a);
    for (size_t size = 0; size < 300; size++) {
        unsigned char *p = forge_arena_alloc(a, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % ALIGN, 0);
        memset(p, 0xAB, size);
    }
    /* Alignment also holds for blocks of their own and after a reset. */
    void *big = forge_arena_alloc(a, 100000);
    assert_int_equal((uintptr_t)big % ALIGN, 0);
    forge_arena_reset(a);
    assert_int_equal((uintptr_t)forge_arena_alloc(a, 3) % ALIGN, 0);
    forge_arena_free(a);
}

static void test_allocations_do_not_overlap(void **state)
{
    (void)state;
    forge_arena *a = forge_arena_new(256);
    unsigned char *ptrs[500];
    size_t sizes[500];
    for (int i = 0; i < 500; i++) {
        sizes[i] = (size_t)(i * 7 % 97) + 1;
        ptrs[i] = forge_arena_alloc(a, sizes[i]);
        assert_non_null(ptrs[i]);
        memset(ptrs[i], i & 0xFF, sizes[i]);
    }
    for (int i = 0; i < 500; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            assert_int_equal(ptrs[i][j], i & 0xFF);
    forge_arena_free(a);
}

/* One "request": a mix of small allocations that overflows a 4 KiB block. */
static void request_like(forge_arena *a)
{
    for (int i = 0; i < 200; i++) {
        char *p = forge_arena_alloc(a, (size_t)(i % 61) + 8);
        assert_non_null(p);
        p[0] = 'x';
    }
    assert_non_null(forge_arena_sprintf(a, "GET /users/%d?page=%d", 42, 7));
    assert_non_null(forge_arena_strndup(a, "content-type", 12));
}

static void test_reuse_without_malloc(void **state)
{
    (void)state;
    forge_arena *a = forge_arena_new(4096);
    assert_int_equal(forge_arena_mallocs(a), 1);
    /* Warm-up: the first requests may grow the kept block. */
    for (int i = 0; i < 3; i++) {
        request_like(a);
        forge_arena_reset(a);
    }
    size_t warm = forge_arena_mallocs(a);
    assert_true(warm > 1); /* a request needed more than the first block */
    for (int i = 0; i < 1000; i++) {
        request_like(a);
        forge_arena_reset(a);
    }
    assert_int_equal(forge_arena_mallocs(a), warm);
    assert_int_equal(forge_arena_used(a), 0);
    forge_arena_free(a);
}

/* The same, counted by the process's allocator rather than the arena's own counter. */
static void test_reuse_counted_by_allocator(void **state)
{
    (void)state;
#if HAVE_ALLOC_COUNT
    forge_arena *a = forge_arena_new(4096);
    for (int i = 0; i < 3; i++) {
        request_like(a);
        forge_arena_reset(a);
    }
    forge_alloc_count_begin();
    for (int i = 0; i < 100; i++) {
        request_like(a);
        forge_arena_reset(a);
    }
    size_t n = forge_alloc_count_end();
    assert_int_equal(n, 0);
    forge_arena_free(a);
#else
    skip();
#endif
}

static void test_small_requests_never_malloc(void **state)
{
    (void)state;
    forge_arena *a = forge_arena_new(8192);
    for (int i = 0; i < 1000; i++) {
        for (int j = 0; j < 20; j++)
            assert_non_null(forge_arena_alloc(a, 100));
        forge_arena_reset(a);
    }
    assert_int_equal(forge_arena_mallocs(a), 1);
    forge_arena_free(a);
}

static void test_big_allocation_own_block(void **state)
{
    (void)state;
    forge_arena *a = forge_arena_new(4096);
    char *small1 = forge_arena_alloc(a, 64);
    char *big = forge_arena_alloc(a, 1 << 20);
    assert_non_null(big);
    memset(big, 1, 1 << 20);
    assert_int_equal(forge_arena_mallocs(a), 2);
    /* The current block keeps serving small requests after the big one. */
    char *small2 = forge_arena_alloc(a, 64);
    assert_int_equal(forge_arena_mallocs(a), 2);
    assert_ptr_equal(small2, small1 + 64);
    assert_true(forge_arena_used(a) >= (1 << 20) + 128);
    /* A big request is not kept: the next cycle gets its own block again. */
    forge_arena_reset(a);
    assert_non_null(forge_arena_alloc(a, 1 << 20));
    assert_int_equal(forge_arena_mallocs(a), 3);
    forge_arena_free(a);
}

static void test_calloc_and_overflow(void **state)
{
    (void)state;
    forge_arena *a = forge_arena_new(0);
    /* Dirty the block, then reset, so calloc really has to clear it. */
    memset(forge_arena_alloc(a, 1024), 0xFF, 1024);
    forge_arena_reset(a);
    unsigned char *z = forge_arena_calloc(a, 16, 64);
    assert_non_null(z);
    for (int i = 0; i < 1024; i++)
        assert_int_equal(z[i], 0);
    assert_null(forge_arena_calloc(a, SIZE_MAX / 2, 4));
    assert_null(forge_arena_alloc(a, SIZE_MAX));
    assert_null(forge_arena_alloc(a, SIZE_MAX - 8));
    forge_arena_free(a);
}

static void test_strings(void **state)
{
    (void)state;
    forge_arena *a = forge_arena_new(128);
    char *s = forge_arena_strndup(a, "hello world", 5);
    assert_string_equal(s, "hello");
    assert_string_equal(forge_arena_strndup(a, "", 0), "");
    char *f = forge_arena_sprintf(a, "%s=%d", "x", 12);
    assert_string_equal(f, "x=12");
    /* Longer than the rest of the block, and longer than a block. */
    char longer[1000];
    memset(longer, 'q', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    char *l = forge_arena_sprintf(a, "<%s>", longer);
    assert_int_equal(strlen(l), 1001);
    assert_int_equal(l[0], '<');
    assert_int_equal(l[1000], '>');
    assert_string_equal(s, "hello"); /* earlier strings untouched */
    assert_string_equal(f, "x=12");
    forge_arena_free(a);
}

static void test_zero_size_distinct(void **state)
{
    (void)state;
    forge_arena *a = forge_arena_new(0);
    void *p = forge_arena_alloc(a, 0);
    void *q = forge_arena_alloc(a, 0);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
    forge_arena_free(a);
    forge_arena_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_any_size),
        cmocka_unit_test(test_allocations_do_not_overlap),
        cmocka_unit_test(test_reuse_without_malloc),
        cmocka_unit_test(test_reuse_counted_by_allocator),
        cmocka_unit_test(test_small_requests_never_malloc),
        cmocka_unit_test(test_big_allocation_own_block),
        cmocka_unit_test(test_calloc_and_overflow),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_zero_size_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
