/*
 * The document API (forge/db_doc.h) and the MongoDB driver.
 *
 * Always run: the driver's clean errors without a server (a dead port, a
 * URL without a database) and the document calls on a SQL database.
 * Against a server when FORGE_TEST_MONGO_URL is set (tests/integration/
 * data_test.sh starts the MongoDB-wire stand-in with scripts/services.sh):
 * CRUD and types, find with sort/skip/limit and cursors crossing getMore
 * batches, aggregate, indexes, refused operators and injection-like data.
 * The outage test also needs FORGE_TEST_MONGO_STOP and FORGE_TEST_MONGO_START
 * (shell commands stopping and restarting that server); without them it is
 * skipped, and data_test.sh fails on any skip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <forge/db_doc.h>

#include "db_test_util.h"

#define DEAD_PORT "18319" /* in this area's range (18300-18319), never listened on */

typedef struct fx {
    forge_db *db;
    forge_db_conn *c;
} fx;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* FORGE_TEST_MONGO_STANDIN=1: the server is the stand-in (its known gaps are asserted). */
static bool standin(void)
{
    const char *s = getenv("FORGE_TEST_MONGO_STANDIN");
    return s && strcmp(s, "1") == 0;
}

/* A compact JSON text of v in a static buffer (tests only). */
static const char *json_dumps_static(const json_t *v)
{
    static char buf[4096];
    if (json_dumpb(v, buf, sizeof(buf) - 1, JSON_COMPACT) >= sizeof(buf) - 1)
        fail_msg("JSON too long for the test buffer");
    buf[json_dumpb(v, buf, sizeof(buf) - 1, JSON_COMPACT)] = '\0';
    return buf;
}

static const char *url(void)
{
    const char *u = getenv("FORGE_TEST_MONGO_URL");
    return u && *u ? u : NULL;
}

static int setup(void **state)
{
    dbt_env();
    fx *f = calloc(1, sizeof(*f));
    *state = f;
    if (!url())
        return 0;
    forge_error err;
    forge_db_opts o = {.max_conns = 4, .connect_now = true, .name = "mongo-test"};
    if (forge_db_open(url(), &o, &f->db, &err) != 0) {
        fprintf(stderr, "mongo: %s\n", err.message);
        return -1;
    }
    if (forge_db_acquire(f->db, 0, &f->c, &err) != 0)
        return -1;
    /* Each test starts from empty collections of its own. */
    const char *colls[] = {"items", "many", "sales", "users", "notes", "outage"};
    for (size_t i = 0; i < sizeof(colls) / sizeof(*colls); i++)
        if (forge_db_doc_delete_many(f->c, colls[i], NULL, NULL, &err) != 0) {
            fprintf(stderr, "mongo: clearing %s: %s\n", colls[i], err.message);
            return -1;
        }
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    forge_db_release(f->c);
    forge_db_close(f->db);
    free(f);
    return 0;
}

#define NEED()                                                                                     \
    do {                                                                                           \
        if (!url())                                                                                \
            skip();                                                                                \
    } while (0)

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, je.text);
    return v;
}

static int64_t count(forge_db_conn *c, const char *coll, const char *filter)
{
    json_t *f = filter ? J(filter) : NULL;
    forge_error err;
    int64_t n = -1;
    int rc = forge_db_doc_count(c, coll, f, &n, &err);
    json_decref(f);
    if (rc != 0)
        fail_msg("count: %s", err.message);
    return n;
}

/* Every document of a find as one array (new reference). */
static json_t *find_all(forge_db_conn *c, const char *coll, const char *filter,
                        const forge_db_find_opts *o)
{
    json_t *f = filter ? J(filter) : NULL;
    forge_error err;
    forge_db_cursor *cur;
    int rc = forge_db_doc_find(c, coll, f, o, &cur, &err);
    json_decref(f);
    if (rc != 0)
        fail_msg("find: %s", err.message);
    json_t *all = json_array();
    const json_t *d;
    while ((rc = forge_db_cursor_next(cur, &d, &err)) == 1)
        json_array_append(all, (json_t *)d);
    if (rc != 0)
        fail_msg("cursor: %s", err.message);
    forge_db_cursor_close(cur);
    return all;
}

/* ---- without a server ---- */

static void test_no_server(void **state)
{
    (void)state;
    dbt_env();
    forge_error err;
    forge_db *db = NULL;
    forge_db_opts o = {.connect_now = true, .connect_timeout_ms = 1000};
    uint64_t t0 = now_ms();
    int rc = forge_db_open("mongodb://app:s3cret@127.0.0.1:" DEAD_PORT "/app", &o, &db, &err);
    assert_int_equal(rc, FORGE_EIO);
    assert_non_null(strstr(err.message, "cannot connect"));
    assert_null(strstr(err.message, "s3cret")); /* the password never shows */
    assert_true(now_ms() - t0 < 3000);

    /* A pool opened lazily reports the outage through health, then fails fast. */
    o.connect_now = false;
    assert_int_equal(forge_db_open("mongodb://127.0.0.1:" DEAD_PORT "/app", &o, &db, &err), 0);
    assert_string_equal(forge_db_driver_name(db), "mongo");
    assert_true(forge_db_is_document(db));
    assert_int_equal(forge_db_health(db, 500, &err), FORGE_UNHEALTHY);
    forge_db_conn *c;
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), FORGE_EIO);
    assert_non_null(strstr(err.message, "unreachable"));
    forge_db_close(db);

    /* The path names the database. */
    o.connect_now = true;
    assert_int_equal(forge_db_open("mongodb://127.0.0.1:" DEAD_PORT, &o, &db, &err), FORGE_EIO);
    assert_non_null(strstr(err.message, "names its database"));
}

static void test_sql_database_has_no_documents(void **state)
{
    (void)state;
    dbt_env();
    forge_error err;
    forge_db *db;
    assert_int_equal(forge_db_open("sqlite://:memory:", NULL, &db, &err), 0);
    assert_false(forge_db_is_document(db));
    forge_db_conn *c;
    assert_int_equal(forge_db_acquire(db, 0, &c, &err), 0);
    json_t *doc = J("{\"a\": 1}");
    assert_int_equal(forge_db_doc_insert_one(c, "t", doc, NULL, &err), FORGE_ENOSYS);
    assert_non_null(strstr(err.message, "not a document database"));
    forge_db_cursor *cur;
    assert_int_equal(forge_db_doc_find(c, "t", NULL, NULL, &cur, &err), FORGE_ENOSYS);
    assert_null(cur);
    json_decref(doc);
    forge_db_release(c);
    forge_db_close(db);
}

/* ---- against a server ---- */

static void test_statements_and_transactions_refused(void **state)
{
    NEED();
    fx *f = *state;
    forge_error err;
    assert_int_equal(forge_db_exec(f->c, "SELECT 1", NULL, 0, NULL, &err), FORGE_ENOSYS);
    assert_non_null(strstr(err.message, "forge_db_doc_"));
    assert_int_equal(forge_db_begin(f->c, &err), FORGE_ENOSYS);
    assert_non_null(strstr(err.message, "sessions"));
    assert_int_equal(forge_db_tx_depth(f->c), 0);
    assert_int_equal(forge_db_health(f->db, 1000, &err), FORGE_HEALTHY);
}

static void test_crud_and_types(void **state)
{
    NEED();
    fx *f = *state;
    forge_error err;
    json_t *doc = J("{\"title\": \"héllo \\u2603\", \"stars\": 3, \"big\": 9007199254740993,"
                    " \"price\": 2.5, \"ok\": true, \"none\": null, \"tags\": [\"a\", \"b\"],"
                    " \"meta\": {\"depth\": {\"x\": [1, {\"y\": false}]}},"
                    " \"when\": {\"$date\": 1700000000123},"
                    " \"ref\": {\"$oid\": \"65a1b2c3d4e5f60718293a4b\"}}");
    json_t *id = NULL;
    assert_int_equal(forge_db_doc_insert_one(f->c, "items", doc, &id, &err), 0);
    assert_true(json_is_object(id));
    const char *hex = json_string_value(json_object_get(id, "$oid"));
    assert_non_null(hex);
    assert_int_equal(strlen(hex), 24);

    /* Read back by the returned id: every type comes back as it went in. */
    json_t *byid = json_pack("{s:O}", "_id", id);
    forge_db_cursor *cur;
    assert_int_equal(forge_db_doc_find(f->c, "items", byid, NULL, &cur, &err), 0);
    const json_t *got;
    assert_int_equal(forge_db_cursor_next(cur, &got, &err), 1);
    assert_true(json_equal(json_object_get(got, "_id"), id));
    json_object_set(doc, "_id", id);
    if (!json_equal(got, doc)) {
        char *a = json_dumps(got, JSON_SORT_KEYS), *b = json_dumps(doc, JSON_SORT_KEYS);
        fail_msg("round trip differs:\n got %s\nwant %s", a, b);
    }
    assert_int_equal(forge_db_cursor_next(cur, &got, &err), 0);
    forge_db_cursor_close(cur);

    /*
     * An own _id is kept and returned; inserting it twice conflicts. (ObjectIds:
     * the stand-in turns every _id into one, see docs/data.md.)
     */
    json_t *own = J("{\"_id\": {\"$oid\": \"0123456789abcdef01234567\"}, \"stars\": 1}");
    json_t *id2 = NULL;
    assert_int_equal(forge_db_doc_insert_one(f->c, "items", own, &id2, &err), 0);
    assert_true(json_equal(id2, json_object_get(own, "_id")));
    assert_int_equal(forge_db_doc_insert_one(f->c, "items", own, NULL, &err), FORGE_ECONFLICT);
    assert_non_null(strstr(err.message, "uplicate"));
    assert_int_equal(count(f->c, "items", NULL), 2);

    /* Updates: one, many, upsert. */
    forge_db_update_result r;
    json_t *flt = J("{\"_id\": {\"$oid\": \"0123456789abcdef01234567\"}}");
    json_t *upd = J("{\"$set\": {\"title\": \"set\"}, \"$inc\": {\"stars\": 4}}");
    assert_int_equal(forge_db_doc_update_one(f->c, "items", flt, upd, 0, &r, &err), 0);
    assert_int_equal(r.matched, 1);
    assert_int_equal(r.modified, 1);
    assert_null(r.upserted_id);
    assert_int_equal(count(f->c, "items", "{\"stars\": 5, \"title\": \"set\"}"), 1);
    json_t *all = J("{\"$inc\": {\"stars\": 10}}");
    assert_int_equal(forge_db_doc_update_many(f->c, "items", NULL, all, 0, &r, &err), 0);
    assert_int_equal(r.matched, 2);
    assert_int_equal(count(f->c, "items", "{\"stars\": {\"$gte\": 13}}"), 2);
    json_t *none = J("{\"name\": \"absent\"}");
    assert_int_equal(forge_db_doc_update_one(f->c, "items", none, upd, 0, &r, &err), 0);
    assert_int_equal(r.matched, 0);
    assert_int_equal(count(f->c, "items", NULL), 2);
    assert_int_equal(
        forge_db_doc_update_one(f->c, "items", none, upd, FORGE_DB_DOC_UPSERT, &r, &err), 0);
    assert_int_equal(r.matched, 0);
    assert_non_null(r.upserted_id);
    json_t *up = json_pack("{s:O}", "_id", r.upserted_id);
    assert_int_equal(count(f->c, "items", json_dumps_static(up)), 1);
    assert_int_equal(count(f->c, "items", "{\"name\": \"absent\", \"stars\": 4}"), 1);
    json_decref(up);
    json_decref(r.upserted_id);
    assert_int_equal(count(f->c, "items", NULL), 3);

    /* An unknown operator is the server's error, as FORGE_EINVAL. */
    json_t *bad = J("{\"$frobnicate\": {\"a\": 1}}");
    assert_int_equal(forge_db_doc_update_one(f->c, "items", flt, bad, 0, NULL, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "update_one"));

    /* Deletes. */
    int64_t n = -1;
    assert_int_equal(forge_db_doc_delete_one(f->c, "items", flt, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(forge_db_doc_delete_one(f->c, "items", flt, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(forge_db_doc_delete_many(f->c, "items", NULL, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(count(f->c, "items", NULL), 0);

    json_t *vals[] = {doc, id, byid, own, id2, flt, upd, all, none, bad};
    for (size_t i = 0; i < sizeof(vals) / sizeof(*vals); i++)
        json_decref(vals[i]);
}

static void test_insert_many_and_ids(void **state)
{
    NEED();
    fx *f = *state;
    forge_error err;
    json_t *docs = J("[{\"k\": 1}, {\"_id\": {\"$oid\": \"00000000000000000000000a\"}, \"k\": 2},"
                     " {\"k\": 3}]");
    json_t *ids = NULL;
    assert_int_equal(forge_db_doc_insert_many(f->c, "many", docs, &ids, &err), 0);
    assert_int_equal(json_array_size(ids), 3);
    assert_true(json_is_object(json_array_get(ids, 0)));
    assert_string_equal(json_string_value(json_object_get(json_array_get(ids, 1), "$oid")),
                        "00000000000000000000000a");
    assert_false(json_equal(json_array_get(ids, 0), json_array_get(ids, 2)));
    json_decref(ids);

    /* Ordered: a duplicate stops the batch, the message says how far it got. */
    json_t *dup = J("[{\"_id\": {\"$oid\": \"00000000000000000000000b\"}},"
                    " {\"_id\": {\"$oid\": \"00000000000000000000000a\"}},"
                    " {\"_id\": {\"$oid\": \"00000000000000000000000c\"}}]");
    assert_int_equal(forge_db_doc_insert_many(f->c, "many", dup, &ids, &err), FORGE_ECONFLICT);
    assert_null(ids);
    assert_non_null(strstr(err.message, "document 1 of 3 failed, 1 inserted before it"));
    assert_int_equal(count(f->c, "many", NULL), 4);

    json_t *empty = json_array();
    assert_int_equal(forge_db_doc_insert_many(f->c, "many", empty, &ids, &err), FORGE_EINVAL);
    json_decref(empty);
    json_decref(dup);
    json_decref(docs);
}

static void test_find_sort_limit_getmore(void **state)
{
    NEED();
    fx *f = *state;
    forge_error err;
    enum { N = 250 };
    json_t *docs = json_array();
    for (int i = 0; i < N; i++)
        json_array_append_new(
            docs, json_pack("{s:i, s:s, s:i}", "n", i, "even", i % 2 ? "no" : "yes", "pad", i * 7));
    assert_int_equal(forge_db_doc_insert_many(f->c, "items", docs, NULL, &err), 0);
    json_decref(docs);

    /* Descending, skipping 5, 200 of them, 30 per batch: 7 getMore round trips. */
    json_t *sort = J("{\"n\": -1}");
    json_t *proj = J("{\"n\": 1, \"_id\": 0}");
    forge_db_find_opts o = {
        .sort = sort, .projection = proj, .skip = 5, .limit = 200, .batch_size = 30};
    json_t *all = find_all(f->c, "items", NULL, &o);
    assert_int_equal(json_array_size(all), 200);
    for (size_t i = 0; i < 200; i++) {
        const json_t *d = json_array_get(all, i);
        assert_int_equal(json_integer_value(json_object_get(d, "n")), N - 1 - 5 - (int)i);
        assert_int_equal(json_object_size(d), 1); /* the projection applied */
    }
    json_decref(all);

    /* The server's default batch (101) and no limit: every document, via getMore. */
    json_t *asc = J("{\"n\": 1}");
    forge_db_find_opts o2 = {.sort = asc};
    all = find_all(f->c, "items", NULL, &o2);
    assert_int_equal(json_array_size(all), N);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(all, N - 1), "n")), N - 1);
    json_decref(all);

    /* A filter with operators, small batches. */
    forge_db_find_opts o3 = {.sort = asc, .batch_size = 7};
    all = find_all(f->c, "items", "{\"even\": \"yes\", \"n\": {\"$lt\": 100}}", &o3);
    assert_int_equal(json_array_size(all), 50);
    json_decref(all);
    assert_int_equal(count(f->c, "items", "{\"n\": {\"$in\": [1, 2, 3, 999]}}"), 3);

    /* Closing a cursor part way, and one left open for release to close. */
    forge_db_cursor *cur, *left;
    forge_db_find_opts small = {.batch_size = 10};
    assert_int_equal(forge_db_doc_find(f->c, "items", NULL, &small, &cur, &err), 0);
    const json_t *d;
    for (int i = 0; i < 15; i++)
        assert_int_equal(forge_db_cursor_next(cur, &d, &err), 1);
    forge_db_cursor_close(cur);
    assert_int_equal(forge_db_doc_find(f->c, "items", NULL, &small, &left, &err), 0);
    assert_int_equal(forge_db_cursor_next(left, &d, &err), 1);

    /* Bad options are refused before anything is sent. */
    json_t *badsort = J("{\"n\": 2}");
    forge_db_find_opts b1 = {.sort = badsort};
    assert_int_equal(forge_db_doc_find(f->c, "items", NULL, &b1, &cur, &err), FORGE_EINVAL);
    forge_db_find_opts b2 = {.limit = -1};
    assert_int_equal(forge_db_doc_find(f->c, "items", NULL, &b2, &cur, &err), FORGE_EINVAL);
    json_decref(badsort);

    forge_db_release(f->c); /* closes `left` */
    f->c = NULL;
    assert_int_equal(forge_db_acquire(f->db, 0, &f->c, &err), 0);
    assert_int_equal(count(f->c, "items", NULL), N);
    json_decref(sort);
    json_decref(proj);
    json_decref(asc);
}

static void test_aggregate(void **state)
{
    NEED();
    fx *f = *state;
    forge_error err;
    json_t *docs = J("[{\"cat\": \"tea\", \"qty\": 3}, {\"cat\": \"coffee\", \"qty\": 5},"
                     " {\"cat\": \"tea\", \"qty\": 4}, {\"cat\": \"cocoa\", \"qty\": 1},"
                     " {\"cat\": \"coffee\", \"qty\": 9}, {\"cat\": \"tea\", \"qty\": 0}]");
    assert_int_equal(forge_db_doc_insert_many(f->c, "sales", docs, NULL, &err), 0);
    json_t *p = J("[{\"$match\": {\"qty\": {\"$gt\": 0}}},"
                  " {\"$group\": {\"_id\": \"$cat\", \"total\": {\"$sum\": \"$qty\"},"
                  " \"n\": {\"$sum\": 1}}},"
                  " {\"$sort\": {\"total\": -1}}]");
    forge_db_cursor *cur;
    assert_int_equal(forge_db_doc_aggregate(f->c, "sales", p, 1, &cur, &err), 0);
    const char *want_id[] = {"coffee", "tea", "cocoa"};
    int want_total[] = {14, 7, 1}, want_n[] = {2, 2, 1};
    const json_t *d;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(forge_db_cursor_next(cur, &d, &err), 1);
        assert_string_equal(json_string_value(json_object_get(d, "_id")), want_id[i]);
        assert_int_equal(json_integer_value(json_object_get(d, "total")), want_total[i]);
        assert_int_equal(json_integer_value(json_object_get(d, "n")), want_n[i]);
    }
    assert_int_equal(forge_db_cursor_next(cur, &d, &err), 0);
    assert_int_equal(forge_db_cursor_next(cur, &d, &err), 0); /* stays at the end */
    forge_db_cursor_close(cur);

    /* Stages are single operators; server-side JavaScript is refused. */
    json_t *bad = J("[{\"$match\": {}, \"$sort\": {\"a\": 1}}]");
    assert_int_equal(forge_db_doc_aggregate(f->c, "sales", bad, 0, &cur, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "stage 0"));
    json_t *js = J("[{\"$group\": {\"_id\": null, \"x\": {\"$accumulator\": {}}}}]");
    assert_int_equal(forge_db_doc_aggregate(f->c, "sales", js, 0, &cur, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "JavaScript"));
    assert_string_equal(err.key, "pipeline[0].$group.x.$accumulator");
    json_decref(js);
    json_decref(bad);
    json_decref(p);
    json_decref(docs);
}

static void test_indexes(void **state)
{
    NEED();
    fx *f = *state;
    forge_error err;
    json_t *keys = J("{\"email\": 1}");
    forge_db_index_opts uo = {.unique = true};
    assert_int_equal(forge_db_doc_create_index(f->c, "users", keys, &uo, &err), 0);
    assert_int_equal(forge_db_doc_create_index(f->c, "users", keys, &uo, &err), 0); /* again */
    json_t *two = J("{\"last\": 1, \"first\": -1}");
    forge_db_index_opts named = {.name = "by_name"};
    assert_int_equal(forge_db_doc_create_index(f->c, "users", two, &named, &err), 0);

    json_t *a = J("{\"email\": \"a@example.org\", \"last\": \"A\", \"first\": \"x\"}");
    assert_int_equal(forge_db_doc_insert_one(f->c, "users", a, NULL, &err), 0);
    if (standin()) {
        /* The stand-in keeps index definitions but enforces only _id: assert that gap. */
        assert_int_equal(forge_db_doc_insert_one(f->c, "users", a, NULL, &err), 0);
        assert_int_equal(count(f->c, "users", NULL), 2);
        fprintf(stderr, "   (stand-in: unique secondary indexes are not enforced; "
                        "conflicts are tested on _id)\n");
    } else {
        assert_int_equal(forge_db_doc_insert_one(f->c, "users", a, NULL, &err), FORGE_ECONFLICT);
        assert_non_null(strstr(err.message, "E11000"));
        assert_int_equal(count(f->c, "users", NULL), 1);
    }
    /* The index is used by queries on its keys either way. */
    assert_int_equal(count(f->c, "users", "{\"email\": \"a@example.org\"}"), standin() ? 2 : 1);

    json_t *badkeys = J("{\"email\": 7}");
    assert_int_equal(forge_db_doc_create_index(f->c, "users", badkeys, NULL, &err), FORGE_EINVAL);
    json_t *empty = json_object();
    assert_int_equal(forge_db_doc_create_index(f->c, "users", empty, NULL, &err), FORGE_EINVAL);
    json_decref(empty);
    json_decref(badkeys);
    json_decref(a);
    json_decref(two);
    json_decref(keys);
}

/* Operators where data belongs are refused, naming the path; data stays data. */
static void test_injection_stays_data(void **state)
{
    NEED();
    fx *f = *state;
    forge_error err;
    const char *refused[][2] = {
        {"{\"$where\": \"sleep(1000)\"}", "$where"},
        {"{\"title\": {\"$gt\": \"\"}}", "title.$gt"},
        {"{\"a\": [{\"ok\": 1}, {\"$ne\": null}]}", "a[1].$ne"},
        {"{\"a.b\": 1}", "a.b"},
        {"{\"\": 1}", ""},
        {"{\"x\": {\"$oid\": \"not-hex\"}}", "x.$oid"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        json_t *d = J(refused[i][0]);
        assert_int_equal(forge_db_doc_insert_one(f->c, "notes", d, NULL, &err), FORGE_EINVAL);
        if (refused[i][1][0])
            assert_string_equal(err.key, refused[i][1]);
        json_decref(d);
    }
    /* One bad document in a batch: nothing is inserted. */
    json_t *batch = J("[{\"ok\": 1}, {\"$set\": {\"x\": 1}}]");
    assert_int_equal(forge_db_doc_insert_many(f->c, "notes", batch, NULL, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "nothing inserted"));
    assert_int_equal(count(f->c, "notes", NULL), 0);
    json_decref(batch);

    /* Strings that look like queries are stored and found as those bytes. */
    const char *evil[] = {"'; db.dropDatabase(); //", "{\"$gt\": \"\"}", "$where",
                          "this.a == 1 || true", "\\u0000"};
    for (size_t i = 0; i < sizeof(evil) / sizeof(*evil); i++) {
        json_t *d = json_pack("{s:s, s:i}", "title", evil[i], "i", (int)i);
        assert_int_equal(forge_db_doc_insert_one(f->c, "notes", d, NULL, &err), 0);
        json_t *q = json_pack("{s:s}", "title", evil[i]);
        int64_t n = -1;
        assert_int_equal(forge_db_doc_count(f->c, "notes", q, &n, &err), 0);
        assert_int_equal(n, 1);
        json_decref(q);
        json_decref(d);
    }
    assert_int_equal(count(f->c, "notes", NULL), 5);

    /* A client's object as a filter value: forge_db_doc_eq matches it literally. */
    json_t *client = J("{\"$ne\": null}");
    json_t *naive = json_pack("{s:O}", "title", client);
    int64_t n = -1;
    assert_int_equal(forge_db_doc_count(f->c, "notes", naive, &n, &err), 0);
    assert_int_equal(n, 5); /* what forge_db_doc_eq prevents */
    json_t *safe = json_pack("{s:o}", "title", forge_db_doc_eq(client));
    assert_int_equal(forge_db_doc_count(f->c, "notes", safe, &n, &err), 0);
    assert_int_equal(n, 0);
    json_decref(safe);
    json_decref(naive);
    json_decref(client);

    /* Updates: operators only at the top; $set values are data. */
    json_t *flt = J("{\"i\": 0}");
    json_t *repl = J("{\"title\": \"replaced\"}");
    assert_int_equal(forge_db_doc_update_one(f->c, "notes", flt, repl, 0, NULL, &err),
                     FORGE_EINVAL);
    assert_non_null(strstr(err.message, "operators only"));
    json_t *setop = J("{\"$set\": {\"title\": {\"$gt\": \"\"}}}");
    assert_int_equal(forge_db_doc_update_one(f->c, "notes", flt, setop, 0, NULL, &err),
                     FORGE_EINVAL);
    assert_string_equal(err.key, "$set.title.$gt");
    json_t *empty = json_object();
    assert_int_equal(forge_db_doc_update_one(f->c, "notes", flt, empty, 0, NULL, &err),
                     FORGE_EINVAL);
    /* Paths and modifiers where operators belong still work. */
    json_t *ok = J("{\"$set\": {\"meta.seen\": true}, \"$push\": {\"tags\": {\"$each\": [1, 2]}}}");
    forge_db_update_result r;
    assert_int_equal(forge_db_doc_update_one(f->c, "notes", flt, ok, 0, &r, &err), 0);
    assert_int_equal(r.modified, 1);
    assert_int_equal(count(f->c, "notes", "{\"meta.seen\": true, \"tags\": 2}"), 1);

    /* Filters: no server-side JavaScript; names of collections are checked. */
    json_t *js = J("{\"$where\": \"true\"}");
    assert_int_equal(forge_db_doc_delete_many(f->c, "notes", js, NULL, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "JavaScript"));
    json_t *arr = J("[1]");
    assert_int_equal(forge_db_doc_count(f->c, "notes", arr, &n, &err), FORGE_EINVAL);
    assert_int_equal(forge_db_doc_count(f->c, "$cmd", NULL, &n, &err), FORGE_EINVAL);
    assert_string_equal(err.key, "collection");
    assert_int_equal(forge_db_doc_count(f->c, "system.users", NULL, &n, &err), FORGE_EINVAL);
    assert_int_equal(forge_db_doc_count(f->c, "", NULL, &n, &err), FORGE_EINVAL);
    assert_int_equal(count(f->c, "notes", NULL), 5);

    /* Deep nesting is refused, not recursed into without end. */
    json_t *deep = json_pack("{s:i}", "v", 1);
    for (int i = 0; i < 150; i++)
        deep = json_pack("{s:o}", "d", deep);
    assert_int_equal(forge_db_doc_insert_one(f->c, "notes", deep, NULL, &err), FORGE_EINVAL);
    assert_non_null(strstr(err.message, "deeper"));
    json_decref(deep);

    json_t *vals[] = {flt, repl, setop, empty, ok, js, arr};
    for (size_t i = 0; i < sizeof(vals) / sizeof(*vals); i++)
        json_decref(vals[i]);
}

/* ---- the server goes away and comes back ---- */

static void test_outage(void **state)
{
    NEED();
    const char *stop = getenv("FORGE_TEST_MONGO_STOP"), *start = getenv("FORGE_TEST_MONGO_START");
    if (!stop || !start)
        skip();
    fx *f = *state;
    forge_error err;
    forge_db_release(f->c);
    f->c = NULL;
    forge_db_close(f->db);
    forge_db_opts o = {.max_conns = 2,
                       .connect_timeout_ms = 1000,
                       .validate_after_ms = 1,
                       .backoff_min_ms = 50,
                       .backoff_max_ms = 200,
                       .name = "outage"};
    assert_int_equal(forge_db_open(url(), &o, &f->db, &err), 0);
    assert_int_equal(forge_db_acquire(f->db, 0, &f->c, &err), 0);
    json_t *d = J("{\"k\": 1}");
    assert_int_equal(forge_db_doc_insert_one(f->c, "outage", d, NULL, &err), 0);
    forge_db_cursor *cur;
    forge_db_find_opts small = {.batch_size = 1};
    json_t *more = J("[{\"k\": 2}, {\"k\": 3}, {\"k\": 4}]");
    assert_int_equal(forge_db_doc_insert_many(f->c, "outage", more, NULL, &err), 0);
    assert_int_equal(forge_db_doc_find(f->c, "outage", NULL, &small, &cur, &err), 0);
    const json_t *got;
    assert_int_equal(forge_db_cursor_next(cur, &got, &err), 1);

    assert_int_equal(system(stop), 0);

    /* A connection in hand: clean FORGE_EIO errors, the cursor's getMore too. */
    int rc = forge_db_cursor_next(cur, &got, &err);
    assert_int_equal(rc, FORGE_EIO);
    assert_non_null(strstr(err.message, "outage"));
    forge_db_cursor_close(cur);
    assert_int_equal(forge_db_doc_insert_one(f->c, "outage", d, NULL, &err), FORGE_EIO);
    int64_t n;
    assert_int_equal(forge_db_doc_count(f->c, "outage", NULL, &n, &err), FORGE_EIO);
    forge_db_release(f->c); /* broken: dropped, not pooled */
    f->c = NULL;

    /* Not ready, and acquires fail fast. */
    assert_int_equal(forge_db_health(f->db, 500, &err), FORGE_UNHEALTHY);
    fprintf(stderr, "   health while down: %s\n", err.message);
    uint64_t t0 = now_ms();
    forge_db_conn *c;
    for (int i = 0; i < 20; i++)
        assert_int_equal(forge_db_acquire(f->db, 0, &c, &err), FORGE_EIO);
    uint64_t dt_ms = now_ms() - t0;
    fprintf(stderr, "   20 acquires while down: %llu ms (%s)\n", (unsigned long long)dt_ms,
            err.message);
    forge_db_stats st;
    forge_db_stats_get(f->db, &st);
    assert_false(st.up);

    assert_int_equal(system(start), 0);

    /* Back by itself: the first acquire after the backoff window reconnects. */
    forge_health h = FORGE_UNHEALTHY;
    for (int i = 0; i < 100 && h != FORGE_HEALTHY; i++) {
        h = forge_db_health(f->db, 1000, &err);
        if (h != FORGE_HEALTHY)
            usleep(100 * 1000);
    }
    assert_int_equal(h, FORGE_HEALTHY);
    assert_int_equal(forge_db_acquire(f->db, 0, &f->c, &err), 0);
    assert_int_equal(forge_db_doc_insert_one(f->c, "outage", d, NULL, &err), 0);
    assert_int_equal(count(f->c, "outage", NULL), 1); /* the stand-in keeps data in memory */
    forge_db_stats_get(f->db, &st);
    assert_true(st.up);
    json_decref(more);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest offline[] = {
        cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_sql_database_has_no_documents),
    };
    const struct CMUnitTest server[] = {
        cmocka_unit_test_setup_teardown(test_statements_and_transactions_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crud_and_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_many_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_sort_limit_getmore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aggregate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injection_stays_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage, setup, teardown),
    };
    int fails = cmocka_run_group_tests_name("mongo offline", offline, NULL, NULL);
    fprintf(stderr, "== MongoDB (FORGE_TEST_MONGO_URL %s)\n", url() ? "set" : "not set: skipped");
    fails += cmocka_run_group_tests_name("mongo", server, NULL, NULL);
    return fails;
}
