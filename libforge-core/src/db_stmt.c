/*
 * Statements and rows, and each connection's prepared-statement cache.
 *
 * The cache maps SQL text to the driver's prepared statement, at most
 * opts.stmt_cache per connection, least recently used evicted. A connection
 * has one open result at a time (its embedded rows record), so a cached
 * statement is never in use twice.
 */
#include "db_impl.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void forge__db_stmt_cache_clear(forge_db_conn *c)
{
    for (size_t i = 0; i < c->nstmts; i++) {
        c->db->drv->finalize(c->stmts[i].h);
        free(c->stmts[i].sql);
    }
    c->nstmts = 0;
}

static int stmt_get(forge_db_conn *c, const char *sql, void **out, forge_error *err)
{
    forge_db *db = c->db;
    uint64_t h = fnv1a(sql);
    c->tick++;
    for (size_t i = 0; i < c->nstmts; i++) {
        if (c->stmts[i].hash == h && strcmp(c->stmts[i].sql, sql) == 0) {
            c->stmts[i].tick = c->tick;
            *out = c->stmts[i].h;
            __atomic_add_fetch(&db->st.stmt_cache_hits, 1, __ATOMIC_RELAXED);
            return 0;
        }
    }
    __atomic_add_fetch(&db->st.stmt_cache_misses, 1, __ATOMIC_RELAXED);
    forge_db_derr e = {0};
    void *st = NULL;
    int rc = db->drv->prepare(c->h, sql, &st, &e);
    if (rc < 0)
        return forge__db_err(db, err, &e, "prepare");
    if (!c->stmts) {
        c->stmts = calloc(db->o.stmt_cache, sizeof(*c->stmts));
        if (!c->stmts) {
            db->drv->finalize(st);
            return FORGE_ENOMEM;
        }
    }
    size_t slot = c->nstmts;
    if (slot == db->o.stmt_cache) {
        slot = 0;
        for (size_t i = 1; i < c->nstmts; i++)
            if (c->stmts[i].tick < c->stmts[slot].tick)
                slot = i;
        db->drv->finalize(c->stmts[slot].h);
        free(c->stmts[slot].sql);
    } else {
        c->nstmts++;
    }
    char *copy = strdup(sql);
    if (!copy) {
        db->drv->finalize(st);
        c->stmts[slot] = c->stmts[--c->nstmts];
        return FORGE_ENOMEM;
    }
    c->stmts[slot] = (forge__stmt){copy, h, st, c->tick};
    *out = st;
    return 0;
}

int forge_db_query(forge_db_conn *c, const char *sql, const forge_db_value *params, size_t nparams,
                   forge_db_rows **out, forge_error *err)
{
    if (!c || !sql || !out || (nparams && !params))
        return forge_error_set(err, FORGE_EINVAL, "db: query needs a connection and SQL");
    *out = NULL;
    if (c->rows.open)
        return forge_error_set(err, FORGE_ESTATE,
                               "db %s: a result is still open on this connection (close it first)",
                               c->db->name);
    void *st = NULL;
    int rc = stmt_get(c, sql, &st, err);
    if (rc < 0)
        return rc;
    forge_db_derr e = {0};
    rc = c->db->drv->execute(st, params, nparams, &e);
    if (rc < 0) {
        c->db->drv->reset(st);
        return forge__db_err(c->db, err, &e, "execute");
    }
    c->rows.h = st;
    c->rows.cached = true;
    c->rows.open = true;
    *out = &c->rows;
    return 0;
}

int forge_db_rows_next(forge_db_rows *r, forge_error *err)
{
    if (!r || !r->open)
        return forge_error_set(err, FORGE_ESTATE, "db: no open result");
    forge_db_derr e = {0};
    int rc = r->conn->db->drv->next(r->h, &e);
    return rc < 0 ? forge__db_err(r->conn->db, err, &e, "fetch") : rc;
}

void forge_db_rows_close(forge_db_rows *r)
{
    if (!r || !r->open)
        return;
    r->conn->db->drv->reset(r->h);
    r->open = false;
    r->h = NULL;
}

int forge_db_exec(forge_db_conn *c, const char *sql, const forge_db_value *params, size_t nparams,
                  int64_t *affected, forge_error *err)
{
    forge_db_rows *r;
    int rc = forge_db_query(c, sql, params, nparams, &r, err);
    if (rc < 0)
        return rc;
    while ((rc = forge_db_rows_next(r, err)) == 1)
        ;
    if (rc == 0 && affected)
        *affected = c->db->drv->changes(r->h);
    forge_db_rows_close(r);
    return rc;
}

size_t forge_db_rows_ncols(const forge_db_rows *r)
{
    return r && r->open ? r->conn->db->drv->ncols(r->h) : 0;
}

const char *forge_db_rows_name(const forge_db_rows *r, size_t col)
{
    if (!r || !r->open || col >= r->conn->db->drv->ncols(r->h))
        return NULL;
    return r->conn->db->drv->col_name(r->h, col);
}

forge_db_value forge_db_get(forge_db_rows *r, size_t col)
{
    forge_db_value v = FORGE_DB_NULL;
    if (r && r->open && col < r->conn->db->drv->ncols(r->h))
        r->conn->db->drv->get(r->h, col, &v);
    return v;
}

bool forge_db_is_null(forge_db_rows *r, size_t col)
{
    return forge_db_get(r, col).type == FORGE_DB_T_NULL;
}

/* Text to number: the whole text must be the number. */
static bool text_num(forge_str s, int64_t *i, double *d)
{
    char buf[64];
    if (!s.p || s.n == 0 || s.n >= sizeof(buf))
        return false;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    char *end;
    if (i) {
        long long v = strtoll(buf, &end, 10);
        if (*end == '\0') {
            *i = v;
            return true;
        }
        double dv = strtod(buf, &end);
        if (*end == '\0') {
            *i = (int64_t)dv;
            return true;
        }
        return false;
    }
    *d = strtod(buf, &end);
    return *end == '\0';
}

int64_t forge_db_int(forge_db_rows *r, size_t col)
{
    forge_db_value v = forge_db_get(r, col);
    int64_t i = 0;
    switch (v.type) {
    case FORGE_DB_T_INT:
        return v.v.i;
    case FORGE_DB_T_DOUBLE:
        return (int64_t)v.v.d;
    case FORGE_DB_T_BOOL:
        return v.v.b;
    case FORGE_DB_T_TEXT:
        return text_num(v.v.s, &i, NULL) ? i : 0;
    default:
        return 0;
    }
}

double forge_db_double(forge_db_rows *r, size_t col)
{
    forge_db_value v = forge_db_get(r, col);
    double d = 0;
    switch (v.type) {
    case FORGE_DB_T_INT:
        return (double)v.v.i;
    case FORGE_DB_T_DOUBLE:
        return v.v.d;
    case FORGE_DB_T_BOOL:
        return v.v.b;
    case FORGE_DB_T_TEXT:
        return text_num(v.v.s, NULL, &d) ? d : 0;
    default:
        return 0;
    }
}

bool forge_db_bool(forge_db_rows *r, size_t col)
{
    forge_db_value v = forge_db_get(r, col);
    switch (v.type) {
    case FORGE_DB_T_BOOL:
        return v.v.b;
    case FORGE_DB_T_INT:
        return v.v.i != 0;
    case FORGE_DB_T_DOUBLE:
        return v.v.d != 0;
    case FORGE_DB_T_TEXT:
        return v.v.s.n > 0 && (v.v.s.p[0] == 't' || v.v.s.p[0] == 'T' || v.v.s.p[0] == '1');
    default:
        return false;
    }
}

forge_str forge_db_str(forge_db_rows *r, size_t col)
{
    forge_db_value v = forge_db_get(r, col);
    if (v.type == FORGE_DB_T_TEXT || v.type == FORGE_DB_T_BLOB)
        return v.v.s;
    return FORGE_STR_NULL;
}

int64_t forge_db_last_insert_id(forge_db_conn *c)
{
    return c && c->db->drv->last_insert_id ? c->db->drv->last_insert_id(c->h) : -1;
}

int forge_db_exec_script(forge_db_conn *c, const char *sql, forge_error *err)
{
    if (!c || !sql)
        return forge_error_set(err, FORGE_EINVAL, "db: script needs a connection and SQL");
    if (c->rows.open)
        return forge_error_set(err, FORGE_ESTATE, "db %s: a result is still open", c->db->name);
    forge_db_derr e = {0};
    int rc = c->db->drv->exec_script(c->h, sql, &e);
    return rc < 0 ? forge__db_err(c->db, err, &e, "script") : 0;
}

int forge_db_set_timeout(forge_db_conn *c, uint32_t ms, forge_error *err)
{
    if (!c)
        return forge_error_set(err, FORGE_EINVAL, "db: no connection");
    forge_db_derr e = {0};
    int rc = c->db->drv->set_timeout(c->h, ms, &e);
    if (rc < 0)
        return forge__db_err(c->db, err, &e, "set timeout");
    c->timeout_changed = true;
    return 0;
}

int forge_db_cancel(forge_db_conn *c)
{
    if (!c || !c->db->drv->cancel)
        return FORGE_ENOSYS;
    return c->db->drv->cancel(c->h);
}

forge_db *forge_db_conn_db(const forge_db_conn *c)
{
    return c ? c->db : NULL;
}
