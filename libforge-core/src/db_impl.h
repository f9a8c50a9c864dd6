/*
 * Internal to the data layer: the pool, its connections and their
 * statement caches. db.c (URLs, drivers, open/close), db_pool.c (borrowing),
 * db_stmt.c (statements, rows), db_tx.c (transactions), db_app.c (services).
 */
#ifndef FORGE_DB_IMPL_H
#define FORGE_DB_IMPL_H

#include <forge/db.h>
#include <forge/db_driver.h>
#include <forge/db_doc.h>

#include <pthread.h>

/* One cached prepared statement of a connection. */
typedef struct forge__stmt {
    char *sql;
    uint64_t hash;
    void *h;       /* the driver's statement */
    uint64_t tick; /* last use, for LRU eviction */
} forge__stmt;

struct forge_db_rows {
    forge_db_conn *conn;
    void *h;     /* the driver's statement */
    bool cached; /* h belongs to the statement cache (else finalized on close) */
    bool open;
};

struct forge_db_conn {
    forge_db *db;
    void *h; /* the driver's connection */
    forge__stmt *stmts;
    size_t nstmts;
    uint64_t tick;
    int depth;            /* transaction nesting */
    bool timeout_changed; /* forge_db_set_timeout was called: reset on release */
    bool lent;            /* lent out (guards double release) */
    uint64_t idle_since_ns;
    forge_db_rows rows;       /* at most one open result per connection */
    forge_db_cursor *cursors; /* open document cursors (db_doc.c), closed on release */
    forge_db_conn *next;      /* idle list */
};

struct forge_db {
    char *url;
    char *redacted;
    char *name;
    char *urlbuf; /* owns the strings of `u` */
    forge_db_url u;
    const forge_db_driver *drv;
    forge_db_opts o;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    forge_db_conn *idle; /* LIFO: the most recently used first */
    uint32_t nidle, nbusy, nconnecting;
    uint64_t backoff_until_ns;
    uint32_t backoff_ms;
    int last_code;
    char last_err[512];
    bool closing;
    forge_db_stats st; /* counters; in_use/idle/waiting filled on read */
};

uint64_t forge__db_now_ns(void);
/* Copy a driver error into err, with the pool's name as context. Returns the code. */
int forge__db_err(forge_db *db, forge_error *err, const forge_db_derr *e, const char *what);
/* Close a connection (driver + statement cache). Pool lock not held. */
void forge__db_conn_destroy(forge_db_conn *c);
/* Free the pool once closed and nothing is lent out. Called with mu held; unlocks. */
void forge__db_maybe_free(forge_db *db);
/* Drop every cached statement of c (after a broken connection or on close). */
void forge__db_stmt_cache_clear(forge_db_conn *c);
/* Close the document cursors still open on c (before it goes back to the pool). */
void forge__db_cursors_close(forge_db_conn *c);

#endif
