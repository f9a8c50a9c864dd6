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

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JWKS_MAX_BYTES (1024 * 1024)

typedef struct body {
    char *p;
    size_t n;
    bool over;
} body;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t add = size * nmemb;
    if (b->n + add > JWKS_MAX_BYTES) {
        b->over = true;
        return 0;
    }
    char *np = realloc(b->p, b->n + add + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, ptr, add);
    b->p = np;
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int forge__jwks_fetch_now(forge_jwt_verifier *v, forge_error *err)
{
    pthread_once(&curl_once, curl_init);
    atomic_store(&v->jwks_last_ms, now_ms());
    CURL *c = curl_easy_init();
    if (!c)
        return forge_error_set(err, FORGE_ENOMEM, "jwks: curl_easy_init failed");
    body b = {0};
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, v->jwks_url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    int rc = FORGE_OK;
    if (cc != CURLE_OK || status != 200) {
        rc = forge_error_set(err, FORGE_EIO, "jwks %s: %s (HTTP %ld)", v->jwks_url,
                             b.over ? "document over 1 MiB" : curl_easy_strerror(cc), status);
    } else {
        json_error_t je;
        json_t *doc = json_loadb(b.p ? b.p : "", b.n, JSON_REJECT_DUPLICATES, &je);
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
    }
    free(b.p);
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
