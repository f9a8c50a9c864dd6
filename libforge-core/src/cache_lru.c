/*
 * The in-process cache store: a chained hash table plus a doubly linked
 * recency list under one mutex. Bounded by entry count and by bytes (keys +
 * values); the least recently used entries are evicted to make room.
 * Expired entries are dropped when met (lookups) or evicted first by LRU.
 */
#include "cache_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct lru_ent {
    struct lru_ent *hnext;
    struct lru_ent *prev, *next; /* recency: head = most recent */
    uint64_t hash;
    size_t kn, vn;
    forge__centry meta;
    char data[]; /* key, then value */
} lru_ent;

typedef struct lru {
    pthread_mutex_t mu;
    lru_ent **buckets;
    size_t nbuckets; /* power of two */
    lru_ent *head, *tail;
    size_t n, bytes, max_n, max_bytes;
    uint64_t evictions, expirations;
} lru;

static uint64_t lru_now(void *s)
{
    (void)s;
    return forge__cache_mono_ms();
}

static lru_ent **slot_of(lru *l, uint64_t h, const void *k, size_t kn)
{
    lru_ent **pp = &l->buckets[h & (l->nbuckets - 1)];
    while (*pp && !((*pp)->hash == h && (*pp)->kn == kn && memcmp((*pp)->data, k, kn) == 0))
        pp = &(*pp)->hnext;
    return pp;
}

static void unlink_lru(lru *l, lru_ent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(lru *l, lru_ent *e)
{
    e->next = l->head;
    e->prev = NULL;
    if (l->head)
        l->head->prev = e;
    l->head = e;
    if (!l->tail)
        l->tail = e;
}

/* Remove e (found at *pp in its bucket) and free it. */
static void drop(lru *l, lru_ent **pp, lru_ent *e)
{
    *pp = e->hnext;
    unlink_lru(l, e);
    l->n--;
    l->bytes -= e->kn + e->vn;
    free(e);
}

static void drop_entry(lru *l, lru_ent *e)
{
    drop(l, slot_of(l, e->hash, e->data, e->kn), e);
}

static int lru_get(void *s, const void *k, size_t kn, char **val, size_t *vn, forge__centry *meta)
{
    lru *l = s;
    uint64_t h = forge__cache_hash(k, kn);
    pthread_mutex_lock(&l->mu);
    lru_ent **pp = slot_of(l, h, k, kn);
    lru_ent *e = *pp;
    if (!e) {
        pthread_mutex_unlock(&l->mu);
        return FORGE_ENOENT;
    }
    if (forge__cache_mono_ms() >= e->meta.expires_ms) {
        l->expirations++;
        drop(l, pp, e);
        pthread_mutex_unlock(&l->mu);
        return FORGE_ENOENT;
    }
    unlink_lru(l, e);
    push_front(l, e);
    *meta = e->meta;
    int rc = 0;
    if (e->meta.negative) {
        rc = FORGE_ENOENT;
    } else {
        *val = malloc(e->vn + 1);
        if (!*val) {
            rc = FORGE_ENOMEM;
        } else {
            memcpy(*val, e->data + e->kn, e->vn);
            (*val)[e->vn] = '\0';
            *vn = e->vn;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static int lru_set(void *s, const void *k, size_t kn, const void *v, size_t vn, bool negative,
                   uint32_t ttl_ms)
{
    lru *l = s;
    if (kn + vn > l->max_bytes)
        return FORGE_ETOOBIG;
    lru_ent *e = malloc(sizeof(*e) + kn + vn);
    if (!e)
        return FORGE_ENOMEM;
    e->hash = forge__cache_hash(k, kn);
    e->kn = kn;
    e->vn = vn;
    memcpy(e->data, k, kn);
    memcpy(e->data + kn, v, vn);
    e->meta = (forge__centry){negative, forge__cache_mono_ms() + ttl_ms, ttl_ms};
    pthread_mutex_lock(&l->mu);
    lru_ent **pp = slot_of(l, e->hash, k, kn);
    if (*pp)
        drop(l, pp, *pp);
    while (l->tail && (l->n + 1 > l->max_n || l->bytes + kn + vn > l->max_bytes)) {
        l->evictions++;
        drop_entry(l, l->tail);
    }
    pp = slot_of(l, e->hash, k, kn);
    e->hnext = NULL;
    *pp = e;
    push_front(l, e);
    l->n++;
    l->bytes += kn + vn;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static int lru_del(void *s, const void *k, size_t kn)
{
    lru *l = s;
    pthread_mutex_lock(&l->mu);
    lru_ent **pp = slot_of(l, forge__cache_hash(k, kn), k, kn);
    if (*pp)
        drop(l, pp, *pp);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static int lru_clear(void *s)
{
    lru *l = s;
    pthread_mutex_lock(&l->mu);
    while (l->head)
        drop_entry(l, l->head);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static void lru_stats(void *s, forge_cache_stats *st)
{
    lru *l = s;
    pthread_mutex_lock(&l->mu);
    st->entries = l->n;
    st->bytes = l->bytes;
    st->evictions = l->evictions;
    st->expirations = l->expirations;
    pthread_mutex_unlock(&l->mu);
}

static void lru_free(void *s)
{
    lru *l = s;
    if (!l)
        return;
    lru_clear(l);
    pthread_mutex_destroy(&l->mu);
    free(l->buckets);
    free(l);
}

static const forge__cache_ops lru_ops = {lru_get,   lru_set,  lru_del, lru_clear,
                                         lru_stats, lru_free, lru_now};

forge_cache *forge_cache_lru_new(const forge_cache_opts *o, forge_error *err)
{
    lru *l = calloc(1, sizeof(*l));
    if (!l) {
        forge_error_set(err, FORGE_ENOMEM, "cache: out of memory");
        return NULL;
    }
    l->max_n = o && o->max_entries ? o->max_entries : 1024;
    l->max_bytes = o && o->max_bytes ? o->max_bytes : 16u << 20;
    l->nbuckets = 16;
    while (l->nbuckets < l->max_n && l->nbuckets < (1u << 20))
        l->nbuckets <<= 1;
    l->buckets = calloc(l->nbuckets, sizeof(*l->buckets));
    if (!l->buckets) {
        free(l);
        forge_error_set(err, FORGE_ENOMEM, "cache: out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    return forge__cache_new(&lru_ops, l, o, err);
}
