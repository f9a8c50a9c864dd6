/*
 * The Redis cache store, over a forge_db opened on redis://. Every call
 * borrows a connection from that pool. Keys are stored under the cache's
 * prefix; values carry a 13-byte header (kind 'V' or 'N' for negative,
 * expiry in Unix milliseconds and the TTL, big-endian) so early refresh
 * works across processes. Redis expires entries itself (SET ... PX).
 * clear() deletes the prefix's keys found with KEYS (a full scan on the
 * server: meant for tests and maintenance, not the hot path).
 */
#include "cache_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HDR 13

typedef struct rstore {
    forge_db *db;
    char *prefix;
    size_t plen;
} rstore;

static uint64_t wall_ms(void *s)
{
    (void)s;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* prefix + key in a malloc'd buffer. */
static char *full_key(rstore *r, const void *k, size_t kn)
{
    char *b = malloc(r->plen + kn + 1);
    if (b) {
        memcpy(b, r->prefix, r->plen);
        memcpy(b + r->plen, k, kn);
    }
    return b;
}

static int run(rstore *r, const char *cmd, const forge_db_value *p, size_t n, char **val,
               size_t *vn)
{
    forge_db_conn *c;
    forge_error err;
    int rc = forge_db_acquire(r->db, 0, &c, &err);
    if (rc < 0)
        return rc;
    forge_db_rows *rows;
    rc = forge_db_query(c, cmd, p, n, &rows, &err);
    if (rc == 0) {
        rc = forge_db_rows_next(rows, &err);
        if (rc == 1 && val) {
            forge_db_value v = forge_db_get(rows, 0);
            if (v.type == FORGE_DB_T_TEXT || v.type == FORGE_DB_T_BLOB) {
                *val = malloc(v.v.s.n + 1);
                rc = *val ? 0 : FORGE_ENOMEM;
                if (*val) {
                    memcpy(*val, v.v.s.p, v.v.s.n);
                    (*val)[v.v.s.n] = '\0';
                    *vn = v.v.s.n;
                }
            } else {
                rc = FORGE_ENOENT;
            }
        } else if (rc >= 0) {
            rc = val ? FORGE_ENOENT : 0;
        }
        forge_db_rows_close(rows);
    }
    forge_db_release(c);
    return rc;
}

static uint64_t get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static int r_get(void *s, const void *k, size_t kn, char **val, size_t *vn, forge__centry *meta)
{
    rstore *r = s;
    char *key = full_key(r, k, kn);
    if (!key)
        return FORGE_ENOMEM;
    char *raw = NULL;
    size_t rn = 0;
    forge_db_value p[] = {FORGE_DB_BLOB(key, r->plen + kn)};
    int rc = run(r, "GET ?", p, 1, &raw, &rn);
    free(key);
    if (rc < 0)
        return rc;
    if (rn < HDR || (raw[0] != 'V' && raw[0] != 'N')) {
        free(raw);
        return FORGE_ENOENT; /* not ours: treat as absent */
    }
    const unsigned char *h = (const unsigned char *)raw;
    *meta = (forge__centry){raw[0] == 'N', get_be(h + 1, 8), (uint32_t)get_be(h + 9, 4)};
    if (meta->negative) {
        free(raw);
        return FORGE_ENOENT;
    }
    memmove(raw, raw + HDR, rn - HDR + 1);
    *val = raw;
    *vn = rn - HDR;
    return 0;
}

static int r_set(void *s, const void *k, size_t kn, const void *v, size_t vn, bool negative,
                 uint32_t ttl_ms)
{
    rstore *r = s;
    char *key = full_key(r, k, kn);
    unsigned char *buf = malloc(HDR + vn);
    if (!key || !buf) {
        free(key);
        free(buf);
        return FORGE_ENOMEM;
    }
    buf[0] = negative ? 'N' : 'V';
    put_be(buf + 1, wall_ms(NULL) + ttl_ms, 8);
    put_be(buf + 9, ttl_ms, 4);
    memcpy(buf + HDR, v, vn);
    forge_db_value p[] = {FORGE_DB_BLOB(key, r->plen + kn), FORGE_DB_BLOB((char *)buf, HDR + vn),
                          FORGE_DB_INT(ttl_ms ? ttl_ms : 1)};
    int rc = run(r, "SET ? ? PX ?", p, 3, NULL, NULL);
    free(key);
    free(buf);
    return rc < 0 ? rc : 0;
}

static int r_del(void *s, const void *k, size_t kn)
{
    rstore *r = s;
    char *key = full_key(r, k, kn);
    if (!key)
        return FORGE_ENOMEM;
    forge_db_value p[] = {FORGE_DB_BLOB(key, r->plen + kn)};
    int rc = run(r, "DEL ?", p, 1, NULL, NULL);
    free(key);
    return rc < 0 ? rc : 0;
}

static int r_clear(void *s)
{
    rstore *r = s;
    forge_db_conn *c;
    forge_error err;
    int rc = forge_db_acquire(r->db, 0, &c, &err);
    if (rc < 0)
        return rc;
    char *pattern = malloc(r->plen * 2 + 2);
    if (!pattern) {
        forge_db_release(c);
        return FORGE_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < r->plen; i++) { /* escape glob characters of the prefix */
        if (strchr("*?[]\\", r->prefix[i]))
            pattern[n++] = '\\';
        pattern[n++] = r->prefix[i];
    }
    pattern[n++] = '*';
    forge_db_value p[] = {FORGE_DB_BLOB(pattern, n)};
    forge_db_rows *rows;
    char **keys = NULL;
    size_t nk = 0, cap = 0;
    rc = forge_db_query(c, "KEYS ?", p, 1, &rows, &err);
    if (rc == 0) {
        while (rc == 0 && forge_db_rows_next(rows, &err) == 1) {
            forge_str k = forge_db_str(rows, 0);
            if (nk == cap) {
                cap = cap ? cap * 2 : 64;
                char **nkeys = realloc(keys, cap * sizeof(*keys));
                if (!nkeys) {
                    rc = FORGE_ENOMEM;
                    break;
                }
                keys = nkeys;
            }
            keys[nk] = malloc(k.n + 1);
            if (!keys[nk]) {
                rc = FORGE_ENOMEM;
                break;
            }
            memcpy(keys[nk], k.p, k.n);
            keys[nk][k.n] = '\0';
            nk++;
        }
        forge_db_rows_close(rows);
    }
    for (size_t i = 0; i < nk; i++) {
        forge_db_value d[] = {FORGE_DB_BLOB(keys[i], strlen(keys[i]))};
        if (rc == 0)
            rc = forge_db_exec(c, "DEL ?", d, 1, NULL, &err);
        free(keys[i]);
    }
    free(keys);
    free(pattern);
    forge_db_release(c);
    return rc;
}

static void r_stats(void *s, forge_cache_stats *st)
{
    (void)s;
    (void)st; /* entries live on the server */
}

static void r_free(void *s)
{
    rstore *r = s;
    if (r)
        free(r->prefix);
    free(r);
}

static const forge__cache_ops redis_ops = {r_get, r_set, r_del, r_clear, r_stats, r_free, wall_ms};

forge_cache *forge_cache_redis_new(forge_db *redis, const forge_cache_opts *o, forge_error *err)
{
    if (!redis || strcmp(forge_db_driver_name(redis), "redis") != 0) {
        forge_error_set(err, FORGE_EINVAL, "cache: a Redis cache needs a redis:// database");
        return NULL;
    }
    rstore *r = calloc(1, sizeof(*r));
    if (!r || !(r->prefix = strdup(o && o->prefix ? o->prefix : ""))) {
        free(r);
        forge_error_set(err, FORGE_ENOMEM, "cache: out of memory");
        return NULL;
    }
    r->db = redis;
    r->plen = strlen(r->prefix);
    return forge__cache_new(&redis_ops, r, o, err);
}
