/*
 * W3C Trace Context: traceparent parsing and formatting, ids, sampling, and
 * the span API.
 *
 * Ids come from a per-thread xoshiro256** generator seeded from getrandom
 * (again in a forked child, detected by a fork generation counter), so an
 * id costs a few nanoseconds and no system call.
 */
#include "request_impl.h"
#include "trace_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- random ids ---- */

static atomic_uint fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

static _Thread_local uint64_t rng[4];
static _Thread_local unsigned rng_gen = ~0u;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&ts;
    }
    for (int i = 0; i < 4; i++)
        rng[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
    pthread_once(&atfork_once, register_atfork);
    unsigned g = atomic_load_explicit(&fork_gen, memory_order_relaxed);
    if (g != rng_gen) {
        rng_seed();
        rng_gen = g;
    }
    uint64_t r = rotl(rng[1] * 5, 7) * 9, t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return r;
}

void forge__trace_random(uint8_t *out, size_t n)
{
    bool zero = true;
    while (zero) {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = rng_next();
            memcpy(out + i, &r, n - i < 8 ? n - i : 8);
        }
        for (size_t i = 0; i < n && zero; i++)
            zero = out[i] == 0;
    }
}

void forge__hex(const uint8_t *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- traceparent ---- */

static int lhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* uppercase is invalid in traceparent */
}

/* n bytes from 2n lowercase hex digits; false on a bad digit or all zeros when nonzero. */
static bool unhex(const char *s, uint8_t *out, size_t n, bool nonzero)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        int hi = lhex(s[2 * i]), lo = lhex(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
        any |= out[i] != 0;
    }
    return any || !nonzero;
}

int forge_traceparent_parse(const char *s, size_t n, forge_trace_ctx *out)
{
    uint8_t ver;
    if (!s || !out || n < FORGE_TRACEPARENT_LEN || !unhex(s, &ver, 1, false) || ver == 0xff)
        return FORGE_EPARSE;
    if (ver == 0 && n != FORGE_TRACEPARENT_LEN)
        return FORGE_EPARSE;
    if (n > FORGE_TRACEPARENT_LEN && s[FORGE_TRACEPARENT_LEN] != '-')
        return FORGE_EPARSE;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return FORGE_EPARSE;
    forge_trace_ctx c;
    if (!unhex(s + 3, c.trace_id, 16, true) || !unhex(s + 36, c.span_id, 8, true) ||
        !unhex(s + 53, &c.flags, 1, false))
        return FORGE_EPARSE;
    *out = c;
    return FORGE_OK;
}

int forge_traceparent_format(const forge_trace_ctx *ctx, char *buf, size_t cap)
{
    if (!ctx || !buf || cap < FORGE_TRACEPARENT_LEN + 1)
        return FORGE_ERANGE;
    memcpy(buf, "00-", 3);
    forge__hex(ctx->trace_id, 16, buf + 3);
    buf[35] = '-';
    forge__hex(ctx->span_id, 8, buf + 36);
    buf[52] = '-';
    forge__hex(&ctx->flags, 1, buf + 53);
    return FORGE_TRACEPARENT_LEN;
}

bool forge_trace_sampled_by_ratio(const uint8_t trace_id[16], double ratio)
{
    if (ratio >= 1)
        return true;
    if (!(ratio > 0))
        return false;
    uint64_t x = 0;
    for (int i = 8; i < 16; i++)
        x = x << 8 | trace_id[i];
    return (double)(x >> 11) < ratio * 9007199254740992.0; /* 2^53 */
}

/* ---- spans ---- */

void forge__span_init(struct forge__tracer *t, struct forge_span *s, const forge_trace_ctx *parent,
                      bool parent_known, const char *name, int kind)
{
    memset(s, 0, offsetof(struct forge_span, attrs));
    s->tr = t;
    s->kind = kind;
    if (parent_known) {
        memcpy(s->trace_id, parent->trace_id, 16);
        memcpy(s->parent_id, parent->span_id, 8);
        s->has_parent = true;
        s->sampled = parent->flags & 1;
    } else {
        forge__trace_random(s->trace_id, 16);
        s->sampled = forge_trace_sampled_by_ratio(s->trace_id, t->ratio);
    }
    forge__trace_random(s->span_id, 8);
    forge__hex(s->trace_id, 16, s->trace_hex);
    forge__hex(s->span_id, 8, s->span_hex);
    if (s->has_parent)
        forge__hex(s->parent_id, 8, s->parent_hex);
    s->recording = s->sampled && t->url != NULL;
    const char *nm = name ? name : "span";
    size_t nl = strnlen(nm, sizeof(s->name) - 1);
    memcpy(s->name, nm, nl); /* the rest of name is zero (memset above) */
    s->start_ns = forge__obs_now_ns();
}

static void child_of(struct forge_span *child, const struct forge_span *p, const char *name)
{
    forge_trace_ctx ctx;
    memcpy(ctx.trace_id, p->trace_id, 16);
    memcpy(ctx.span_id, p->span_id, 8);
    ctx.flags = p->sampled ? 1 : 0;
    forge__span_init(p->tr, child, &ctx, true, name, SPAN_KIND_INTERNAL);
    memcpy(child->tracestate, p->tracestate, sizeof(child->tracestate));
}

forge_span *forge_req_span(const forge_req *req)
{
    /* Made on first use; the request belongs to the calling thread (request.h). */
    return req ? forge__req_span_make((forge_req *)req) : NULL;
}

const char *forge_req_span_id(const forge_req *req)
{
    forge_span *s = forge_req_span(req);
    return s ? s->span_hex : NULL;
}

forge_span *forge_req_span_start(forge_req *req, const char *name)
{
    forge_span *p = forge_req_span(req);
    if (!p)
        return NULL;
    forge_span *s = forge_req_alloc(req, sizeof(*s));
    if (!s)
        return NULL;
    child_of(s, p, name);
    return s;
}

forge_span *forge_span_start(forge_app *app, forge_span *parent, const char *name)
{
    struct forge__tracer *t = app && app->observe ? app->observe->tracer : NULL;
    if (!t)
        return NULL;
    forge_span *s = malloc(sizeof(*s));
    if (!s)
        return NULL;
    if (parent)
        child_of(s, parent, name);
    else
        forge__span_init(t, s, NULL, false, name, SPAN_KIND_INTERNAL);
    s->owned = true;
    return s;
}

static int text_put(forge_span *s, const char *str)
{
    size_t n = strlen(str) + 1;
    if (s->text_used + n > FORGE__SPAN_TEXT)
        return -1;
    memcpy(s->text + s->text_used, str, n);
    int off = s->text_used;
    s->text_used = (uint16_t)(s->text_used + n);
    return off;
}

static void set_attr(forge_span *s, const char *key, const char *val, int64_t i, bool is_int)
{
    if (!s || !s->recording || !key)
        return;
    uint16_t used = s->text_used;
    int k = s->nattrs < FORGE__SPAN_ATTRS ? text_put(s, key) : -1;
    int v = k >= 0 && !is_int ? text_put(s, val ? val : "") : 0;
    if (k < 0 || v < 0) {
        s->text_used = used;
        s->dropped++;
        return;
    }
    s->attrs[s->nattrs++] = (forge__span_attr){(uint16_t)k, (uint16_t)v, is_int, i};
}

void forge_span_set_str(forge_span *s, const char *key, const char *value)
{
    set_attr(s, key, value, 0, false);
}

void forge_span_set_int(forge_span *s, const char *key, int64_t value)
{
    set_attr(s, key, NULL, value, true);
}

void forge_span_set_error(forge_span *s, const char *message)
{
    if (!s)
        return;
    s->error = true;
    snprintf(s->status_msg, sizeof(s->status_msg), "%s", message ? message : "");
}

void forge_span_end(forge_span *s)
{
    if (!s)
        return;
    s->end_ns = forge__obs_now_ns();
    if (s->recording)
        forge__trace_push(s->tr, s);
    if (s->owned)
        free(s);
}

bool forge_span_sampled(const forge_span *s)
{
    return s && s->sampled;
}

const char *forge_span_trace_id(const forge_span *s)
{
    return s ? s->trace_hex : NULL;
}

const char *forge_span_id(const forge_span *s)
{
    return s ? s->span_hex : NULL;
}

int forge_span_traceparent(const forge_span *s, char *buf, size_t cap)
{
    if (!s)
        return FORGE_EINVAL;
    forge_trace_ctx c;
    memcpy(c.trace_id, s->trace_id, 16);
    memcpy(c.span_id, s->span_id, 8);
    c.flags = s->sampled ? 1 : 0;
    return forge_traceparent_format(&c, buf, cap);
}

const char *forge_span_tracestate(const forge_span *s)
{
    return s ? s->tracestate : "";
}
