/*
 * Forge: the database driver ABI (for adapters/<name>/, not for apps).
 *
 * A driver is a table of functions. It reaches the core only through this
 * table and the headers' inline types: a driver plugin links its client
 * library and nothing of Forge, so one build of a plugin keeps loading into
 * any core of the same FORGE_DB_DRIVER_ABI (the model of SQLite's loadable
 * extensions, ADR 0110). A plugin forge_db_<scheme>.so exports
 *
 *     FORGE_EXPORT const forge_db_driver *forge_db_driver_entry(void);
 *
 * Threads: the core serialises calls per connection (one thread at a time),
 * except cancel, which may come from any thread while another call runs.
 * Errors: a function returns 0 or a negative FORGE_E* code and, on error,
 * fills the forge_db_derr (the server's message; never a parameter value).
 */
#ifndef FORGE_DB_DRIVER_H
#define FORGE_DB_DRIVER_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/db.h>
#include <forge/db_doc.h>

#define FORGE_DB_DRIVER_ABI 1u

typedef struct forge_db_derr {
    int code;
    char msg[512];
} forge_db_derr;

/* A parsed URL handed to connect. Fields are NUL-terminated, "" when absent; port 0 when absent. */
typedef struct forge_db_url {
    const char *scheme;
    const char *user;
    const char *password;
    const char *host;
    int port;
    const char *path;  /* after the authority, with its leading '/' ("" when none) */
    const char *query; /* raw "k=v&k2=v2" */
    const char *raw;   /* the whole URL */
} forge_db_url;

typedef struct forge_db_connect_opts {
    uint32_t connect_timeout_ms;
    uint32_t statement_timeout_ms;
} forge_db_connect_opts;

/* Driver capability flags. */
#define FORGE_DB_CAP_SQL       0x1u /* transactions and savepoints by SQL text */
#define FORGE_DB_CAP_LOCK      0x2u /* lock/unlock (a named cross-process lock) */
#define FORGE_DB_CAP_RETURNING 0x4u /* INSERT ... RETURNING */
#define FORGE_DB_CAP_DOC       0x8u /* a document database: `doc` is set (forge/db_doc.h) */

/*
 * The document operations of a document database (ADR 0114). Values are
 * Jansson's (the driver links libjansson, as the core does); the core has
 * checked every argument (collection names, refused operators, options)
 * before a call. Ids, upserted ids and cursor documents are handed over as
 * new references. Cursors belong to their connection's thread.
 */
typedef struct forge_db_doc_ops {
    uint32_t size; /* sizeof(forge_db_doc_ops) */
    /* Insert in order; `ids` (an array) gets each stored _id; *done counts the inserted. */
    int (*insert)(void *conn, const char *coll, const json_t *const *docs, size_t n, json_t *ids,
                  size_t *done, forge_db_derr *e);
    int (*update)(void *conn, const char *coll, const json_t *filter, const json_t *update,
                  bool many, bool upsert, forge_db_update_result *res, forge_db_derr *e);
    int (*remove)(void *conn, const char *coll, const json_t *filter, bool many, int64_t *deleted,
                  forge_db_derr *e);
    int (*count)(void *conn, const char *coll, const json_t *filter, int64_t *n, forge_db_derr *e);
    int (*find)(void *conn, const char *coll, const json_t *filter, const forge_db_find_opts *o,
                void **cursor, forge_db_derr *e);
    int (*aggregate)(void *conn, const char *coll, const json_t *pipeline, uint32_t batch_size,
                     void **cursor, forge_db_derr *e);
    /* 1 with *doc (a new reference), 0 at the end, negative on error. */
    int (*cursor_next)(void *cursor, json_t **doc, forge_db_derr *e);
    void (*cursor_close)(void *cursor);
    int (*create_index)(void *conn, const char *coll, const json_t *keys, const char *name,
                        bool unique, forge_db_derr *e);
    void *reserved[8];
} forge_db_doc_ops;

typedef struct forge_db_driver {
    uint32_t abi;  /* FORGE_DB_DRIVER_ABI */
    uint32_t size; /* sizeof(forge_db_driver) */
    const char *name;
    const char *const *schemes; /* NULL-terminated: "postgres", "postgresql" */
    unsigned caps;

    int (*connect)(const forge_db_url *url, const forge_db_connect_opts *o, void **conn,
                   forge_db_derr *e);
    void (*close)(void *conn);
    /* A cheap round trip; FORGE_EIO when the connection is dead. */
    int (*ping)(void *conn, forge_db_derr *e);
    /* A broken connection is not returned to the pool. */
    bool (*broken)(void *conn);

    /* Compile `sql` (with `?` placeholders) into a reusable statement. */
    int (*prepare)(void *conn, const char *sql, void **stmt, forge_db_derr *e);
    void (*finalize)(void *stmt);
    /*
     * Bind and run. After 0 the statement is positioned before its first
     * row. Values are borrowed for the call (drivers that need them later
     * copy them).
     */
    int (*execute)(void *stmt, const forge_db_value *params, size_t n, forge_db_derr *e);
    /* 1 row, 0 done, negative error. */
    int (*next)(void *stmt, forge_db_derr *e);
    size_t (*ncols)(void *stmt);
    const char *(*col_name)(void *stmt, size_t col);
    /* The current row's column; bytes valid until next/reset. */
    void (*get)(void *stmt, size_t col, forge_db_value *out);
    int64_t (*changes)(void *stmt);
    /* Release the result; the statement may be executed again. */
    void (*reset)(void *stmt);

    int64_t (*last_insert_id)(void *conn);
    int (*exec_script)(void *conn, const char *sql, forge_db_derr *e);
    int (*set_timeout)(void *conn, uint32_t ms, forge_db_derr *e);
    /* Any thread. 0 or FORGE_ENOSYS. */
    int (*cancel)(void *conn);

    /* FORGE_DB_CAP_LOCK: a named lock held by the connection until unlock. */
    int (*lock)(void *conn, const char *name, uint32_t timeout_ms, forge_db_derr *e);
    int (*unlock)(void *conn, const char *name, forge_db_derr *e);
    /* SQL that opens a transaction exclusive enough for migrations ("BEGIN EXCLUSIVE"). */
    const char *begin_exclusive_sql;

    /* FORGE_DB_CAP_DOC: document operations (NULL otherwise; was a reserved slot). */
    const forge_db_doc_ops *doc;
    void *reserved[7];
} forge_db_driver;

/*
 * Register a driver linked into the process (the table must outlive every
 * pool). FORGE_EABI for a table of another ABI, FORGE_EEXIST when a scheme
 * is taken by another driver. Any thread.
 */
FORGE_API int forge_db_register_driver(const forge_db_driver *drv, forge_error *err);

/* Load a driver plugin by path and register it. */
FORGE_API int forge_db_load_driver(const char *path, forge_error *err);

/* Fill a derr (for drivers; static inline so plugins need no core symbol). */
#include <stdarg.h>
#include <stdio.h>
static inline int forge_db_derr_set(forge_db_derr *e, int code, const char *fmt, ...)
    FORGE_PRINTF(3, 4);
static inline int forge_db_derr_set(forge_db_derr *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

#endif
