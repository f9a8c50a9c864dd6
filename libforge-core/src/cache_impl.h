/*
 * Internal to caches: the store interface behind forge_cache (cache.c holds
 * the generic part: counters, single-flight loading, early refresh;
 * cache_lru.c, cache_shm.c, cache_redis.c the stores).
 */
#ifndef FORGE_CACHE_IMPL_H
#define FORGE_CACHE_IMPL_H

#include <forge/cache.h>

#include <pthread.h>

/* What a store keeps with each entry besides key and value. */
typedef struct forge__centry {
    bool negative;
    uint64_t expires_ms; /* on the store's clock (see now_ms) */
    uint32_t ttl_ms;     /* the TTL it was stored with */
} forge__centry;

typedef struct forge__cache_ops {
    /* 0 hit (*val malloc'd, NUL-terminated), FORGE_ENOENT, or a store error. */
    int (*get)(void *s, const void *k, size_t kn, char **val, size_t *vn, forge__centry *meta);
    int (*set)(void *s, const void *k, size_t kn, const void *v, size_t vn, bool negative,
               uint32_t ttl_ms);
    int (*del)(void *s, const void *k, size_t kn);
    int (*clear)(void *s);
    /* entries, bytes, evictions, expirations */
    void (*stats)(void *s, forge_cache_stats *st);
    void (*free)(void *s);
    /* The clock expires_ms is on. */
    uint64_t (*now_ms)(void *s);
} forge__cache_ops;

struct forge__flight;

struct forge_cache {
    const forge__cache_ops *ops;
    void *store;
    forge_cache_opts o;
    pthread_mutex_t mu; /* guards flights */
    struct forge__flight *flights;
    /* counters (atomic adds) */
    uint64_t hits, negative_hits, misses, loads, load_errors, coalesced, refreshes;
};

/* A cache around a store (takes it; frees it with ops->free on failure). */
forge_cache *forge__cache_new(const forge__cache_ops *ops, void *store, const forge_cache_opts *o,
                              forge_error *err);
uint64_t forge__cache_mono_ms(void);
uint64_t forge__cache_hash(const void *k, size_t n);

#endif
