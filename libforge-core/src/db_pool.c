/*
 * The connection pool: borrowing, validation, idle eviction, reconnect
 * backoff and the counters behind forge_db_stats_get.
 *
 * Invariants (under db->mu): nidle + nbusy + nconnecting <= max_conns; a
 * connection is either on the idle list (lent == false) or lent out
 * (counted in nbusy). Connects, pings and closes run without the lock.
 * After a failed connect no new connect is tried before backoff_until_ns
 * (doubling from backoff_min_ms to backoff_max_ms); acquires in that window
 * fail at once with the last error, so callers answer 503 without waiting.
 */
#include "db_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MS 1000000ull

static void deadline_ts(uint64_t deadline_ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(deadline_ns / 1000000000ull);
    ts->tv_nsec = (long)(deadline_ns % 1000000000ull);
}

void forge__db_conn_destroy(forge_db_conn *c)
{
    if (!c)
        return;
    forge__db_stmt_cache_clear(c);
    free(c->stmts);
    if (c->h)
        c->db->drv->close(c->h);
    free(c);
}

/* Connect a new connection (lock not held). */
static int connect_one(forge_db *db, forge_db_conn **out, forge_db_derr *e)
{
    forge_db_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    c->db = db;
    forge_db_connect_opts co = {db->o.connect_timeout_ms, db->o.statement_timeout_ms};
    int rc = db->drv->connect(&db->u, &co, &c->h, e);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->rows.conn = c;
    *out = c;
    return 0;
}

static void note_connect(forge_db *db, int rc, const forge_db_derr *e)
{
    if (rc == 0) {
        db->st.connects++;
        db->st.up = true;
        db->backoff_ms = 0;
        db->backoff_until_ns = 0;
        return;
    }
    db->st.connect_failures++;
    db->st.up = false;
    db->last_code = rc;
    snprintf(db->last_err, sizeof(db->last_err), "%s", e->msg[0] ? e->msg : forge_strerror(rc));
    db->backoff_ms = db->backoff_ms ? db->backoff_ms * 2 : db->o.backoff_min_ms;
    if (db->backoff_ms > db->o.backoff_max_ms)
        db->backoff_ms = db->o.backoff_max_ms;
    db->backoff_until_ns = forge__db_now_ns() + db->backoff_ms * MS;
}

static int unreachable(forge_db *db, forge_error *err, uint64_t now)
{
    db->st.acquire_failures++;
    uint64_t left = db->backoff_until_ns > now ? (db->backoff_until_ns - now) / MS : 0;
    return forge_error_set(err, FORGE_EIO, "db %s: %s unreachable (retry in %llu ms): %s", db->name,
                           db->redacted, (unsigned long long)left, db->last_err);
}

static void lend(forge_db *db, forge_db_conn *c, uint64_t t0)
{
    uint64_t dt = forge__db_now_ns() - t0;
    db->nbusy++;
    db->st.acquires++;
    db->st.acquire_ns_total += dt;
    if (dt > db->st.acquire_ns_max)
        db->st.acquire_ns_max = dt;
    c->lent = true;
}

int forge_db_acquire(forge_db *db, uint32_t timeout_ms, forge_db_conn **out, forge_error *err)
{
    if (!db || !out)
        return forge_error_set(err, FORGE_EINVAL, "db: acquire without a pool");
    *out = NULL;
    uint64_t t0 = forge__db_now_ns();
    uint64_t deadline = t0 + (uint64_t)(timeout_ms ? timeout_ms : db->o.acquire_timeout_ms) * MS;
    pthread_mutex_lock(&db->mu);
    for (;;) {
        if (db->closing) {
            pthread_mutex_unlock(&db->mu);
            return forge_error_set(err, FORGE_ESTATE, "db %s: the pool is closing", db->name);
        }
        uint64_t now = forge__db_now_ns();
        if (db->idle) {
            forge_db_conn *c = db->idle;
            db->idle = c->next;
            db->nidle--;
            c->next = NULL;
            bool check = now - c->idle_since_ns >= (uint64_t)db->o.validate_after_ms * MS;
            if (!check) {
                lend(db, c, t0);
                pthread_mutex_unlock(&db->mu);
                *out = c;
                return 0;
            }
            db->nconnecting++; /* holds the slot while pinging */
            pthread_mutex_unlock(&db->mu);
            forge_db_derr e = {0};
            int rc = db->drv->ping(c->h, &e);
            pthread_mutex_lock(&db->mu);
            db->nconnecting--;
            if (rc == 0) {
                lend(db, c, t0);
                pthread_mutex_unlock(&db->mu);
                *out = c;
                return 0;
            }
            db->st.validations_failed++;
            pthread_mutex_unlock(&db->mu);
            forge__db_conn_destroy(c);
            pthread_mutex_lock(&db->mu);
            continue;
        }
        if (db->nidle + db->nbusy + db->nconnecting < db->o.max_conns) {
            if (now < db->backoff_until_ns) {
                int rc = unreachable(db, err, now);
                pthread_mutex_unlock(&db->mu);
                return rc;
            }
            db->nconnecting++;
            pthread_mutex_unlock(&db->mu);
            forge_db_conn *c = NULL;
            forge_db_derr e = {0};
            int rc = connect_one(db, &c, &e);
            pthread_mutex_lock(&db->mu);
            db->nconnecting--;
            note_connect(db, rc, &e);
            if (rc == 0 && db->closing) {
                pthread_mutex_unlock(&db->mu);
                forge__db_conn_destroy(c);
                pthread_mutex_lock(&db->mu);
                continue;
            }
            if (rc < 0) {
                db->st.acquire_failures++;
                pthread_cond_broadcast(&db->cv);
                pthread_mutex_unlock(&db->mu);
                return forge_error_set(err, FORGE_EIO, "db %s: cannot connect to %s: %s", db->name,
                                       db->redacted, e.msg);
            }
            lend(db, c, t0);
            pthread_mutex_unlock(&db->mu);
            *out = c;
            return 0;
        }
        if (now >= deadline) {
            db->st.acquire_timeouts++;
            uint32_t busy = db->nbusy;
            pthread_mutex_unlock(&db->mu);
            return forge_error_set(err, FORGE_ETIMEDOUT,
                                   "db %s: no connection free within %u ms (%u of %u in use)",
                                   db->name, timeout_ms ? timeout_ms : db->o.acquire_timeout_ms,
                                   busy, db->o.max_conns);
        }
        struct timespec ts;
        deadline_ts(deadline, &ts);
        db->st.waiting++;
        pthread_cond_timedwait(&db->cv, &db->mu, &ts);
        db->st.waiting--;
    }
}

void forge_db_release(forge_db_conn *c)
{
    if (!c || !c->lent)
        return;
    forge_db *db = c->db;
    if (c->rows.open)
        forge_db_rows_close(&c->rows);
    forge__db_cursors_close(c);
    bool drop = db->drv->broken(c->h);
    if (!drop && c->depth > 0) {
        forge_db_derr e = {0};
        drop = db->drv->exec_script(c->h, "ROLLBACK", &e) < 0;
        c->depth = 0;
    }
    if (!drop && c->timeout_changed) {
        forge_db_derr e = {0};
        drop = db->drv->set_timeout(c->h, db->o.statement_timeout_ms, &e) < 0;
        c->timeout_changed = false;
    }
    pthread_mutex_lock(&db->mu);
    c->lent = false;
    db->nbusy--;
    if (drop || db->closing) {
        if (drop)
            db->st.up = !db->drv->broken(c->h) && db->st.up;
        pthread_mutex_unlock(&db->mu);
        forge__db_conn_destroy(c);
        pthread_mutex_lock(&db->mu);
        forge__db_maybe_free(db);
        return;
    }
    c->idle_since_ns = forge__db_now_ns();
    c->next = db->idle;
    db->idle = c;
    db->nidle++;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
}

void forge_db_maintain(forge_db *db)
{
    if (!db)
        return;
    uint64_t now = forge__db_now_ns();
    forge_db_conn *evict = NULL;
    pthread_mutex_lock(&db->mu);
    /* The idle list is most-recent-first: stale ones are at the tail. */
    forge_db_conn **pp = &db->idle;
    while (*pp) {
        forge_db_conn *c = *pp;
        bool stale = now - c->idle_since_ns >= (uint64_t)db->o.idle_timeout_ms * MS;
        if (stale && db->nidle + db->nbusy > db->o.min_conns) {
            *pp = c->next;
            db->nidle--;
            db->st.evictions++;
            c->next = evict;
            evict = c;
        } else {
            pp = &c->next;
        }
    }
    uint32_t want = 0;
    uint32_t have = db->nidle + db->nbusy + db->nconnecting;
    if (!db->closing && have < db->o.min_conns && now >= db->backoff_until_ns)
        want = db->o.min_conns - have;
    db->nconnecting += want;
    pthread_mutex_unlock(&db->mu);
    while (evict) {
        forge_db_conn *n = evict->next;
        forge__db_conn_destroy(evict);
        evict = n;
    }
    for (uint32_t i = 0; i < want; i++) {
        forge_db_conn *c = NULL;
        forge_db_derr e = {0};
        int rc = connect_one(db, &c, &e);
        pthread_mutex_lock(&db->mu);
        db->nconnecting--;
        note_connect(db, rc, &e);
        if (rc == 0) {
            c->idle_since_ns = forge__db_now_ns();
            c->next = db->idle;
            db->idle = c;
            db->nidle++;
            pthread_cond_signal(&db->cv);
        } else {
            db->nconnecting -= want - i - 1;
            pthread_mutex_unlock(&db->mu);
            break;
        }
        pthread_mutex_unlock(&db->mu);
    }
    pthread_mutex_lock(&db->mu);
    forge__db_maybe_free(db);
}

void forge_db_stats_get(forge_db *db, forge_db_stats *out)
{
    if (!db || !out)
        return;
    pthread_mutex_lock(&db->mu);
    uint32_t waiting = (uint32_t)db->st.waiting;
    *out = db->st;
    out->in_use = db->nbusy;
    out->idle = db->nidle;
    out->waiting = waiting;
    pthread_mutex_unlock(&db->mu);
}

forge_health forge_db_health(forge_db *db, uint32_t timeout_ms, forge_error *err)
{
    if (!db) {
        forge_error_set(err, FORGE_EINVAL, "db: no pool");
        return FORGE_UNHEALTHY;
    }
    forge_db_conn *c;
    int rc = forge_db_acquire(db, timeout_ms ? timeout_ms : 1000, &c, err);
    if (rc == FORGE_ETIMEDOUT)
        return FORGE_DEGRADED; /* saturated, but the server answers */
    if (rc < 0)
        return FORGE_UNHEALTHY;
    forge_db_derr e = {0};
    rc = db->drv->ping(c->h, &e);
    forge_db_release(c);
    if (rc < 0) {
        forge__db_err(db, err, &e, "ping");
        pthread_mutex_lock(&db->mu);
        db->st.up = false;
        snprintf(db->last_err, sizeof(db->last_err), "%s", e.msg);
        pthread_mutex_unlock(&db->mu);
        return FORGE_UNHEALTHY;
    }
    return FORGE_HEALTHY;
}
