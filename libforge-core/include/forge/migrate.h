/*
 * Forge: schema migrations.
 *
 * A directory holds versioned SQL files, one pair per step:
 *
 *     0001_create_notes.up.sql     0001_create_notes.down.sql
 *     0002_add_tags.up.sql         0002_add_tags.down.sql (optional, needed to go down)
 *
 * Versions are the leading digits (unique, ordered numerically). Applied
 * steps are recorded in the table forge_migrations (version, name,
 * checksum, applied_at). Each step runs in its own transaction together with
 * its record; the run holds a lock (PostgreSQL advisory lock, MariaDB
 * GET_LOCK, SQLite's exclusive transaction per step) so concurrent runs
 * from several workers or machines apply each step once. A recorded step
 * whose file changed since (its checksum differs) stops the run before
 * anything is applied, naming the file. Note: MariaDB commits DDL
 * implicitly, so a failed step there may leave part of its DDL applied.
 *
 * Every function blocks; run them at start or from `forge migrate`.
 */
#ifndef FORGE_MIGRATE_H
#define FORGE_MIGRATE_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/db.h>

typedef struct forge_migration {
    int64_t version;
    char name[128];      /* "create_notes" */
    char checksum[17];   /* of the .up.sql file (hex), "" when the file is missing */
    char recorded[17];   /* checksum recorded when applied, "" when pending */
    char applied_at[32]; /* UTC, ISO 8601; "" when pending */
    bool applied;
    bool has_file; /* the .up.sql file exists */
    bool has_down; /* the .down.sql file exists */
    bool changed;  /* applied, and the file's checksum differs from the record */
} forge_migration;

typedef struct forge_migrate_result {
    int applied;     /* steps applied (up) or undone (down) by this call */
    int64_t version; /* the highest applied version afterwards (0: none) */
} forge_migrate_result;

/*
 * Apply pending steps up to `target` (0: all). Errors: FORGE_ECONFLICT (an
 * applied file changed, or an applied version has no file... see message),
 * FORGE_EPARSE (a malformed file name or a duplicate version in dir),
 * FORGE_ENOENT (no such directory), the database's error for a failing step
 * (its file named in err).
 */
FORGE_API int forge_migrate_up(forge_db *db, const char *dir, int64_t target,
                               forge_migrate_result *res, forge_error *err);

/* Undo the last `steps` applied steps (0: 1) with their .down.sql files. */
FORGE_API int forge_migrate_down(forge_db *db, const char *dir, int steps,
                                 forge_migrate_result *res, forge_error *err);

/*
 * Every step known from the directory or the table, by version: *out is a
 * malloc'd array (free() it) of *n entries.
 */
FORGE_API int forge_migrate_status(forge_db *db, const char *dir, forge_migration **out, size_t *n,
                                   forge_error *err);

/*
 * Create NNNN_<name>.up.sql and .down.sql in dir with the next version
 * (1 + the highest present). `name`: letters, digits, '_' and '-'. The up
 * file's path goes to path_out (may be NULL).
 */
FORGE_API int forge_migrate_create(const char *dir, const char *name, char *path_out, size_t cap,
                                   forge_error *err);

#endif
