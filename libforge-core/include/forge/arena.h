/*
 * Forge: arenas (region allocators).
 *
 * Every request owns an arena, reset when the request ends; the hot path
 * allocates from it and never frees piecemeal. An arena keeps its first block
 * across resets, so a reused arena does not call malloc in steady state.
 * Not thread-safe: one arena belongs to one thread at a time.
 */
#ifndef FORGE_ARENA_H
#define FORGE_ARENA_H

#include <forge/common.h>

/* A new arena whose blocks are at least `block_size` bytes (0: 4 KiB). NULL on OOM. */
FORGE_API forge_arena *forge_arena_new(size_t block_size);

/* Free the arena and everything allocated from it. Safe on NULL. */
FORGE_API void forge_arena_free(forge_arena *a);

/* Release everything allocated, keep the first block for reuse. */
FORGE_API void forge_arena_reset(forge_arena *a);

/* `size` bytes aligned for any type; NULL on OOM. Contents undefined. */
FORGE_API void *forge_arena_alloc(forge_arena *a, size_t size);

/* Zeroed allocation. */
FORGE_API void *forge_arena_calloc(forge_arena *a, size_t n, size_t size);

/* NUL-terminated copy of `n` bytes of `s`. */
FORGE_API char *forge_arena_strndup(forge_arena *a, const char *s, size_t n);

/* printf into the arena. */
FORGE_API char *forge_arena_sprintf(forge_arena *a, const char *fmt, ...) FORGE_PRINTF(2, 3);

/* Bytes handed out since the last reset, and heap blocks obtained over the arena's life. */
FORGE_API size_t forge_arena_used(const forge_arena *a);
FORGE_API size_t forge_arena_mallocs(const forge_arena *a);

#endif
