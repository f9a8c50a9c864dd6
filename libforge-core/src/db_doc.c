/*
 * Document databases: the checks every document call makes before the
 * driver sees it, and cursors (ADR 0114).
 *
 * The checks live here, not in a driver, so the rule "operators only where
 * operators belong" is one rule whatever the driver: inserted documents and
 * $set/$setOnInsert values are data (no '$' keys except the type wrappers
 * of forge_db_doc_wrapper, no '.' or empty keys), update documents are
 * operators only, filters and pipelines may not carry server-side
 * JavaScript. Nesting is limited to MAX_DEPTH (MongoDB's own limit is 100).
 *
 * Cursors are linked on their connection (conn->cursors) so that releasing
 * the connection closes them: a driver cursor never outlives the client it
 * reads from.
 */
#include "db_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 100

struct forge_db_cursor {
    forge_db_conn *conn;
    void *h;     /* the driver's cursor */
    json_t *doc; /* the current document, held until the next call */
    bool done;   /* the driver reported the end or an error */
    forge_db_cursor *next;
};

bool forge_db_is_document(const forge_db *db)
{
    return db && (db->drv->caps & FORGE_DB_CAP_DOC) && db->drv->doc;
}

/* The document operations of c's driver, after checking the collection name. */
static int ops_of(forge_db_conn *c, const char *coll, const char *what,
                  const forge_db_doc_ops **ops, forge_error *err)
{
    if (!c)
        return forge_error_set(err, FORGE_EINVAL, "db: %s without a connection", what);
    if (!forge_db_is_document(c->db))
        return forge_error_set(err, FORGE_ENOSYS,
                               "db %s: %s: driver %s is not a document database (use "
                               "forge_db_exec)",
                               c->db->name, what, c->db->drv->name);
    size_t n = coll ? strlen(coll) : 0;
    if (n == 0 || n > 200 || strchr(coll, '$') || strncmp(coll, "system.", 7) == 0)
        return forge_error_setk(err, FORGE_EINVAL, "collection",
                                "db %s: %s: '%.64s' is not a collection name (1-200 bytes, no "
                                "'$', not system.*)",
                                c->db->name, what, coll ? coll : "");
    *ops = c->db->drv->doc;
    return 0;
}

/* ---- checks ---- */

/* path + ".key" or "[i]", truncated to the buffer. */
static void path_push(char *path, size_t cap, const char *key, size_t index)
{
    size_t n = strlen(path);
    if (n + 2 >= cap)
        return;
    if (key)
        snprintf(path + n, cap - n, "%s%s", n ? "." : "", key);
    else
        snprintf(path + n, cap - n, "[%zu]", index);
}

static int refuse(forge_error *err, const char *what, const char *path, const char *why)
{
    return forge_error_setk(err, FORGE_EINVAL, path[0] ? path : "(document)", "db: %s: %s at %s",
                            what, why, path[0] ? path : "the top level");
}

/*
 * A value that is data: objects and arrays below it too. A '$' key is
 * allowed only as a type wrapper.
 */
static int check_data(const json_t *v, const char *what, char *path, size_t cap, int depth,
                      forge_error *err)
{
    if (depth > MAX_DEPTH)
        return refuse(err, what, path, "documents nest deeper than 100 levels");
    size_t mark = strlen(path);
    if (json_is_object(v)) {
        if (forge_db_doc_wrapper(v))
            return 0;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
            path_push(path, cap, key, 0);
            if (klen == 0)
                return refuse(err, what, path, "an empty field name");
            if (strlen(key) != klen)
                return refuse(err, what, path, "a NUL byte in a field name");
            if (key[0] == '$')
                return refuse(err, what, path,
                              "a field name starting with '$' (an operator, refused in data)");
            if (strchr(key, '.'))
                return refuse(err, what, path, "a '.' in a field name (a path, refused in data)");
            int rc = check_data(val, what, path, cap, depth + 1, err);
            if (rc < 0)
                return rc;
            path[mark] = '\0';
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *val;
        json_array_foreach(v, i, val)
        {
            path_push(path, cap, NULL, i);
            int rc = check_data(val, what, path, cap, depth + 1, err);
            if (rc < 0)
                return rc;
            path[mark] = '\0';
        }
    }
    return 0;
}

/* Filters and pipelines: anything but server-side JavaScript. */
static int check_no_js(const json_t *v, const char *what, char *path, size_t cap, int depth,
                       forge_error *err)
{
    if (depth > MAX_DEPTH)
        return refuse(err, what, path, "documents nest deeper than 100 levels");
    size_t mark = strlen(path);
    const char *key;
    json_t *val;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, val)
        {
            path_push(path, cap, key, 0);
            if (strcmp(key, "$where") == 0 || strcmp(key, "$function") == 0 ||
                strcmp(key, "$accumulator") == 0)
                return refuse(err, what, path, "server-side JavaScript is refused");
            int rc = check_no_js(val, what, path, cap, depth + 1, err);
            if (rc < 0)
                return rc;
            path[mark] = '\0';
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, val)
        {
            path_push(path, cap, NULL, i);
            int rc = check_no_js(val, what, path, cap, depth + 1, err);
            if (rc < 0)
                return rc;
            path[mark] = '\0';
        }
    }
    return 0;
}

static int check_filter(const json_t *filter, const char *what, forge_error *err)
{
    char path[FORGE_ERROR_KEY_MAX] = "filter";
    if (filter && !json_is_object(filter))
        return refuse(err, what, path, "a filter is an object (or NULL for every document)");
    return filter ? check_no_js(filter, what, path, sizeof(path), 0, err) : 0;
}

static int check_document(const json_t *doc, const char *what, forge_error *err)
{
    char path[FORGE_ERROR_KEY_MAX] = "";
    if (!json_is_object(doc))
        return forge_error_set(err, FORGE_EINVAL, "db: %s: a document is a JSON object", what);
    return check_data(doc, what, path, sizeof(path), 0, err);
}

/*
 * Operators only at the top; field names under them are paths (dots and
 * positional "$" segments allowed) but never start with '$'; the values of
 * $set and $setOnInsert are data.
 */
static int check_update(const json_t *u, const char *what, forge_error *err)
{
    char path[FORGE_ERROR_KEY_MAX] = "";
    if (!json_is_object(u) || json_object_size(u) == 0)
        return forge_error_set(err, FORGE_EINVAL,
                               "db: %s: an update is a non-empty object of operators "
                               "({\"$set\": {...}})",
                               what);
    const char *op;
    json_t *fields;
    json_object_foreach((json_t *)u, op, fields)
    {
        snprintf(path, sizeof(path), "%s", op);
        if (op[0] != '$')
            return refuse(err, what, path,
                          "an update holds operators only ($set, $inc, $unset...), not a field "
                          "(whole-document replacement is not offered)");
        if (!json_is_object(fields))
            return refuse(err, what, path, "an update operator takes an object of fields");
        bool data = strcmp(op, "$set") == 0 || strcmp(op, "$setOnInsert") == 0;
        const char *field;
        json_t *val;
        json_object_foreach(fields, field, val)
        {
            snprintf(path, sizeof(path), "%s.%s", op, field);
            if (field[0] == '$' || field[0] == '\0')
                return refuse(err, what, path, "a field path must not be empty or start with '$'");
            int rc = data ? check_data(val, what, path, sizeof(path), 1, err)
                          : check_no_js(val, what, path, sizeof(path), 1, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- writes ---- */

static int insert(forge_db_conn *c, const char *coll, const json_t *const *docs, size_t n,
                  json_t **ids, const char *what, forge_error *err)
{
    if (ids)
        *ids = NULL;
    const forge_db_doc_ops *ops = NULL;
    int orc = ops_of(c, coll, what, &ops, err);
    if (orc < 0)
        return orc;
    for (size_t i = 0; i < n; i++) {
        int rc = check_document(docs[i], what, err);
        if (rc < 0) {
            if (n > 1)
                forge_error_wrap(err, rc, "db %s: %s: document %zu refused (nothing inserted)",
                                 c->db->name, what, i);
            return rc;
        }
    }
    json_t *out = json_array();
    if (!out)
        return FORGE_ENOMEM;
    forge_db_derr e = {0};
    size_t done = 0;
    int rc = ops->insert(c->h, coll, docs, n, out, &done, &e);
    if (rc < 0) {
        json_decref(out);
        if (n > 1) {
            char msg[sizeof(e.msg) + 96];
            snprintf(msg, sizeof(msg), "document %zu of %zu failed, %zu inserted before it: %s",
                     done, n, done, e.msg);
            snprintf(e.msg, sizeof(e.msg), "%.*s", (int)sizeof(e.msg) - 1, msg);
        }
        return forge__db_err(c->db, err, &e, what);
    }
    if (ids)
        *ids = out;
    else
        json_decref(out);
    return 0;
}

int forge_db_doc_insert_one(forge_db_conn *c, const char *coll, const json_t *doc, json_t **id,
                            forge_error *err)
{
    if (id)
        *id = NULL;
    json_t *ids = NULL;
    int rc = insert(c, coll, &doc, 1, &ids, "insert_one", err);
    if (rc == 0 && id)
        *id = json_incref(json_array_get(ids, 0));
    json_decref(ids);
    return rc;
}

int forge_db_doc_insert_many(forge_db_conn *c, const char *coll, const json_t *docs, json_t **ids,
                             forge_error *err)
{
    if (ids)
        *ids = NULL;
    if (!json_is_array(docs) || json_array_size(docs) == 0)
        return forge_error_set(err, FORGE_EINVAL,
                               "db: insert_many: documents come as a non-empty array");
    size_t n = json_array_size(docs);
    const json_t **v = malloc(n * sizeof(*v));
    if (!v)
        return FORGE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(docs, i);
    int rc = insert(c, coll, v, n, ids, "insert_many", err);
    free(v);
    return rc;
}

static int update(forge_db_conn *c, const char *coll, const json_t *filter, const json_t *u,
                  unsigned flags, bool many, forge_db_update_result *res, forge_error *err)
{
    const char *what = many ? "update_many" : "update_one";
    forge_db_update_result r = {0, 0, NULL};
    if (res)
        *res = r;
    const forge_db_doc_ops *ops = NULL;
    int orc = ops_of(c, coll, what, &ops, err);
    if (orc < 0)
        return orc;
    int rc = check_filter(filter, what, err);
    if (rc == 0)
        rc = check_update(u, what, err);
    if (rc < 0)
        return rc;
    forge_db_derr e = {0};
    rc = ops->update(c->h, coll, filter, u, many, flags & FORGE_DB_DOC_UPSERT, &r, &e);
    if (rc < 0)
        return forge__db_err(c->db, err, &e, what);
    if (res)
        *res = r;
    else
        json_decref(r.upserted_id);
    return 0;
}

int forge_db_doc_update_one(forge_db_conn *c, const char *coll, const json_t *filter,
                            const json_t *u, unsigned flags, forge_db_update_result *res,
                            forge_error *err)
{
    return update(c, coll, filter, u, flags, false, res, err);
}

int forge_db_doc_update_many(forge_db_conn *c, const char *coll, const json_t *filter,
                             const json_t *u, unsigned flags, forge_db_update_result *res,
                             forge_error *err)
{
    return update(c, coll, filter, u, flags, true, res, err);
}

static int delete (forge_db_conn *c, const char *coll, const json_t *filter, bool many,
                   int64_t *deleted, forge_error *err)
{
    const char *what = many ? "delete_many" : "delete_one";
    if (deleted)
        *deleted = 0;
    const forge_db_doc_ops *ops = NULL;
    int orc = ops_of(c, coll, what, &ops, err);
    if (orc < 0)
        return orc;
    int rc = check_filter(filter, what, err);
    if (rc < 0)
        return rc;
    forge_db_derr e = {0};
    int64_t n = 0;
    rc = ops->remove(c->h, coll, filter, many, &n, &e);
    if (rc < 0)
        return forge__db_err(c->db, err, &e, what);
    if (deleted)
        *deleted = n;
    return 0;
}

int forge_db_doc_delete_one(forge_db_conn *c, const char *coll, const json_t *filter,
                            int64_t *deleted, forge_error *err)
{
    return delete (c, coll, filter, false, deleted, err);
}

int forge_db_doc_delete_many(forge_db_conn *c, const char *coll, const json_t *filter,
                             int64_t *deleted, forge_error *err)
{
    return delete (c, coll, filter, true, deleted, err);
}

/* ---- reads ---- */

static int cursor_open(forge_db_conn *c, void *h, forge_db_cursor **out)
{
    forge_db_cursor *cur = calloc(1, sizeof(*cur));
    if (!cur) {
        c->db->drv->doc->cursor_close(h);
        return FORGE_ENOMEM;
    }
    cur->conn = c;
    cur->h = h;
    cur->next = c->cursors;
    c->cursors = cur;
    *out = cur;
    return 0;
}

static int check_sort(const json_t *sort, forge_error *err)
{
    if (!sort)
        return 0;
    if (!json_is_object(sort))
        return forge_error_setk(err, FORGE_EINVAL, "sort", "db: find: sort is an object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sort, k, v)
    {
        json_int_t d = json_is_integer(v) ? json_integer_value(v) : 0;
        if (d != 1 && d != -1)
            return forge_error_setk(err, FORGE_EINVAL, "sort",
                                    "db: find: sort direction of '%.100s' is 1 or -1", k);
    }
    return 0;
}

int forge_db_doc_find(forge_db_conn *c, const char *coll, const json_t *filter,
                      const forge_db_find_opts *opts, forge_db_cursor **out, forge_error *err)
{
    if (!out)
        return forge_error_set(err, FORGE_EINVAL, "db: find without a cursor to fill");
    *out = NULL;
    const forge_db_doc_ops *ops = NULL;
    int orc = ops_of(c, coll, "find", &ops, err);
    if (orc < 0)
        return orc;
    forge_db_find_opts o = {0};
    if (opts)
        o = *opts;
    int rc = check_filter(filter, "find", err);
    if (rc < 0)
        return rc;
    if (o.skip < 0 || o.limit < 0)
        return forge_error_set(err, FORGE_EINVAL, "db: find: skip and limit are >= 0");
    if (o.projection && !json_is_object(o.projection))
        return forge_error_setk(err, FORGE_EINVAL, "projection",
                                "db: find: projection is an object");
    if ((rc = check_sort(o.sort, err)) < 0)
        return rc;
    forge_db_derr e = {0};
    void *h = NULL;
    rc = ops->find(c->h, coll, filter, &o, &h, &e);
    if (rc < 0)
        return forge__db_err(c->db, err, &e, "find");
    return cursor_open(c, h, out);
}

int forge_db_doc_aggregate(forge_db_conn *c, const char *coll, const json_t *pipeline,
                           uint32_t batch_size, forge_db_cursor **out, forge_error *err)
{
    if (!out)
        return forge_error_set(err, FORGE_EINVAL, "db: aggregate without a cursor to fill");
    *out = NULL;
    const forge_db_doc_ops *ops = NULL;
    int orc = ops_of(c, coll, "aggregate", &ops, err);
    if (orc < 0)
        return orc;
    if (!json_is_array(pipeline))
        return forge_error_set(err, FORGE_EINVAL, "db: aggregate: a pipeline is an array");
    size_t i;
    json_t *stage;
    json_array_foreach(pipeline, i, stage)
    {
        const char *op = json_is_object(stage) && json_object_size(stage) == 1
                             ? json_object_iter_key(json_object_iter(stage))
                             : NULL;
        if (!op || op[0] != '$')
            return forge_error_set(err, FORGE_EINVAL,
                                   "db: aggregate: stage %zu is not one operator "
                                   "({\"$match\": {...}})",
                                   i);
    }
    char path[FORGE_ERROR_KEY_MAX] = "pipeline";
    int rc = check_no_js(pipeline, "aggregate", path, sizeof(path), 0, err);
    if (rc < 0)
        return rc;
    forge_db_derr e = {0};
    void *h = NULL;
    rc = ops->aggregate(c->h, coll, pipeline, batch_size, &h, &e);
    if (rc < 0)
        return forge__db_err(c->db, err, &e, "aggregate");
    return cursor_open(c, h, out);
}

int forge_db_cursor_next(forge_db_cursor *cur, const json_t **doc, forge_error *err)
{
    if (!cur || !doc)
        return forge_error_set(err, FORGE_EINVAL, "db: cursor_next without a cursor");
    *doc = NULL;
    json_decref(cur->doc);
    cur->doc = NULL;
    if (cur->done)
        return 0;
    forge_db_derr e = {0};
    json_t *d = NULL;
    int rc = cur->conn->db->drv->doc->cursor_next(cur->h, &d, &e);
    if (rc < 0) {
        cur->done = true;
        return forge__db_err(cur->conn->db, err, &e, "cursor");
    }
    if (rc == 0) {
        cur->done = true;
        return 0;
    }
    cur->doc = d;
    *doc = d;
    return 1;
}

void forge_db_cursor_close(forge_db_cursor *cur)
{
    if (!cur)
        return;
    for (forge_db_cursor **pp = &cur->conn->cursors; *pp; pp = &(*pp)->next) {
        if (*pp == cur) {
            *pp = cur->next;
            break;
        }
    }
    cur->conn->db->drv->doc->cursor_close(cur->h);
    json_decref(cur->doc);
    free(cur);
}

void forge__db_cursors_close(forge_db_conn *c)
{
    while (c->cursors)
        forge_db_cursor_close(c->cursors);
}

int forge_db_doc_count(forge_db_conn *c, const char *coll, const json_t *filter, int64_t *n,
                       forge_error *err)
{
    if (n)
        *n = 0;
    const forge_db_doc_ops *ops = NULL;
    int orc = ops_of(c, coll, "count", &ops, err);
    if (orc < 0)
        return orc;
    int rc = check_filter(filter, "count", err);
    if (rc < 0)
        return rc;
    forge_db_derr e = {0};
    int64_t v = 0;
    rc = ops->count(c->h, coll, filter, &v, &e);
    if (rc < 0)
        return forge__db_err(c->db, err, &e, "count");
    if (n)
        *n = v;
    return 0;
}

/* ---- indexes ---- */

int forge_db_doc_create_index(forge_db_conn *c, const char *coll, const json_t *keys,
                              const forge_db_index_opts *opts, forge_error *err)
{
    const forge_db_doc_ops *ops = NULL;
    int orc = ops_of(c, coll, "create_index", &ops, err);
    if (orc < 0)
        return orc;
    if (!json_is_object(keys) || json_object_size(keys) == 0)
        return forge_error_setk(err, FORGE_EINVAL, "keys",
                                "db: create_index: keys are a non-empty object ({\"title\": 1})");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)keys, k, v)
    {
        json_int_t d = json_is_integer(v) ? json_integer_value(v) : 0;
        if (k[0] == '$' || k[0] == '\0' || (d != 1 && d != -1 && !json_is_string(v)))
            return forge_error_setk(err, FORGE_EINVAL, "keys",
                                    "db: create_index: key '%.100s' needs a field name and 1, -1 "
                                    "or an index type",
                                    k);
    }
    const char *name = opts ? opts->name : NULL;
    if (name && (!name[0] || strlen(name) > 120))
        return forge_error_setk(err, FORGE_EINVAL, "name",
                                "db: create_index: an index name has 1-120 bytes");
    forge_db_derr e = {0};
    int rc = ops->create_index(c->h, coll, keys, name, opts && opts->unique, &e);
    return rc < 0 ? forge__db_err(c->db, err, &e, "create_index") : 0;
}

json_t *forge_db_doc_eq(json_t *value)
{
    return value ? json_pack("{s:O}", "$eq", value) : NULL;
}
