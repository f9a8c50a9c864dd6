/*
 * The MongoDB driver's document operations (forge_db_doc_ops). The core
 * has checked names, refused operators and options before these run
 * (db_doc.c); here JSON becomes BSON, libmongoc runs the command, and the
 * reply becomes counts, ids and documents.
 *
 * Cursors read their first batch when opened, so a bad filter or sort is
 * an error of find/aggregate itself rather than of the first next; later
 * batches come by getMore inside mongoc_cursor_next.
 */
#include "mongo.h"

#include <stdlib.h>
#include <string.h>

typedef struct mg_cursor {
    mg_conn *c;
    mongoc_collection_t *col;
    mongoc_cursor_t *cur;
    json_t *first; /* read ahead when opened; handed out by the first next */
} mg_cursor;

static int64_t reply_int(const bson_t *reply, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, reply, key) && BSON_ITER_HOLDS_NUMBER(&it)
               ? bson_iter_as_int64(&it)
               : 0;
}

/* BSON of an optional filter (NULL: match everything). */
static int to_bson(bson_t *b, const json_t *v, forge_db_derr *e)
{
    bson_init(b);
    int rc = mg_append_json(b, v, e);
    if (rc < 0)
        bson_destroy(b);
    return rc;
}

static void add_max_time(mg_conn *c, bson_t *opts)
{
    if (c->timeout_ms)
        BSON_APPEND_INT64(opts, "maxTimeMS", (int64_t)c->timeout_ms);
}

static int mg_insert(void *conn, const char *coll, const json_t *const *docs, size_t n, json_t *ids,
                     size_t *done, forge_db_derr *e)
{
    mg_conn *c = conn;
    *done = 0;
    bson_t **bs = calloc(n, sizeof(*bs));
    if (!bs)
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        bs[i] = bson_new();
        if (!json_object_get(docs[i], "_id")) {
            bson_oid_t oid;
            bson_oid_init(&oid, NULL);
            BSON_APPEND_OID(bs[i], "_id", &oid);
        }
        rc = mg_append_json(bs[i], docs[i], e);
        bson_iter_t it;
        json_t *id = NULL;
        if (rc == 0 && bson_iter_init_find(&it, bs[i], "_id"))
            id = mg_value_to_json(&it, e);
        if (rc == 0 && (!id || json_array_append_new(ids, id) < 0))
            rc = e->code < 0 ? e->code : forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        mongoc_collection_t *col = mongoc_client_get_collection(c->cl, c->dbname, coll);
        bson_t reply;
        bson_error_t be;
        bool ok =
            n == 1 ? mongoc_collection_insert_one(col, bs[0], NULL, &reply, &be)
                   : mongoc_collection_insert_many(col, (const bson_t **)bs, n, NULL, &reply, &be);
        *done = (size_t)reply_int(&reply, "insertedCount");
        if (!ok)
            rc = mg_error(c, &be, e);
        bson_destroy(&reply);
        mongoc_collection_destroy(col);
    }
    for (size_t i = 0; i < n; i++)
        bson_destroy(bs[i]);
    free(bs);
    return rc;
}

static int mg_update(void *conn, const char *coll, const json_t *filter, const json_t *update,
                     bool many, bool upsert, forge_db_update_result *res, forge_db_derr *e)
{
    mg_conn *c = conn;
    bson_t f, u;
    if (to_bson(&f, filter, e) < 0)
        return e->code;
    if (to_bson(&u, update, e) < 0) {
        bson_destroy(&f);
        return e->code;
    }
    bson_t opts = BSON_INITIALIZER;
    if (upsert)
        BSON_APPEND_BOOL(&opts, "upsert", true);
    mongoc_collection_t *col = mongoc_client_get_collection(c->cl, c->dbname, coll);
    bson_t reply;
    bson_error_t be;
    bool ok = many ? mongoc_collection_update_many(col, &f, &u, &opts, &reply, &be)
                   : mongoc_collection_update_one(col, &f, &u, &opts, &reply, &be);
    int rc = 0;
    if (!ok) {
        rc = mg_error(c, &be, e);
    } else {
        res->matched = reply_int(&reply, "matchedCount");
        res->modified = reply_int(&reply, "modifiedCount");
        bson_iter_t it;
        if (bson_iter_init_find(&it, &reply, "upsertedId"))
            res->upserted_id = mg_value_to_json(&it, e);
    }
    bson_destroy(&reply);
    mongoc_collection_destroy(col);
    bson_destroy(&opts);
    bson_destroy(&u);
    bson_destroy(&f);
    return rc;
}

static int mg_remove(void *conn, const char *coll, const json_t *filter, bool many,
                     int64_t *deleted, forge_db_derr *e)
{
    mg_conn *c = conn;
    bson_t f;
    if (to_bson(&f, filter, e) < 0)
        return e->code;
    mongoc_collection_t *col = mongoc_client_get_collection(c->cl, c->dbname, coll);
    bson_t reply;
    bson_error_t be;
    bool ok = many ? mongoc_collection_delete_many(col, &f, NULL, &reply, &be)
                   : mongoc_collection_delete_one(col, &f, NULL, &reply, &be);
    int rc = ok ? 0 : mg_error(c, &be, e);
    if (ok)
        *deleted = reply_int(&reply, "deletedCount");
    bson_destroy(&reply);
    mongoc_collection_destroy(col);
    bson_destroy(&f);
    return rc;
}

static int mg_count(void *conn, const char *coll, const json_t *filter, int64_t *n,
                    forge_db_derr *e)
{
    mg_conn *c = conn;
    bson_t f;
    if (to_bson(&f, filter, e) < 0)
        return e->code;
    bson_t opts = BSON_INITIALIZER;
    add_max_time(c, &opts);
    mongoc_collection_t *col = mongoc_client_get_collection(c->cl, c->dbname, coll);
    bson_error_t be;
    int64_t v = mongoc_collection_count_documents(col, &f, &opts, NULL, NULL, &be);
    int rc = v < 0 ? mg_error(c, &be, e) : 0;
    if (v >= 0)
        *n = v;
    mongoc_collection_destroy(col);
    bson_destroy(&opts);
    bson_destroy(&f);
    return rc;
}

/* ---- cursors ---- */

static void mg_cursor_close(void *cursor)
{
    mg_cursor *k = cursor;
    mongoc_cursor_destroy(k->cur); /* kills the server-side cursor when one is open */
    mongoc_collection_destroy(k->col);
    json_decref(k->first);
    free(k);
}

/* Read one document: 1 (*doc set), 0 at the end, negative on error. */
static int read_one(mg_cursor *k, json_t **doc, forge_db_derr *e)
{
    const bson_t *b;
    if (mongoc_cursor_next(k->cur, &b)) {
        *doc = mg_doc_to_json(b, e);
        return *doc ? 1 : e->code;
    }
    bson_error_t be;
    if (mongoc_cursor_error(k->cur, &be))
        return mg_error(k->c, &be, e);
    return 0;
}

/* Take ownership of a fresh mongoc cursor and read its first document. */
static int open_cursor(mg_conn *c, mongoc_collection_t *col, mongoc_cursor_t *cur, void **out,
                       forge_db_derr *e)
{
    mg_cursor *k = calloc(1, sizeof(*k));
    if (!k) {
        mongoc_cursor_destroy(cur);
        mongoc_collection_destroy(col);
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    *k = (mg_cursor){c, col, cur, NULL};
    int rc = read_one(k, &k->first, e);
    if (rc < 0) {
        mg_cursor_close(k);
        return rc;
    }
    *out = k;
    return 0;
}

static int mg_cursor_next(void *cursor, json_t **doc, forge_db_derr *e)
{
    mg_cursor *k = cursor;
    if (k->first) {
        *doc = k->first;
        k->first = NULL;
        return 1;
    }
    return read_one(k, doc, e);
}

static int mg_find(void *conn, const char *coll, const json_t *filter, const forge_db_find_opts *o,
                   void **out, forge_db_derr *e)
{
    mg_conn *c = conn;
    bson_t f, opts = BSON_INITIALIZER;
    if (to_bson(&f, filter, e) < 0)
        return e->code;
    int rc = 0;
    bson_t child;
    if (o->projection) {
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &child);
        rc = mg_append_json(&child, o->projection, e);
        bson_append_document_end(&opts, &child);
    }
    if (rc == 0 && o->sort) {
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &child);
        rc = mg_append_json(&child, o->sort, e);
        bson_append_document_end(&opts, &child);
    }
    if (o->skip)
        BSON_APPEND_INT64(&opts, "skip", o->skip);
    if (o->limit)
        BSON_APPEND_INT64(&opts, "limit", o->limit);
    if (o->batch_size)
        BSON_APPEND_INT64(&opts, "batchSize", (int64_t)o->batch_size);
    add_max_time(c, &opts);
    if (rc == 0) {
        mongoc_collection_t *col = mongoc_client_get_collection(c->cl, c->dbname, coll);
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &f, &opts, NULL);
        rc = open_cursor(c, col, cur, out, e);
    }
    bson_destroy(&opts);
    bson_destroy(&f);
    return rc;
}

static int mg_aggregate(void *conn, const char *coll, const json_t *pipeline, uint32_t batch_size,
                        void **out, forge_db_derr *e)
{
    mg_conn *c = conn;
    bson_t p;
    if (to_bson(&p, pipeline, e) < 0)
        return e->code;
    bson_t opts = BSON_INITIALIZER;
    if (batch_size)
        BSON_APPEND_INT64(&opts, "batchSize", (int64_t)batch_size);
    add_max_time(c, &opts);
    mongoc_collection_t *col = mongoc_client_get_collection(c->cl, c->dbname, coll);
    mongoc_cursor_t *cur = mongoc_collection_aggregate(col, MONGOC_QUERY_NONE, &p, &opts, NULL);
    int rc = open_cursor(c, col, cur, out, e);
    bson_destroy(&opts);
    bson_destroy(&p);
    return rc;
}

/* ---- indexes ---- */

static int mg_create_index(void *conn, const char *coll, const json_t *keys, const char *name,
                           bool unique, forge_db_derr *e)
{
    mg_conn *c = conn;
    bson_t k;
    if (to_bson(&k, keys, e) < 0)
        return e->code;
    char *derived = name ? NULL : mongoc_collection_keys_to_index_string(&k);
    bson_t cmd = BSON_INITIALIZER, indexes, index;
    BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT(&index, "key", &k);
    BSON_APPEND_UTF8(&index, "name", name ? name : derived ? derived : "forge_index");
    if (unique)
        BSON_APPEND_BOOL(&index, "unique", true);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(&cmd, &indexes);
    bson_t reply;
    bson_error_t be;
    bool ok = mongoc_client_write_command_with_opts(c->cl, c->dbname, &cmd, NULL, &reply, &be);
    int rc = ok ? 0 : mg_error(c, &be, e);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    bson_free(derived);
    bson_destroy(&k);
    return rc;
}

const forge_db_doc_ops mg_doc_ops = {
    .size = sizeof(forge_db_doc_ops),
    .insert = mg_insert,
    .update = mg_update,
    .remove = mg_remove,
    .count = mg_count,
    .find = mg_find,
    .aggregate = mg_aggregate,
    .cursor_next = mg_cursor_next,
    .cursor_close = mg_cursor_close,
    .create_index = mg_create_index,
};
