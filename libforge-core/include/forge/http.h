/*
 * Forge: HTTP vocabulary shared by the router, requests and responses.
 */
#ifndef FORGE_HTTP_H
#define FORGE_HTTP_H

#include <forge/common.h>

/* Methods known to the router. Bit i of a method mask is (1u << FORGE_METHOD_x). */
typedef enum forge_method {
    FORGE_METHOD_GET = 0,
    FORGE_METHOD_HEAD,
    FORGE_METHOD_POST,
    FORGE_METHOD_PUT,
    FORGE_METHOD_DELETE,
    FORGE_METHOD_PATCH,
    FORGE_METHOD_OPTIONS,
    FORGE_METHOD_CONNECT,
    FORGE_METHOD_TRACE,
    FORGE_METHOD_COUNT,
    FORGE_METHOD_UNKNOWN = FORGE_METHOD_COUNT
} forge_method;

/* Parse a method token (case-sensitive, as HTTP says). FORGE_METHOD_UNKNOWN if not one of ours. */
FORGE_API forge_method forge_method_parse(const char *s, size_t n);

/* "GET", "HEAD", ...; "UNKNOWN" for FORGE_METHOD_UNKNOWN. */
FORGE_API const char *forge_method_name(forge_method m);

/* Reason phrase for a status code ("Not Found"); "Unknown" when none. */
FORGE_API const char *forge_status_reason(int status);

/* A header as a name/value pair. Borrowed bytes. */
typedef struct forge_header {
    forge_str name;
    forge_str value;
} forge_header;

/*
 * Percent-decoding. Decodes `n` bytes of `in` into `out` (which may equal
 * `in`), writing at most `cap` bytes (no terminator); returns the decoded
 * length or FORGE_EPARSE for a malformed escape ('%' not followed by two hex
 * digits), FORGE_EINVAL for a NUL byte, encoded or raw (so the output never
 * holds one), FORGE_ETOOBIG when `cap` is too small (malformed input is
 * reported as such whatever `cap`). `plus_is_space` decodes '+' as ' '
 * (query strings), not in paths; an encoded "%2B" is always '+'.
 */
FORGE_API long forge_pct_decode(const char *in, size_t n, char *out, size_t cap,
                                bool plus_is_space);

/*
 * Iterate over the `key=value` pairs of a raw query string (no '?'), split on
 * '&' (and ';'). Key and value are returned still encoded; decode with
 * forge_pct_decode(..., true). A pair without '=' has an empty value.
 * Returns false at the end.
 */
typedef struct forge_query_iter {
    const char *p;
    const char *end;
} forge_query_iter;

FORGE_API void forge_query_iter_init(forge_query_iter *it, const char *query, size_t len);
FORGE_API bool forge_query_next(forge_query_iter *it, forge_str *key, forge_str *value);

/* Case-insensitive ASCII comparison of two byte strings (header names). */
FORGE_API bool forge_str_ieq(forge_str a, forge_str b);
FORGE_API bool forge_str_eq(forge_str a, forge_str b);
FORGE_API forge_str forge_str_c(const char *s); /* from a C string (NULL gives {NULL,0}) */

#endif
