/*
 * Internal to the configuration area.
 *
 * A configuration is a Jansson tree (objects, arrays, scalars) plus two side
 * tables keyed by key path ("http.max_body_size", "cors.origins[1]"):
 *   meta:     path -> {"src": "app.yaml:12" | "env FORGE_X" | "default",
 *                      "secret": true}           (where a value came from)
 *   declared: path -> 0 (a key), 1 (a section), 2 (an open subtree)
 * Loading a document parses it into a fresh tree and meta ("a doc"), resolves
 * secret references in it, then merges it over the configuration: maps merge
 * key by key, everything else replaces (meta of the replaced subtree goes).
 */
#ifndef FORGE_CONFIG_INTERNAL_H
#define FORGE_CONFIG_INTERNAL_H

#include "internal.h"

#include <jansson.h>

#define FORGE__CFG_PATH_MAX   512
#define FORGE__CFG_DEPTH_MAX  64
#define FORGE__CFG_FILE_MAX   (16u << 20) /* bytes of one config file */
#define FORGE__CFG_SECRET_MAX (64u << 10) /* bytes of one ${file:...} secret */

/* declared: kind in the low bits, FORGE__DECL_SECRET or'ed in. */
enum { FORGE__DECL_KEY = 0, FORGE__DECL_SECTION = 1, FORGE__DECL_OPEN = 2, FORGE__DECL_SECRET = 4 };

struct forge_config {
    json_t *root;     /* always an object */
    json_t *meta;     /* path -> {"src": string, "secret": true} */
    json_t *declared; /* path -> integer FORGE__DECL_* */
};

/* A parsed document before it is merged. */
typedef struct forge__cfgdoc {
    json_t *root; /* an object, or NULL for an empty document */
    json_t *meta;
    const char *src; /* file name for messages ("<string>" for strings) */
} forge__cfgdoc;

/* Parsers: fill doc (root and meta) or return FORGE_EPARSE with line:column. */
int forge__cfg_parse_yaml(forge__cfgdoc *doc, const char *text, size_t len, forge_error *err);
int forge__cfg_parse_json(forge__cfgdoc *doc, const char *text, size_t len, forge_error *err);

/* A growable string; p is malloc'd (free it), NUL-terminated when n > 0. */
typedef struct forge__cfgbuf {
    char *p;
    size_t n, cap;
} forge__cfgbuf;
int forge__cfgbuf_put(forge__cfgbuf *b, const char *s, size_t n, forge_error *err);

/* Read a whole file of at most max bytes; *out malloc'd and NUL-terminated (config.c). */
int forge__cfg_read_file(const char *path, size_t max, bool regular_only, char **out, size_t *len,
                         forge_error *err);

/* Check a key is addressable by a path: not empty, no '.', '[' or ']', no control bytes. */
bool forge__cfg_key_ok(const char *k, size_t n);

/* Record where the value at path came from ("file:line"). */
void forge__cfg_meta_src(json_t *meta, const char *path, const char *fmt, ...) FORGE_PRINTF(3, 4);
/* The recorded source of path (or of its nearest ancestor), NULL when unknown. */
const char *forge__cfg_src(const forge_config *cfg, const char *path);
/* Secret marks: a path is secret when it or an ancestor is marked. */
void forge__cfg_mark_secret(json_t *meta, const char *path);
bool forge__cfg_is_secret(const forge_config *cfg, const char *path);

/* Resolve ${env:NAME} / ${file:PATH} references in the doc, marking those values secret. */
int forge__cfg_resolve_secrets(forge__cfgdoc *doc, forge_error *err);
/* Resolve references in one string; *secret tells whether any was found. New reference. */
json_t *forge__cfg_resolve_string(const char *s, const char *path, const char *src, bool *secret,
                                  forge_error *err);

/* Merge a doc over cfg (consumes doc). */
void forge__cfg_merge(forge_config *cfg, forge__cfgdoc *doc);

/* The node at a dotted path ("a.b", "a.list[2]"), NULL when absent. JSON null counts as absent. */
json_t *forge__cfg_lookup(const forge_config *cfg, const char *path);

/* Set the value at path, creating parent maps, replacing what is there; steals value. */
int forge__cfg_set(forge_config *cfg, const char *path, json_t *value, forge_error *err);

/* "a map", "a list", "a string", "an integer", "a float", "a boolean", "null". */
const char *forge__cfg_type_name(const json_t *v);

/*
 * Conversions shared by getters and the binder. On failure they return
 * FORGE_ETYPE or FORGE_ERANGE and set err with the key path, what was
 * expected, what was found (the text only when the value is not secret) and
 * where it came from.
 */
int forge__cfg_to_int(const forge_config *cfg, const char *path, const json_t *v, int64_t *out,
                      forge_error *err);
int forge__cfg_to_uint(const forge_config *cfg, const char *path, const json_t *v, uint64_t *out,
                       forge_error *err);
int forge__cfg_to_double(const forge_config *cfg, const char *path, const json_t *v, double *out,
                         forge_error *err);
int forge__cfg_to_bool(const forge_config *cfg, const char *path, const json_t *v, bool *out,
                       forge_error *err);
int forge__cfg_to_string(const forge_config *cfg, const char *path, const json_t *v,
                         const char **out, forge_error *err);
int forge__cfg_to_size(const forge_config *cfg, const char *path, const json_t *v, uint64_t *out,
                       forge_error *err);
int forge__cfg_to_duration(const forge_config *cfg, const char *path, const json_t *v,
                           uint64_t *out, forge_error *err);

/* Text parsers (sizes "64k", durations "1m30s", ints, bools); 0 or FORGE_EINVAL/ERANGE. */
int forge__cfg_parse_size(const char *s, uint64_t *out);
int forge__cfg_parse_duration_ms(const char *s, uint64_t *out);
int forge__cfg_parse_int(const char *s, int64_t *out);
int forge__cfg_parse_bool(const char *s, bool *out);

/* Set err for a value of the wrong kind: "path: expected X, got Y (src)". */
int forge__cfg_type_error(const forge_config *cfg, const char *path, const json_t *v, int code,
                          const char *expected, forge_error *err);

/* The environment variable overriding path, if any is set (explicit name first). */
const char *forge__cfg_env_for(const char *path, const char *explicit_env, char *name,
                               size_t name_size);

/* FORGE_ + path upper-cased with '.' as sep and '-' as '_'; false if it does not fit. */
bool forge__cfg_env_name(const char *path, const char *sep, char *name, size_t size);

/* Set path to an environment value (secret references resolved), recording its source. */
int forge__cfg_set_from_env(forge_config *cfg, const char *path, const char *name,
                            const char *value, bool secret, forge_error *err);

#endif
