/*
 * The MongoDB driver's internals (mongo.c: connections and the driver
 * table, mongo_doc.c: document operations, mongo_json.c: JSON <-> BSON).
 */
#ifndef FORGE_ADAPTER_MONGO_H
#define FORGE_ADAPTER_MONGO_H

#include <forge/db_driver.h>

#include <mongoc/mongoc.h>

/*
 * One connection: a single-threaded mongoc client (the core's pool lends it
 * to one thread at a time, ADR 0114), the database named by the URL path.
 */
typedef struct mg_conn {
    mongoc_client_t *cl;
    char *dbname;
    uint32_t timeout_ms; /* the statement timeout, sent as maxTimeMS on reads; 0: none */
    bool broken;         /* the server went away: the pool drops the connection */
} mg_conn;

/* Map a libmongoc error to a FORGE_E* code and the server's message; marks c broken. */
int mg_error(mg_conn *c, const bson_error_t *be, forge_db_derr *e);

/*
 * Append the members of a JSON object (or the elements of an array, keyed
 * "0", "1"...) to b, type wrappers becoming ObjectIds and dates.
 */
int mg_append_json(bson_t *b, const json_t *v, forge_db_derr *e);
/* A BSON document as a JSON object (new reference), or NULL with e set. */
json_t *mg_doc_to_json(const bson_t *b, forge_db_derr *e);
/* The value under an iterator as JSON (new reference), or NULL with e set. */
json_t *mg_value_to_json(const bson_iter_t *it, forge_db_derr *e);

extern const forge_db_doc_ops mg_doc_ops;

#endif
