/*
 * Internal: one blocking outgoing HTTP request through libcurl, for the few
 * places the core calls out (JWKS, OAuth2, OTLP export). Callers run it on
 * the pool or the runtime thread, never on a host's request thread.
 *
 * Redirects are not followed and only http/https are allowed: a key or token
 * endpoint that redirects elsewhere is an error, not a hop.
 */
#ifndef FORGE_HTTP_CLIENT_H
#define FORGE_HTTP_CLIENT_H

#include "internal.h"

typedef struct forge__http_req {
    const char *url;
    const char *body; /* POST body, or NULL for a GET */
    size_t body_len;
    const char *const *headers;  /* NULL-terminated "Name: value" lines, may be NULL */
    uint32_t timeout_ms;         /* whole request */
    uint32_t connect_timeout_ms; /* 0: timeout_ms */
    size_t max_response;         /* bytes kept (FORGE_ETOOBIG past it); 0: body discarded */
} forge__http_req;

typedef struct forge__http_res {
    long status;
    char *body; /* malloc'd and NUL-terminated; NULL when discarded or empty */
    size_t len;
} forge__http_res;

/*
 * 0 when a response arrived, whatever its status (rs->status says). Else
 * FORGE_ETIMEDOUT, FORGE_ETOOBIG, FORGE_EIO or FORGE_ENOMEM with libcurl's
 * reason in err, or FORGE_ENOSYS in a build without libcurl. rs is filled
 * either way and must be released with forge__http_res_free.
 */
int forge__http_fetch(const forge__http_req *rq, forge__http_res *rs, forge_error *err);

/* libcurl's global set-up, once per process (also done by the first fetch). */
void forge__http_global_init(void);

/* Free the body, wiping it first (responses may carry tokens). */
void forge__http_res_free(forge__http_res *rs);

/* Form/URL encoding of `s` (RFC 3986 unreserved kept); malloc'd, NULL on OOM. */
char *forge__http_escape(const char *s);

#endif
