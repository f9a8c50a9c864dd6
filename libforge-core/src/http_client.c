/*
 * Outgoing HTTP through libcurl's easy interface: one handle per request,
 * bounded response size, no redirects, no signals (the pool's threads must
 * not get SIGALRM from the resolver).
 */
#include "http_client.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef FORGE_HAVE_CURL
#include <curl/curl.h>

typedef struct sink {
    char *p;
    size_t n, max;
    bool over;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink *b = ud;
    size_t add = size * nmemb;
    if (b->max == 0)
        return add; /* discarded */
    if (b->n + add > b->max) {
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

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int fail(forge_error *err, CURLcode cc, const sink *b)
{
    if (b->over)
        return forge_error_set(err, FORGE_ETOOBIG, "response over %zu bytes", b->max);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return forge_error_set(err, FORGE_ETIMEDOUT, "%s", curl_easy_strerror(cc));
    if (cc == CURLE_OUT_OF_MEMORY)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    return forge_error_set(err, FORGE_EIO, "%s", curl_easy_strerror(cc));
}

void forge__http_global_init(void)
{
    pthread_once(&curl_once, curl_init);
}

int forge__http_fetch(const forge__http_req *rq, forge__http_res *rs, forge_error *err)
{
    memset(rs, 0, sizeof(*rs));
    forge__http_global_init();
    CURL *c = curl_easy_init();
    if (!c)
        return forge_error_set(err, FORGE_ENOMEM, "curl_easy_init failed");
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; rq->headers && rq->headers[i]; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, rq->headers[i]);
        if (!n) {
            curl_slist_free_all(hdrs);
            curl_easy_cleanup(c);
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        }
        hdrs = n;
    }
    sink b = {.max = rq->max_response};
    uint32_t connect_ms = rq->connect_timeout_ms ? rq->connect_timeout_ms : rq->timeout_ms;
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    if (rq->body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
    }
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    rs->body = b.p;
    rs->len = b.n;
    return cc == CURLE_OK ? FORGE_OK : fail(err, cc, &b);
}

char *forge__http_escape(const char *s)
{
    forge__http_global_init();
    char *e = curl_easy_escape(NULL, s, 0);
    char *out = e ? strdup(e) : NULL;
    if (e) {
        OPENSSL_cleanse(e, strlen(e));
        curl_free(e);
    }
    return out;
}

#else

void forge__http_global_init(void) {}

int forge__http_fetch(const forge__http_req *rq, forge__http_res *rs, forge_error *err)
{
    (void)rq;
    memset(rs, 0, sizeof(*rs));
    return forge_error_set(err, FORGE_ENOSYS, "Forge was built without libcurl");
}

char *forge__http_escape(const char *s)
{
    (void)s;
    return NULL;
}

#endif

void forge__http_res_free(forge__http_res *rs)
{
    if (rs->body)
        OPENSSL_cleanse(rs->body, rs->len);
    free(rs->body);
    rs->body = NULL;
    rs->len = 0;
}
