/*
 * Rate limits: fixed windows counted in shared memory, so every worker of a
 * host sees one count per key and "L per window" means exactly L.
 *
 * Layout of a limiter's region (reserved by name before fork, zero-filled):
 *   header (64 bytes): init state, then
 *   nshards robust process-shared mutexes (64 bytes each), then
 *   capacity buckets of 32 bytes, split evenly between the shards.
 * A key is hashed (SHA-256 of limiter name, NUL, key; 128 bits kept) to a
 * shard and a start slot; a hit locks the shard, probes up to PROBE buckets,
 * counts, unlocks. The mutexes are initialised by the first worker that
 * uses the region (the region only has an address after the host mapped it),
 * the others wait for the init flag. When every probed bucket holds a key
 * of the current window, the one with the oldest window is taken over (its
 * count restarts): size `capacity` above the number of keys active in one
 * window.
 */
#include "sec_impl.h"

#include <openssl/sha.h>
#include <sched.h>
#include <string.h>

#define PROBE 32

typedef struct rl_header {
    atomic_uint state; /* 0 untouched, 1 initialising, 2 ready */
    char pad[60];
} rl_header;

typedef struct rl_slot {
    uint64_t k0, k1;
    int64_t window;
    uint32_t count;
    uint32_t used;
} rl_slot;

_Static_assert(sizeof(pthread_mutex_t) <= 64, "a mutex fits its cache line");
_Static_assert(sizeof(rl_slot) == 32, "bucket size");

size_t forge__rl_region_size(uint32_t capacity, uint32_t nshards)
{
    return 64 + (size_t)nshards * 64 + (size_t)capacity * sizeof(rl_slot);
}

int forge__rl_reserve(forge__ratelimit *rl, forge_app *app, forge_error *err)
{
    if (rl->nshards == 0)
        rl->nshards = 16;
    if (rl->capacity < rl->nshards)
        rl->capacity = rl->nshards;
    rl->capacity -= rl->capacity % rl->nshards;
    rl->app = app;
    return forge_shm_reserve(app, rl->shm_name, forge__rl_region_size(rl->capacity, rl->nshards),
                             err);
}

static void *mutex_at(char *base, uint32_t i)
{
    return base + 64 + (size_t)i * 64;
}

static void *region(forge__ratelimit *rl)
{
    char *base = rl->region;
    if (!base) {
        base = forge_shm_get(rl->app, rl->shm_name);
        if (!base)
            return NULL;
    }
    rl_header *h = (rl_header *)base;
    unsigned st = atomic_load_explicit(&h->state, memory_order_acquire);
    if (st == 2)
        return base;
    unsigned zero = 0;
    if (atomic_compare_exchange_strong(&h->state, &zero, 1)) {
        for (uint32_t i = 0; i < rl->nshards; i++)
            forge_shm_mutex_init(mutex_at(base, i));
        atomic_store_explicit(&h->state, 2, memory_order_release);
        return base;
    }
    while (atomic_load_explicit(&h->state, memory_order_acquire) != 2)
        sched_yield();
    return base;
}

int forge__rl_hit(forge__ratelimit *rl, const char *key, size_t klen, uint64_t now_ms,
                  forge__rl_result *out)
{
    char *base = region(rl);
    if (!base)
        return FORGE_ESTATE;
    unsigned char d[SHA256_DIGEST_LENGTH];
    unsigned char buf[640];
    size_t nl = strlen(rl->name) + 1;
    if (nl + klen <= sizeof(buf)) {
        memcpy(buf, rl->name, nl);
        memcpy(buf + nl, key, klen);
        SHA256(buf, nl + klen, d);
    } else { /* a long custom key: hash it first */
        unsigned char kd[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)key, klen, kd);
        if (nl + sizeof(kd) > sizeof(buf))
            return FORGE_EINVAL;
        memcpy(buf, rl->name, nl);
        memcpy(buf + nl, kd, sizeof(kd));
        SHA256(buf, nl + sizeof(kd), d);
    }
    uint64_t k0, k1;
    memcpy(&k0, d, 8);
    memcpy(&k1, d + 8, 8);
    uint32_t per = rl->capacity / rl->nshards;
    uint32_t shard = (uint32_t)(k0 % rl->nshards);
    rl_slot *slots = (rl_slot *)(base + 64 + (size_t)rl->nshards * 64) + (size_t)shard * per;
    int64_t win = (int64_t)(now_ms / rl->window_ms);
    uint32_t start = (uint32_t)(k1 % per), probe = per < PROBE ? per : PROBE;

    void *mu = mutex_at(base, shard);
    int rc = forge_shm_mutex_lock(mu);
    if (rc < 0)
        return rc;
    rl_slot *hit = NULL, *free_slot = NULL, *victim = NULL;
    for (uint32_t i = 0; i < probe; i++) {
        rl_slot *s = &slots[(start + i) % per];
        if (s->used && s->k0 == k0 && s->k1 == k1) {
            hit = s;
            break;
        }
        if (!s->used) {
            if (!free_slot)
                free_slot = s;
        } else if (!victim || s->window < victim->window) {
            victim = s;
        }
    }
    if (!hit) {
        hit = free_slot ? free_slot : victim;
        hit->k0 = k0;
        hit->k1 = k1;
        hit->used = 1;
        hit->window = win;
        hit->count = 0;
    }
    if (hit->window != win) {
        hit->window = win;
        hit->count = 0;
    }
    out->allowed = hit->count < rl->limit;
    if (out->allowed)
        hit->count++;
    out->limit = rl->limit;
    out->remaining = rl->limit - hit->count;
    forge_shm_mutex_unlock(mu);
    out->reset_ms = (uint64_t)(win + 1) * rl->window_ms - now_ms;
    return FORGE_OK;
}
