/*
 * Security response headers, set before the handler runs (so error and
 * short-circuit responses carry them too); a handler may still replace one.
 * Defaults suit a JSON API; `security.headers.<key>: false` drops one, a
 * string replaces it, and a policy's `headers` override per route or group.
 */
#include "sec_impl.h"

const char *const forge__sec_header_names[SEC_NHDRS] = {
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
    "Cross-Origin-Resource-Policy",
};

const char *const forge__sec_header_keys[SEC_NHDRS] = {
    "hsts",
    "csp",
    "content_type_options",
    "frame_options",
    "referrer_policy",
    "permissions_policy",
    "coop",
    "corp",
};

void forge__sec_headers_defaults(forge__sec_headers *h)
{
    h->value[0] = "max-age=31536000; includeSubDomains";
    h->value[1] = "default-src 'none'; frame-ancestors 'none'";
    h->value[2] = "nosniff";
    h->value[3] = "DENY";
    h->value[4] = "no-referrer";
    h->value[5] = NULL;
    h->value[6] = "same-origin";
    h->value[7] = "same-origin";
}

void forge__sec_headers_apply(forge_req *req, const forge__sec_headers *h)
{
    for (int i = 0; i < SEC_NHDRS; i++) {
        if (h->value[i])
            forge_res_set_header(req, forge__sec_header_names[i], h->value[i]);
        else
            forge_res_remove_header(req, forge__sec_header_names[i]);
    }
}
