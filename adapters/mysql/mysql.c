/*
 * The MariaDB / MySQL driver (libmariadb), plugin forge_db_mysql.so.
 *
 * URL: mysql://user:password@host:port/dbname (also mariadb://). Server-side
 * prepared statements with native `?` placeholders; results are fetched
 * whole (mysql_stmt_store_result) into per-column buffers sized from the
 * result's max lengths. Statement timeouts use the session's
 * max_statement_time; cancellation issues KILL QUERY from a second
 * connection; migrations lock with GET_LOCK. Connections use utf8mb4 and
 * allow several statements per script (migrations).
 */
#include <forge/db_driver.h>

#include <mysql.h>
#include <errmsg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct my_conn {
    MYSQL *m;
    bool broken;
    atomic_bool cancelled;
    uint32_t timeout_ms;
    int64_t last_id;
    /* to open the KILL QUERY connection */
    char *host, *user, *pass, *db;
    unsigned port;
} my_conn;

typedef struct my_col {
    char *buf;
    unsigned long len;
    my_bool is_null, error;
    enum enum_field_types type;
    bool binary;
} my_col;

typedef struct my_stmt {
    my_conn *c;
    MYSQL_STMT *st;
    unsigned nparams;
    MYSQL_RES *meta; /* NULL: no result set */
    MYSQL_BIND *rb;
    my_col *cols;
    unsigned ncols;
    bool row;
    int64_t changes;
} my_stmt;

static int map_errno(my_conn *c, unsigned e)
{
    switch (e) {
    case 1062: /* duplicate entry */
    case 1451:
    case 1452: /* foreign keys */
    case 1048: /* NOT NULL */
    case 1557:
    case 1586:
    case 3819: /* CHECK */
    case 4025: /* CHECK (MariaDB) */
        return FORGE_ECONFLICT;
    case 1969: /* max_statement_time exceeded */
        return FORGE_ETIMEDOUT;
    case 1317: /* interrupted */
        return atomic_load(&c->cancelled) ? FORGE_ECANCELED : FORGE_ETIMEDOUT;
    case 1205:
    case 1213:
        return FORGE_EBUSY;
    case 1044:
    case 1045:
    case 1142:
        return FORGE_EACCES;
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_CONN_HOST_ERROR:
    case CR_CONNECTION_ERROR:
    case 1927: /* connection killed */
    case 4031:
        c->broken = true;
        return FORGE_EIO;
    default:
        return e >= 1000 && e < 2000 ? FORGE_EINVAL : FORGE_EIO;
    }
}

static int conn_err(my_conn *c, forge_db_derr *e)
{
    unsigned no = mysql_errno(c->m);
    int code = map_errno(c, no);
    if (code == FORGE_ETIMEDOUT)
        return forge_db_derr_set(e, code, "statement timeout (%u ms) exceeded", c->timeout_ms);
    return forge_db_derr_set(e, code, "%s (error %u)", mysql_error(c->m), no);
}

static int stmt_err(my_stmt *s, forge_db_derr *e)
{
    unsigned no = mysql_stmt_errno(s->st);
    int code = map_errno(s->c, no);
    if (code == FORGE_ETIMEDOUT)
        return forge_db_derr_set(e, code, "statement timeout (%u ms) exceeded", s->c->timeout_ms);
    if (code == FORGE_ECANCELED)
        return forge_db_derr_set(e, code, "statement cancelled");
    return forge_db_derr_set(e, code, "%s (error %u)", mysql_stmt_error(s->st), no);
}

static int run(my_conn *c, const char *sql, forge_db_derr *e)
{
    atomic_store(&c->cancelled, false);
    if (mysql_real_query(c->m, sql, (unsigned long)strlen(sql)) != 0)
        return conn_err(c, e);
    int rc = 0;
    do {
        MYSQL_RES *r = mysql_store_result(c->m);
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(c->m) != 0)
            rc = conn_err(c, e);
        int more = mysql_next_result(c->m);
        if (more > 0) {
            rc = rc ? rc : conn_err(c, e);
            break;
        }
        if (more < 0)
            break;
    } while (1);
    return rc;
}

static MYSQL *open_raw(const my_conn *c, uint32_t connect_timeout_ms, unsigned long flags)
{
    MYSQL *m = mysql_init(NULL);
    if (!m)
        return NULL;
    unsigned secs = (connect_timeout_ms + 999) / 1000;
    secs = secs ? secs : 1;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    my_bool off = 0;
    mysql_options(m, MYSQL_OPT_RECONNECT, &off);
    if (!mysql_real_connect(m, c->host, c->user, c->pass, c->db, c->port, NULL, flags)) {
        return m; /* the caller reads the error and closes */
    }
    return m;
}

static int set_timeout_sql(my_conn *c, uint32_t ms, forge_db_derr *e)
{
    char sql[80];
    snprintf(sql, sizeof(sql), "SET SESSION max_statement_time = %.3f", ms / 1000.0);
    int rc = run(c, sql, e);
    if (rc == 0)
        c->timeout_ms = ms;
    return rc;
}

static void free_conn(my_conn *c)
{
    free(c->host);
    free(c->user);
    free(c->pass);
    free(c->db);
    free(c);
}

static int my_connect(const forge_db_url *u, const forge_db_connect_opts *o, void **out,
                      forge_db_derr *e)
{
    my_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    c->host = strdup(u->host[0] ? u->host : "127.0.0.1");
    c->user = strdup(u->user[0] ? u->user : "root");
    c->pass = strdup(u->password);
    c->db = strdup(u->path[0] ? u->path + 1 : "");
    c->port = u->port ? (unsigned)u->port : 3306;
    if (!c->host || !c->user || !c->pass || !c->db) {
        free_conn(c);
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    c->m = open_raw(c, o->connect_timeout_ms, CLIENT_MULTI_STATEMENTS | CLIENT_FOUND_ROWS);
    if (!c->m || mysql_errno(c->m)) {
        int rc = c->m ? forge_db_derr_set(e, FORGE_EIO, "connect: %s", mysql_error(c->m))
                      : forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
        if (c->m)
            mysql_close(c->m);
        free_conn(c);
        return rc;
    }
    if (o->statement_timeout_ms) {
        int rc = set_timeout_sql(c, o->statement_timeout_ms, e);
        if (rc < 0) {
            mysql_close(c->m);
            free_conn(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

static void my_close(void *conn)
{
    my_conn *c = conn;
    mysql_close(c->m);
    free_conn(c);
}

static int my_ping(void *conn, forge_db_derr *e)
{
    my_conn *c = conn;
    if (mysql_ping(c->m) != 0) {
        c->broken = true;
        return forge_db_derr_set(e, FORGE_EIO, "ping: %s", mysql_error(c->m));
    }
    return 0;
}

static bool my_broken(void *conn)
{
    return ((my_conn *)conn)->broken;
}

static int my_prepare(void *conn, const char *sql, void **out, forge_db_derr *e)
{
    my_conn *c = conn;
    my_stmt *s = calloc(1, sizeof(*s));
    if (!s)
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    s->c = c;
    s->st = mysql_stmt_init(c->m);
    if (!s->st) {
        free(s);
        return conn_err(c, e);
    }
    if (mysql_stmt_prepare(s->st, sql, (unsigned long)strlen(sql)) != 0) {
        int rc = stmt_err(s, e);
        mysql_stmt_close(s->st);
        free(s);
        return rc;
    }
    my_bool on = 1;
    mysql_stmt_attr_set(s->st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    s->nparams = mysql_stmt_param_count(s->st);
    *out = s;
    return 0;
}

static void free_result(my_stmt *s)
{
    if (s->meta) {
        mysql_stmt_free_result(s->st);
        mysql_free_result(s->meta);
        s->meta = NULL;
    }
    for (unsigned i = 0; s->cols && i < s->ncols; i++)
        free(s->cols[i].buf);
    free(s->cols);
    free(s->rb);
    s->cols = NULL;
    s->rb = NULL;
    s->ncols = 0;
    s->row = false;
}

static void my_finalize(void *stmt)
{
    my_stmt *s = stmt;
    free_result(s);
    mysql_stmt_close(s->st);
    free(s);
}

static int bind_result(my_stmt *s, forge_db_derr *e)
{
    s->ncols = mysql_num_fields(s->meta);
    MYSQL_FIELD *f = mysql_fetch_fields(s->meta);
    s->cols = calloc(s->ncols ? s->ncols : 1, sizeof(*s->cols));
    s->rb = calloc(s->ncols ? s->ncols : 1, sizeof(*s->rb));
    if (!s->cols || !s->rb)
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    for (unsigned i = 0; i < s->ncols; i++) {
        my_col *col = &s->cols[i];
        unsigned long cap = f[i].max_length + 1;
        col->buf = malloc(cap < 64 ? 64 : cap);
        if (!col->buf)
            return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
        col->type = f[i].type;
        col->binary = f[i].charsetnr == 63 &&
                      (f[i].type == MYSQL_TYPE_BLOB || f[i].type == MYSQL_TYPE_TINY_BLOB ||
                       f[i].type == MYSQL_TYPE_MEDIUM_BLOB || f[i].type == MYSQL_TYPE_LONG_BLOB ||
                       f[i].type == MYSQL_TYPE_STRING || f[i].type == MYSQL_TYPE_VAR_STRING);
        s->rb[i].buffer_type = MYSQL_TYPE_STRING;
        s->rb[i].buffer = col->buf;
        s->rb[i].buffer_length = cap < 64 ? 64 : cap;
        s->rb[i].length = &col->len;
        s->rb[i].is_null = &col->is_null;
        s->rb[i].error = &col->error;
    }
    if (mysql_stmt_bind_result(s->st, s->rb) != 0)
        return stmt_err(s, e);
    return 0;
}

static int my_execute(void *stmt, const forge_db_value *p, size_t n, forge_db_derr *e)
{
    my_stmt *s = stmt;
    free_result(s);
    if (s->nparams != n)
        return forge_db_derr_set(e, FORGE_EINVAL, "statement takes %u parameters, %zu given",
                                 s->nparams, n);
    MYSQL_BIND *b = calloc(n ? n : 1, sizeof(*b));
    signed char *tiny = calloc(n ? n : 1, 1);
    if (!b || !tiny) {
        free(b);
        free(tiny);
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        switch (p[i].type) {
        case FORGE_DB_T_INT:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = (void *)&p[i].v.i;
            break;
        case FORGE_DB_T_DOUBLE:
            b[i].buffer_type = MYSQL_TYPE_DOUBLE;
            b[i].buffer = (void *)&p[i].v.d;
            break;
        case FORGE_DB_T_BOOL:
            tiny[i] = p[i].v.b;
            b[i].buffer_type = MYSQL_TYPE_TINY;
            b[i].buffer = &tiny[i];
            break;
        case FORGE_DB_T_TEXT:
        case FORGE_DB_T_BLOB:
            b[i].buffer_type = p[i].type == FORGE_DB_T_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
            b[i].buffer = (void *)(p[i].v.s.p ? p[i].v.s.p : "");
            b[i].buffer_length = (unsigned long)p[i].v.s.n;
            break;
        default:
            b[i].buffer_type = MYSQL_TYPE_NULL;
        }
    }
    int rc = 0;
    atomic_store(&s->c->cancelled, false);
    if ((n && mysql_stmt_bind_param(s->st, b) != 0) || mysql_stmt_execute(s->st) != 0)
        rc = stmt_err(s, e);
    free(b);
    free(tiny);
    if (rc < 0)
        return rc;
    s->changes = (int64_t)mysql_stmt_affected_rows(s->st);
    s->c->last_id = (int64_t)mysql_stmt_insert_id(s->st);
    s->meta = mysql_stmt_result_metadata(s->st);
    if (!s->meta)
        return 0;
    if (mysql_stmt_store_result(s->st) != 0)
        return stmt_err(s, e);
    return bind_result(s, e);
}

static int my_next(void *stmt, forge_db_derr *e)
{
    my_stmt *s = stmt;
    if (!s->meta)
        return 0;
    int r = mysql_stmt_fetch(s->st);
    if (r == MYSQL_NO_DATA) {
        s->row = false;
        return 0;
    }
    if (r == 1)
        return stmt_err(s, e);
    s->row = true;
    return 1;
}

static size_t my_ncols(void *stmt)
{
    return ((my_stmt *)stmt)->ncols;
}

static const char *my_col_name(void *stmt, size_t col)
{
    my_stmt *s = stmt;
    return s->meta ? mysql_fetch_fields(s->meta)[col].name : NULL;
}

static void my_get(void *stmt, size_t col, forge_db_value *out)
{
    my_stmt *s = stmt;
    *out = FORGE_DB_NULL;
    if (!s->row || col >= s->ncols || s->cols[col].is_null)
        return;
    my_col *c = &s->cols[col];
    c->buf[c->len < s->rb[col].buffer_length ? c->len : s->rb[col].buffer_length - 1] = '\0';
    switch (c->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
        *out = FORGE_DB_INT(strtoll(c->buf, NULL, 10));
        break;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        *out = FORGE_DB_DOUBLE(strtod(c->buf, NULL));
        break;
    default:
        *out = c->binary ? FORGE_DB_BLOB(c->buf, c->len) : FORGE_DB_TEXTN(c->buf, c->len);
    }
}

static int64_t my_changes(void *stmt)
{
    return ((my_stmt *)stmt)->changes;
}

static void my_reset(void *stmt)
{
    free_result(stmt);
}

static int64_t my_last_id(void *conn)
{
    return ((my_conn *)conn)->last_id;
}

static int my_script(void *conn, const char *sql, forge_db_derr *e)
{
    return run(conn, sql, e);
}

static int my_set_timeout(void *conn, uint32_t ms, forge_db_derr *e)
{
    return set_timeout_sql(conn, ms, e);
}

static int my_cancel(void *conn)
{
    my_conn *c = conn;
    atomic_store(&c->cancelled, true);
    MYSQL *k = open_raw(c, 2000, 0);
    int rc = FORGE_EIO;
    if (k && !mysql_errno(k)) {
        char sql[64];
        snprintf(sql, sizeof(sql), "KILL QUERY %lu", mysql_thread_id(c->m));
        rc = mysql_query(k, sql) == 0 ? 0 : FORGE_EIO;
    }
    if (k)
        mysql_close(k);
    return rc;
}

static int my_lock(void *conn, const char *name, uint32_t timeout_ms, forge_db_derr *e)
{
    my_conn *c = conn;
    char esc[200], sql[300];
    if (strlen(name) > 64)
        return forge_db_derr_set(e, FORGE_EINVAL, "lock name too long");
    mysql_real_escape_string(c->m, esc, name, (unsigned long)strlen(name));
    snprintf(sql, sizeof(sql), "SELECT GET_LOCK('%s', %u)", esc, (timeout_ms + 999) / 1000);
    if (mysql_query(c->m, sql) != 0)
        return conn_err(c, e);
    MYSQL_RES *r = mysql_store_result(c->m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    bool got = row && row[0] && row[0][0] == '1';
    if (r)
        mysql_free_result(r);
    return got ? 0
               : forge_db_derr_set(e, FORGE_ETIMEDOUT, "lock '%s' still held after %u ms", name,
                                   timeout_ms);
}

static int my_unlock(void *conn, const char *name, forge_db_derr *e)
{
    my_conn *c = conn;
    char esc[200], sql[300];
    mysql_real_escape_string(c->m, esc, name, (unsigned long)strlen(name));
    snprintf(sql, sizeof(sql), "DO RELEASE_LOCK('%s')", esc);
    return run(c, sql, e);
}

static const char *const schemes[] = {"mysql", "mariadb", NULL};

static const forge_db_driver driver = {
    .abi = FORGE_DB_DRIVER_ABI,
    .size = sizeof(forge_db_driver),
    .name = "mysql",
    .schemes = schemes,
    .caps = FORGE_DB_CAP_SQL | FORGE_DB_CAP_LOCK | FORGE_DB_CAP_RETURNING,
    .connect = my_connect,
    .close = my_close,
    .ping = my_ping,
    .broken = my_broken,
    .prepare = my_prepare,
    .finalize = my_finalize,
    .execute = my_execute,
    .next = my_next,
    .ncols = my_ncols,
    .col_name = my_col_name,
    .get = my_get,
    .changes = my_changes,
    .reset = my_reset,
    .last_insert_id = my_last_id,
    .exec_script = my_script,
    .set_timeout = my_set_timeout,
    .cancel = my_cancel,
    .lock = my_lock,
    .unlock = my_unlock,
    .begin_exclusive_sql = "START TRANSACTION",
};

FORGE_EXPORT const forge_db_driver *forge_db_driver_entry(void)
{
    return &driver;
}
