/*
 * notes: CRUD over the database API and a cache.
 *
 *   POST   /notes       {"title": "...", "body": "..."} -> 201 with the stored note and its id
 *   GET    /notes/:id   the note, or 404
 *   GET    /notes       {"notes": [...]} by id (?limit=1..1000, default 100; ?after=<id>)
 *   DELETE /notes/:id   204, or 404
 *
 * Storage: the database "main" (db.main.url). By default a SQLite file
 * notes.db under app.notes.data_dir (default $TMPDIR/forge-notes, else
 * /tmp/forge-notes); PostgreSQL or MariaDB by config:
 *
 *     db:
 *       main:
 *         url: "postgres://app:${env:PGPASSWORD}@127.0.0.1:5432/notes"
 *
 * Migrations for each database (migrations/<driver>/) are applied at start.
 * Single notes are cached in a cache shared by the host's workers (shared
 * memory), invalidated on delete; app.notes.cache: false turns it off.
 * Database handlers are FORGE_ROUTE_BLOCKING: on nginx they run on Forge's
 * thread pool, never on the event loop. A database that is down gives 503
 * problem+json at once (the pool's backoff) and readiness turns 503.
 */
#include <forge/forge.h>
#include <forge/db.h>
#include <forge/cache.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TITLE_MAX 200
#define BODY_MAX  10000

typedef struct notes_cfg {
    const char *data_dir;
    bool cache;
} notes_cfg;

static const forge_config_field notes_fields[] = {
    {FORGE_CFG_STRING(notes_cfg, data_dir, "data_dir"),
     .help = "directory of the default SQLite database"},
    {FORGE_CFG_BOOL(notes_cfg, cache, "cache"), .def = "true"},
};
static const forge_config_section notes_schema = FORGE_CFG_SECTION_OF(notes_fields);

typedef struct notes {
    forge_app *app;
    notes_cfg cfg;
    char default_url[4200];
    _Atomic(forge_cache *) cache;
} notes;

static notes g_notes; /* one app per process */

/* ---- helpers ---- */

static bool parse_id(forge_req *req, int64_t *id)
{
    forge_str s = forge_req_param(req, "id");
    if (!s.p || s.n == 0 || s.n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (s.p[i] - '0');
    }
    *id = v;
    return v > 0;
}

static size_t key_of(char *buf, size_t cap, int64_t id)
{
    return (size_t)snprintf(buf, cap, "note:%" PRId64, id);
}

/* The note in the current row (id, title, body, created_at) as JSON text (malloc'd). */
static char *row_json(forge_db_rows *r, size_t *len)
{
    forge_str t = forge_db_str(r, 1), b = forge_db_str(r, 2), at = forge_db_str(r, 3);
    json_t *o = json_pack("{s:I, s:s%, s:s%, s:s%}", "id", (json_int_t)forge_db_int(r, 0), "title",
                          t.p ? t.p : "", t.n, "body", b.p ? b.p : "", b.n, "created_at",
                          at.p ? at.p : "", at.n);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}

static int send_json_text(forge_req *req, int status, const char *text, size_t len)
{
    forge_res_status(req, status);
    int rc = forge_res_set_header(req, "Content-Type", "application/json");
    return rc < 0 ? rc : forge_res_body(req, text, len);
}

static forge_db *db_of(forge_req *req)
{
    return forge_app_db(forge_req_app(req), "main");
}

static int unavailable(forge_req *req)
{
    forge_res_set_header(req, "Retry-After", "1");
    return forge_res_problem(req, 503, NULL, "The database is not started.");
}

/* ---- POST /notes ---- */

static int bad_field(forge_req *req, const char *field, const char *why)
{
    json_t *extra = json_pack("{s:s}", "field", field);
    char detail[160];
    snprintf(detail, sizeof(detail), "%s %s", field, why);
    int rc = forge_res_problem_ex(req, 422, NULL, "Invalid note", detail, extra);
    json_decref(extra);
    return rc;
}

static int create(forge_req *req, void *udata)
{
    forge_error err;
    forge_error_clear(&err);
    json_t *in = forge_req_json(req, &err);
    if (!in)
        return forge_res_problem(req, 400, "Malformed JSON", err.message);
    if (!json_is_object(in))
        return forge_res_problem(req, 422, "Invalid note", "the body must be a JSON object");
    json_t *jt = json_object_get(in, "title"), *jb = json_object_get(in, "body");
    if (!json_is_string(jt))
        return bad_field(req, "title", "must be a string");
    if (!json_is_string(jb))
        return bad_field(req, "body", "must be a string");
    size_t tn = json_string_length(jt), bn = json_string_length(jb);
    if (tn == 0 || tn > TITLE_MAX)
        return bad_field(req, "title", "must have 1 to 200 bytes");
    if (bn > BODY_MAX)
        return bad_field(req, "body", "must have at most 10000 bytes");

    forge_db *db = db_of(req);
    if (!db)
        return unavailable(req);
    char at[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    forge_db_value p[] = {FORGE_DB_TEXTN(json_string_value(jt), tn),
                          FORGE_DB_TEXTN(json_string_value(jb), bn), forge_db_text(at)};
    forge_db_conn *c;
    int rc = forge_db_acquire(db, 0, &c, &err);
    if (rc < 0)
        return forge_db_problem(req, rc, &err);
    forge_db_rows *r;
    rc = forge_db_query(c,
                        "INSERT INTO notes (title, body, created_at) VALUES (?, ?, ?) "
                        "RETURNING id, title, body, created_at",
                        p, 3, &r, &err);
    char *text = NULL;
    size_t len = 0;
    int64_t id = 0;
    if (rc == 0) {
        rc = forge_db_rows_next(r, &err);
        if (rc == 1) {
            id = forge_db_int(r, 0);
            text = row_json(r, &len);
            rc = text ? 0 : FORGE_ENOMEM;
        } else if (rc == 0) {
            rc = forge_error_set(&err, FORGE_EIO, "insert returned no row");
        }
        forge_db_rows_close(r);
    }
    forge_db_release(c);
    if (rc < 0)
        return forge_db_problem(req, rc, &err);
    forge_cache *cache = atomic_load(&g_notes.cache);
    if (cache) {
        char key[40];
        forge_cache_set(cache, key, key_of(key, sizeof(key), id), text, len, 0);
    }
    char loc[48];
    snprintf(loc, sizeof(loc), "/notes/%" PRId64, id);
    forge_res_set_header(req, "Location", loc);
    rc = send_json_text(req, 201, text, len);
    free(text);
    return rc;
}

/* ---- GET /notes/:id ---- */

typedef struct load_ctx {
    forge_db *db;
    int64_t id;
} load_ctx;

static int load_note(void *udata, const void *key, size_t klen, char **val, size_t *vlen,
                     uint32_t *ttl_ms, forge_error *err)
{
    load_ctx *l = udata;
    forge_db_conn *c;
    int rc = forge_db_acquire(l->db, 0, &c, err);
    if (rc < 0)
        return rc;
    forge_db_rows *r;
    forge_db_value p[] = {FORGE_DB_INT(l->id)};
    rc = forge_db_query(c, "SELECT id, title, body, created_at FROM notes WHERE id = ?", p, 1, &r,
                        err);
    if (rc == 0) {
        rc = forge_db_rows_next(r, err);
        if (rc == 1) {
            *val = row_json(r, vlen);
            rc = *val ? 0 : FORGE_ENOMEM;
        } else if (rc == 0) {
            rc = FORGE_ENOENT;
        }
        forge_db_rows_close(r);
    }
    forge_db_release(c);
    return rc;
}

static int get_one(forge_req *req, void *udata)
{
    int64_t id;
    if (!parse_id(req, &id))
        return forge_res_problem(req, 404, NULL, "no such note");
    forge_db *db = db_of(req);
    if (!db)
        return unavailable(req);
    load_ctx l = {db, id};
    char key[40];
    size_t kn = key_of(key, sizeof(key), id);
    char *text = NULL;
    size_t len = 0;
    forge_error err;
    forge_error_clear(&err);
    forge_cache *cache = atomic_load(&g_notes.cache);
    int rc = cache ? forge_cache_get_or_load(cache, key, kn, load_note, &l, &text, &len, &err)
                   : load_note(&l, key, kn, &text, &len, NULL, &err);
    if (rc == FORGE_ENOENT)
        return forge_res_problem(req, 404, NULL, "no such note");
    if (rc < 0)
        return forge_db_problem(req, rc, &err);
    rc = send_json_text(req, 200, text, len);
    free(text);
    return rc;
}

/* ---- GET /notes ---- */

static int64_t query_int(forge_req *req, const char *name, int64_t def, int64_t lo, int64_t hi,
                         bool *bad)
{
    forge_str v;
    if (!forge_req_query_param(req, name, &v))
        return def;
    char buf[24];
    if (v.n == 0 || v.n >= sizeof(buf)) {
        *bad = true;
        return def;
    }
    memcpy(buf, v.p, v.n);
    buf[v.n] = '\0';
    char *end;
    long long x = strtoll(buf, &end, 10);
    if (*end || x < lo || x > hi)
        *bad = true;
    return x;
}

static int list(forge_req *req, void *udata)
{
    bool bad = false;
    int64_t limit = query_int(req, "limit", 100, 1, 1000, &bad);
    int64_t after = query_int(req, "after", 0, 0, INT64_MAX, &bad);
    if (bad)
        return forge_res_problem(req, 400, NULL,
                                 "limit must be 1..1000 and after a non-negative id");
    forge_db *db = db_of(req);
    if (!db)
        return unavailable(req);
    forge_error err;
    forge_error_clear(&err);
    forge_db_conn *c;
    int rc = forge_db_acquire(db, 0, &c, &err);
    if (rc < 0)
        return forge_db_problem(req, rc, &err);
    json_t *arr = json_array();
    forge_db_rows *r;
    forge_db_value p[] = {FORGE_DB_INT(after), FORGE_DB_INT(limit)};
    rc = forge_db_query(c,
                        "SELECT id, title, body, created_at FROM notes WHERE id > ? ORDER BY id "
                        "LIMIT ?",
                        p, 2, &r, &err);
    if (rc == 0) {
        while ((rc = forge_db_rows_next(r, &err)) == 1) {
            forge_str t = forge_db_str(r, 1), b = forge_db_str(r, 2), at = forge_db_str(r, 3);
            json_array_append_new(arr, json_pack("{s:I, s:s%, s:s%, s:s%}", "id",
                                                 (json_int_t)forge_db_int(r, 0), "title",
                                                 t.p ? t.p : "", t.n, "body", b.p ? b.p : "", b.n,
                                                 "created_at", at.p ? at.p : "", at.n));
        }
        forge_db_rows_close(r);
    }
    forge_db_release(c);
    if (rc < 0) {
        json_decref(arr);
        return forge_db_problem(req, rc, &err);
    }
    json_t *out = json_pack("{s:o}", "notes", arr);
    rc = forge_res_json(req, 200, out);
    json_decref(out);
    return rc;
}

/* ---- DELETE /notes/:id ---- */

static int delete_one(forge_req *req, void *udata)
{
    int64_t id;
    if (!parse_id(req, &id))
        return forge_res_problem(req, 404, NULL, "no such note");
    forge_db *db = db_of(req);
    if (!db)
        return unavailable(req);
    forge_error err;
    forge_error_clear(&err);
    forge_db_conn *c;
    int rc = forge_db_acquire(db, 0, &c, &err);
    if (rc < 0)
        return forge_db_problem(req, rc, &err);
    int64_t n = 0;
    forge_db_value p[] = {FORGE_DB_INT(id)};
    rc = forge_db_exec(c, "DELETE FROM notes WHERE id = ?", p, 1, &n, &err);
    forge_db_release(c);
    if (rc < 0)
        return forge_db_problem(req, rc, &err);
    forge_cache *cache = atomic_load(&g_notes.cache);
    if (cache) {
        char key[40];
        forge_cache_del(cache, key, key_of(key, sizeof(key), id));
    }
    if (n == 0)
        return forge_res_problem(req, 404, NULL, "no such note");
    forge_res_status(req, 204);
    return 0;
}

/* ---- the cache as a service (opened once shared memory is mapped) ---- */

static int cache_start(forge_app *app, void *state, forge_error *err)
{
    notes *n = state;
    forge_error e;
    forge_error_clear(&e);
    forge_cache *c = forge_cache_shm_open(app, "notes", &e);
    if (!c) {
        forge_logf(forge_app_log(app), FORGE_LOG_WARN, NULL,
                   "notes: shared cache unavailable (%s); using a per-process cache", e.message);
        forge_cache_opts o = {.max_entries = 4096, .ttl_ms = 30000};
        c = forge_cache_lru_new(&o, err);
        if (!c)
            return FORGE_ENOMEM;
    }
    atomic_store(&n->cache, c);
    return 0;
}

static void cache_stop(forge_app *app, void *state)
{
    notes *n = state;
    forge_cache_free(atomic_exchange(&n->cache, NULL));
}

FORGE_APP("notes", "1.0.0")
{
    notes *n = &g_notes;
    memset(n, 0, sizeof(*n));
    n->app = app;
    int rc = forge_config_bind(forge_app_config(app), "app.notes", &notes_schema, &n->cfg, err);
    if (rc < 0)
        return rc;
    char dir[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s", n->cfg.data_dir ? n->cfg.data_dir : "");
    if (!dir[0])
        snprintf(dir, sizeof(dir), "%s/forge-notes", tmp && *tmp ? tmp : "/tmp");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return forge_error_setk(err, FORGE_ECONFIG, "app.notes.data_dir",
                                "app.notes.data_dir: cannot create %s: %s", dir, strerror(errno));
    snprintf(n->default_url, sizeof(n->default_url), "sqlite://%s/notes.db", dir);
    forge_app_db_opts dbo = {.default_url = n->default_url, .default_migrations = NOTES_MIGRATIONS};
    if ((rc = forge_app_db_register(app, "main", &dbo, err)) < 0)
        return rc;
    if (n->cfg.cache) {
        forge_cache_opts co = {.max_entries = 2048, .max_bytes = 4096, .ttl_ms = 30000};
        if ((rc = forge_cache_shm_reserve(app, "notes", &co, err)) < 0)
            return rc;
        forge_service_def def = {
            .name = "notes.cache", .start = cache_start, .stop = cache_stop, .state = n};
        if ((rc = forge_app_service(app, &def, err)) < 0)
            return rc;
    }
    static const forge_route_opts blocking = {.flags = FORGE_ROUTE_BLOCKING, .max_body = 64 * 1024};
    if ((rc = forge_app_route(app, "POST", "/notes", create, NULL, &blocking, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/notes", list, NULL, &blocking, err)) < 0 ||
        (rc = forge_app_route(app, "GET", "/notes/:id", get_one, NULL, &blocking, err)) < 0 ||
        (rc = forge_app_route(app, "DELETE", "/notes/:id", delete_one, NULL, &blocking, err)) < 0)
        return rc;
    return 0;
}
