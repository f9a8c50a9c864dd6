/*
 * Large responses: GET /c/big?mib=N (1..32) answers N MiB whose byte i is
 * i % 251 (a period prime to every power of two, so a dropped, repeated or
 * reordered block of any aligned size changes the bytes). Whole by default,
 * with a Content-Length; ?stream=1 writes it as a stream, in 1 MiB pieces
 * each flushed.
 *
 * The pattern is built once per process (pthread_once) in a static array
 * (untouched pages cost nothing until the first /c/big) and sent without a
 * copy (forge_res_body_static): it lives as long as the app is loaded.
 */
#include "conformance.h"

#include <pthread.h>

#define MIB (1024u * 1024u)

static unsigned char pattern[CONF_BIG_MAX];
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

static void pattern_init(void)
{
    for (size_t i = 0; i < CONF_BIG_MAX; i++)
        pattern[i] = (unsigned char)(i % 251);
}

static int big(forge_req *req, void *udata)
{
    long mib = conf_query_long(req, "mib", 1, 1, CONF_BIG_MAX / MIB);
    long stream = conf_query_long(req, "stream", 0, 0, 1);
    if (mib < 0 || stream < 0)
        return forge_res_problem(req, 400, NULL, "mib must be 1 to 32 and stream 0 or 1.");
    pthread_once(&pattern_once, pattern_init);
    size_t len = (size_t)mib * MIB;
    int rc = forge_res_set_header(req, "Content-Type", "application/octet-stream");
    if (rc < 0)
        return rc;
    if (!stream) {
        forge_res_status(req, 200);
        return forge_res_body_static(req, pattern, len);
    }
    rc = forge_res_stream_begin(req);
    for (size_t off = 0; rc == FORGE_OK && off < len; off += MIB) {
        rc = forge_res_write(req, pattern + off, MIB);
        if (rc == FORGE_OK)
            rc = forge_res_flush(req);
    }
    return rc == FORGE_OK ? forge_res_end(req) : rc;
}

int conf_big_register(forge_app *app, forge_error *err)
{
    return forge_app_route(app, "GET", "/c/big", big, NULL, NULL, err);
}
