/*
 * The shared-memory cache store: fixed-size slots in a region reserved
 * before fork, shared by every worker of a host.
 *
 * Layout: a header (init state, geometry, a robust process-shared mutex,
 * counters) then nslots slots of `stride` bytes. A key lives in one of the
 * PROBE slots after hash % nslots; inserting takes the matching slot, else a
 * free or expired one, else evicts the least recently used of the window.
 * The first process to open the region initialises it (state 0 -> 1 -> 2);
 * the region starts zeroed. Times are CLOCK_MONOTONIC milliseconds, which
 * every process of the machine shares. A worker dying under the lock leaves
 * the mutex to the next locker (robust); a half-written slot is then
 * possible, so slots are validated by their lengths before use.
 */
#include "cache_impl.h"

#include <forge/runtime.h>

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE    8
#define MAX_SHMC 32

typedef struct shm_hdr {
    atomic_uint state;
    uint32_t nslots, slot_bytes, stride;
    uint64_t tick;
    uint64_t evictions, expirations, entries;
    _Alignas(64) pthread_mutex_t mu;
} shm_hdr;

typedef struct shm_slot {
    uint64_t hash;
    uint64_t expires_ms;
    uint64_t lru;
    uint32_t kn, vn, ttl;
    uint8_t used, negative;
    char data[];
} shm_slot;

/* Geometry recorded at reserve time (before fork: every worker inherits it). */
static struct {
    char name[96];
    uint32_t nslots, slot_bytes;
    forge_cache_opts o;
} geo[MAX_SHMC];
static size_t ngeo;
static pthread_mutex_t geo_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct shmc {
    shm_hdr *h;
    char *slots;
} shmc;

static size_t hdr_size(void)
{
    return (sizeof(shm_hdr) + 63) & ~(size_t)63;
}

static uint32_t stride_of(uint32_t slot_bytes)
{
    return (uint32_t)((sizeof(shm_slot) + slot_bytes + 63) & ~(size_t)63);
}

static shm_slot *slot_at(shmc *s, uint32_t i)
{
    return (shm_slot *)(s->slots + (size_t)i * s->h->stride);
}

static uint64_t shm_now(void *st)
{
    (void)st;
    return forge__cache_mono_ms();
}

static bool slot_ok(shmc *s, shm_slot *sl)
{
    return sl->used && (size_t)sl->kn + sl->vn <= s->h->slot_bytes;
}

static shm_slot *lookup(shmc *s, uint64_t h, const void *k, size_t kn)
{
    for (uint32_t i = 0; i < PROBE && i < s->h->nslots; i++) {
        shm_slot *sl = slot_at(s, (uint32_t)((h + i) % s->h->nslots));
        if (slot_ok(s, sl) && sl->hash == h && sl->kn == kn && memcmp(sl->data, k, kn) == 0)
            return sl;
    }
    return NULL;
}

static void lock(shmc *s)
{
    forge_shm_mutex_lock(&s->h->mu);
}

static void unlock(shmc *s)
{
    forge_shm_mutex_unlock(&s->h->mu);
}

static int shm_get(void *st, const void *k, size_t kn, char **val, size_t *vn, forge__centry *meta)
{
    shmc *s = st;
    uint64_t h = forge__cache_hash(k, kn);
    lock(s);
    shm_slot *sl = lookup(s, h, k, kn);
    int rc = FORGE_ENOENT;
    if (sl && forge__cache_mono_ms() >= sl->expires_ms) {
        sl->used = 0;
        s->h->entries--;
        s->h->expirations++;
        sl = NULL;
    }
    if (sl) {
        sl->lru = ++s->h->tick;
        *meta = (forge__centry){sl->negative != 0, sl->expires_ms, sl->ttl};
        if (!sl->negative) {
            *val = malloc(sl->vn + 1u);
            if (*val) {
                memcpy(*val, sl->data + sl->kn, sl->vn);
                (*val)[sl->vn] = '\0';
                *vn = sl->vn;
                rc = 0;
            } else {
                rc = FORGE_ENOMEM;
            }
        }
    }
    unlock(s);
    return rc;
}

static int shm_set(void *st, const void *k, size_t kn, const void *v, size_t vn, bool negative,
                   uint32_t ttl_ms)
{
    shmc *s = st;
    if (kn + vn > s->h->slot_bytes)
        return FORGE_ETOOBIG;
    uint64_t h = forge__cache_hash(k, kn);
    uint64_t now = forge__cache_mono_ms();
    lock(s);
    shm_slot *sl = lookup(s, h, k, kn), *victim = NULL;
    for (uint32_t i = 0; !sl && i < PROBE && i < s->h->nslots; i++) {
        shm_slot *c = slot_at(s, (uint32_t)((h + i) % s->h->nslots));
        if (!slot_ok(s, c) || now >= c->expires_ms) {
            if (c->used) {
                s->h->entries--;
                s->h->expirations++;
            }
            c->used = 0;
            sl = c;
        } else if (!victim || c->lru < victim->lru) {
            victim = c;
        }
    }
    if (!sl) {
        sl = victim;
        s->h->evictions++;
        s->h->entries--;
        sl->used = 0;
    }
    if (!sl->used)
        s->h->entries++;
    sl->used = 0; /* invalid while written */
    sl->hash = h;
    sl->kn = (uint32_t)kn;
    sl->vn = (uint32_t)vn;
    memcpy(sl->data, k, kn);
    memcpy(sl->data + kn, v, vn);
    sl->negative = negative;
    sl->ttl = ttl_ms;
    sl->expires_ms = now + ttl_ms;
    sl->lru = ++s->h->tick;
    sl->used = 1;
    unlock(s);
    return 0;
}

static int shm_del(void *st, const void *k, size_t kn)
{
    shmc *s = st;
    lock(s);
    shm_slot *sl = lookup(s, forge__cache_hash(k, kn), k, kn);
    if (sl) {
        sl->used = 0;
        s->h->entries--;
    }
    unlock(s);
    return 0;
}

static int shm_clear(void *st)
{
    shmc *s = st;
    lock(s);
    for (uint32_t i = 0; i < s->h->nslots; i++)
        slot_at(s, i)->used = 0;
    s->h->entries = 0;
    unlock(s);
    return 0;
}

static void shm_stats(void *st, forge_cache_stats *out)
{
    shmc *s = st;
    lock(s);
    out->entries = s->h->entries;
    out->evictions = s->h->evictions;
    out->expirations = s->h->expirations;
    unlock(s);
}

static void shm_free(void *st)
{
    free(st); /* the region belongs to the app */
}

static const forge__cache_ops shm_ops = {shm_get,   shm_set,  shm_del, shm_clear,
                                         shm_stats, shm_free, shm_now};

static void region_name(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "forge.cache.%s", name);
}

int forge_cache_shm_reserve(forge_app *app, const char *name, const forge_cache_opts *o,
                            forge_error *err)
{
    if (!app || !name || !*name || strlen(name) >= sizeof(geo[0].name))
        return forge_error_set(err, FORGE_EINVAL, "cache: a shared cache needs a short name");
    uint32_t nslots = o && o->max_entries ? (uint32_t)o->max_entries : 1024;
    uint32_t slot_bytes = o && o->max_bytes ? (uint32_t)o->max_bytes : 512;
    char rn[128];
    region_name(rn, sizeof(rn), name);
    int rc = forge_shm_reserve(app, rn, hdr_size() + (size_t)nslots * stride_of(slot_bytes), err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&geo_mu);
    size_t i = 0;
    while (i < ngeo && strcmp(geo[i].name, name) != 0)
        i++;
    if (i == ngeo && ngeo < MAX_SHMC)
        ngeo++;
    if (i < MAX_SHMC) {
        snprintf(geo[i].name, sizeof(geo[i].name), "%s", name);
        geo[i].nslots = nslots;
        geo[i].slot_bytes = slot_bytes;
        geo[i].o = o ? *o : (forge_cache_opts){0};
        geo[i].o.prefix = NULL;
    } else {
        rc = forge_error_set(err, FORGE_ENOMEM, "cache: more than %d shared caches", MAX_SHMC);
    }
    pthread_mutex_unlock(&geo_mu);
    return rc;
}

forge_cache *forge_cache_shm_open(forge_app *app, const char *name, forge_error *err)
{
    char rn[128];
    region_name(rn, sizeof(rn), name ? name : "");
    shm_hdr *h = forge_shm_get(app, rn);
    uint32_t nslots = 0, slot_bytes = 0;
    forge_cache_opts o = {0};
    pthread_mutex_lock(&geo_mu);
    for (size_t i = 0; i < ngeo; i++)
        if (name && strcmp(geo[i].name, name) == 0) {
            nslots = geo[i].nslots;
            slot_bytes = geo[i].slot_bytes;
            o = geo[i].o;
        }
    pthread_mutex_unlock(&geo_mu);
    if (!h || !nslots) {
        forge_error_set(err, FORGE_ESTATE,
                        "cache: shared cache '%s' is not reserved or not mapped yet "
                        "(forge_cache_shm_reserve in init, open after the worker started)",
                        name ? name : "");
        return NULL;
    }
    unsigned zero = 0;
    if (atomic_compare_exchange_strong(&h->state, &zero, 1)) {
        forge_shm_mutex_init(&h->mu);
        h->nslots = nslots;
        h->slot_bytes = slot_bytes;
        h->stride = stride_of(slot_bytes);
        atomic_store(&h->state, 2);
    }
    while (atomic_load(&h->state) != 2)
        sched_yield();
    shmc *s = calloc(1, sizeof(*s));
    if (!s) {
        forge_error_set(err, FORGE_ENOMEM, "cache: out of memory");
        return NULL;
    }
    s->h = h;
    s->slots = (char *)h + hdr_size();
    return forge__cache_new(&shm_ops, s, &o, err);
}
