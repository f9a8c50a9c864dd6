/*
 * The request id middleware and the id generator.
 *
 * Ids are 28 hex digits: 48 random bits drawn once per process (again in a
 * forked child) followed by a 64-bit per-process counter. Unique across the
 * workers of a machine and across restarts with overwhelming probability,
 * and one atomic increment per request: no syscall on the hot path.
 *
 * An incoming X-Request-ID is kept when it is 1..128 bytes of
 * [A-Za-z0-9._:+=/@-]; anything else is replaced, so a client cannot inject
 * control characters or log-breaking text into our logs and headers.
 */
#include "request_impl.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static char id_prefix[12];  /* the random bits as hex, formatted once */
static char hex_pairs[512]; /* "000102...ff": two digits per byte */
static atomic_uint_fast64_t id_counter;
static pthread_once_t id_once = PTHREAD_ONCE_INIT;

static void seed_prefix(void)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32 ^
            (uint64_t)ts.tv_sec;
    }
    for (int i = 11; i >= 0; i--, r >>= 4)
        id_prefix[i] = hex[r & 0xf];
    atomic_store(&id_counter, 0);
}

static void id_init(void)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 256; i++) {
        hex_pairs[2 * i] = hex[i >> 4];
        hex_pairs[2 * i + 1] = hex[i & 0xf];
    }
    seed_prefix();
    pthread_atfork(NULL, NULL, seed_prefix);
}

/* v as 8 lowercase hex digits, most significant first (no NUL). */
static inline void hex8(char *out, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* One nibble per byte, then '0'-'9' or 'a'-'f' in all eight bytes at once. */
    uint64_t x = v;
    x = (x | x << 16) & 0x0000FFFF0000FFFFull;
    x = (x | x << 8) & 0x00FF00FF00FF00FFull;
    x = (x | x << 4) & 0x0F0F0F0F0F0F0F0Full;
    uint64_t letters = ((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
    x += 0x3030303030303030ull + letters * ('a' - '0' - 10);
    x = __builtin_bswap64(x);
    memcpy(out, &x, 8);
#else
    for (int i = 6; i >= 0; i -= 2, v >>= 8)
        memcpy(out + i, hex_pairs + 2 * (v & 0xff), 2);
#endif
}

size_t forge__req_id_generate(char *buf)
{
    pthread_once(&id_once, id_init);
    uint64_t c = atomic_fetch_add_explicit(&id_counter, 1, memory_order_relaxed);
    memcpy(buf, id_prefix, 12);
    hex8(buf + 12, (uint32_t)(c >> 32));
    hex8(buf + 20, (uint32_t)c);
    buf[28] = '\0';
    return 28;
}

static bool valid_incoming(forge_str v)
{
    if (v.n == 0 || v.n > FORGE__REQ_ID_MAX)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '=' ||
                  c == '/' || c == '@';
        if (!ok)
            return false;
    }
    return true;
}

static int reqid_before(forge_req *req, void *udata)
{
    forge_str in =
        req->hdr_request_id ? req->headers[req->hdr_request_id - 1].value : FORGE_STR_NULL;
    size_t n;
    if (in.p && valid_incoming(in)) {
        memcpy(req->id, in.p, in.n);
        req->id[in.n] = '\0';
        n = in.n;
    } else {
        n = req->id[0] ? strlen(req->id) : forge__req_id_generate(req->id);
    }
    /* Set in before so streamed responses (whose head leaves early) carry it too. The value
     * is the request's own id buffer (valid, fixed for the request): no copy. */
    int rc =
        forge__res_set_header_borrowed(req, FORGE_STR("X-Request-ID"), (forge_str){req->id, n});
    return rc < 0 ? rc : FORGE_NEXT;
}

static const forge_middleware reqid_mw = {
    .name = "forge.request_id",
    .priority = FORGE_MW_PRIO_REQUEST_ID,
    .before = reqid_before,
};

const forge_middleware *forge_mw_request_id(void)
{
    return &reqid_mw;
}
