/*
 * Caches: the generic part over every store. Counters, and get-or-load with
 * one load per key in flight (single flight), negative entries and early
 * refresh with jitter.
 *
 * A flight is the record of one load in progress: callers asking for its
 * key wait on its condition variable and copy its result. It is shared by
 * the loader and its waiters and freed by whichever lets go last (refs).
 */
#include "cache_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct forge__flight {
    struct forge__flight *next;
    char *key;
    size_t kn;
    pthread_cond_t cv;
    bool done;
    int rc;
    char *val; /* the loaded value (copy), for waiters */
    size_t vn;
    int refs;
    forge_error err;
};

#define ADD(field) __atomic_add_fetch(&c->field, 1, __ATOMIC_RELAXED)

uint64_t forge__cache_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t forge__cache_hash(const void *k, size_t n)
{
    const unsigned char *p = k;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

forge_cache *forge__cache_new(const forge__cache_ops *ops, void *store, const forge_cache_opts *o,
                              forge_error *err)
{
    forge_cache *c = calloc(1, sizeof(*c));
    if (!c) {
        ops->free(store);
        forge_error_set(err, FORGE_ENOMEM, "cache: out of memory");
        return NULL;
    }
    c->ops = ops;
    c->store = store;
    if (o)
        c->o = *o;
    c->o.prefix = NULL; /* stores copy what they need */
    if (!c->o.ttl_ms)
        c->o.ttl_ms = 60000;
    if (!c->o.negative_ttl_ms)
        c->o.negative_ttl_ms = 5000;
    if (c->o.refresh_ahead == 0)
        c->o.refresh_ahead = 0.1;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void forge_cache_free(forge_cache *c)
{
    if (!c)
        return;
    c->ops->free(c->store);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int forge_cache_get(forge_cache *c, const void *key, size_t klen, char **val, size_t *vlen,
                    bool *negative)
{
    if (negative)
        *negative = false;
    if (!c || !key || !val || !vlen)
        return FORGE_EINVAL;
    *val = NULL;
    *vlen = 0;
    forge__centry meta = {0};
    int rc = c->ops->get(c->store, key, klen, val, vlen, &meta);
    if (rc == 0)
        ADD(hits);
    else if (rc == FORGE_ENOENT && meta.negative) {
        ADD(negative_hits);
        if (negative)
            *negative = true;
    } else
        ADD(misses);
    return rc;
}

int forge_cache_set(forge_cache *c, const void *key, size_t klen, const void *val, size_t vlen,
                    uint32_t ttl_ms)
{
    if (!c || !key || (!val && vlen))
        return FORGE_EINVAL;
    return c->ops->set(c->store, key, klen, val ? val : "", vlen, false,
                       ttl_ms ? ttl_ms : c->o.ttl_ms);
}

int forge_cache_set_negative(forge_cache *c, const void *key, size_t klen, uint32_t ttl_ms)
{
    if (!c || !key)
        return FORGE_EINVAL;
    return c->ops->set(c->store, key, klen, "", 0, true, ttl_ms ? ttl_ms : c->o.negative_ttl_ms);
}

int forge_cache_del(forge_cache *c, const void *key, size_t klen)
{
    return c && key ? c->ops->del(c->store, key, klen) : FORGE_EINVAL;
}

int forge_cache_clear(forge_cache *c)
{
    return c ? c->ops->clear(c->store) : FORGE_EINVAL;
}

void forge_cache_stats_get(forge_cache *c, forge_cache_stats *out)
{
    if (!c || !out)
        return;
    memset(out, 0, sizeof(*out));
    c->ops->stats(c->store, out);
    out->hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
    out->negative_hits = __atomic_load_n(&c->negative_hits, __ATOMIC_RELAXED);
    out->misses = __atomic_load_n(&c->misses, __ATOMIC_RELAXED);
    out->loads = __atomic_load_n(&c->loads, __ATOMIC_RELAXED);
    out->load_errors = __atomic_load_n(&c->load_errors, __ATOMIC_RELAXED);
    out->coalesced = __atomic_load_n(&c->coalesced, __ATOMIC_RELAXED);
    out->refreshes = __atomic_load_n(&c->refreshes, __ATOMIC_RELAXED);
}

/* ---- single flight ---- */

static struct forge__flight *flight_find(forge_cache *c, const void *k, size_t kn)
{
    for (struct forge__flight *f = c->flights; f; f = f->next)
        if (f->kn == kn && memcmp(f->key, k, kn) == 0)
            return f;
    return NULL;
}

static void flight_unref(forge_cache *c, struct forge__flight *f)
{
    (void)c;
    if (--f->refs > 0)
        return;
    pthread_cond_destroy(&f->cv);
    free(f->key);
    free(f->val);
    free(f);
}

/* With c->mu held: a new flight for key, or NULL on OOM. */
static struct forge__flight *flight_start(forge_cache *c, const void *k, size_t kn)
{
    struct forge__flight *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->key = malloc(kn ? kn : 1);
    if (!f->key) {
        free(f);
        return NULL;
    }
    memcpy(f->key, k, kn);
    f->kn = kn;
    f->refs = 1;
    pthread_cond_init(&f->cv, NULL);
    f->next = c->flights;
    c->flights = f;
    return f;
}

static void flight_finish(forge_cache *c, struct forge__flight *f, int rc, const char *val,
                          size_t vn, const forge_error *err)
{
    char *copy = NULL;
    if (rc == 0 && f->refs > 0) {
        copy = malloc(vn + 1);
        if (copy) {
            memcpy(copy, val, vn);
            copy[vn] = '\0';
        }
    }
    pthread_mutex_lock(&c->mu);
    for (struct forge__flight **pp = &c->flights; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    f->done = true;
    f->rc = rc == 0 && !copy ? FORGE_ENOMEM : rc;
    f->val = copy;
    f->vn = vn;
    if (err)
        f->err = *err;
    pthread_cond_broadcast(&f->cv);
    flight_unref(c, f);
    pthread_mutex_unlock(&c->mu);
}

static int run_load(forge_cache *c, const void *key, size_t klen, forge_cache_load_fn load,
                    void *udata, char **val, size_t *vlen, forge_error *err)
{
    ADD(loads);
    uint32_t ttl = 0;
    char *v = NULL;
    size_t vn = 0;
    forge_error lerr;
    forge_error_clear(&lerr);
    int rc = load(udata, key, klen, &v, &vn, &ttl, &lerr);
    if (rc == 0 && !v)
        rc = forge_error_set(&lerr, FORGE_EINVAL, "cache: the loader returned no value");
    if (rc == 0) {
        c->ops->set(c->store, key, klen, v, vn, false, ttl ? ttl : c->o.ttl_ms);
        /* NUL-terminate like get does (the loader's buffer may be exact). */
        char *t = realloc(v, vn + 1);
        if (t) {
            t[vn] = '\0';
            v = t;
        }
        *val = v;
        *vlen = vn;
    } else if (rc == FORGE_ENOENT) {
        free(v);
        c->ops->set(c->store, key, klen, "", 0, true, c->o.negative_ttl_ms);
    } else {
        free(v);
        ADD(load_errors);
    }
    if (rc < 0 && err)
        *err = lerr;
    return rc;
}

static double jitter(void)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = (uint64_t)(uintptr_t)&s ^ forge__cache_mono_ms() * 0x9e3779b97f4a7c15ull;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return 0.5 + 0.5 * (double)(s >> 11) / (double)(1ull << 53);
}

/* A hit near its expiry: true when this caller should refresh it. */
static bool due_for_refresh(forge_cache *c, const forge__centry *m)
{
    if (c->o.refresh_ahead <= 0 || !m->ttl_ms)
        return false;
    uint64_t now = c->ops->now_ms(c->store);
    if (now >= m->expires_ms)
        return true;
    double window = (double)m->ttl_ms * c->o.refresh_ahead * jitter();
    return (double)(m->expires_ms - now) < window;
}

int forge_cache_get_or_load(forge_cache *c, const void *key, size_t klen, forge_cache_load_fn load,
                            void *udata, char **val, size_t *vlen, forge_error *err)
{
    if (!c || !key || !load || !val || !vlen)
        return forge_error_set(err, FORGE_EINVAL, "cache: get_or_load needs key, loader, out");
    *val = NULL;
    *vlen = 0;
    forge__centry meta = {0};
    int rc = c->ops->get(c->store, key, klen, val, vlen, &meta);
    if (rc == 0) {
        ADD(hits);
        if (!due_for_refresh(c, &meta))
            return 0;
        pthread_mutex_lock(&c->mu);
        struct forge__flight *f = flight_find(c, key, klen) ? NULL : flight_start(c, key, klen);
        pthread_mutex_unlock(&c->mu);
        if (!f)
            return 0; /* someone is refreshing it: keep serving this value */
        ADD(refreshes);
        char *nv = NULL;
        size_t nn = 0;
        forge_error lerr;
        int lrc = run_load(c, key, klen, load, udata, &nv, &nn, &lerr);
        flight_finish(c, f, lrc, nv, nn, &lerr);
        if (lrc == 0) {
            free(*val);
            *val = nv;
            *vlen = nn;
        } else if (lrc == FORGE_ENOENT) {
            free(*val);
            *val = NULL;
            *vlen = 0;
            return FORGE_ENOENT; /* it is gone now */
        }
        return 0; /* a failed refresh keeps the current value */
    }
    if (rc == FORGE_ENOENT && meta.negative) {
        ADD(negative_hits);
        return FORGE_ENOENT;
    }
    ADD(misses);
    pthread_mutex_lock(&c->mu);
    struct forge__flight *f = flight_find(c, key, klen);
    if (f) {
        ADD(coalesced);
        f->refs++;
        while (!f->done)
            pthread_cond_wait(&f->cv, &c->mu);
        rc = f->rc;
        if (rc == 0) {
            *val = malloc(f->vn + 1);
            if (*val) {
                memcpy(*val, f->val, f->vn + 1);
                *vlen = f->vn;
            } else
                rc = FORGE_ENOMEM;
        } else if (err && rc != FORGE_ENOENT) {
            *err = f->err;
        }
        flight_unref(c, f);
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    f = flight_start(c, key, klen);
    pthread_mutex_unlock(&c->mu);
    forge_error lerr;
    forge_error_clear(&lerr);
    rc = run_load(c, key, klen, load, udata, val, vlen, &lerr);
    if (f)
        flight_finish(c, f, rc, *val, *vlen, &lerr);
    if (rc < 0 && rc != FORGE_ENOENT && err)
        *err = lerr;
    return rc;
}
