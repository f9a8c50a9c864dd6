/*
 * A counting allocator for tests: proves that a piece of code makes no heap
 * allocation.
 *
 * Include this header in exactly ONE translation unit of a test executable
 * (the test_*.c file). It defines malloc, calloc, realloc, free,
 * posix_memalign and aligned_alloc there; being in the executable, these
 * interpose on the C library's for the whole process (libc's own internal
 * allocations included, which glibc routes through the interposed symbols).
 * Each forwards to the next definition found with dlsym(RTLD_NEXT, ...). While
 * dlsym itself runs (it may allocate), requests are served from a small static
 * bootstrap buffer whose blocks are never freed.
 *
 * Counting is per thread and only while armed:
 *
 *     forge_alloc_count_begin();
 *     ... code under test ...
 *     size_t n = forge_alloc_count_end();   // allocation calls made meanwhile
 *
 * Allocation calls are malloc, calloc, realloc (any), posix_memalign and
 * aligned_alloc; frees are counted apart (forge_alloc_stats).
 *
 * To count the allocations of every thread (a pool, an event loop thread):
 *
 *     forge_alloc_count_begin_all();
 *     ...
 *     size_t n = forge_alloc_count_end_all();
 *
 * Sanitizers (ASan, MSan, TSan, libFuzzer builds) install their own malloc,
 * which cannot be interposed again: there FORGE_ALLOC_COUNT_ENABLED is 0, the
 * functions above exist but count nothing, and tests should skip() their
 * zero-allocation assertions:
 *
 *     if (!FORGE_ALLOC_COUNT_ENABLED)
 *         skip();
 *
 * Valgrind works (it replaces the libc functions this header forwards to).
 * Thread safety: the per-thread counters are thread-local, the process-wide
 * one is atomic; the one-time dlsym lookup happens on the first allocation,
 * before a test starts threads.
 */
#ifndef FORGE_TEST_ALLOC_COUNT_H
#define FORGE_TEST_ALLOC_COUNT_H

#include <stddef.h>
#include <stdbool.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FORGE_ALLOC_COUNT_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) ||                         \
    __has_feature(thread_sanitizer)
#define FORGE_ALLOC_COUNT_ENABLED 0
#endif
#endif
#if !defined(FORGE_ALLOC_COUNT_ENABLED) && defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
#define FORGE_ALLOC_COUNT_ENABLED 0
#endif
#ifndef FORGE_ALLOC_COUNT_ENABLED
#define FORGE_ALLOC_COUNT_ENABLED 1
#endif

typedef struct forge_alloc_stats {
    size_t allocs; /* malloc + calloc + realloc + posix_memalign + aligned_alloc calls */
    size_t frees;  /* free calls with a non-NULL pointer */
    size_t bytes;  /* bytes requested by the allocation calls */
} forge_alloc_stats;

#if FORGE_ALLOC_COUNT_ENABLED

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static _Thread_local bool forge__ac_armed;
static _Thread_local forge_alloc_stats forge__ac_stats;
static atomic_bool forge__ac_all_armed;
static atomic_size_t forge__ac_all_allocs;

static void *(*forge__ac_malloc)(size_t);
static void *(*forge__ac_calloc)(size_t, size_t);
static void *(*forge__ac_realloc)(void *, size_t);
static void (*forge__ac_free)(void *);
static int (*forge__ac_memalign)(void **, size_t, size_t);
static void *(*forge__ac_aligned)(size_t, size_t);
static bool forge__ac_resolving;

/* Bootstrap arena for allocations made by dlsym; 16-byte aligned blocks with a size header. */
static _Alignas(16) unsigned char forge__ac_boot[8192];
static size_t forge__ac_boot_used;

static bool forge__ac_in_boot(const void *p)
{
    return (const unsigned char *)p >= forge__ac_boot &&
           (const unsigned char *)p < forge__ac_boot + sizeof(forge__ac_boot);
}

static void *forge__ac_boot_alloc(size_t n)
{
    size_t need = 16 + ((n + 15) & ~(size_t)15);
    if (need > sizeof(forge__ac_boot) - forge__ac_boot_used)
        return NULL;
    unsigned char *b = forge__ac_boot + forge__ac_boot_used;
    forge__ac_boot_used += need;
    memcpy(b, &n, sizeof(n));
    return b + 16; /* the buffer is static, hence already zero: calloc is served too */
}

static void forge__ac_resolve(void)
{
    forge__ac_resolving = true;
    forge__ac_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    forge__ac_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    forge__ac_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    forge__ac_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    forge__ac_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    forge__ac_aligned = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    forge__ac_resolving = false;
}

/* True when the real allocator is usable; false while dlsym is running. */
static bool forge__ac_ready(void)
{
    if (forge__ac_free)
        return true;
    if (forge__ac_resolving)
        return false;
    forge__ac_resolve();
    return forge__ac_free != NULL;
}

static void forge__ac_note(size_t bytes)
{
    if (atomic_load_explicit(&forge__ac_all_armed, memory_order_relaxed))
        atomic_fetch_add_explicit(&forge__ac_all_allocs, 1, memory_order_relaxed);
    if (forge__ac_armed) {
        forge__ac_stats.allocs++;
        forge__ac_stats.bytes += bytes;
    }
}

void *malloc(size_t n)
{
    if (!forge__ac_ready())
        return forge__ac_boot_alloc(n);
    forge__ac_note(n);
    return forge__ac_malloc(n);
}

void *calloc(size_t k, size_t n)
{
    if (!forge__ac_ready()) {
        if (n && k > SIZE_MAX / n)
            return NULL;
        return forge__ac_boot_alloc(k * n);
    }
    forge__ac_note(k * n);
    return forge__ac_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
    if (forge__ac_in_boot(p) || !forge__ac_ready()) {
        void *q = forge__ac_ready() ? malloc(n) : forge__ac_boot_alloc(n);
        if (q && p) {
            size_t old;
            memcpy(&old, (unsigned char *)p - 16, sizeof(old));
            memcpy(q, p, old < n ? old : n);
        }
        return q;
    }
    forge__ac_note(n);
    return forge__ac_realloc(p, n);
}

void free(void *p)
{
    if (!p || forge__ac_in_boot(p))
        return;
    if (forge__ac_armed)
        forge__ac_stats.frees++;
    if (forge__ac_ready())
        forge__ac_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (!forge__ac_ready() || !forge__ac_memalign)
        return ENOMEM;
    forge__ac_note(n);
    return forge__ac_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    if (!forge__ac_ready() || !forge__ac_aligned)
        return NULL;
    forge__ac_note(n);
    return forge__ac_aligned(align, n);
}

/* Reset this thread's counters and start counting. */
static inline void forge_alloc_count_begin(void)
{
    memset(&forge__ac_stats, 0, sizeof(forge__ac_stats));
    forge__ac_armed = true;
}

/* Stop counting; the allocation calls made on this thread since begin. */
static inline size_t forge_alloc_count_end(void)
{
    forge__ac_armed = false;
    return forge__ac_stats.allocs;
}

/* This thread's counters (since the last begin). */
static inline forge_alloc_stats forge_alloc_stats_get(void)
{
    return forge__ac_stats;
}

/* Reset the process-wide counter and start counting allocations on every thread. */
static inline void forge_alloc_count_begin_all(void)
{
    atomic_store(&forge__ac_all_allocs, 0);
    atomic_store(&forge__ac_all_armed, true);
}

/* Stop; the allocation calls made by all threads since begin_all. */
static inline size_t forge_alloc_count_end_all(void)
{
    atomic_store(&forge__ac_all_armed, false);
    return atomic_load(&forge__ac_all_allocs);
}

#else /* sanitizer build: nothing is counted */

static inline void forge_alloc_count_begin(void) {}

static inline size_t forge_alloc_count_end(void)
{
    return 0;
}

static inline forge_alloc_stats forge_alloc_stats_get(void)
{
    return (forge_alloc_stats){0, 0, 0};
}

static inline void forge_alloc_count_begin_all(void) {}

static inline size_t forge_alloc_count_end_all(void)
{
    return 0;
}

#endif

#endif
