/*
 * Rate limits shared by every machine: one Redis counter per key and window,
 * counted by an atomic Lua script (ADR 0102).
 *
 *   KEYS[1] = prefix "{" limiter ":" hex(SHA-256(key))[0..32) "}"
 *   ARGV[1] = window (ms)
 * The script reads Redis's clock (TIME), so every machine agrees on the
 * window whatever its own clock says, INCRs "KEYS[1]:<window index>", sets
 * its expiry on the first hit and returns {count, ms until the window ends}.
 * The braces make the per-window keys share KEYS[1]'s cluster slot. Client
 * addresses and subjects never reach Redis in clear.
 *
 * Connections (hiredis, blocking with a timeout) are made lazily in the
 * worker that uses them and kept in a small free list; a failed connect
 * marks Redis down for a second, so an outage costs one timeout per second
 * rather than one per request. Calls block: the middleware runs them on the
 * runtime pool (forge__mw_defer), never on a host's event loop.
 */
#include "sec_impl.h"

#ifdef FORGE_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_MAX     64
#define DOWN_BACKOFF 1000 /* ms without connect attempts after a failure */
#define WARN_GAP     10000

static const char script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local w = tonumber(ARGV[1])\n"
    "local k = KEYS[1] .. ':' .. math.floor(now / w)\n"
    "local c = redis.call('INCR', k)\n"
    "if c == 1 then redis.call('PEXPIRE', k, w + 1000) end\n"
    "return {c, w - (now % w)}\n";

#ifdef FORGE_HAVE_HIREDIS
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
#endif

/* redis://[:password@]host[:port][/db] */
static int parse_url(forge__redis *r, const char *url, const char *key, forge_error *err)
{
    if (!url || strncmp(url, "redis://", 8) != 0)
        return forge_error_setk(err, FORGE_ECONFIG, key,
                                "%s: expected redis://[:password@]host[:port][/db]", key);
    const char *p = url + 8, *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return forge_error_setk(err, FORGE_ECONFIG, key,
                                    "%s: credentials are :password@ (no user names)", key);
        r->password = strndup(colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    size_t hn = strcspn(p, ":/");
    if (hn == 0 || hn > 255 || *p == '[')
        return forge_error_setk(err, FORGE_ECONFIG, key,
                                "%s: expected a host name or IPv4 address after redis://", key);
    r->host = strndup(p, hn);
    p += hn;
    r->port = 6379;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/'))
            return forge_error_setk(err, FORGE_ECONFIG, key, "%s: port must be 1-65535", key);
        r->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (*end || db < 0 || db > 1000000)
            return forge_error_setk(err, FORGE_ECONFIG, key, "%s: database must be a number", key);
        r->db = (int)db;
    }
    return r->host ? 0 : forge_error_set(err, FORGE_ENOMEM, "out of memory");
}

int forge__redis_init(forge__redis *r, const char *url, const char *key, forge_error *err)
{
    pthread_mutex_init(&r->mu, NULL);
    r->ready = true;
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)script, sizeof(script) - 1, d);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(r->sha + 2 * i, 3, "%02x", d[i]);
    if (!r->prefix && !(r->prefix = strdup("forge:rl:")))
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    if (!r->timeout_ms)
        r->timeout_ms = 100;
    int rc = parse_url(r, url, key, err);
#ifndef FORGE_HAVE_HIREDIS
    if (rc == FORGE_OK)
        rc = forge_error_setk(err, FORGE_ECONFIG, key,
                              "%s: this Forge was built without hiredis, so rate limits cannot "
                              "count in Redis (install libhiredis-dev and rebuild, or leave out "
                              "security.redis to count per machine)",
                              key);
#endif
    return rc;
}

void forge__redis_free(forge__redis *r)
{
    if (!r->ready)
        return;
#ifdef FORGE_HAVE_HIREDIS
    for (size_t i = 0; i < r->nidle; i++)
        redisFree(r->idle[i]);
#endif
    free(r->idle);
    free(r->host);
    if (r->password)
        memset(r->password, 0, strlen(r->password));
    free(r->password);
    free(r->prefix);
    pthread_mutex_destroy(&r->mu);
}

#ifdef FORGE_HAVE_HIREDIS
static void warn(forge__redis *r, const char *what, const char *detail)
{
    int64_t now = mono_ms(), last = atomic_load(&r->last_warn_ms);
    if (r->log && now - last >= WARN_GAP &&
        atomic_compare_exchange_strong(&r->last_warn_ms, &last, now))
        forge_logf(r->log, FORGE_LOG_WARN, NULL,
                   "security: redis %s:%d: %s: %s (rate limits use their on_redis_error policy)",
                   r->host, r->port, what, detail);
}

static redisReply *command(redisContext *c, int argc, const char **argv, const size_t *len)
{
    return redisCommandArgv(c, argc, argv, len);
}

static redisContext *conn_get(forge__redis *r)
{
    pthread_mutex_lock(&r->mu);
    redisContext *c = r->nidle ? r->idle[--r->nidle] : NULL;
    pthread_mutex_unlock(&r->mu);
    if (c)
        return c;
    if (mono_ms() < atomic_load(&r->down_until_ms))
        return NULL;
    struct timeval tv = {(time_t)(r->timeout_ms / 1000),
                         (suseconds_t)(r->timeout_ms % 1000) * 1000};
    c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!c || c->err) {
        warn(r, "connect", c ? c->errstr : "out of memory");
        goto down;
    }
    redisSetTimeout(c, tv);
    char db[16];
    snprintf(db, sizeof(db), "%d", r->db);
    const char *auth[] = {"AUTH", r->password};
    const char *sel[] = {"SELECT", db};
    for (int step = 0; step < 2; step++) {
        if ((step == 0 && !r->password) || (step == 1 && r->db == 0))
            continue;
        redisReply *rep = command(c, 2, step ? sel : auth, NULL);
        bool bad = !rep || rep->type == REDIS_REPLY_ERROR;
        if (bad)
            warn(r, step ? "SELECT" : "AUTH", rep && rep->str ? rep->str : c->errstr);
        if (rep)
            freeReplyObject(rep);
        if (bad)
            goto down;
    }
    return c;
down:
    if (c)
        redisFree(c);
    atomic_store(&r->down_until_ms, mono_ms() + DOWN_BACKOFF);
    return NULL;
}

static void conn_put(forge__redis *r, redisContext *c, bool ok)
{
    if (ok && !c->err) {
        pthread_mutex_lock(&r->mu);
        if (r->nidle == r->capidle && r->capidle < IDLE_MAX) {
            size_t cap = r->capidle ? r->capidle * 2 : 8;
            void **v = realloc(r->idle, cap * sizeof(*v));
            if (v) {
                r->idle = v;
                r->capidle = cap;
            }
        }
        if (r->nidle < r->capidle) {
            r->idle[r->nidle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&r->mu);
    }
    if (c)
        redisFree(c);
}

int forge__rl_redis_hit(forge__ratelimit *rl, const char *key, size_t klen, forge__rl_result *out)
{
    forge__redis *r = rl->redis;
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, klen, d);
    char k[512], win[24];
    int n = snprintf(k, sizeof(k), "%s{%.200s:", r->prefix, rl->name);
    for (int i = 0; i < 16 && n > 0 && (size_t)n + 3 < sizeof(k); i++)
        n += snprintf(k + n, sizeof(k) - (size_t)n, "%02x", d[i]);
    n += snprintf(k + n, sizeof(k) - (size_t)n, "}");
    snprintf(win, sizeof(win), "%llu", (unsigned long long)rl->window_ms);
    redisContext *c = conn_get(r);
    if (!c)
        return FORGE_EIO;
    const char *argv[] = {"EVALSHA", r->sha, "1", k, win};
    redisReply *rep = command(c, 5, argv, NULL);
    if (rep && rep->type == REDIS_REPLY_ERROR && rep->str &&
        strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = script;
        rep = command(c, 5, argv, NULL);
    }
    bool ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
              rep->element[0]->type == REDIS_REPLY_INTEGER &&
              rep->element[1]->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        warn(r, "rate-limit script", !rep ? c->errstr : rep->str ? rep->str : "unexpected reply");
        if (!rep) /* I/O error or timeout: the connection state is unknown */
            atomic_store(&r->down_until_ms, mono_ms() + DOWN_BACKOFF);
        if (rep)
            freeReplyObject(rep);
        conn_put(r, c, false);
        return FORGE_EIO;
    }
    long long count = rep->element[0]->integer, left = rep->element[1]->integer;
    freeReplyObject(rep);
    conn_put(r, c, true);
    out->limit = rl->limit;
    out->allowed = count >= 1 && (unsigned long long)count <= rl->limit;
    out->remaining = out->allowed ? rl->limit - (uint32_t)count : 0;
    out->reset_ms = left > 0 ? (uint64_t)left : 0;
    return FORGE_OK;
}
#else
int forge__rl_redis_hit(forge__ratelimit *rl, const char *key, size_t klen, forge__rl_result *out)
{
    (void)rl, (void)key, (void)klen, (void)out;
    return FORGE_EIO; /* unreachable: forge__redis_init refused the configuration */
}
#endif
