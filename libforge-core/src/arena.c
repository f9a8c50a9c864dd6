/*
 * Arenas: bump allocation from a chain of blocks.
 *
 * Layout: the arena record and its first block are one malloc. Allocations
 * bump `ptr` towards `end` inside the current block. A request that does not
 * fit goes to a fresh block of `block_size` bytes, or, when it is larger than
 * a quarter of a block, to a block of its own (so a big body does not waste
 * the tail of the current block).
 *
 * Reset frees every block but the kept one. When the allocations since the
 * last reset overflowed the kept block and their total is at most
 * FORGE_ARENA_KEEP_MAX, reset replaces the kept block with one that fits
 * them, so an arena reused for similar requests stops calling malloc after
 * the first one or two (the steady state is zero mallocs per request).
 *
 * Invariants: every pointer handed out is aligned to ALIGN (alignof
 * max_align_t); `ptr` is always ALIGN-aligned; `used` counts rounded sizes.
 */
#include "internal.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN                ((size_t)alignof(max_align_t))
#define ALIGN_UP(n)          (((n) + ALIGN - 1) & ~(ALIGN - 1))
#define DEFAULT_BLOCK        4096u
#define FORGE_ARENA_KEEP_MAX (256u * 1024u)

struct block {
    struct block *next;
    size_t cap; /* usable bytes after the header */
};

#define HDR ALIGN_UP(sizeof(struct block))

struct forge_arena {
    char *ptr;            /* next free byte in the current block */
    char *end;            /* end of the current block */
    struct block *blocks; /* blocks obtained since the reset, newest first; not `keep` */
    struct block *keep;   /* the block kept across resets */
    bool keep_inline;     /* keep lives in the arena's own allocation */
    size_t block_size;
    size_t used;
    size_t mallocs;
};

#define RECORD ALIGN_UP(sizeof(struct forge_arena))

static char *block_data(struct block *b)
{
    return (char *)b + HDR;
}

forge_arena *forge_arena_new(size_t block_size)
{
    if (block_size == 0)
        block_size = DEFAULT_BLOCK;
    if (block_size > SIZE_MAX / 4)
        return NULL;
    block_size = ALIGN_UP(block_size);
    forge_arena *a = malloc(RECORD + HDR + block_size);
    if (!a)
        return NULL;
    struct block *b = (struct block *)((char *)a + RECORD);
    b->next = NULL;
    b->cap = block_size;
    a->keep = b;
    a->keep_inline = true;
    a->blocks = NULL;
    a->block_size = block_size;
    a->ptr = block_data(b);
    a->end = a->ptr + b->cap;
    a->used = 0;
    a->mallocs = 1;
    return a;
}

static void free_chain(struct block *b)
{
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
}

void forge_arena_free(forge_arena *a)
{
    if (!a)
        return;
    free_chain(a->blocks);
    if (!a->keep_inline)
        free(a->keep);
    free(a);
}

/* Grow the kept block to hold `want` bytes; on OOM keep the old one. */
static void grow_keep(forge_arena *a, size_t want)
{
    struct block *b = malloc(HDR + want);
    if (!b)
        return;
    a->mallocs++;
    b->next = NULL;
    b->cap = want;
    if (!a->keep_inline)
        free(a->keep);
    a->keep = b;
    a->keep_inline = false;
}

void forge_arena_reset(forge_arena *a)
{
    if (a->blocks) {
        free_chain(a->blocks);
        a->blocks = NULL;
        /* Room for what the last cycle used plus one block of slack. */
        size_t want = a->used + a->block_size;
        if (want <= FORGE_ARENA_KEEP_MAX && want > a->keep->cap)
            grow_keep(a, ALIGN_UP(want));
    }
    a->ptr = block_data(a->keep);
    a->end = a->ptr + a->keep->cap;
    a->used = 0;
}

static void *alloc_slow(forge_arena *a, size_t size)
{
    bool own = size > a->block_size / 4;
    size_t cap = own ? size : a->block_size;
    struct block *b = malloc(HDR + cap);
    if (!b)
        return NULL;
    a->mallocs++;
    b->cap = cap;
    b->next = a->blocks;
    a->blocks = b;
    a->used += size;
    char *p = block_data(b);
    /* A block of its own is full; the current block keeps serving small requests. */
    if (!own) {
        a->ptr = p + size;
        a->end = p + cap;
    }
    return p;
}

void *forge_arena_alloc(forge_arena *a, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size = size ? ALIGN_UP(size) : ALIGN;
    if ((size_t)(a->end - a->ptr) >= size) {
        void *p = a->ptr;
        a->ptr += size;
        a->used += size;
        return p;
    }
    return alloc_slow(a, size);
}

void *forge_arena_calloc(forge_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = forge_arena_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

char *forge_arena_strndup(forge_arena *a, const char *s, size_t n)
{
    char *p = forge_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *forge_arena_sprintf(forge_arena *a, const char *fmt, ...)
{
    /* Format straight into the current block; only retry when it did not fit. */
    size_t room = (size_t)(a->end - a->ptr);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(a->ptr, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    if ((size_t)n < room)
        return forge_arena_alloc(a, (size_t)n + 1); /* the bytes are already in place */
    char *p = forge_arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t forge_arena_used(const forge_arena *a)
{
    return a->used;
}

size_t forge_arena_mallocs(const forge_arena *a)
{
    return a->mallocs;
}
