/*
 * Forge: document databases (MongoDB), beside the SQL-shaped forge/db.h.
 *
 * A document database is opened, pooled, health-checked and configured
 * exactly like the others (forge_db_open("mongodb://127.0.0.1:27017/app"),
 * db.<name>.url, forge_db_acquire/release, forge_db_health); what differs is
 * how a borrowed connection is used. Documents, filters, projections, sorts,
 * updates and pipelines are Jansson values, converted to BSON field by field
 * (never text spliced into a query):
 *
 *     forge_db_conn *c;
 *     if (forge_db_acquire(db, 0, &c, err) < 0) return ...;
 *     json_t *id = NULL;
 *     json_t *note = json_pack("{s:s, s:i}", "title", title, "stars", 3);
 *     int rc = forge_db_doc_insert_one(c, "notes", note, &id, err);
 *     json_t *filter = json_pack("{s:{s:i}}", "stars", "$gte", 3);
 *     forge_db_find_opts o = {.sort = sort_by_title, .limit = 20};
 *     forge_db_cursor *cur;
 *     rc = forge_db_doc_find(c, "notes", filter, &o, &cur, err);
 *     const json_t *doc;
 *     while (rc == 0 && (rc = forge_db_cursor_next(cur, &doc, err)) == 1)
 *         ...doc is borrowed until the next call...
 *     forge_db_cursor_close(cur);
 *     forge_db_release(c);
 *
 * Types. JSON integers become int32 (when they fit) or int64, reals double,
 * strings UTF-8, arrays and objects BSON arrays and documents. Two one-key
 * objects are type wrappers, accepted anywhere and given back by reads:
 * {"$oid": "<24 hex digits>"} (an ObjectId) and {"$date": <ms since the
 * epoch, integer>} (a UTC datetime). Other BSON types read from the server
 * come back in MongoDB's canonical extended JSON ({"$binary": ...},
 * {"$numberDecimal": "..."}, {"$numberDouble": "NaN"}...).
 *
 * Operators are refused where they cannot be (FORGE_EINVAL, naming the
 * path): a key starting with '$' (other than a type wrapper), containing
 * '.', or empty, in an inserted document or in the values of $set and
 * $setOnInsert; an update document whose top-level keys are not all
 * operators; server-side JavaScript ($where, $function, $accumulator) in
 * filters and pipelines. Filters are the app's own documents: a value that
 * came from a client belongs in a value position, or, when it may be an
 * object, inside forge_db_doc_eq(), which matches it literally.
 *
 * Errors: FORGE_EINVAL (a refused document, an unknown operator or a
 * malformed command, with the server's message), FORGE_ECONFLICT (a unique
 * index was violated: 409), FORGE_ETIMEDOUT (the statement timeout, as
 * maxTimeMS or the socket timeout), FORGE_EIO (the connection broke: it is
 * dropped on release and the pool reconnects with backoff), FORGE_EACCES
 * (authentication), FORGE_ENOSYS (the connection's driver is not a document
 * database, or transactions on one: MongoDB transactions need sessions,
 * which Forge's driver does not use). forge_db_exec/query on a document
 * database fail with FORGE_ENOSYS.
 *
 * Threads: as forge/db.h: a connection and its cursors belong to one thread
 * at a time. Every call here blocks: use FORGE_ROUTE_BLOCKING handlers or
 * forge_db_async. Decisions: ADR 0114.
 */
#ifndef FORGE_DB_DOC_H
#define FORGE_DB_DOC_H

#include <forge/db.h>

#include <jansson.h>
#include <string.h>

typedef struct forge_db_cursor forge_db_cursor;

/* True when the pool's driver is a document database (forge_db_doc_* work). */
FORGE_API bool forge_db_is_document(const forge_db *db);

/* ---- writes ---- */

/*
 * Insert one document (an object; borrowed, not modified). A document
 * without "_id" gets a new ObjectId. *id (may be NULL) receives the stored
 * _id as a new reference ({"$oid": "..."} for generated ones).
 */
FORGE_API int forge_db_doc_insert_one(forge_db_conn *c, const char *coll, const json_t *doc,
                                      json_t **id, forge_error *err);
/*
 * Insert the objects of the array `docs` in order, stopping at the first
 * failure (those before it stay inserted; the message says how many).
 * *ids (may be NULL) receives an array of their _ids (new reference) on
 * success, NULL on failure. Every document is checked before any is sent.
 */
FORGE_API int forge_db_doc_insert_many(forge_db_conn *c, const char *coll, const json_t *docs,
                                       json_t **ids, forge_error *err);

typedef struct forge_db_update_result {
    int64_t matched;
    int64_t modified;
    json_t *upserted_id; /* new reference, or NULL when nothing was upserted */
} forge_db_update_result;

#define FORGE_DB_DOC_UPSERT 0x1u /* insert from filter + update when nothing matches */

/*
 * Apply an update document ({"$set": {...}, "$inc": {...}}: operators only)
 * to the first / every document matching `filter` (NULL: every document).
 * res may be NULL; a caller passing it must json_decref res->upserted_id.
 */
FORGE_API int forge_db_doc_update_one(forge_db_conn *c, const char *coll, const json_t *filter,
                                      const json_t *update, unsigned flags,
                                      forge_db_update_result *res, forge_error *err);
FORGE_API int forge_db_doc_update_many(forge_db_conn *c, const char *coll, const json_t *filter,
                                       const json_t *update, unsigned flags,
                                       forge_db_update_result *res, forge_error *err);

/* Delete the first / every matching document; *deleted (may be NULL) gets the count. */
FORGE_API int forge_db_doc_delete_one(forge_db_conn *c, const char *coll, const json_t *filter,
                                      int64_t *deleted, forge_error *err);
FORGE_API int forge_db_doc_delete_many(forge_db_conn *c, const char *coll, const json_t *filter,
                                       int64_t *deleted, forge_error *err);

/* ---- reads ---- */

typedef struct forge_db_find_opts {
    const json_t *projection; /* {"title": 1, "_id": 0}; NULL: whole documents */
    const json_t *sort;       /* {"stars": -1, "_id": 1}: values 1 or -1; NULL: server order */
    int64_t skip;             /* >= 0 */
    int64_t limit;            /* >= 0; 0: no limit */
    uint32_t batch_size;      /* documents per round trip; 0: the server's default */
    void *reserved[4];
} forge_db_find_opts;

/*
 * Find documents matching `filter` (NULL: all); opts may be NULL. The
 * cursor fetches further batches (getMore) as it is iterated and must be
 * closed; releasing the connection closes cursors left open.
 */
FORGE_API int forge_db_doc_find(forge_db_conn *c, const char *coll, const json_t *filter,
                                const forge_db_find_opts *opts, forge_db_cursor **out,
                                forge_error *err);

/* Run an aggregation pipeline (an array of one-operator stages); batch_size 0: default. */
FORGE_API int forge_db_doc_aggregate(forge_db_conn *c, const char *coll, const json_t *pipeline,
                                     uint32_t batch_size, forge_db_cursor **out, forge_error *err);

/*
 * 1 with *doc the next document (borrowed: valid until the next call or
 * close; json_incref to keep it), 0 at the end, negative on error.
 */
FORGE_API int forge_db_cursor_next(forge_db_cursor *cur, const json_t **doc, forge_error *err);
/* Close (and kill on the server) a cursor. Safe on NULL. */
FORGE_API void forge_db_cursor_close(forge_db_cursor *cur);

/* Count the documents matching `filter` (NULL: all). */
FORGE_API int forge_db_doc_count(forge_db_conn *c, const char *coll, const json_t *filter,
                                 int64_t *n, forge_error *err);

/* ---- indexes ---- */

typedef struct forge_db_index_opts {
    const char *name; /* NULL: derived from the keys ("title_1_stars_-1") */
    bool unique;
    void *reserved[4];
} forge_db_index_opts;

/*
 * Create an index on `keys` ({"title": 1, "stars": -1}; values 1, -1 or an
 * index type such as "text"). Creating an existing identical index is not
 * an error. opts may be NULL.
 */
FORGE_API int forge_db_doc_create_index(forge_db_conn *c, const char *coll, const json_t *keys,
                                        const forge_db_index_opts *opts, forge_error *err);

/* ---- helpers ---- */

/*
 * {"$eq": value}: a filter value matching `value` literally even when it is
 * an object such as {"$ne": null} that came from a client. value is
 * borrowed; the result is a new reference (NULL on allocation failure).
 */
FORGE_API json_t *forge_db_doc_eq(json_t *value);

/*
 * The type wrapper an object is, shared by the core's checks and drivers:
 * 1 {"$oid": "<24 hex>"}, 2 {"$date": <integer>}, 0 neither.
 */
static inline int forge_db_doc_wrapper(const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) != 1)
        return 0;
    const json_t *oid = json_object_get(v, "$oid");
    if (oid) {
        const char *s = json_string_value(oid);
        if (!s || json_string_length(oid) != 24)
            return 0;
        for (size_t i = 0; i < 24; i++)
            if (!s[i] || !strchr("0123456789abcdefABCDEF", s[i]))
                return 0;
        return 1;
    }
    return json_is_integer(json_object_get(v, "$date")) ? 2 : 0;
}

#endif
