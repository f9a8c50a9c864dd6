/*
 * JWKS URLs: keys fetched with libcurl off the request path. The first fetch
 * happens when the worker starts (bounded by a 5 s timeout; a failure is
 * logged and retried); afterwards a runtime timer refreshes the set every
 * jwks_refresh_s on the pool, and a token naming an unknown `kid` asks for a
 * refresh, at most once per jwks_min_gap_ms, without waiting for it (that
 * request is refused; the next one sees the new keys). A fetch that fails or
 * yields no usable key keeps the previous set.
 */
#include "sec_impl.h"
#include "http_client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JWKS_MAX_BYTES (1024 * 1024)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int forge__jwks_fetch_now(forge_jwt_verifier *v, forge_error *err)
{
    atomic_store(&v->jwks_last_ms, now_ms());
    const forge__http_req rq = {.url = v->jwks_url,
                                .timeout_ms = 5000,
                                .connect_timeout_ms = 2000,
                                .max_response = JWKS_MAX_BYTES};
    forge__http_res rs;
    int rc = forge__http_fetch(&rq, &rs, err);
    if (rc < 0 && err) {
        char why[FORGE_ERROR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", err->message);
        forge_error_set(err, rc, "jwks %s: %s", v->jwks_url, why);
    } else if (rc == 0 && rs.status != 200)
        rc = forge_error_set(err, FORGE_EIO, "jwks %s: HTTP %ld", v->jwks_url, rs.status);
    if (rc < 0) {
        forge__http_res_free(&rs);
        return rc;
    }
    json_error_t je;
    json_t *doc = json_loadb(rs.body ? rs.body : "", rs.len, JSON_REJECT_DUPLICATES, &je);
    forge__sec_keyset *ks = forge__sec_keyset_new();
    if (!doc || !ks)
        rc = forge_error_set(err, FORGE_EPARSE, "jwks %s: invalid JSON", v->jwks_url);
    else if ((rc = forge__sec_keyset_add_jwk(ks, doc, v->jwks_url, err)) == 0 && ks->n == 0)
        rc = forge_error_set(err, FORGE_ENOENT, "jwks %s: no usable signing key", v->jwks_url);
    if (rc == 0) {
        forge__jwt_set_keys(v, ks);
        ks = NULL;
    }
    forge__sec_keyset_unref(ks);
    json_decref(doc);
    forge__http_res_free(&rs);
    return rc;
}

static void fetch_task(void *arg)
{
    forge_jwt_verifier *v = arg;
    forge_error err;
    forge_error_clear(&err);
    if (forge__jwks_fetch_now(v, &err) && v->log)
        forge_logf(v->log, FORGE_LOG_WARN, NULL, "security: %s", err.message);
    atomic_store(&v->jwks_busy, false);
}

static void submit(forge_jwt_verifier *v)
{
    bool expect = false;
    if (!v->rt || !atomic_compare_exchange_strong(&v->jwks_busy, &expect, true))
        return;
    if (forge_runtime_submit(v->rt, fetch_task, v) != FORGE_OK)
        atomic_store(&v->jwks_busy, false);
}

static void on_timer(void *arg)
{
    submit(arg);
}

void forge__jwks_kick(forge_jwt_verifier *v)
{
    if (now_ms() - atomic_load(&v->jwks_last_ms) >= v->jwks_min_gap_ms)
        submit(v);
}

int forge__jwks_start(forge_jwt_verifier *v, forge_runtime *rt)
{
    forge_error err;
    forge_error_clear(&err);
    if (forge__jwks_fetch_now(v, &err) && v->log)
        forge_logf(v->log, FORGE_LOG_WARN, NULL, "security: %s (will retry)", err.message);
    v->rt = rt;
    if (rt) {
        uint64_t ms = (uint64_t)v->jwks_refresh_s * 1000;
        int64_t id = forge_runtime_timer(rt, ms, ms, on_timer, v);
        v->jwks_timer = id > 0 ? id : -1;
    }
    return FORGE_OK;
}

void forge__jwks_stop(forge_jwt_verifier *v)
{
    if (v->rt && v->jwks_timer > 0)
        forge_runtime_timer_cancel(v->rt, v->jwks_timer);
    v->jwks_timer = -1;
    v->rt = NULL;
}
