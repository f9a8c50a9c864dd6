/*
 * conformance: the app tests/conformance serves on every host (nginx,
 * Apache, Kore and the in-process test host). Each route exposes one piece
 * of the request view or one response shape, so the same checks can ask
 * every host the same question. Not an example of app style: an instrument.
 */
#ifndef CONFORMANCE_H
#define CONFORMANCE_H

#include <forge/forge.h>

/* The largest /c/big response, and the request body limit of /c/echo. */
#define CONF_BIG_MAX  (32u * 1024u * 1024u)
#define CONF_BODY_MAX (8u * 1024u * 1024u)

/* Registration of each file's routes and middleware; 0 or a FORGE_E* code. */
int conf_mw_register(forge_app *app, forge_error *err);
int conf_sync_register(forge_app *app, forge_error *err);
int conf_big_register(forge_app *app, forge_error *err);

/* A query parameter as a bounded decimal; `def` when absent, -1 when malformed or out of range. */
long conf_query_long(forge_req *req, const char *name, long def, long min, long max);

#endif
