/*
 * The MongoDB driver (libmongoc 1.23), plugin forge_db_mongo.so, for
 * mongodb://[user:pass@]host[:port]/database[?options] (ADR 0114).
 *
 * Each pooled connection is one single-threaded mongoc_client_t, not a
 * mongoc_client_pool_t: the core's pool already gives what Forge promises
 * for every database (limits, acquire timeouts, validation, reconnect
 * backoff, fast 503s, stats and metrics, ADR 0112), and a second pool
 * underneath would hide failures from it. A single-threaded client runs no
 * background monitor threads and selects its server once per call
 * (serverSelectionTryOnce), so a dead server is an error within the
 * connect timeout, never a long wait.
 *
 * The URL goes to libmongoc whole (its options apply); Forge sets
 * connectTimeoutMS and serverSelectionTimeoutMS from connect_timeout, and
 * socketTimeoutMS from statement_timeout (plus a second, so maxTimeMS, sent
 * on reads, is what normally fires). The path names the database.
 *
 * Statements (prepare/exec_script) are refused with FORGE_ENOSYS: documents
 * go through forge/db_doc.h. No transactions (no FORGE_DB_CAP_SQL).
 */
#include "mongo.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void)
{
    mongoc_init(); /* never cleaned up: plugins stay loaded (ADR 0110) */
}

/* Server error codes that mean the server is going away or is not usable. */
static bool server_gone(uint32_t code)
{
    switch (code) {
    case 91:    /* ShutdownInProgress */
    case 189:   /* PrimarySteppedDown */
    case 10107: /* NotWritablePrimary */
    case 11600: /* InterruptedAtShutdown */
    case 11602: /* InterruptedDueToReplStateChange */
    case 13435: /* NotPrimaryNoSecondaryOk */
        return true;
    default:
        return false;
    }
}

int mg_error(mg_conn *c, const bson_error_t *be, forge_db_derr *e)
{
    int code = FORGE_EINVAL;
    switch (be->domain) {
    case MONGOC_ERROR_STREAM:
    case MONGOC_ERROR_SERVER_SELECTION:
    case MONGOC_ERROR_PROTOCOL:
        code = FORGE_EIO;
        break;
    case MONGOC_ERROR_CLIENT:
    case MONGOC_ERROR_SASL:
    case MONGOC_ERROR_SCRAM:
        code = be->code == MONGOC_ERROR_CLIENT_AUTHENTICATE || be->domain != MONGOC_ERROR_CLIENT
                   ? FORGE_EACCES
                   : FORGE_EIO;
        break;
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_WRITE_CONCERN:
        if (be->code == 11000 || be->code == 11001 || be->code == 12582)
            code = FORGE_ECONFLICT; /* duplicate key */
        else if (be->code == 50)
            code = FORGE_ETIMEDOUT; /* MaxTimeMSExpired */
        else if (be->code == 13 || be->code == 18)
            code = FORGE_EACCES; /* Unauthorized, AuthenticationFailed */
        else if (server_gone(be->code))
            code = FORGE_EIO;
        break;
    case MONGOC_ERROR_TRANSACTION:
        code = FORGE_ENOSYS;
        break;
    default: /* BSON, COMMAND, CURSOR, NAMESPACE...: what was asked is wrong */
        break;
    }
    if (code == FORGE_EIO && c)
        c->broken = true;
    return forge_db_derr_set(e, code, "%s", be->message[0] ? be->message : "error");
}

static int ping(mg_conn *c, forge_db_derr *e)
{
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bson_error_t be;
    bool ok = mongoc_client_command_simple(c->cl, "admin", &cmd, NULL, NULL, &be);
    bson_destroy(&cmd);
    if (ok)
        return 0;
    int rc = mg_error(c, &be, e);
    /* Whatever the reason, a connection that cannot ping is not lent. */
    c->broken = true;
    return rc == FORGE_EINVAL ? forge_db_derr_set(e, FORGE_EIO, "ping: %s", be.message) : rc;
}

/* A database name MongoDB accepts: no '/', '\\', '.', ' ', '"', '$', at most 63 bytes. */
static bool good_dbname(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 64 && !strpbrk(s, "/\\. \"$");
}

static void mg_close(void *conn)
{
    mg_conn *c = conn;
    mongoc_client_destroy(c->cl);
    free(c->dbname);
    free(c);
}

static int mg_connect(const forge_db_url *u, const forge_db_connect_opts *o, void **out,
                      forge_db_derr *e)
{
    pthread_once(&init_once, init);
    if (!good_dbname(u->path[0] ? u->path + 1 : ""))
        return forge_db_derr_set(e, FORGE_EINVAL,
                                 "a mongodb URL names its database in the path "
                                 "(mongodb://host:27017/app; no '.', '/', '$' or spaces)");
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(u->raw, &be);
    if (!uri)
        return forge_db_derr_set(e, FORGE_EINVAL, "bad mongodb URL: %s", be.message);
    int32_t cto = (int32_t)(o->connect_timeout_ms ? o->connect_timeout_ms : 5000);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, cto);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, cto);
    if (o->statement_timeout_ms)
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS,
                                       (int32_t)o->statement_timeout_ms + 1000);
    if (!mongoc_uri_get_appname(uri))
        mongoc_uri_set_appname(uri, "forge");
    mg_conn *c = calloc(1, sizeof(*c));
    if (c)
        c->dbname = strdup(u->path + 1);
    if (!c || !c->dbname) {
        free(c);
        mongoc_uri_destroy(uri);
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    c->cl = mongoc_client_new_from_uri_with_error(uri, &be);
    mongoc_uri_destroy(uri);
    if (!c->cl) {
        free(c->dbname);
        free(c);
        return forge_db_derr_set(e, FORGE_EINVAL, "bad mongodb URL: %s", be.message);
    }
    mongoc_client_set_error_api(c->cl, MONGOC_ERROR_API_VERSION_2);
    c->timeout_ms = o->statement_timeout_ms;
    /* libmongoc connects lazily: a ping makes "connected" mean the server answered. */
    int rc = ping(c, e);
    if (rc < 0) {
        mg_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int mg_ping(void *conn, forge_db_derr *e)
{
    return ping(conn, e);
}

static bool mg_broken(void *conn)
{
    return ((mg_conn *)conn)->broken;
}

/* ---- the SQL-shaped entries: refused ---- */

static int mg_prepare(void *conn, const char *sql, void **stmt, forge_db_derr *e)
{
    (void)conn;
    (void)sql;
    *stmt = NULL;
    return forge_db_derr_set(e, FORGE_ENOSYS,
                             "MongoDB takes documents, not statements: use forge_db_doc_* "
                             "(forge/db_doc.h)");
}

static void mg_finalize(void *stmt)
{
    (void)stmt;
}

static int mg_execute(void *stmt, const forge_db_value *p, size_t n, forge_db_derr *e)
{
    (void)stmt;
    (void)p;
    (void)n;
    return forge_db_derr_set(e, FORGE_ENOSYS, "MongoDB has no statements");
}

static int mg_next(void *stmt, forge_db_derr *e)
{
    (void)stmt;
    (void)e;
    return 0;
}

static size_t mg_ncols(void *stmt)
{
    (void)stmt;
    return 0;
}

static const char *mg_col_name(void *stmt, size_t col)
{
    (void)stmt;
    (void)col;
    return NULL;
}

static void mg_get(void *stmt, size_t col, forge_db_value *out)
{
    (void)stmt;
    (void)col;
    *out = FORGE_DB_NULL;
}

static int64_t mg_changes(void *stmt)
{
    (void)stmt;
    return 0;
}

static void mg_reset(void *stmt)
{
    (void)stmt;
}

static int64_t mg_last_id(void *conn)
{
    (void)conn;
    return -1;
}

static int mg_script(void *conn, const char *sql, forge_db_derr *e)
{
    (void)conn;
    (void)sql;
    return forge_db_derr_set(e, FORGE_ENOSYS, "MongoDB runs no SQL scripts");
}

static int mg_set_timeout(void *conn, uint32_t ms, forge_db_derr *e)
{
    (void)e;
    ((mg_conn *)conn)->timeout_ms = ms;
    return 0;
}

static const char *const schemes[] = {"mongodb", NULL};

static const forge_db_driver driver = {
    .abi = FORGE_DB_DRIVER_ABI,
    .size = sizeof(forge_db_driver),
    .name = "mongo",
    .schemes = schemes,
    .caps = FORGE_DB_CAP_DOC,
    .connect = mg_connect,
    .close = mg_close,
    .ping = mg_ping,
    .broken = mg_broken,
    .prepare = mg_prepare,
    .finalize = mg_finalize,
    .execute = mg_execute,
    .next = mg_next,
    .ncols = mg_ncols,
    .col_name = mg_col_name,
    .get = mg_get,
    .changes = mg_changes,
    .reset = mg_reset,
    .last_insert_id = mg_last_id,
    .exec_script = mg_script,
    .set_timeout = mg_set_timeout,
    .cancel = NULL,
    .doc = &mg_doc_ops,
};

FORGE_EXPORT const forge_db_driver *forge_db_driver_entry(void)
{
    return &driver;
}
