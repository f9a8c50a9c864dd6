/*
 * The SQLite driver (libsqlite3), plugin forge_db_sqlite.so.
 *
 * URL: sqlite:///absolute/path.db, sqlite://relative/path.db or
 * sqlite://:memory: (each connection then has its own database). Query
 * options: mode=ro|rw|rwc (default rwc), busy_timeout=ms.
 * Files are opened in WAL mode with foreign keys on. Statement timeouts and
 * cancellation use a progress handler that interrupts the statement.
 */
#include <forge/db_driver.h>

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sq_conn {
    sqlite3 *db;
    uint32_t timeout_ms;
    uint64_t deadline_ns; /* 0: none */
    atomic_bool cancel;
    bool timed_out;
} sq_conn;

typedef struct sq_stmt {
    sq_conn *c;
    sqlite3_stmt *st;
    int state; /* SQLITE_ROW: a row is buffered; SQLITE_DONE; 0 before execute */
    bool first;
    int64_t changes;
} sq_stmt;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int progress(void *arg)
{
    sq_conn *c = arg;
    if (atomic_load_explicit(&c->cancel, memory_order_relaxed))
        return 1;
    if (c->deadline_ns && now_ns() > c->deadline_ns) {
        c->timed_out = true;
        return 1;
    }
    return 0;
}

static int map(sq_conn *c, int rc, forge_db_derr *e, bool in_prepare)
{
    int code;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        code = FORGE_ECONFLICT;
        break;
    case SQLITE_INTERRUPT:
        code = c->timed_out ? FORGE_ETIMEDOUT : FORGE_ECANCELED;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = FORGE_EBUSY;
        break;
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
        code = FORGE_EINVAL;
        break;
    case SQLITE_ERROR:
        code = in_prepare ? FORGE_EINVAL : FORGE_EIO;
        break;
    case SQLITE_NOMEM:
        code = FORGE_ENOMEM;
        break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        code = FORGE_EACCES;
        break;
    default:
        code = FORGE_EIO;
    }
    if (code == FORGE_ETIMEDOUT)
        return forge_db_derr_set(e, code, "statement timeout (%u ms) exceeded", c->timeout_ms);
    if (code == FORGE_ECANCELED)
        return forge_db_derr_set(e, code, "statement cancelled");
    return forge_db_derr_set(e, code, "%s", sqlite3_errmsg(c->db));
}

static const char *query_opt(const char *q, const char *key, char *buf, size_t cap)
{
    size_t kn = strlen(key);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > kn && strncmp(q, key, kn) == 0 && q[kn] == '=') {
            size_t vn = n - kn - 1 < cap - 1 ? n - kn - 1 : cap - 1;
            memcpy(buf, q + kn + 1, vn);
            buf[vn] = '\0';
            return buf;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static int sq_connect(const forge_db_url *u, const forge_db_connect_opts *o, void **out,
                      forge_db_derr *e)
{
    /* Everything between "://" and "?": sqlite:///abs, sqlite://rel, sqlite://:memory: */
    const char *p = strstr(u->raw, "://");
    p = p ? p + 3 : u->raw;
    size_t n = strcspn(p, "?");
    if (n == 0)
        return forge_db_derr_set(e, FORGE_EINVAL, "sqlite URL has no path (sqlite:///path.db)");
    char *path = malloc(n + 1);
    if (!path)
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    memcpy(path, p, n);
    path[n] = '\0';
    char buf[32];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const char *mode = query_opt(u->query, "mode", buf, sizeof(buf));
    if (mode && strcmp(mode, "ro") == 0)
        flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
    else if (mode && strcmp(mode, "rw") == 0)
        flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    sq_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        free(path);
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    bool memory = strcmp(path, ":memory:") == 0;
    if (rc != SQLITE_OK) {
        forge_db_derr_set(e, FORGE_EIO, "cannot open %s: %s", path,
                          c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        free(c);
        free(path);
        return FORGE_EIO;
    }
    free(path);
    const char *bt = query_opt(u->query, "busy_timeout", buf, sizeof(buf));
    sqlite3_busy_timeout(c->db, bt ? atoi(bt)
                                   : (int)(o->connect_timeout_ms ? o->connect_timeout_ms : 5000));
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_progress_handler(c->db, 1000, progress, c);
    c->timeout_ms = o->statement_timeout_ms;
    sqlite3_exec(c->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (!memory && !(flags & SQLITE_OPEN_READONLY))
        sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    *out = c;
    return 0;
}

static void sq_close(void *conn)
{
    sq_conn *c = conn;
    sqlite3_close_v2(c->db);
    free(c);
}

static int sq_ping(void *conn, forge_db_derr *e)
{
    sq_conn *c = conn;
    int rc = sqlite3_exec(c->db, "SELECT 1", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : map(c, rc, e, false);
}

static bool sq_broken(void *conn)
{
    (void)conn;
    return false;
}

static int sq_prepare(void *conn, const char *sql, void **out, forge_db_derr *e)
{
    sq_conn *c = conn;
    sq_stmt *s = calloc(1, sizeof(*s));
    if (!s)
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, &tail);
    if (rc != SQLITE_OK) {
        free(s);
        return map(c, rc, e, true);
    }
    if (!s->st) {
        free(s);
        return forge_db_derr_set(e, FORGE_EINVAL, "empty statement");
    }
    while (tail && *tail && strchr(" \t\r\n;", *tail))
        tail++;
    if (tail && *tail) {
        sqlite3_finalize(s->st);
        free(s);
        return forge_db_derr_set(e, FORGE_EINVAL,
                                 "one statement per call (use forge_db_exec_script for several)");
    }
    s->c = c;
    *out = s;
    return 0;
}

static void sq_finalize(void *stmt)
{
    sq_stmt *s = stmt;
    sqlite3_finalize(s->st);
    free(s);
}

static void arm(sq_conn *c)
{
    atomic_store(&c->cancel, false);
    c->timed_out = false;
    c->deadline_ns = c->timeout_ms ? now_ns() + (uint64_t)c->timeout_ms * 1000000ull : 0;
}

static int step(sq_stmt *s, forge_db_derr *e)
{
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        s->state = rc;
        if (rc == SQLITE_DONE)
            s->changes = sqlite3_changes64(s->c->db);
        return 0;
    }
    s->state = SQLITE_DONE;
    return map(s->c, rc, e, false);
}

static int sq_execute(void *stmt, const forge_db_value *p, size_t n, forge_db_derr *e)
{
    sq_stmt *s = stmt;
    int want = sqlite3_bind_parameter_count(s->st);
    if ((size_t)want != n)
        return forge_db_derr_set(e, FORGE_EINVAL, "statement takes %d parameters, %zu given", want,
                                 n);
    for (size_t i = 0; i < n; i++) {
        int col = (int)i + 1, rc;
        switch (p[i].type) {
        case FORGE_DB_T_INT:
            rc = sqlite3_bind_int64(s->st, col, p[i].v.i);
            break;
        case FORGE_DB_T_DOUBLE:
            rc = sqlite3_bind_double(s->st, col, p[i].v.d);
            break;
        case FORGE_DB_T_BOOL:
            rc = sqlite3_bind_int(s->st, col, p[i].v.b);
            break;
        case FORGE_DB_T_TEXT:
            rc = sqlite3_bind_text64(s->st, col, p[i].v.s.p ? p[i].v.s.p : "", p[i].v.s.n,
                                     SQLITE_TRANSIENT, SQLITE_UTF8);
            break;
        case FORGE_DB_T_BLOB:
            rc = sqlite3_bind_blob64(s->st, col, p[i].v.s.p ? p[i].v.s.p : "", p[i].v.s.n,
                                     SQLITE_TRANSIENT);
            break;
        default:
            rc = sqlite3_bind_null(s->st, col);
        }
        if (rc != SQLITE_OK)
            return map(s->c, rc, e, false);
    }
    arm(s->c);
    s->first = true;
    s->changes = 0;
    return step(s, e);
}

static int sq_next(void *stmt, forge_db_derr *e)
{
    sq_stmt *s = stmt;
    if (s->first) {
        s->first = false;
        return s->state == SQLITE_ROW;
    }
    if (s->state != SQLITE_ROW)
        return 0;
    int rc = step(s, e);
    return rc < 0 ? rc : s->state == SQLITE_ROW;
}

static size_t sq_ncols(void *stmt)
{
    return (size_t)sqlite3_column_count(((sq_stmt *)stmt)->st);
}

static const char *sq_col_name(void *stmt, size_t col)
{
    return sqlite3_column_name(((sq_stmt *)stmt)->st, (int)col);
}

static void sq_get(void *stmt, size_t col, forge_db_value *out)
{
    sq_stmt *s = stmt;
    if (s->state != SQLITE_ROW) {
        *out = FORGE_DB_NULL;
        return;
    }
    int i = (int)col;
    switch (sqlite3_column_type(s->st, i)) {
    case SQLITE_INTEGER:
        *out = FORGE_DB_INT(sqlite3_column_int64(s->st, i));
        break;
    case SQLITE_FLOAT:
        *out = FORGE_DB_DOUBLE(sqlite3_column_double(s->st, i));
        break;
    case SQLITE_TEXT: {
        const char *t = (const char *)sqlite3_column_text(s->st, i);
        *out = FORGE_DB_TEXTN(t, (size_t)sqlite3_column_bytes(s->st, i));
        break;
    }
    case SQLITE_BLOB: {
        const void *b = sqlite3_column_blob(s->st, i);
        *out = FORGE_DB_BLOB(b, (size_t)sqlite3_column_bytes(s->st, i));
        break;
    }
    default:
        *out = FORGE_DB_NULL;
    }
}

static int64_t sq_changes(void *stmt)
{
    return ((sq_stmt *)stmt)->changes;
}

static void sq_reset(void *stmt)
{
    sq_stmt *s = stmt;
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
    s->state = 0;
}

static int64_t sq_last_id(void *conn)
{
    return sqlite3_last_insert_rowid(((sq_conn *)conn)->db);
}

static int sq_script(void *conn, const char *sql, forge_db_derr *e)
{
    sq_conn *c = conn;
    arm(c);
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    int code = map(c, rc, e, false);
    if (msg && code != FORGE_ETIMEDOUT && code != FORGE_ECANCELED)
        forge_db_derr_set(e, code == FORGE_EIO && (rc & 0xff) == SQLITE_ERROR ? FORGE_EINVAL : code,
                          "%s", msg);
    sqlite3_free(msg);
    return e->code;
}

static int sq_set_timeout(void *conn, uint32_t ms, forge_db_derr *e)
{
    (void)e;
    ((sq_conn *)conn)->timeout_ms = ms;
    return 0;
}

static int sq_cancel(void *conn)
{
    sq_conn *c = conn;
    atomic_store(&c->cancel, true);
    sqlite3_interrupt(c->db);
    return 0;
}

static const char *const schemes[] = {"sqlite", "sqlite3", NULL};

static const forge_db_driver driver = {
    .abi = FORGE_DB_DRIVER_ABI,
    .size = sizeof(forge_db_driver),
    .name = "sqlite",
    .schemes = schemes,
    .caps = FORGE_DB_CAP_SQL | FORGE_DB_CAP_RETURNING,
    .connect = sq_connect,
    .close = sq_close,
    .ping = sq_ping,
    .broken = sq_broken,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .execute = sq_execute,
    .next = sq_next,
    .ncols = sq_ncols,
    .col_name = sq_col_name,
    .get = sq_get,
    .changes = sq_changes,
    .reset = sq_reset,
    .last_insert_id = sq_last_id,
    .exec_script = sq_script,
    .set_timeout = sq_set_timeout,
    .cancel = sq_cancel,
    .begin_exclusive_sql = "BEGIN EXCLUSIVE",
};

FORGE_EXPORT const forge_db_driver *forge_db_driver_entry(void)
{
    return &driver;
}
