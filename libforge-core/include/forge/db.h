/*
 * Forge: databases.
 *
 * A forge_db is a pool of connections to one database, opened by URL:
 *
 *     sqlite:///var/lib/app/app.db    sqlite://:memory:  (absolute path after the scheme's //)
 *     postgres://user:pass@127.0.0.1:5432/app?sslmode=disable
 *     mysql://user:pass@127.0.0.1:3306/app     (MariaDB and MySQL)
 *     redis://127.0.0.1:6379/0
 *
 * The scheme names a driver (adapters/<name>/, see db_driver.h). A driver is
 * found among those registered with forge_db_register_driver, else loaded as
 * the plugin forge_db_<scheme>.so (ADR 0110).
 *
 * Statements use `?` placeholders on every driver (the PostgreSQL driver
 * numbers them); values are always bound, never spliced into the text. On
 * Redis a statement is a command whose words are split on spaces, each `?`
 * being one bound argument ("SET ? ? PX ?").
 *
 *     forge_db_conn *c;
 *     if (forge_db_acquire(db, 0, &c, err) < 0) return ...;
 *     forge_db_rows *r;
 *     forge_db_value p[] = {FORGE_DB_INT(id)};
 *     int rc = forge_db_query(c, "SELECT title, body FROM notes WHERE id = ?", p, 1, &r, err);
 *     while (rc == 0 && (rc = forge_db_rows_next(r, err)) == 1) {
 *         forge_str title = forge_db_text(r, 0);
 *         ...
 *     }
 *     forge_db_rows_close(r);
 *     forge_db_release(c);
 *
 * Blocking: every call that talks to the server blocks the calling thread.
 * Handlers that use the database must be declared FORGE_ROUTE_BLOCKING (they
 * then run on the runtime's thread pool on nginx and Kore, in place on
 * Apache), or hand the work to forge_db_async, which runs it on the pool and
 * completes the request. Never call these from the host's event loop.
 *
 * Thread safety: a forge_db is safe from any thread. A forge_db_conn and
 * the rows made from it belong to one thread at a time; forge_db_cancel may
 * be called from any thread.
 */
#ifndef FORGE_DB_H
#define FORGE_DB_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/app.h>

typedef struct forge_db forge_db;
typedef struct forge_db_conn forge_db_conn;
typedef struct forge_db_rows forge_db_rows;

/* ---- values ---- */

typedef enum forge_db_type {
    FORGE_DB_T_NULL = 0,
    FORGE_DB_T_INT,    /* int64_t */
    FORGE_DB_T_DOUBLE, /* double */
    FORGE_DB_T_TEXT,   /* UTF-8 bytes, not necessarily NUL-terminated */
    FORGE_DB_T_BLOB,   /* bytes */
    FORGE_DB_T_BOOL
} forge_db_type;

/* A bound parameter or a column value. Bytes are borrowed (see each use). */
typedef struct forge_db_value {
    forge_db_type type;
    union {
        int64_t i;
        double d;
        bool b;
        forge_str s; /* TEXT and BLOB */
    } v;
} forge_db_value;

#define FORGE_DB_NULL        ((forge_db_value){FORGE_DB_T_NULL, {.i = 0}})
#define FORGE_DB_INT(x)      ((forge_db_value){FORGE_DB_T_INT, {.i = (int64_t)(x)}})
#define FORGE_DB_DOUBLE(x)   ((forge_db_value){FORGE_DB_T_DOUBLE, {.d = (double)(x)}})
#define FORGE_DB_BOOL(x)     ((forge_db_value){FORGE_DB_T_BOOL, {.b = (x)}})
#define FORGE_DB_TEXTN(p, n) ((forge_db_value){FORGE_DB_T_TEXT, {.s = {(p), (n)}}})
#define FORGE_DB_BLOB(p, n)  ((forge_db_value){FORGE_DB_T_BLOB, {.s = {(p), (n)}}})
/* A C string, or NULL as SQL NULL. */
FORGE_API forge_db_value forge_db_text(const char *s);

/* ---- opening ---- */

typedef struct forge_db_opts {
    uint32_t min_conns;            /* kept open (0: none); default 0 */
    uint32_t max_conns;            /* 0: 8 */
    uint32_t acquire_timeout_ms;   /* waiting for a free connection; 0: 5000 */
    uint32_t connect_timeout_ms;   /* per connection attempt; 0: 5000 */
    uint32_t statement_timeout_ms; /* per statement; 0: none */
    uint32_t idle_timeout_ms;      /* idle connections above min_conns closed after; 0: 60000 */
    uint32_t validate_after_ms;    /* ping a connection idle this long before lending it; 0: 2000 */
    uint32_t backoff_min_ms;       /* reconnect backoff after a failed connect; 0: 100 */
    uint32_t backoff_max_ms;       /* 0: 5000 */
    uint32_t stmt_cache;           /* prepared statements kept per connection; 0: 64 */
    bool connect_now;              /* forge_db_open fails when the first connect fails */
    const char *name;              /* for messages and stats; default: the scheme */
    void *reserved[4];
} forge_db_opts;

/*
 * Open a pool. The URL is copied. Unless opts->connect_now, an unreachable
 * server is not an error here: connections are made on demand (and
 * min_conns by forge_db_maintain), failures are retried with backoff and
 * reported by forge_db_acquire and forge_db_health. Errors: FORGE_EINVAL
 * (malformed URL), FORGE_ENOENT (no driver for the scheme, naming the
 * plugin path tried), FORGE_EIO (connect_now and the server is unreachable).
 * The password of the URL never appears in messages.
 */
FORGE_API int forge_db_open(const char *url, const forge_db_opts *opts, forge_db **out,
                            forge_error *err);
/* Close every connection; connections still lent out are closed on release. */
FORGE_API void forge_db_close(forge_db *db);

FORGE_API const char *forge_db_name(const forge_db *db);
FORGE_API const char *forge_db_driver_name(const forge_db *db); /* "sqlite", "postgres"... */
/* The URL with its password replaced by "***" (db-owned). */
FORGE_API const char *forge_db_url_redacted(const forge_db *db);

/* ---- connections (the pool) ---- */

/*
 * Borrow a connection (timeout_ms 0: the pool's acquire_timeout). A
 * connection idle longer than validate_after_ms is pinged first and replaced
 * when dead. Errors: FORGE_ETIMEDOUT (every connection busy for timeout_ms),
 * FORGE_EIO (the server is unreachable; within the backoff window after a
 * failed connect this fails at once, so callers can answer 503 fast).
 */
FORGE_API int forge_db_acquire(forge_db *db, uint32_t timeout_ms, forge_db_conn **out,
                               forge_error *err);
/*
 * Give a connection back. An open transaction is rolled back; a connection
 * that lost its server is closed instead of pooled. Safe on NULL.
 */
FORGE_API void forge_db_release(forge_db_conn *c);

/* Close idle connections past idle_timeout, open up to min_conns. Any thread. */
FORGE_API void forge_db_maintain(forge_db *db);

typedef struct forge_db_stats {
    uint32_t in_use;           /* lent out now */
    uint32_t idle;             /* open and free now */
    uint32_t waiting;          /* threads in forge_db_acquire now */
    uint64_t acquires;         /* successful acquires */
    uint64_t acquire_timeouts; /* FORGE_ETIMEDOUT from acquire */
    uint64_t acquire_failures; /* FORGE_EIO from acquire */
    uint64_t acquire_ns_total; /* time spent in successful acquires */
    uint64_t acquire_ns_max;
    uint64_t connects; /* connections opened */
    uint64_t connect_failures;
    uint64_t validations_failed; /* dead connections found on borrow */
    uint64_t evictions;          /* idle connections closed */
    uint64_t stmt_cache_hits;
    uint64_t stmt_cache_misses;
    bool up; /* the last connect or ping succeeded */
} forge_db_stats;

FORGE_API void forge_db_stats_get(forge_db *db, forge_db_stats *out);

/*
 * Health for readiness: FORGE_HEALTHY when a connection can be borrowed and
 * pinged within timeout_ms (0: 1000), FORGE_UNHEALTHY otherwise with err
 * saying why (the last connect error).
 */
FORGE_API forge_health forge_db_health(forge_db *db, uint32_t timeout_ms, forge_error *err);

/* ---- statements ---- */

/*
 * Run a statement that returns no rows. `affected` (may be NULL) receives
 * the number of rows changed. Errors: FORGE_EINVAL (bad SQL or parameter
 * count), FORGE_ECONFLICT (a constraint was violated), FORGE_ETIMEDOUT (the
 * statement timeout), FORGE_ECANCELED (forge_db_cancel), FORGE_EIO (the
 * connection broke), each with the server's message in err.
 */
FORGE_API int forge_db_exec(forge_db_conn *c, const char *sql, const forge_db_value *params,
                            size_t nparams, int64_t *affected, forge_error *err);

/*
 * Run a statement and iterate its rows. *out must be closed with
 * forge_db_rows_close before the next statement on the connection. The
 * prepared statement is kept in the connection's cache (keyed by the text).
 */
FORGE_API int forge_db_query(forge_db_conn *c, const char *sql, const forge_db_value *params,
                             size_t nparams, forge_db_rows **out, forge_error *err);

/* 1: a row is current; 0: no more rows; negative: an error (as forge_db_exec). */
FORGE_API int forge_db_rows_next(forge_db_rows *r, forge_error *err);
FORGE_API void forge_db_rows_close(forge_db_rows *r);

FORGE_API size_t forge_db_rows_ncols(const forge_db_rows *r);
FORGE_API const char *forge_db_rows_name(const forge_db_rows *r, size_t col);

/*
 * Typed getters of the current row. Borrowed bytes stay valid until the
 * next forge_db_rows_next or close. Conversions: integers and doubles
 * convert to each other; text holding a number converts to it (PostgreSQL
 * and MariaDB send text); NULL gives 0 / {NULL,0}. A getter on a column
 * out of range gives the NULL result.
 */
FORGE_API bool forge_db_is_null(forge_db_rows *r, size_t col);
FORGE_API int64_t forge_db_int(forge_db_rows *r, size_t col);
FORGE_API double forge_db_double(forge_db_rows *r, size_t col);
FORGE_API bool forge_db_bool(forge_db_rows *r, size_t col);
FORGE_API forge_str forge_db_str(forge_db_rows *r, size_t col); /* text or blob bytes */
/* The value as the driver gives it (type FORGE_DB_T_*). */
FORGE_API forge_db_value forge_db_get(forge_db_rows *r, size_t col);

/* The id of the last inserted row (SQLite rowid, MariaDB AUTO_INCREMENT); -1 if unknown. */
FORGE_API int64_t forge_db_last_insert_id(forge_db_conn *c);

/* Run SQL text holding several statements, without parameters (migrations, schemas). */
FORGE_API int forge_db_exec_script(forge_db_conn *c, const char *sql, forge_error *err);

/* ---- timeouts and cancellation ---- */

/* The statement timeout of this connection (0: none) until released. */
FORGE_API int forge_db_set_timeout(forge_db_conn *c, uint32_t ms, forge_error *err);
/* Ask the server to stop the statement running on c. Any thread; 0 or FORGE_ENOSYS. */
FORGE_API int forge_db_cancel(forge_db_conn *c);

/* ---- transactions ---- */

/*
 * forge_db_begin opens a transaction, or, inside one, a savepoint:
 * transactions nest. commit releases the innermost level (COMMIT or
 * RELEASE SAVEPOINT), rollback undoes it (ROLLBACK or ROLLBACK TO
 * SAVEPOINT). forge_db_tx_depth is 0 outside a transaction.
 */
FORGE_API int forge_db_begin(forge_db_conn *c, forge_error *err);
FORGE_API int forge_db_commit(forge_db_conn *c, forge_error *err);
FORGE_API int forge_db_rollback(forge_db_conn *c, forge_error *err);
FORGE_API int forge_db_tx_depth(const forge_db_conn *c);

FORGE_API forge_db *forge_db_conn_db(const forge_db_conn *c);

/* ---- apps: a pool as a service ---- */

/*
 * Register the database `name` of the app's configuration as a service
 * named "db.<name>", whose pool is reached with forge_app_db. Keys (all
 * under db.<name>): url, min_conns, max_conns, acquire_timeout,
 * connect_timeout, statement_timeout, idle_timeout, validate_after,
 * migrations (a directory applied at start; "{driver}" in it is replaced by
 * the driver's name, so one app can ship migrations/sqlite and
 * migrations/postgres). opts (may be NULL) gives defaults for url and
 * migrations; without a url from either, registration fails naming the key.
 * The service's health callback is forge_db_health, so readiness follows
 * the database; an unreachable server at start is logged and reported by
 * health, never fatal, unless migrations are configured (they need the
 * server: the start then fails with the reason).
 */
typedef struct forge_app_db_opts {
    const char *default_url;
    const char *default_migrations;
    void *reserved[4];
} forge_app_db_opts;
FORGE_API int forge_app_db_register(forge_app *app, const char *name, const forge_app_db_opts *opts,
                                    forge_error *err);
/* The pool of a registered database; NULL before its service started or for an unknown name. */
FORGE_API forge_db *forge_app_db(forge_app *app, const char *name);

/*
 * Run fn on the runtime's pool with a borrowed connection, then finish the
 * request. The handler returns what forge_db_async returns (FORGE_ASYNC, or
 * a negative code when the job could not be queued). When no connection can
 * be borrowed, fn is not called and the request gets a 503 problem+json.
 * fn sets the response and returns 0 or a negative code (answered by
 * forge_db_problem).
 */
typedef int (*forge_db_job_fn)(forge_req *req, forge_db_conn *c, void *udata);
FORGE_API int forge_db_async(forge_req *req, forge_db *db, forge_db_job_fn fn, void *udata);

/*
 * Answer a request for a failed database call: 503 with Retry-After for
 * FORGE_EIO / FORGE_ETIMEDOUT (unavailable), 409 for FORGE_ECONFLICT, 500
 * otherwise; problem+json whose detail never includes SQL or parameters.
 * Returns 0 (the response is set).
 */
FORGE_API int forge_db_problem(forge_req *req, int rc, const forge_error *err);

#endif
