/*
 * A point query on PostgreSQL issued directly with libpq, and the same
 * query through forge_db (pool + cached prepared statement + the postgres
 * driver), one thread, same process, side by side.
 *
 *   data_bench_pg 'postgres://postgres@127.0.0.1:18220/notes' [iterations]
 *
 * The table is examples/notes' `notes`; ids 1..100 must exist
 * (bench/data_bench.sh seeds them).
 */
#include <forge/db.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SQL_PG    "SELECT id, title, body, created_at FROM notes WHERE id = $1"
#define SQL_FORGE "SELECT id, title, body, created_at FROM notes WHERE id = ?"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s POSTGRES_URL [iterations]\n", argv[0]);
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 20000;
    /* libpq takes the URL (it understands postgres:// itself) */
    PGconn *pg = PQconnectdb(argv[1]);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "libpq: %s", PQerrorMessage(pg));
        return 1;
    }
    PQclear(PQprepare(pg, "q", SQL_PG, 1, NULL));
    long bytes = 0;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", i % 100 + 1);
        const char *vals[] = {id};
        PGresult *r = PQexecPrepared(pg, "q", 1, vals, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            fprintf(stderr, "libpq query failed: %s", PQerrorMessage(pg));
            return 1;
        }
        bytes += PQgetlength(r, 0, 1);
        PQclear(r);
    }
    double direct = (now_s() - t0) * 1e6 / n;
    PQfinish(pg);

    forge_db *db;
    forge_error err;
    forge_db_opts o = {.max_conns = 1, .connect_now = true};
    if (forge_db_open(argv[1], &o, &db, &err) != 0) {
        fprintf(stderr, "forge_db: %s\n", err.message);
        return 1;
    }
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        forge_db_conn *c;
        forge_db_rows *r;
        forge_db_value p[] = {FORGE_DB_INT(i % 100 + 1)};
        if (forge_db_acquire(db, 0, &c, &err) != 0 ||
            forge_db_query(c, SQL_FORGE, p, 1, &r, &err) != 0 || forge_db_rows_next(r, &err) != 1) {
            fprintf(stderr, "forge_db query failed: %s\n", err.message);
            return 1;
        }
        bytes += (long)forge_db_str(r, 1).n;
        forge_db_rows_close(r);
        forge_db_release(c);
    }
    double via = (now_s() - t0) * 1e6 / n;
    forge_db_close(db);
    printf("point query, libpq direct:                 %7.1f us/query (%d queries)\n", direct, n);
    printf("point query, forge_db (acquire+query+rel): %7.1f us/query (ratio %.2f)\n", via,
           via / direct);
    return bytes > 0 ? 0 : 1;
}
