/*
 * Databases: the driver registry, URLs, and opening/closing pools.
 *
 * Drivers are found by URL scheme among registered tables; a scheme with no
 * driver is looked up as a plugin forge_db_<scheme>.so (ADR 0110) in
 * $FORGE_DB_DRIVER_PATH (":"-separated), then beside the code holding the
 * core (the directory of libforge-core.so, or of the executable when the
 * core is linked statically) and in its ../lib and ../lib/forge.
 */
#include "db_impl.h"

#include <forge/http.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DRIVERS 16

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static const forge_db_driver *drivers[MAX_DRIVERS];
static size_t ndrivers;

uint64_t forge__db_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

forge_db_value forge_db_text(const char *s)
{
    return s ? FORGE_DB_TEXTN(s, strlen(s)) : FORGE_DB_NULL;
}

/* Scheme aliases map to the driver's plugin name. */
static const char *canonical_scheme(const char *s)
{
    if (strcmp(s, "postgresql") == 0 || strcmp(s, "pg") == 0)
        return "postgres";
    if (strcmp(s, "mariadb") == 0)
        return "mysql";
    if (strcmp(s, "mongodb") == 0)
        return "mongo";
    return s;
}

static const forge_db_driver *find_driver_locked(const char *scheme)
{
    for (size_t i = 0; i < ndrivers; i++)
        for (const char *const *s = drivers[i]->schemes; s && *s; s++)
            if (strcmp(*s, scheme) == 0)
                return drivers[i];
    return NULL;
}

int forge_db_register_driver(const forge_db_driver *drv, forge_error *err)
{
    if (!drv || !drv->name || !drv->schemes)
        return forge_error_set(err, FORGE_EINVAL, "db: a driver needs a name and schemes");
    if (drv->abi != FORGE_DB_DRIVER_ABI || drv->size < sizeof(forge_db_driver))
        return forge_error_set(err, FORGE_EABI,
                               "db: driver '%s' was built for driver ABI %u (this core: %u)",
                               drv->name, drv->abi, FORGE_DB_DRIVER_ABI);
    pthread_mutex_lock(&reg_mu);
    int rc = 0;
    for (const char *const *s = drv->schemes; *s; s++) {
        const forge_db_driver *o = find_driver_locked(*s);
        if (o == drv) {
            pthread_mutex_unlock(&reg_mu);
            return 0;
        }
        if (o) {
            rc = forge_error_set(err, FORGE_EEXIST, "db: scheme '%s' already has driver '%s'", *s,
                                 o->name);
            break;
        }
    }
    if (rc == 0 && ndrivers == MAX_DRIVERS)
        rc = forge_error_set(err, FORGE_ENOMEM, "db: too many drivers");
    if (rc == 0)
        drivers[ndrivers++] = drv;
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

int forge_db_load_driver(const char *path, forge_error *err)
{
    /* RTLD_NODELETE: driver tables must outlive every pool; plugins are never unloaded. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h)
        return forge_error_set(err, FORGE_ENOENT, "db: cannot load driver %s: %s", path, dlerror());
    const forge_db_driver *(*entry)(void) =
        (const forge_db_driver *(*)(void))dlsym(h, "forge_db_driver_entry");
    if (!entry) {
        dlclose(h);
        return forge_error_set(err, FORGE_ENOENT,
                               "db: %s is not a Forge driver (no forge_db_driver_entry)", path);
    }
    int rc = forge_db_register_driver(entry(), err);
    dlclose(h); /* NODELETE keeps the code mapped */
    return rc;
}

/* Try `dir`/forge_db_<scheme>.so; 0 when registered. `tried` collects paths for the message. */
static int try_dir(const char *dir, const char *scheme, char *tried, size_t cap)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/forge_db_%s.so", dir, scheme);
    size_t n = strlen(tried);
    if (n + strlen(path) + 3 < cap)
        snprintf(tried + n, cap - n, "%s%s", n ? ", " : "", path);
    forge_error e;
    forge_error_clear(&e);
    return forge_db_load_driver(path, &e);
}

static const forge_db_driver *load_plugin(const char *scheme, forge_error *err)
{
    char tried[1024] = "";
    const char *envp = getenv("FORGE_DB_DRIVER_PATH");
    if (envp && *envp) {
        char buf[PATH_MAX];
        snprintf(buf, sizeof(buf), "%s", envp);
        for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save))
            if (try_dir(d, scheme, tried, sizeof(tried)) == 0)
                goto found;
    }
    Dl_info info;
    if (dladdr((void *)forge_db_open, &info) && info.dli_fname) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", info.dli_fname);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            char alt[PATH_MAX + 16];
            if (try_dir(dir, scheme, tried, sizeof(tried)) == 0)
                goto found;
            snprintf(alt, sizeof(alt), "%s/../lib", dir);
            if (try_dir(alt, scheme, tried, sizeof(tried)) == 0)
                goto found;
            snprintf(alt, sizeof(alt), "%s/../lib/forge", dir);
            if (try_dir(alt, scheme, tried, sizeof(tried)) == 0)
                goto found;
        }
    }
    forge_error_set(
        err, FORGE_ENOENT,
        "db: no driver for scheme '%s' (not linked in; tried %s; set "
        "FORGE_DB_DRIVER_PATH, or build the adapter: its client library may be missing)",
        scheme, tried[0] ? tried : "nothing");
    return NULL;
found:
    pthread_mutex_lock(&reg_mu);
    const forge_db_driver *d = find_driver_locked(scheme);
    pthread_mutex_unlock(&reg_mu);
    return d;
}

static const forge_db_driver *driver_for(const char *scheme, forge_error *err)
{
    pthread_mutex_lock(&reg_mu);
    const forge_db_driver *d = find_driver_locked(scheme);
    pthread_mutex_unlock(&reg_mu);
    if (d)
        return d;
    static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&load_mu);
    d = load_plugin(canonical_scheme(scheme), err);
    pthread_mutex_unlock(&load_mu);
    if (d) {
        pthread_mutex_lock(&reg_mu);
        d = find_driver_locked(scheme);
        pthread_mutex_unlock(&reg_mu);
        if (!d)
            forge_error_set(err, FORGE_ENOENT, "db: the driver loaded for '%s' does not claim it",
                            scheme);
    }
    return d;
}

/* ---- URLs ---- */

static char *decode_dup(const char *p, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    long m = forge_pct_decode(p, n, out, n, false);
    if (m < 0) {
        free(out);
        return NULL;
    }
    out[m] = '\0';
    return out;
}

/*
 * Split scheme://[user[:password]@]host[:port][/path][?query]. The parts
 * live in one buffer (db->urlbuf) of NUL-separated strings.
 */
static int parse_url(forge_db *db, const char *url, forge_error *err)
{
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return forge_error_set(err, FORGE_EINVAL,
                               "db: '%.*s...' is not a database URL (scheme://...)",
                               (int)(strlen(url) > 12 ? 12 : strlen(url)), url);
    size_t len = strlen(url);
    db->urlbuf = malloc(len * 2 + 16);
    if (!db->urlbuf)
        return FORGE_ENOMEM;
    char *w = db->urlbuf;
#define PUT(field, p, n)                                                                           \
    do {                                                                                           \
        memcpy(w, (p), (n));                                                                       \
        w[(n)] = '\0';                                                                             \
        db->u.field = w;                                                                           \
        w += (n) + 1;                                                                              \
    } while (0)
    PUT(scheme, url, (size_t)(sep - url));
    for (char *c = (char *)db->u.scheme; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    const char *a = sep + 3;
    const char *q = strchr(a, '?');
    const char *end = q ? q : url + len;
    const char *slash = memchr(a, '/', (size_t)(end - a));
    const char *auth_end = slash ? slash : end;
    const char *at = NULL;
    for (const char *p = a; p < auth_end; p++)
        if (*p == '@')
            at = p; /* the last '@': passwords may hold one (encoded or not) */
    const char *hp = a;
    char *user = NULL, *pass = NULL;
    if (at) {
        const char *colon = memchr(a, ':', (size_t)(at - a));
        user = decode_dup(a, (size_t)((colon ? colon : at) - a));
        pass = colon ? decode_dup(colon + 1, (size_t)(at - colon - 1)) : strdup("");
        if (!user || !pass) {
            free(user);
            free(pass);
            return forge_error_set(err, FORGE_EINVAL, "db: malformed user or password in URL");
        }
        hp = at + 1;
    }
    PUT(user, user ? user : "", user ? strlen(user) : 0);
    PUT(password, pass ? pass : "", pass ? strlen(pass) : 0);
    free(user);
    free(pass);
    const char *port_colon = NULL;
    if (*hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(auth_end - hp));
        if (!rb)
            return forge_error_set(err, FORGE_EINVAL, "db: unterminated [address] in URL");
        PUT(host, hp + 1, (size_t)(rb - hp - 1));
        if (rb + 1 < auth_end && rb[1] == ':')
            port_colon = rb + 1;
    } else {
        const char *c = memchr(hp, ':', (size_t)(auth_end - hp));
        /* sqlite://:memory: is a name, not a port */
        if (c && c + 1 < auth_end && c[1] >= '0' && c[1] <= '9')
            port_colon = c;
        PUT(host, hp, (size_t)((port_colon ? port_colon : auth_end) - hp));
    }
    db->u.port = 0;
    if (port_colon) {
        char *e = NULL;
        long p = strtol(port_colon + 1, &e, 10);
        if (e != auth_end || p <= 0 || p > 65535)
            return forge_error_set(err, FORGE_EINVAL, "db: bad port in URL '%s'",
                                   db->redacted ? db->redacted : db->u.scheme);
        db->u.port = (int)p;
    }
    PUT(path, slash ? slash : "", slash ? (size_t)(end - slash) : 0);
    PUT(query, q ? q + 1 : "", q ? strlen(q + 1) : 0);
#undef PUT
    db->u.raw = db->url;
    return 0;
}

static char *redact(const char *url)
{
    const char *sep = strstr(url, "://");
    const char *at = NULL;
    if (sep) {
        const char *a = sep + 3;
        const char *end = a + strcspn(a, "/?");
        for (const char *p = a; p < end; p++)
            if (*p == '@')
                at = p;
        const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
        if (colon) {
            size_t n1 = (size_t)(colon + 1 - url);
            size_t total = n1 + 3 + strlen(at) + 1;
            char *out = malloc(total);
            if (out)
                snprintf(out, total, "%.*s***%s", (int)n1, url, at);
            return out;
        }
    }
    return strdup(url);
}

static void defaults(forge_db_opts *o)
{
#define DEF(f, v)                                                                                  \
    if (!o->f)                                                                                     \
    o->f = (v)
    DEF(max_conns, 8);
    DEF(acquire_timeout_ms, 5000);
    DEF(connect_timeout_ms, 5000);
    DEF(idle_timeout_ms, 60000);
    DEF(validate_after_ms, 2000);
    DEF(backoff_min_ms, 100);
    DEF(backoff_max_ms, 5000);
    DEF(stmt_cache, 64);
#undef DEF
    if (o->min_conns > o->max_conns)
        o->min_conns = o->max_conns;
}

int forge_db_open(const char *url, const forge_db_opts *opts, forge_db **out, forge_error *err)
{
    if (!url || !out)
        return forge_error_set(err, FORGE_EINVAL, "db: no URL");
    *out = NULL;
    forge_db *db = calloc(1, sizeof(*db));
    if (!db)
        return FORGE_ENOMEM;
    db->url = strdup(url);
    db->redacted = redact(url);
    if (!db->url || !db->redacted) {
        free(db->url);
        free(db->redacted);
        free(db);
        return FORGE_ENOMEM;
    }
    int rc = parse_url(db, url, err);
    if (rc == 0) {
        db->drv = driver_for(db->u.scheme, err);
        if (!db->drv)
            rc = FORGE_ENOENT;
    }
    if (opts)
        db->o = *opts;
    defaults(&db->o);
    db->name = strdup(db->o.name ? db->o.name : (db->u.scheme ? db->u.scheme : "db"));
    db->o.name = db->name;
    if (rc == 0 && !db->name)
        rc = FORGE_ENOMEM;
    if (rc < 0) {
        free(db->url);
        free(db->redacted);
        free(db->urlbuf);
        free(db->name);
        free(db);
        return rc;
    }
    pthread_mutex_init(&db->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&db->cv, &ca);
    pthread_condattr_destroy(&ca);
    db->st.up = true;
    if (db->o.connect_now) {
        forge_db_conn *c;
        rc = forge_db_acquire(db, 0, &c, err);
        if (rc < 0) {
            forge_db_close(db);
            return rc;
        }
        forge_db_release(c);
    }
    forge_db_maintain(db);
    *out = db;
    return 0;
}

void forge__db_maybe_free(forge_db *db)
{
    bool last = db->closing && db->nbusy == 0 && db->nconnecting == 0;
    forge_db_conn *idle = NULL;
    if (db->closing) {
        idle = db->idle;
        db->idle = NULL;
        db->nidle = 0;
    }
    pthread_cond_broadcast(&db->cv);
    pthread_mutex_unlock(&db->mu);
    while (idle) {
        forge_db_conn *n = idle->next;
        forge__db_conn_destroy(idle);
        idle = n;
    }
    if (!last)
        return;
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cv);
    free(db->url);
    free(db->redacted);
    free(db->urlbuf);
    free(db->name);
    free(db);
}

void forge_db_close(forge_db *db)
{
    if (!db)
        return;
    pthread_mutex_lock(&db->mu);
    db->closing = true;
    forge__db_maybe_free(db);
}

const char *forge_db_name(const forge_db *db)
{
    return db ? db->name : NULL;
}

const char *forge_db_driver_name(const forge_db *db)
{
    return db ? db->drv->name : NULL;
}

const char *forge_db_url_redacted(const forge_db *db)
{
    return db ? db->redacted : NULL;
}

int forge__db_err(forge_db *db, forge_error *err, const forge_db_derr *e, const char *what)
{
    int code = e && e->code < 0 ? e->code : FORGE_EIO;
    return forge_error_set(err, code, "db %s: %s: %s", db ? db->name : "?", what,
                           e && e->msg[0] ? e->msg : forge_strerror(code));
}
