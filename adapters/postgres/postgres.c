/*
 * The PostgreSQL driver (libpq), plugin forge_db_postgres.so.
 *
 * URL: postgres://user:password@host:port/dbname?sslmode=disable&... ;
 * query options are passed to libpq as connection keywords. A host starting
 * with '/' (percent-encoded: %2Fvar%2Frun%2Fpostgresql) is a socket
 * directory. Statements are prepared server-side; Forge's `?` placeholders
 * become $1..$n outside quotes, identifiers, comments and dollar-quoted
 * strings (`??` is a literal '?', for jsonb operators). Parameters are sent
 * as text (numbers formatted here) or binary (blobs); results come as text
 * and are converted by column type. Statement timeouts use the server's
 * statement_timeout; cancellation PQcancel; migrations an advisory lock.
 */
#include <forge/db_driver.h>

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Type OIDs (pg_type.h; stable across versions). */
#define OID_BOOL   16
#define OID_BYTEA  17
#define OID_INT8   20
#define OID_INT2   21
#define OID_INT4   23
#define OID_OID    26
#define OID_FLOAT4 700
#define OID_FLOAT8 701

typedef struct pg_conn {
    PGconn *pg;
    PGcancel *cancel;
    atomic_bool cancelled;
    uint32_t timeout_ms;
    unsigned long next_stmt;
} pg_conn;

typedef struct pg_stmt {
    pg_conn *c;
    char name[32];
    int nparams;
    PGresult *res;
    int row;                  /* current row, -1 before the first */
    unsigned char *unescaped; /* bytea of the current get, freed on the next */
} pg_stmt;

/* One line: libpq messages end in newlines and carry tabbed hints. */
static void trim(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

static int conn_error(pg_conn *c, forge_db_derr *e, const char *what)
{
    forge_db_derr_set(e, FORGE_EIO, "%s: %s", what, PQerrorMessage(c->pg));
    trim(e->msg);
    return FORGE_EIO;
}

static int map_state(pg_conn *c, const char *st)
{
    if (!st)
        return FORGE_EIO;
    if (strncmp(st, "23", 2) == 0)
        return FORGE_ECONFLICT;
    if (strcmp(st, "57014") == 0)
        return atomic_load(&c->cancelled) ? FORGE_ECANCELED : FORGE_ETIMEDOUT;
    if (strncmp(st, "42", 2) == 0 || strncmp(st, "22", 2) == 0 || strcmp(st, "0A000") == 0 ||
        strncmp(st, "07", 2) == 0 || strncmp(st, "26", 2) == 0 || strncmp(st, "34", 2) == 0)
        return FORGE_EINVAL;
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0)
        return FORGE_EBUSY;
    if (strncmp(st, "28", 2) == 0)
        return FORGE_EACCES;
    if (strcmp(st, "25P02") == 0 || strncmp(st, "25", 2) == 0)
        return FORGE_ESTATE;
    return FORGE_EIO;
}

/* An error from a result (which may be NULL when the connection broke). */
static int res_error(pg_conn *c, PGresult *res, forge_db_derr *e)
{
    if (!res || PQstatus(c->pg) == CONNECTION_BAD) {
        int rc = conn_error(c, e, "connection lost");
        PQclear(res);
        return rc;
    }
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    int code = map_state(c, st);
    if (code == FORGE_ETIMEDOUT)
        forge_db_derr_set(e, code, "statement timeout (%u ms) exceeded (SQLSTATE 57014)",
                          c->timeout_ms);
    else if (code == FORGE_ECANCELED)
        forge_db_derr_set(e, code, "statement cancelled (SQLSTATE 57014)");
    else
        forge_db_derr_set(e, code, "%s (SQLSTATE %s)", msg ? msg : PQresultErrorMessage(res),
                          st ? st : "?");
    trim(e->msg);
    PQclear(res);
    return code;
}

static bool res_ok(PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;
}

static int run(pg_conn *c, const char *sql, forge_db_derr *e)
{
    atomic_store(&c->cancelled, false);
    PGresult *r = PQexec(c->pg, sql);
    if (r && res_ok(r)) {
        PQclear(r);
        return 0;
    }
    return res_error(c, r, e);
}

static char *pct_decode(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end == '\0' && v > 0) {
                *w++ = (char)v;
                i += 2;
                continue;
            }
        }
        *w++ = s[i] == '+' ? ' ' : s[i];
    }
    *w = '\0';
    return o;
}

/* Server notices ("relation already exists, skipping") are not errors: drop them. */
static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

#define MAXKW 40

static int pg_connect(const forge_db_url *u, const forge_db_connect_opts *o, void **out,
                      forge_db_derr *e)
{
    const char *kw[MAXKW + 1];
    const char *val[MAXKW + 1];
    char *owned[MAXKW];
    int n = 0, nowned = 0;
    char port[16], ctimeout[16], opts[64], *host = NULL;
    if (u->host[0]) {
        host = pct_decode(u->host);
        if (host)
            owned[nowned++] = host;
        kw[n] = "host";
        val[n++] = host ? host : u->host;
    }
    if (u->port) {
        snprintf(port, sizeof(port), "%d", u->port);
        kw[n] = "port";
        val[n++] = port;
    }
    if (u->path[0] && u->path[1]) {
        kw[n] = "dbname";
        val[n++] = u->path + 1;
    }
    if (u->user[0]) {
        kw[n] = "user";
        val[n++] = u->user;
    }
    if (u->password[0]) {
        kw[n] = "password";
        val[n++] = u->password;
    }
    /* libpq's connect_timeout is whole seconds, at least 2 */
    unsigned secs = (o->connect_timeout_ms + 999) / 1000;
    snprintf(ctimeout, sizeof(ctimeout), "%u", secs < 2 ? 2 : secs);
    kw[n] = "connect_timeout";
    val[n++] = ctimeout;
    snprintf(opts, sizeof(opts), "-c statement_timeout=%u", o->statement_timeout_ms);
    kw[n] = "options";
    val[n++] = opts;
    kw[n] = "application_name";
    val[n++] = "forge";
    /* query options: key=value&... */
    char *q = strdup(u->query);
    if (q)
        owned[nowned++] = q;
    for (char *save = NULL, *p = q ? strtok_r(q, "&", &save) : NULL; p && n < MAXKW - 1;
         p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *v = pct_decode(eq + 1);
        if (!v || nowned >= MAXKW - 1) {
            free(v);
            continue;
        }
        owned[nowned++] = v;
        kw[n] = p;
        val[n++] = v;
    }
    kw[n] = NULL;
    val[n] = NULL;
    pg_conn *c = calloc(1, sizeof(*c));
    int rc = 0;
    if (!c) {
        rc = forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    } else {
        c->pg = PQconnectdbParams(kw, val, 0);
        c->timeout_ms = o->statement_timeout_ms;
        if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
            rc = c->pg ? conn_error(c, e, "connect")
                       : forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
            PQfinish(c->pg);
            free(c);
        } else {
            c->cancel = PQgetCancel(c->pg);
            PQsetNoticeProcessor(c->pg, quiet, NULL);
            *out = c;
        }
    }
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    return rc;
}

static void pg_close(void *conn)
{
    pg_conn *c = conn;
    PQfreeCancel(c->cancel);
    PQfinish(c->pg);
    free(c);
}

static int pg_ping(void *conn, forge_db_derr *e)
{
    return run(conn, "SELECT 1", e);
}

static bool pg_broken(void *conn)
{
    return PQstatus(((pg_conn *)conn)->pg) == CONNECTION_BAD;
}

/*
 * Rewrite `?` placeholders to $n. Returns the new text (malloc'd) and the
 * count in *np, or NULL on OOM.
 */
static char *number_params(const char *sql, int *np)
{
    size_t n = strlen(sql);
    char *out = malloc(n * 6 + 16); /* "?" -> "$NNNNN" */
    if (!out)
        return NULL;
    char *w = out;
    int k = 0;
    for (size_t i = 0; i < n;) {
        char ch = sql[i];
        if (ch == '\'' || ch == '"') { /* string or quoted identifier; doubled quote escapes */
            *w++ = sql[i++];
            while (i < n) {
                if (sql[i] == ch && i + 1 < n && sql[i + 1] == ch) {
                    *w++ = sql[i++];
                    *w++ = sql[i++];
                } else if (sql[i] == ch) {
                    *w++ = sql[i++];
                    break;
                } else {
                    *w++ = sql[i++];
                }
            }
        } else if (ch == '-' && i + 1 < n && sql[i + 1] == '-') {
            while (i < n && sql[i] != '\n')
                *w++ = sql[i++];
        } else if (ch == '/' && i + 1 < n && sql[i + 1] == '*') {
            int depth = 0;
            do {
                if (sql[i] == '/' && i + 1 < n && sql[i + 1] == '*') {
                    depth++;
                    *w++ = sql[i++];
                } else if (sql[i] == '*' && i + 1 < n && sql[i + 1] == '/') {
                    depth--;
                    *w++ = sql[i++];
                }
                *w++ = sql[i++];
            } while (i < n && depth > 0);
        } else if (ch == '$' &&
                   (i == 0 || !(sql[i - 1] == '_' || (sql[i - 1] >= 'a' && sql[i - 1] <= 'z') ||
                                (sql[i - 1] >= 'A' && sql[i - 1] <= 'Z') ||
                                (sql[i - 1] >= '0' && sql[i - 1] <= '9')))) {
            /* $tag$ ... $tag$ (a dollar-quoted string) or $n (kept as written) */
            size_t j = i + 1;
            while (j < n && (sql[j] == '_' || (sql[j] >= 'a' && sql[j] <= 'z') ||
                             (sql[j] >= 'A' && sql[j] <= 'Z') || (sql[j] >= '0' && sql[j] <= '9')))
                j++;
            bool numeric = j > i + 1 && sql[i + 1] >= '0' && sql[i + 1] <= '9';
            if (j < n && sql[j] == '$' && !numeric) {
                size_t tl = j - i + 1;
                const char *close = NULL;
                for (const char *p = sql + j + 1; (p = strchr(p, '$')); p++)
                    if (strncmp(p, sql + i, tl) == 0) {
                        close = p;
                        break;
                    }
                size_t stop = close ? (size_t)(close - sql) + tl : n;
                while (i < stop)
                    *w++ = sql[i++];
            } else {
                while (i < j)
                    *w++ = sql[i++];
            }
        } else if (ch == '?') {
            if (i + 1 < n && sql[i + 1] == '?') {
                *w++ = '?';
                i += 2;
            } else {
                w += sprintf(w, "$%d", ++k);
                i++;
            }
        } else {
            *w++ = sql[i++];
        }
    }
    *w = '\0';
    *np = k;
    return out;
}

static int pg_prepare(void *conn, const char *sql, void **out, forge_db_derr *e)
{
    pg_conn *c = conn;
    int np = 0;
    char *text = number_params(sql, &np);
    if (!text)
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    pg_stmt *s = calloc(1, sizeof(*s));
    if (!s) {
        free(text);
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    s->c = c;
    s->row = -1;
    snprintf(s->name, sizeof(s->name), "forge_%lu", ++c->next_stmt);
    PGresult *r = PQprepare(c->pg, s->name, text, 0, NULL);
    free(text);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        free(s);
        return res_error(c, r, e);
    }
    PQclear(r);
    /* The server's count (covers $n written by hand). */
    r = PQdescribePrepared(c->pg, s->name);
    if (r && PQresultStatus(r) == PGRES_COMMAND_OK)
        np = PQnparams(r);
    PQclear(r);
    s->nparams = np;
    *out = s;
    return 0;
}

static void pg_finalize(void *stmt)
{
    pg_stmt *s = stmt;
    PQclear(s->res);
    PQfreemem(s->unescaped);
    if (PQstatus(s->c->pg) == CONNECTION_OK) {
        char sql[64];
        snprintf(sql, sizeof(sql), "DEALLOCATE %s", s->name);
        PQclear(PQexec(s->c->pg, sql));
    }
    free(s);
}

static int pg_execute(void *stmt, const forge_db_value *p, size_t n, forge_db_derr *e)
{
    pg_stmt *s = stmt;
    if ((size_t)s->nparams != n)
        return forge_db_derr_set(e, FORGE_EINVAL, "statement takes %d parameters, %zu given",
                                 s->nparams, n);
    const char **vals = calloc(n ? n : 1, sizeof(*vals));
    int *lens = calloc(n ? n : 1, sizeof(*lens));
    int *fmts = calloc(n ? n : 1, sizeof(*fmts));
    char **owned = calloc(n ? n : 1, sizeof(*owned));
    int rc =
        vals && lens && fmts && owned ? 0 : forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char num[40];
        switch (p[i].type) {
        case FORGE_DB_T_NULL:
            vals[i] = NULL;
            continue;
        case FORGE_DB_T_INT:
            snprintf(num, sizeof(num), "%lld", (long long)p[i].v.i);
            owned[i] = strdup(num);
            break;
        case FORGE_DB_T_DOUBLE:
            snprintf(num, sizeof(num), "%.17g", p[i].v.d);
            owned[i] = strdup(num);
            break;
        case FORGE_DB_T_BOOL:
            owned[i] = strdup(p[i].v.b ? "t" : "f");
            break;
        case FORGE_DB_T_TEXT:
            if (p[i].v.s.n && memchr(p[i].v.s.p, '\0', p[i].v.s.n)) {
                rc = forge_db_derr_set(e, FORGE_EINVAL,
                                       "text parameter %zu holds a NUL byte (use a blob)", i + 1);
                continue;
            }
            owned[i] = malloc(p[i].v.s.n + 1);
            if (owned[i]) {
                memcpy(owned[i], p[i].v.s.p ? p[i].v.s.p : "", p[i].v.s.n);
                owned[i][p[i].v.s.n] = '\0';
            }
            break;
        case FORGE_DB_T_BLOB:
            vals[i] = p[i].v.s.p ? p[i].v.s.p : "";
            lens[i] = (int)p[i].v.s.n;
            fmts[i] = 1;
            continue;
        }
        if (!owned[i])
            rc = forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
        vals[i] = owned[i];
    }
    if (rc == 0) {
        atomic_store(&s->c->cancelled, false);
        PQclear(s->res);
        s->res = PQexecPrepared(s->c->pg, s->name, (int)n, vals, lens, fmts, 0);
        s->row = -1;
        if (!s->res || !res_ok(s->res)) {
            rc = res_error(s->c, s->res, e);
            s->res = NULL;
        }
    }
    for (size_t i = 0; owned && i < n; i++)
        free(owned[i]);
    free(owned);
    free(vals);
    free(lens);
    free(fmts);
    return rc;
}

static int pg_next(void *stmt, forge_db_derr *e)
{
    (void)e;
    pg_stmt *s = stmt;
    if (!s->res || s->row + 1 >= PQntuples(s->res))
        return 0;
    s->row++;
    return 1;
}

static size_t pg_ncols(void *stmt)
{
    pg_stmt *s = stmt;
    return s->res ? (size_t)PQnfields(s->res) : 0;
}

static const char *pg_col_name(void *stmt, size_t col)
{
    return PQfname(((pg_stmt *)stmt)->res, (int)col);
}

static void pg_get(void *stmt, size_t col, forge_db_value *out)
{
    pg_stmt *s = stmt;
    *out = FORGE_DB_NULL;
    if (!s->res || s->row < 0 || PQgetisnull(s->res, s->row, (int)col))
        return;
    const char *v = PQgetvalue(s->res, s->row, (int)col);
    size_t len = (size_t)PQgetlength(s->res, s->row, (int)col);
    switch (PQftype(s->res, (int)col)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        *out = FORGE_DB_INT(strtoll(v, NULL, 10));
        break;
    case OID_FLOAT4:
    case OID_FLOAT8:
        *out = FORGE_DB_DOUBLE(strtod(v, NULL));
        break;
    case OID_BOOL:
        *out = FORGE_DB_BOOL(v[0] == 't');
        break;
    case OID_BYTEA: {
        PQfreemem(s->unescaped);
        size_t bn = 0;
        s->unescaped = PQunescapeBytea((const unsigned char *)v, &bn);
        *out = s->unescaped ? FORGE_DB_BLOB((const char *)s->unescaped, bn) : FORGE_DB_NULL;
        break;
    }
    default:
        *out = FORGE_DB_TEXTN(v, len);
    }
}

static int64_t pg_changes(void *stmt)
{
    pg_stmt *s = stmt;
    const char *t = s->res ? PQcmdTuples(s->res) : "";
    return *t ? strtoll(t, NULL, 10) : 0;
}

static void pg_reset(void *stmt)
{
    pg_stmt *s = stmt;
    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    PQfreemem(s->unescaped);
    s->unescaped = NULL;
}

static int64_t pg_last_id(void *conn)
{
    (void)conn;
    return -1; /* use INSERT ... RETURNING */
}

static int pg_script(void *conn, const char *sql, forge_db_derr *e)
{
    return run(conn, sql, e);
}

static int pg_set_timeout(void *conn, uint32_t ms, forge_db_derr *e)
{
    pg_conn *c = conn;
    char sql[64];
    snprintf(sql, sizeof(sql), "SET statement_timeout = %u", ms);
    int rc = run(c, sql, e);
    if (rc == 0)
        c->timeout_ms = ms;
    return rc;
}

static int pg_cancel(void *conn)
{
    pg_conn *c = conn;
    char buf[256];
    atomic_store(&c->cancelled, true);
    return c->cancel && PQcancel(c->cancel, buf, sizeof(buf)) ? 0 : FORGE_EIO;
}

static int pg_lock(void *conn, const char *name, uint32_t timeout_ms, forge_db_derr *e)
{
    pg_conn *c = conn;
    const char *vals[] = {name};
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        PGresult *r = PQexecParams(c->pg, "SELECT pg_try_advisory_lock(hashtext($1))", 1, NULL,
                                   vals, NULL, NULL, 0);
        if (!r || PQresultStatus(r) != PGRES_TUPLES_OK)
            return res_error(c, r, e);
        bool got = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (got)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms >= (long)timeout_ms)
            return forge_db_derr_set(e, FORGE_ETIMEDOUT,
                                     "advisory lock '%s' still held by another session after %u ms",
                                     name, timeout_ms);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int pg_unlock(void *conn, const char *name, forge_db_derr *e)
{
    pg_conn *c = conn;
    const char *vals[] = {name};
    PGresult *r = PQexecParams(c->pg, "SELECT pg_advisory_unlock(hashtext($1))", 1, NULL, vals,
                               NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK)
        return res_error(c, r, e);
    PQclear(r);
    return 0;
}

static const char *const schemes[] = {"postgres", "postgresql", NULL};

static const forge_db_driver driver = {
    .abi = FORGE_DB_DRIVER_ABI,
    .size = sizeof(forge_db_driver),
    .name = "postgres",
    .schemes = schemes,
    .caps = FORGE_DB_CAP_SQL | FORGE_DB_CAP_LOCK | FORGE_DB_CAP_RETURNING,
    .connect = pg_connect,
    .close = pg_close,
    .ping = pg_ping,
    .broken = pg_broken,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .execute = pg_execute,
    .next = pg_next,
    .ncols = pg_ncols,
    .col_name = pg_col_name,
    .get = pg_get,
    .changes = pg_changes,
    .reset = pg_reset,
    .last_insert_id = pg_last_id,
    .exec_script = pg_script,
    .set_timeout = pg_set_timeout,
    .cancel = pg_cancel,
    .lock = pg_lock,
    .unlock = pg_unlock,
    .begin_exclusive_sql = "BEGIN",
};

FORGE_EXPORT const forge_db_driver *forge_db_driver_entry(void)
{
    return &driver;
}
