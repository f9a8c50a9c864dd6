/*
 * Request records: allocation, recycling through the host's free list,
 * reference counting, and the host's setters.
 *
 * References: the host holds one from forge_req_new to forge_req_release;
 * dispatch takes a second ("work") reference that is dropped when the
 * response is complete (after-middleware done). Whoever drops the last one
 * recycles the record, so a client that goes away while a pool thread still
 * runs the handler never frees memory that thread uses.
 */
#include "request_impl.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REQ_ARENA_BLOCK 8192
#define FREE_LIST_MAX   1024

forge_req *forge__req_alloc(forge_host *host)
{
    forge_req *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    req->arena = forge_arena_new(REQ_ARENA_BLOCK);
    if (!req->arena || pthread_mutex_init(&req->mu, NULL) != 0) {
        forge_arena_free(req->arena);
        free(req);
        return NULL;
    }
    req->host = host;
    req->headers = req->inline_headers;
    req->cap_headers = FORGE__REQ_INLINE_HEADERS;
    req->res_headers = req->inline_res_headers;
    req->cap_res_headers = FORGE__RES_INLINE_HEADERS;
    req->chunks_tail = &req->chunks;
    return req;
}

static void free_chunks(forge_req *req)
{
    forge__chunk *c = req->chunks;
    while (c) {
        forge__chunk *next = c->next;
        free(c);
        c = next;
    }
    req->chunks = NULL;
    req->chunks_tail = &req->chunks;
}

/* Release what the request holds outside its arena, then empty the arena. */
void forge__req_reset(forge_req *req)
{
    for (forge__value *v = req->values; v; v = v->next)
        if (v->free_fn)
            v->free_fn(v->value);
    req->values = NULL;
    if (req->json) {
        json_decref(req->json);
        req->json = NULL;
    }
    free_chunks(req);
    forge_arena_reset(req->arena);

    req->hreq = NULL;
    req->method_str = FORGE_STR_NULL;
    req->method = FORGE_METHOD_UNKNOWN;
    req->raw_path = FORGE_STR_NULL;
    req->query = FORGE_STR_NULL;
    req->headers = req->inline_headers;
    req->cap_headers = FORGE__REQ_INLINE_HEADERS;
    req->nheaders = 0;
    req->hdr_content_length = 0;
    req->hdr_request_id = 0;
    req->peer = FORGE_STR_NULL;
    req->peer_port = 0;
    req->peer_lazy = false;
    req->scheme = FORGE_STR_NULL;
    req->body = FORGE_STR_NULL;
    req->body_len_claimed = 0;
    req->body_owned = false;
    req->oom = false;
    req->bad_field = false;
    req->path_state = 0;
    req->path = FORGE_STR_NULL;
    req->query_state = 0;
    req->qpairs = NULL;
    req->nqpairs = 0;
    req->routed = false;
    req->route_rc = 0;
    req->route = NULL;
    req->match.nparams = 0;
    req->match.value = NULL;
    req->match.pattern = NULL;
    req->id[0] = '\0';
    req->trace_id = NULL;
    req->tracer = NULL;
    req->span = NULL;
    req->trace_id_lazy = false;
    req->chain = NULL;
    req->mw_ran = 0;
    req->handler_rc = 0;
    req->status = 200;
    req->res_headers = req->inline_res_headers;
    req->cap_res_headers = FORGE__RES_INLINE_HEADERS;
    req->nres_headers = 0;
    req->res_body = NULL;
    req->res_body_len = 0;
    req->res_body_cap = 0;
    req->bytes_sent = 0;
    req->phase = FORGE__NEW;
    req->finish_requested = false;
    req->streaming = false;
    req->stream_ended = false;
    req->head_committed = false;
    req->head_sent = false;
    req->wake_pending = false;
    req->host_gone = false;
    req->head_only = false;
    req->inline_run = false;
    req->flush_pending = false;
    atomic_store_explicit(&req->shared, false, memory_order_relaxed);
}

void forge__req_destroy(forge_req *req)
{
    if (!req)
        return;
    forge__req_reset(req);
    forge_arena_free(req->arena);
    pthread_mutex_destroy(&req->mu);
    free(req);
}

forge_req *forge_req_new(forge_host *host, void *hreq)
{
    if (!host || !host->app)
        return NULL;
    forge_req *req = NULL;
    forge__host_free_lock(&host->free_busy);
    if (host->free_list) {
        req = host->free_list;
        host->free_list = req->next_free;
        host->nfree--;
    }
    forge__host_free_unlock(&host->free_busy);
    if (!req) {
        req = forge__req_alloc(host);
        if (!req)
            return NULL;
        forge__req_reset(req);
    }
    req->next_free = NULL;
    req->app = host->app;
    req->hreq = hreq;
    atomic_store_explicit(&req->refs, 1, memory_order_relaxed);
    atomic_store_explicit(&req->released, false, memory_order_relaxed);
    atomic_fetch_add_explicit(&host->live, 1, memory_order_relaxed);
    return req;
}

static void recycle(forge_req *req)
{
    forge_host *host = req->host;
    forge__req_reset(req);
    atomic_fetch_sub_explicit(&host->live, 1, memory_order_relaxed);
    forge__host_free_lock(&host->free_busy);
    if (host->nfree < FREE_LIST_MAX) {
        req->next_free = host->free_list;
        host->free_list = req;
        host->nfree++;
        req = NULL;
    }
    forge__host_free_unlock(&host->free_busy);
    if (req)
        forge__req_destroy(req);
}

void forge__req_unref(forge_req *req)
{
    if (atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) == 1)
        recycle(req);
}

void forge_req_release(forge_req *req)
{
    if (!req)
        return;
    /* Under mu so that a thread completing the request either sees `released`
     * and leaves the host alone, or calls wake before the host lets go. */
    bool locked = forge__req_lock(req);
    atomic_store_explicit(&req->released, true, memory_order_release);
    req->hreq = NULL;
    forge__req_unlock(req, locked);
    forge__req_unref(req);
}

/* ---- setters (host thread, before dispatch) ---- */

/*
 * The request line, headers, peer and scheme are copied into the arena as
 * they are set: a handler still running on the pool or after FORGE_ASYNC
 * when the client goes away (and the host frees its memory) keeps reading
 * valid bytes. On OOM the request is marked and dispatch answers 500.
 */
static forge_str keep(forge_req *req, const char *p, size_t n)
{
    if (!p || n == 0)
        return (forge_str){"", 0};
    char *c = forge_arena_alloc(req->arena, n + 1);
    if (!c) {
        req->oom = true;
        return (forge_str){"", 0};
    }
    memcpy(c, p, n);
    c[n] = '\0';
    return (forge_str){c, n};
}

void forge_req_set_method(forge_req *req, const char *p, size_t n)
{
    req->method = forge_method_parse(p, p ? n : 0);
    /* A known method's name is a static string with the same bytes: no copy. */
    req->method_str = req->method != FORGE_METHOD_UNKNOWN
                          ? (forge_str){forge_method_name(req->method), n}
                          : keep(req, p, n);
}

void forge_req_set_method_id(forge_req *req, forge_method m)
{
    if ((unsigned)m >= FORGE_METHOD_COUNT) {
        req->method = FORGE_METHOD_UNKNOWN;
        req->method_str = FORGE_STR("UNKNOWN");
        return;
    }
    req->method = m;
    const char *name = forge_method_name(m);
    req->method_str = (forge_str){name, strlen(name)};
}

void forge_req_set_target(forge_req *req, const char *path, size_t path_len, const char *query,
                          size_t query_len)
{
    req->raw_path = keep(req, path, path_len);
    req->query = keep(req, query, query ? query_len : 0);
    req->routed = false;
    req->path_state = 0;
    req->query_state = 0;
}

/*
 * Does a field value hold a control byte: below 0x20 but HTAB, or DEL (RFC
 * 9110 5.5)? Eight bytes at a time ("some byte < 0x20" and "some byte ==
 * 0x7f" are exact as yes/no answers of the word test), the last word read
 * overlapping the one before, a short value padded with 'a'; only a word
 * that says yes (a control byte or a tab) is looked at byte by byte.
 */
static bool byte_is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static inline bool word_maybe_ctl(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t del = x ^ (ones * 0x7f);
    return ((((x - ones * 0x20) & ~x) | ((del - ones) & ~del)) & highs) != 0;
}

static bool bytes_ctl(const char *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (byte_is_ctl((unsigned char)p[k]))
            return true;
    return false;
}

static bool has_ctl(const char *p, size_t n)
{
    uint64_t x;
    if (n < 8) {
        x = 0x6161616161616161ull;
        memcpy(&x, p, n);
        return word_maybe_ctl(x) && bytes_ctl(p, n);
    }
    for (size_t i = 0;; i += 8) {
        if (i > n - 8)
            i = n - 8; /* the last word, overlapping */
        memcpy(&x, p + i, 8);
        if (word_maybe_ctl(x) && bytes_ctl(p + i, 8))
            return true;
        if (i == n - 8)
            return false;
    }
}

int forge_req_add_header(forge_req *req, const char *name, size_t name_len, const char *value,
                         size_t value_len)
{
    if (req->nheaders == req->cap_headers) {
        size_t cap = req->cap_headers * 2;
        forge_header *h = forge_arena_alloc(req->arena, cap * sizeof(*h));
        if (!h) {
            req->oom = true;
            return FORGE_ENOMEM;
        }
        memcpy(h, req->headers, req->nheaders * sizeof(*h));
        req->headers = h;
        req->cap_headers = cap;
    }
    /* Name and value in one arena block: "name\0value\0". */
    if (!name)
        name_len = 0;
    if (!value)
        value_len = 0;
    char *c = forge_arena_alloc(req->arena, name_len + value_len + 2);
    if (!c) {
        req->oom = true;
        return FORGE_ENOMEM;
    }
    if (name_len)
        memcpy(c, name, name_len);
    c[name_len] = '\0';
    char *v = c + name_len + 1;
    if (value_len) {
        memcpy(v, value, value_len);
        if (!(req->host->ops.flags & FORGE_HOST_FIELDS_CHECKED) && has_ctl(v, value_len))
            req->bad_field = true; /* kept, so the app's logs can see it; dispatch answers 400 */
    }
    v[value_len] = '\0';
    req->headers[req->nheaders++] = (forge_header){{c, name_len}, {v, value_len}};
    if (name_len == 14 && !req->hdr_content_length && strcasecmp(c, "content-length") == 0)
        req->hdr_content_length = (uint32_t)req->nheaders;
    else if (name_len == 12 && !req->hdr_request_id && strcasecmp(c, "x-request-id") == 0)
        req->hdr_request_id = (uint32_t)req->nheaders;
    return FORGE_OK;
}

void forge_req_set_peer(forge_req *req, const char *addr, size_t n, int port)
{
    req->peer = keep(req, addr, n);
    req->peer_port = port;
    req->peer_lazy = false;
}

void forge_req_set_peer_addr(forge_req *req, const struct sockaddr *sa)
{
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        memcpy(&req->peer_sa.in4, sa, sizeof(req->peer_sa.in4));
        req->peer_port = ntohs(req->peer_sa.in4.sin_port);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(&req->peer_sa.in6, sa, sizeof(req->peer_sa.in6));
        req->peer_port = ntohs(req->peer_sa.in6.sin6_port);
    } else {
        return;
    }
    req->peer = FORGE_STR_NULL;
    req->peer_lazy = true;
}

/* Dotted quad of an IPv4 address into buf (16 bytes); returns its length. */
static size_t ipv4_text(char *buf, const struct in_addr *in)
{
    const unsigned char *b = (const unsigned char *)&in->s_addr;
    char *p = buf;
    for (int i = 0; i < 4; i++) {
        if (i > 0)
            *p++ = '.';
        if (b[i] >= 100)
            *p++ = (char)('0' + b[i] / 100);
        if (b[i] >= 10)
            *p++ = (char)('0' + b[i] / 10 % 10);
        *p++ = (char)('0' + b[i] % 10);
    }
    *p = '\0';
    return (size_t)(p - buf);
}

void forge__req_format_peer(forge_req *req)
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = 0;
    req->peer_lazy = false;
    if (req->peer_sa.sa.sa_family == AF_INET) {
        n = ipv4_text(buf, &req->peer_sa.in4.sin_addr);
    } else {
        buf[0] = '[';
        if (!inet_ntop(AF_INET6, &req->peer_sa.in6.sin6_addr, buf + 1, sizeof(buf) - 2))
            return;
        n = strlen(buf);
        buf[n++] = ']';
        buf[n] = '\0';
    }
    req->peer = keep(req, buf, n);
}

void forge_req_set_scheme(forge_req *req, const char *p, size_t n)
{
    if (p && n == 4 && memcmp(p, "http", 4) == 0)
        req->scheme = FORGE_STR("http");
    else if (p && n == 5 && memcmp(p, "https", 5) == 0)
        req->scheme = FORGE_STR("https");
    else
        req->scheme = keep(req, p, n);
}

void forge_req_set_body(forge_req *req, const void *p, size_t n)
{
    req->body_len_claimed = n;
    req->body = p ? (forge_str){p, n} : FORGE_STR_NULL;
}
