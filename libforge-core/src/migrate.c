/*
 * Migrations: directory scan, the forge_migrations table, up/down/status
 * under the driver's lock, and checksums (FNV-1a 64 of the file: it detects
 * edits, it is not a signature; ADR 0111).
 */
#include "db_impl.h"

#include <forge/migrate.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LOCK_NAME    "forge_migrate"
#define LOCK_TIMEOUT 60000u

typedef struct mstep {
    forge_migration m;
    char file[NAME_MAX + 1]; /* the .up.sql file name */
} mstep;

typedef struct mset {
    mstep *v;
    size_t n, cap;
} mset;

static mstep *find(mset *s, int64_t version)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].m.version == version)
            return &s->v[i];
    return NULL;
}

static mstep *add(mset *s, int64_t version)
{
    mstep *e = find(s, version);
    if (e)
        return e;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        mstep *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    e = &s->v[s->n++];
    memset(e, 0, sizeof(*e));
    e->m.version = version;
    return e;
}

static int by_version(const void *a, const void *b)
{
    int64_t x = ((const mstep *)a)->m.version, y = ((const mstep *)b)->m.version;
    return x < y ? -1 : x > y;
}

static char *read_file(const char *path, size_t *len, forge_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        forge_error_set(err, FORGE_ENOENT, "migrate: cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                forge_error_set(err, FORGE_ENOMEM, "migrate: out of memory");
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void checksum(const char *p, size_t n, char out[17])
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    snprintf(out, 17, "%016" PRIx64, h);
}

static void path_of(char *out, size_t cap, const char *dir, const mstep *e, bool up)
{
    size_t stem = strlen(e->file) - strlen(".up.sql");
    snprintf(out, cap, "%s/%.*s.%s.sql", dir, (int)stem, e->file, up ? "up" : "down");
}

/* Parse "NNNN_name.up.sql" / ".down.sql". 1 when it is one, 0 when not a migration file. */
static int parse_name(const char *fn, int64_t *version, char *name, size_t cap, bool *up)
{
    size_t n = strlen(fn);
    bool is_up = n > 7 && strcmp(fn + n - 7, ".up.sql") == 0;
    bool is_down = n > 9 && strcmp(fn + n - 9, ".down.sql") == 0;
    if (!is_up && !is_down)
        return 0;
    size_t i = 0;
    int64_t v = 0;
    while (isdigit((unsigned char)fn[i])) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (fn[i] - '0');
        i++;
    }
    if (i == 0 || fn[i] != '_' || v <= 0)
        return -1;
    size_t end = n - (is_up ? 7 : 9);
    size_t nl = end - i - 1;
    if (nl == 0 || nl >= cap)
        return -1;
    for (size_t k = i + 1; k < end; k++)
        if (!isalnum((unsigned char)fn[k]) && fn[k] != '_' && fn[k] != '-')
            return -1;
    memcpy(name, fn + i + 1, nl);
    name[nl] = '\0';
    *version = v;
    *up = is_up;
    return 1;
}

static int scan(const char *dir, mset *s, forge_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return forge_error_set(err, FORGE_ENOENT, "migrate: cannot open directory %s: %s", dir,
                               strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        int64_t v;
        char name[128];
        bool up;
        int k = parse_name(de->d_name, &v, name, sizeof(name), &up);
        if (k == 0)
            continue;
        if (k < 0) {
            rc = forge_error_set(err, FORGE_EPARSE,
                                 "migrate: %s/%s: expected NNNN_name.up.sql or "
                                 "NNNN_name.down.sql (name: letters, digits, _ and -)",
                                 dir, de->d_name);
            break;
        }
        mstep *e = add(s, v);
        if (!e) {
            rc = FORGE_ENOMEM;
            break;
        }
        if (e->m.name[0] && strcmp(e->m.name, name) != 0) {
            rc = forge_error_set(err, FORGE_EPARSE,
                                 "migrate: version %" PRId64 " is used twice in %s (%s and %s)", v,
                                 dir, e->m.name, name);
            break;
        }
        snprintf(e->m.name, sizeof(e->m.name), "%s", name);
        if (up) {
            e->m.has_file = true;
            snprintf(e->file, sizeof(e->file), "%s", de->d_name);
        } else {
            e->m.has_down = true;
            if (!e->file[0])
                snprintf(e->file, sizeof(e->file), "%.*s.up.sql",
                         (int)(strlen(de->d_name) - strlen(".down.sql")), de->d_name);
        }
    }
    closedir(d);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < s->n; i++) {
        mstep *e = &s->v[i];
        if (!e->m.has_file)
            return forge_error_set(err, FORGE_EPARSE, "migrate: %s/%s has no .up.sql file", dir,
                                   e->file);
        char path[PATH_MAX];
        path_of(path, sizeof(path), dir, e, true);
        size_t len;
        char *sql = read_file(path, &len, err);
        if (!sql)
            return FORGE_ENOENT;
        checksum(sql, len, e->m.checksum);
        free(sql);
    }
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), by_version);
    return 0;
}

static const char CREATE_TABLE[] =
    "CREATE TABLE IF NOT EXISTS forge_migrations (version BIGINT PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL, checksum VARCHAR(64) NOT NULL, applied_at VARCHAR(64) NOT NULL)";

/* Read the table into s (marking applied steps, adding unknown ones). */
static int load_applied(forge_db_conn *c, mset *s, forge_error *err)
{
    forge_db_rows *r;
    int rc = forge_db_query(c, "SELECT version, name, checksum, applied_at FROM forge_migrations",
                            NULL, 0, &r, err);
    if (rc < 0)
        return rc;
    while ((rc = forge_db_rows_next(r, err)) == 1) {
        mstep *e = add(s, forge_db_int(r, 0));
        if (!e) {
            rc = FORGE_ENOMEM;
            break;
        }
        forge_str nm = forge_db_str(r, 1), ck = forge_db_str(r, 2), at = forge_db_str(r, 3);
        if (!e->m.name[0])
            snprintf(e->m.name, sizeof(e->m.name), "%.*s", (int)nm.n, nm.p ? nm.p : "");
        snprintf(e->m.recorded, sizeof(e->m.recorded), "%.*s", (int)ck.n, ck.p ? ck.p : "");
        snprintf(e->m.applied_at, sizeof(e->m.applied_at), "%.*s", (int)at.n, at.p ? at.p : "");
        e->m.applied = true;
        e->m.changed = e->m.has_file && strcmp(e->m.recorded, e->m.checksum) != 0;
    }
    forge_db_rows_close(r);
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), by_version);
    return rc < 0 ? rc : 0;
}

typedef struct session {
    forge_db_conn *c;
    bool locked;
} session;

static int open_session(forge_db *db, session *ss, forge_error *err)
{
    memset(ss, 0, sizeof(*ss));
    if (!(db->drv->caps & FORGE_DB_CAP_SQL))
        return forge_error_set(err, FORGE_ENOSYS, "migrate: driver %s has no SQL migrations",
                               db->drv->name);
    int rc = forge_db_acquire(db, 0, &ss->c, err);
    if (rc < 0)
        return rc;
    if ((db->drv->caps & FORGE_DB_CAP_LOCK) && db->drv->lock) {
        forge_db_derr e = {0};
        rc = db->drv->lock(ss->c->h, LOCK_NAME, LOCK_TIMEOUT, &e);
        if (rc < 0) {
            forge_db_release(ss->c);
            return forge__db_err(db, err, &e, "migration lock");
        }
        ss->locked = true;
    }
    rc = forge_db_exec(ss->c, CREATE_TABLE, NULL, 0, NULL, err);
    if (rc < 0) {
        forge_error_wrap(err, rc, "migrate: cannot create forge_migrations");
        if (ss->locked) {
            forge_db_derr e = {0};
            db->drv->unlock(ss->c->h, LOCK_NAME, &e);
        }
        forge_db_release(ss->c);
    }
    return rc;
}

static void close_session(session *ss)
{
    if (ss->locked) {
        forge_db_derr e = {0};
        ss->c->db->drv->unlock(ss->c->h, LOCK_NAME, &e);
    }
    forge_db_release(ss->c);
}

static int begin_exclusive(forge_db_conn *c, forge_error *err)
{
    const char *sql = c->db->drv->begin_exclusive_sql ? c->db->drv->begin_exclusive_sql : "BEGIN";
    int rc = forge_db_exec_script(c, sql, err);
    if (rc == 0)
        c->depth = 1;
    return rc;
}

/* Inside the step's transaction: is `version` recorded (by a concurrent run)? */
static int recorded(forge_db_conn *c, int64_t version, forge_error *err)
{
    forge_db_rows *r;
    forge_db_value p[] = {FORGE_DB_INT(version)};
    int rc = forge_db_query(c, "SELECT 1 FROM forge_migrations WHERE version = ?", p, 1, &r, err);
    if (rc < 0)
        return rc;
    rc = forge_db_rows_next(r, err);
    forge_db_rows_close(r);
    return rc;
}

static void utc_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int apply_one(forge_db_conn *c, const char *dir, mstep *e, bool up, forge_error *err)
{
    char path[PATH_MAX];
    path_of(path, sizeof(path), dir, e, up);
    char *sql = read_file(path, NULL, err);
    if (!sql)
        return FORGE_ENOENT;
    int rc = begin_exclusive(c, err);
    int already = rc == 0 ? recorded(c, e->m.version, err) : rc;
    if (already < 0) {
        rc = already;
    } else if ((already == 1) == up) {
        /* A concurrent run got there first: nothing to do. */
        free(sql);
        int crc = forge_db_commit(c, err);
        return crc < 0 ? crc : 1;
    }
    if (rc == 0) {
        rc = forge_db_exec_script(c, sql, err);
        if (rc < 0)
            forge_error_wrap(err, rc, "migrate: %s failed", path);
    }
    if (rc == 0) {
        char at[32];
        utc_now(at);
        forge_db_value p[] = {FORGE_DB_INT(e->m.version), forge_db_text(e->m.name),
                              forge_db_text(e->m.checksum), forge_db_text(at)};
        rc = up ? forge_db_exec(c,
                                "INSERT INTO forge_migrations (version, name, checksum, "
                                "applied_at) VALUES (?, ?, ?, ?)",
                                p, 4, NULL, err)
                : forge_db_exec(c, "DELETE FROM forge_migrations WHERE version = ?", p, 1, NULL,
                                err);
    }
    if (rc == 0)
        rc = forge_db_commit(c, err);
    else if (c->depth > 0) {
        forge_error rb;
        forge_db_rollback(c, &rb);
    }
    free(sql);
    return rc;
}

static int64_t top_version(const mset *s)
{
    int64_t v = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].m.applied && s->v[i].m.version > v)
            v = s->v[i].m.version;
    return v;
}

static int check_changed(const mset *s, const char *dir, forge_error *err)
{
    for (size_t i = 0; i < s->n; i++) {
        const mstep *e = &s->v[i];
        if (e->m.changed)
            return forge_error_setk(err, FORGE_ECONFLICT, e->file,
                                    "migrate: %s/%s was changed after it was applied (recorded "
                                    "checksum %s, file now %s); restore it and put the change "
                                    "in a new migration",
                                    dir, e->file, e->m.recorded, e->m.checksum);
    }
    return 0;
}

int forge_migrate_up(forge_db *db, const char *dir, int64_t target, forge_migrate_result *res,
                     forge_error *err)
{
    forge_migrate_result local;
    res = res ? res : &local;
    memset(res, 0, sizeof(*res));
    if (!db || !dir)
        return forge_error_set(err, FORGE_EINVAL, "migrate: needs a database and a directory");
    mset s = {0};
    session ss;
    int rc = scan(dir, &s, err);
    if (rc == 0 && (rc = open_session(db, &ss, err)) == 0) {
        rc = load_applied(ss.c, &s, err);
        if (rc == 0)
            rc = check_changed(&s, dir, err);
        for (size_t i = 0; rc == 0 && i < s.n; i++) {
            mstep *e = &s.v[i];
            if (e->m.applied || (target > 0 && e->m.version > target))
                continue;
            int k = apply_one(ss.c, dir, e, true, err);
            if (k < 0)
                rc = k;
            else {
                e->m.applied = true;
                res->applied += k == 0;
            }
        }
        res->version = top_version(&s);
        close_session(&ss);
    }
    free(s.v);
    return rc;
}

int forge_migrate_down(forge_db *db, const char *dir, int steps, forge_migrate_result *res,
                       forge_error *err)
{
    forge_migrate_result local;
    res = res ? res : &local;
    memset(res, 0, sizeof(*res));
    if (!db || !dir)
        return forge_error_set(err, FORGE_EINVAL, "migrate: needs a database and a directory");
    steps = steps > 0 ? steps : 1;
    mset s = {0};
    session ss;
    int rc = scan(dir, &s, err);
    if (rc == 0 && (rc = open_session(db, &ss, err)) == 0) {
        rc = load_applied(ss.c, &s, err);
        if (rc == 0)
            rc = check_changed(&s, dir, err);
        for (size_t i = s.n; rc == 0 && i-- > 0 && steps > 0;) {
            mstep *e = &s.v[i];
            if (!e->m.applied)
                continue;
            if (!e->m.has_down) {
                rc = forge_error_set(err, FORGE_ENOENT,
                                     "migrate: version %" PRId64 " (%s) has no .down.sql in %s",
                                     e->m.version, e->m.name, dir);
                break;
            }
            int k = apply_one(ss.c, dir, e, false, err);
            if (k < 0)
                rc = k;
            else {
                e->m.applied = false;
                res->applied += k == 0;
                steps--;
            }
        }
        res->version = top_version(&s);
        close_session(&ss);
    }
    free(s.v);
    return rc;
}

int forge_migrate_status(forge_db *db, const char *dir, forge_migration **out, size_t *n,
                         forge_error *err)
{
    if (!db || !dir || !out || !n)
        return forge_error_set(err, FORGE_EINVAL, "migrate: status needs a database, a directory");
    *out = NULL;
    *n = 0;
    mset s = {0};
    forge_db_conn *c = NULL;
    int rc = scan(dir, &s, err);
    if (rc == 0)
        rc = forge_db_acquire(db, 0, &c, err);
    if (rc == 0)
        rc = forge_db_exec(c, CREATE_TABLE, NULL, 0, NULL, err);
    if (rc == 0)
        rc = load_applied(c, &s, err);
    forge_db_release(c);
    if (rc == 0 && s.n) {
        *out = malloc(s.n * sizeof(**out));
        if (!*out)
            rc = FORGE_ENOMEM;
        for (size_t i = 0; rc == 0 && i < s.n; i++)
            (*out)[i] = s.v[i].m;
        if (rc == 0)
            *n = s.n;
    }
    free(s.v);
    return rc;
}

int forge_migrate_create(const char *dir, const char *name, char *path_out, size_t cap,
                         forge_error *err)
{
    if (!dir || !name || !*name || strlen(name) > 100)
        return forge_error_set(err, FORGE_EINVAL, "migrate: create needs a directory and a name");
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return forge_error_set(err, FORGE_EINVAL,
                                   "migrate: '%s': use letters, digits, '_' and '-' in names",
                                   name);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return forge_error_set(err, FORGE_EIO, "migrate: cannot create %s: %s", dir,
                               strerror(errno));
    mset s = {0};
    int rc = scan(dir, &s, err);
    int64_t next = s.n ? s.v[s.n - 1].m.version + 1 : 1;
    free(s.v);
    if (rc < 0)
        return rc;
    char up[PATH_MAX], down[PATH_MAX];
    snprintf(up, sizeof(up), "%s/%04" PRId64 "_%s.up.sql", dir, next, name);
    snprintf(down, sizeof(down), "%s/%04" PRId64 "_%s.down.sql", dir, next, name);
    const char *paths[] = {up, down};
    const char *texts[] = {"-- forward change\n", "-- undo the .up.sql change\n"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "wx");
        if (!f)
            return forge_error_set(err, FORGE_EIO, "migrate: cannot create %s: %s", paths[i],
                                   strerror(errno));
        fputs(texts[i], f);
        fclose(f);
    }
    if (path_out && cap)
        snprintf(path_out, cap, "%s", up);
    return 0;
}
