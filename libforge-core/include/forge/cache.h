/*
 * Forge: caches.
 *
 * One API over three stores:
 *  - forge_cache_lru_new: in-process, LRU with TTL, bounded by entries and bytes;
 *  - forge_cache_shm_reserve/open: fixed slots in shared memory, shared by
 *    every worker process of one host (reserved before fork);
 *  - forge_cache_redis_new: a Redis server (a forge_db opened on redis://),
 *    shared by every process and machine using it.
 *
 * Keys and values are bytes. A value read from a cache is a malloc'd copy
 * the caller frees with free(). Entries may be negative ("known absent"),
 * which get_or_load uses to avoid reloading what does not exist.
 *
 * forge_cache_get_or_load runs at most one load per key at a time in this
 * process (callers asking for a key being loaded wait for that load and
 * share its result), caches misses as negative entries for negative_ttl,
 * and refreshes a hot entry early: within the last refresh_ahead fraction
 * of its TTL (scaled by a random factor in [0.5, 1] per call so processes
 * do not all refresh at once), one caller reloads it while the others keep
 * getting the current value.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef FORGE_CACHE_H
#define FORGE_CACHE_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/db.h>

typedef struct forge_cache forge_cache;

typedef struct forge_cache_opts {
    size_t max_entries;       /* LRU: 0: 1024. shm: number of slots, 0: 1024 */
    size_t max_bytes;         /* LRU: keys + values, 0: 16 MiB. shm: bytes per slot, 0: 512 */
    uint32_t ttl_ms;          /* default TTL of set/loaded entries; 0: 60 s */
    uint32_t negative_ttl_ms; /* TTL of negative entries; 0: 5 s */
    double refresh_ahead;     /* fraction of the TTL; 0: 0.1; negative: no early refresh */
    const char *prefix;       /* Redis: prepended to every key ("app:"); copied */
    void *reserved[4];
} forge_cache_opts;

typedef struct forge_cache_stats {
    uint64_t hits;          /* values found */
    uint64_t negative_hits; /* negative entries found */
    uint64_t misses;
    uint64_t loads;       /* loader calls (get_or_load) */
    uint64_t load_errors; /* loader calls that failed (nothing cached) */
    uint64_t coalesced;   /* callers that waited for another caller's load */
    uint64_t refreshes;   /* early refreshes */
    uint64_t evictions;   /* entries dropped for room (LRU, shm) */
    uint64_t expirations; /* entries found expired */
    uint64_t entries;     /* now (LRU, shm; 0 for Redis) */
    uint64_t bytes;       /* now (LRU) */
} forge_cache_stats;

FORGE_API forge_cache *forge_cache_lru_new(const forge_cache_opts *opts, forge_error *err);

/*
 * Shared memory: reserve in the app's init (before fork), open in each
 * worker once shared memory is mapped (a service's start, or the first
 * request). The region holds max_entries slots of max_bytes (key + value);
 * larger values are refused with FORGE_ETOOBIG. Stats other than entries,
 * evictions and expirations are per process.
 */
FORGE_API int forge_cache_shm_reserve(forge_app *app, const char *name,
                                      const forge_cache_opts *opts, forge_error *err);
FORGE_API forge_cache *forge_cache_shm_open(forge_app *app, const char *name, forge_error *err);

/* Redis: every call borrows a connection from `redis` (not owned; close it after the cache). */
FORGE_API forge_cache *forge_cache_redis_new(forge_db *redis, const forge_cache_opts *opts,
                                             forge_error *err);

FORGE_API void forge_cache_free(forge_cache *c);

/*
 * 0 and *val / *vlen set (a malloc'd copy, NUL-terminated for convenience);
 * FORGE_ENOENT when absent or negative (*negative tells which; may be NULL);
 * another negative code when the store failed (Redis unreachable...).
 */
FORGE_API int forge_cache_get(forge_cache *c, const void *key, size_t klen, char **val,
                              size_t *vlen, bool *negative);
/* ttl_ms 0: the default. FORGE_ETOOBIG when the entry cannot fit. */
FORGE_API int forge_cache_set(forge_cache *c, const void *key, size_t klen, const void *val,
                              size_t vlen, uint32_t ttl_ms);
FORGE_API int forge_cache_set_negative(forge_cache *c, const void *key, size_t klen,
                                       uint32_t ttl_ms);
/* Invalidate one key (0 also when absent). */
FORGE_API int forge_cache_del(forge_cache *c, const void *key, size_t klen);
FORGE_API int forge_cache_clear(forge_cache *c);

/*
 * A loader: 0 with *val (malloc'd; the cache takes it) and *vlen; optional
 * *ttl_ms (left 0: the default). FORGE_ENOENT: the key has no value (cached
 * as negative). Any other negative code: an error, returned to every
 * waiting caller and not cached.
 */
typedef int (*forge_cache_load_fn)(void *udata, const void *key, size_t klen, char **val,
                                   size_t *vlen, uint32_t *ttl_ms, forge_error *err);

/*
 * The value for key, from the cache or from one call of `load`. Returns as
 * forge_cache_get; the loader's error with err filled on failure. A store
 * error on read falls back to loading (the cache is an optimisation).
 */
FORGE_API int forge_cache_get_or_load(forge_cache *c, const void *key, size_t klen,
                                      forge_cache_load_fn load, void *udata, char **val,
                                      size_t *vlen, forge_error *err);

FORGE_API void forge_cache_stats_get(forge_cache *c, forge_cache_stats *out);

#endif
