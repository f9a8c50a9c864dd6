/*
 * HTTP vocabulary: method names, reason phrases, percent-decoding, query
 * string iteration and byte-string comparison.
 *
 * Everything here is pure (no state, no allocation) and thread-safe.
 */
#include "internal.h"

#include <string.h>

static const char *const method_names[FORGE_METHOD_COUNT + 1] = {
    [FORGE_METHOD_GET] = "GET",         [FORGE_METHOD_HEAD] = "HEAD",
    [FORGE_METHOD_POST] = "POST",       [FORGE_METHOD_PUT] = "PUT",
    [FORGE_METHOD_DELETE] = "DELETE",   [FORGE_METHOD_PATCH] = "PATCH",
    [FORGE_METHOD_OPTIONS] = "OPTIONS", [FORGE_METHOD_CONNECT] = "CONNECT",
    [FORGE_METHOD_TRACE] = "TRACE",     [FORGE_METHOD_UNKNOWN] = "UNKNOWN",
};

forge_method forge_method_parse(const char *s, size_t n)
{
    if (!s)
        return FORGE_METHOD_UNKNOWN;
    for (int m = 0; m < FORGE_METHOD_COUNT; m++) {
        const char *name = method_names[m];
        if (strlen(name) == n && memcmp(name, s, n) == 0)
            return (forge_method)m;
    }
    return FORGE_METHOD_UNKNOWN;
}

const char *forge_method_name(forge_method m)
{
    if ((unsigned)m > FORGE_METHOD_COUNT)
        return method_names[FORGE_METHOD_UNKNOWN];
    return method_names[m];
}

static const char *const reasons[] = {
    [100 - 100] = "Continue",
    [101 - 100] = "Switching Protocols",
    [200 - 100] = "OK",
    [201 - 100] = "Created",
    [202 - 100] = "Accepted",
    [203 - 100] = "Non-Authoritative Information",
    [204 - 100] = "No Content",
    [205 - 100] = "Reset Content",
    [206 - 100] = "Partial Content",
    [300 - 100] = "Multiple Choices",
    [301 - 100] = "Moved Permanently",
    [302 - 100] = "Found",
    [303 - 100] = "See Other",
    [304 - 100] = "Not Modified",
    [307 - 100] = "Temporary Redirect",
    [308 - 100] = "Permanent Redirect",
    [400 - 100] = "Bad Request",
    [401 - 100] = "Unauthorized",
    [402 - 100] = "Payment Required",
    [403 - 100] = "Forbidden",
    [404 - 100] = "Not Found",
    [405 - 100] = "Method Not Allowed",
    [406 - 100] = "Not Acceptable",
    [407 - 100] = "Proxy Authentication Required",
    [408 - 100] = "Request Timeout",
    [409 - 100] = "Conflict",
    [410 - 100] = "Gone",
    [411 - 100] = "Length Required",
    [412 - 100] = "Precondition Failed",
    [413 - 100] = "Content Too Large",
    [414 - 100] = "URI Too Long",
    [415 - 100] = "Unsupported Media Type",
    [416 - 100] = "Range Not Satisfiable",
    [417 - 100] = "Expectation Failed",
    [421 - 100] = "Misdirected Request",
    [422 - 100] = "Unprocessable Content",
    [425 - 100] = "Too Early",
    [426 - 100] = "Upgrade Required",
    [428 - 100] = "Precondition Required",
    [429 - 100] = "Too Many Requests",
    [431 - 100] = "Request Header Fields Too Large",
    [451 - 100] = "Unavailable For Legal Reasons",
    [500 - 100] = "Internal Server Error",
    [501 - 100] = "Not Implemented",
    [502 - 100] = "Bad Gateway",
    [503 - 100] = "Service Unavailable",
    [504 - 100] = "Gateway Timeout",
    [505 - 100] = "HTTP Version Not Supported",
    [507 - 100] = "Insufficient Storage",
    [511 - 100] = "Network Authentication Required",
};

const char *forge_status_reason(int status)
{
    if (status < 100 || status - 100 >= (int)(sizeof(reasons) / sizeof(reasons[0])) ||
        !reasons[status - 100])
        return "Unknown";
    return reasons[status - 100];
}

/* Value of a hex digit, or -1. */
static inline int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* fold to lower case; non-letters stay outside 'a'..'f' */
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Decoding never grows the text, so out == in is safe: the write position
 * never passes the read position. The error checks come before the capacity
 * check so that a malformed input is reported as such whatever `cap` is.
 */
long forge_pct_decode(const char *in, size_t n, char *out, size_t cap, bool plus_is_space)
{
    size_t o = 0;
    bool toobig = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            if (n - i < 3)
                return FORGE_EPARSE;
            int hi = hexval((unsigned char)in[i + 1]);
            int lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0)
                return FORGE_EPARSE;
            c = (unsigned char)(hi << 4 | lo);
            if (c == 0)
                return FORGE_EINVAL;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == 0) {
            return FORGE_EINVAL;
        }
        if (o < cap)
            out[o] = (char)c;
        else
            toobig = true;
        o++;
    }
    if (toobig)
        return FORGE_ETOOBIG;
    return (long)o;
}

void forge_query_iter_init(forge_query_iter *it, const char *query, size_t len)
{
    it->p = query;
    it->end = query ? query + len : query;
}

/*
 * Empty pairs ("a=1&&b=2", a leading or trailing '&') are skipped. The first
 * '=' separates key and value; later ones belong to the value.
 */
bool forge_query_next(forge_query_iter *it, forge_str *key, forge_str *value)
{
    const char *p = it->p, *end = it->end;
    while (p && p < end) {
        const char *s = p;
        while (p < end && *p != '&' && *p != ';')
            p++;
        const char *e = p;
        if (p < end)
            p++; /* past the separator */
        if (s == e)
            continue;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (eq) {
            *key = (forge_str){s, (size_t)(eq - s)};
            *value = (forge_str){eq + 1, (size_t)(e - eq - 1)};
        } else {
            *key = (forge_str){s, (size_t)(e - s)};
            *value = (forge_str){e, 0};
        }
        it->p = p;
        return true;
    }
    it->p = end;
    return false;
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

bool forge_str_ieq(forge_str a, forge_str b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++)
        if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
            return false;
    return true;
}

bool forge_str_eq(forge_str a, forge_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

forge_str forge_str_c(const char *s)
{
    if (!s)
        return FORGE_STR_NULL;
    return (forge_str){s, strlen(s)};
}
