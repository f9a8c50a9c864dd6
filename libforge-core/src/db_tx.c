/*
 * Transactions that nest: the outermost level is BEGIN/COMMIT/ROLLBACK,
 * inner levels are savepoints named forge_sp_<depth>. The depth lives on the
 * connection; release rolls back whatever is still open.
 */
#include "db_impl.h"

#include <stdio.h>

static int run(forge_db_conn *c, const char *sql, const char *what, forge_error *err)
{
    if (!c)
        return forge_error_set(err, FORGE_EINVAL, "db: no connection");
    if (c->db->drv->caps & FORGE_DB_CAP_DOC)
        return forge_error_set(err, FORGE_ENOSYS,
                               "db %s: no transactions on %s: MongoDB transactions need sessions "
                               "on a replica set, which Forge's driver does not use (a single "
                               "document's update is atomic: use update operators)",
                               c->db->name, c->db->drv->name);
    if (!(c->db->drv->caps & FORGE_DB_CAP_SQL))
        return forge_error_set(err, FORGE_ENOSYS, "db %s: driver %s has no transactions",
                               c->db->name, c->db->drv->name);
    if (c->rows.open)
        return forge_error_set(err, FORGE_ESTATE, "db %s: a result is still open", c->db->name);
    forge_db_derr e = {0};
    int rc = c->db->drv->exec_script(c->h, sql, &e);
    return rc < 0 ? forge__db_err(c->db, err, &e, what) : 0;
}

int forge_db_begin(forge_db_conn *c, forge_error *err)
{
    char sql[64];
    if (c && c->depth > 0)
        snprintf(sql, sizeof(sql), "SAVEPOINT forge_sp_%d", c->depth);
    int rc = run(c, c && c->depth > 0 ? sql : "BEGIN", "begin", err);
    if (rc == 0)
        c->depth++;
    return rc;
}

int forge_db_commit(forge_db_conn *c, forge_error *err)
{
    if (!c || c->depth == 0)
        return forge_error_set(err, FORGE_ESTATE, "db: commit outside a transaction");
    char sql[64];
    if (c->depth > 1)
        snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT forge_sp_%d", c->depth - 1);
    int rc = run(c, c->depth > 1 ? sql : "COMMIT", "commit", err);
    /* A failed COMMIT ends the transaction on every server we support. */
    if (rc == 0 || c->depth == 1)
        c->depth--;
    return rc;
}

int forge_db_rollback(forge_db_conn *c, forge_error *err)
{
    if (!c || c->depth == 0)
        return forge_error_set(err, FORGE_ESTATE, "db: rollback outside a transaction");
    char sql[96];
    if (c->depth > 1)
        snprintf(sql, sizeof(sql),
                 "ROLLBACK TO SAVEPOINT forge_sp_%d; RELEASE SAVEPOINT forge_sp_%d", c->depth - 1,
                 c->depth - 1);
    int rc = run(c, c->depth > 1 ? sql : "ROLLBACK", "rollback", err);
    if (rc == 0 || c->depth == 1)
        c->depth--;
    return rc;
}

int forge_db_tx_depth(const forge_db_conn *c)
{
    return c ? c->depth : 0;
}
