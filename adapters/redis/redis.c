/*
 * The Redis driver (hiredis), plugin forge_db_redis.so.
 *
 * URL: redis://[:password@]host:port[/db]. A statement is a command
 * template whose words are split on spaces; a word that is exactly `?` is
 * one bound argument, sent as its own binary-safe bulk string (never
 * spliced): "SET ? ? PX ?". Replies become rows of one column "value": a
 * string, integer or nil is one row, an array one row per element (nested
 * arrays give NULL). Error replies map to FORGE_EINVAL (WRONGTYPE, unknown
 * command...), FORGE_EBUSY (LOADING, BUSY) or FORGE_EACCES (NOAUTH). The
 * statement timeout is the socket timeout; a timed-out connection is
 * dropped. No transactions (FORGE_DB_CAP_SQL is not set).
 */
#include <forge/db_driver.h>

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

typedef struct rd_conn {
    redisContext *r;
    bool broken;
} rd_conn;

typedef struct rd_stmt {
    rd_conn *c;
    char *text;   /* words, NUL-separated */
    char **words; /* NULL entries are parameters */
    size_t nwords, nparams;
    redisReply *reply;
    size_t row, nrows; /* row is 1-based once iterating */
    char num[32];
} rd_stmt;

static struct timeval tv_ms(uint32_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

static int conn_error(rd_conn *c, forge_db_derr *e)
{
    c->broken = true;
    bool timeout = c->r->err == REDIS_ERR_IO &&
                   (c->r->errstr[0] == '\0' || strstr(c->r->errstr, "temporarily") ||
                    strstr(c->r->errstr, "timed out"));
    if (timeout)
        return forge_db_derr_set(e, FORGE_ETIMEDOUT, "command timed out: %s", c->r->errstr);
    return forge_db_derr_set(e, FORGE_EIO, "connection: %s", c->r->errstr);
}

static int reply_error(const redisReply *rep, forge_db_derr *e)
{
    const char *s = rep->str ? rep->str : "error";
    int code = FORGE_EINVAL;
    if (strncmp(s, "LOADING", 7) == 0 || strncmp(s, "BUSY", 4) == 0 ||
        strncmp(s, "TRYAGAIN", 8) == 0)
        code = FORGE_EBUSY;
    else if (strncmp(s, "NOAUTH", 6) == 0 || strncmp(s, "WRONGPASS", 9) == 0 ||
             strncmp(s, "NOPERM", 6) == 0)
        code = FORGE_EACCES;
    else if (strncmp(s, "OOM", 3) == 0 || strncmp(s, "READONLY", 8) == 0)
        code = FORGE_EIO;
    return forge_db_derr_set(e, code, "%s", s);
}

/* Run one command (argv form); 0 with *out, or an error. */
static int command(rd_conn *c, int argc, const char **argv, const size_t *lens, redisReply **out,
                   forge_db_derr *e)
{
    redisReply *rep = redisCommandArgv(c->r, argc, argv, lens);
    if (!rep)
        return conn_error(c, e);
    if (rep->type == REDIS_REPLY_ERROR) {
        int rc = reply_error(rep, e);
        freeReplyObject(rep);
        return rc;
    }
    *out = rep;
    return 0;
}

static int simple(rd_conn *c, const char *a, const char *b, forge_db_derr *e)
{
    const char *argv[] = {a, b};
    size_t lens[] = {strlen(a), b ? strlen(b) : 0};
    redisReply *rep;
    int rc = command(c, b ? 2 : 1, argv, lens, &rep, e);
    if (rc == 0)
        freeReplyObject(rep);
    return rc;
}

static int rd_connect(const forge_db_url *u, const forge_db_connect_opts *o, void **out,
                      forge_db_derr *e)
{
    rd_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    c->r = redisConnectWithTimeout(u->host[0] ? u->host : "127.0.0.1", u->port ? u->port : 6379,
                                   tv_ms(o->connect_timeout_ms ? o->connect_timeout_ms : 5000));
    if (!c->r || c->r->err) {
        int rc = forge_db_derr_set(e, c->r ? FORGE_EIO : FORGE_ENOMEM, "connect: %s",
                                   c->r ? c->r->errstr : "out of memory");
        redisFree(c->r);
        free(c);
        return rc;
    }
    if (o->statement_timeout_ms)
        redisSetTimeout(c->r, tv_ms(o->statement_timeout_ms));
    int rc = 0;
    if (u->password[0]) {
        const char *argv[] = {"AUTH", u->user, u->password};
        size_t lens[] = {4, strlen(u->user), strlen(u->password)};
        redisReply *rep;
        rc = u->user[0] ? command(c, 3, argv, lens, &rep, e)
                        : command(c, 2, (const char *[]){"AUTH", u->password},
                                  (size_t[]){4, strlen(u->password)}, &rep, e);
        if (rc == 0)
            freeReplyObject(rep);
    }
    if (rc == 0 && u->path[0] && u->path[1])
        rc = simple(c, "SELECT", u->path + 1, e);
    if (rc < 0) {
        redisFree(c->r);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void rd_close(void *conn)
{
    rd_conn *c = conn;
    redisFree(c->r);
    free(c);
}

static int rd_ping(void *conn, forge_db_derr *e)
{
    return simple(conn, "PING", NULL, e);
}

static bool rd_broken(void *conn)
{
    return ((rd_conn *)conn)->broken;
}

static int rd_prepare(void *conn, const char *sql, void **out, forge_db_derr *e)
{
    rd_stmt *s = calloc(1, sizeof(*s));
    if (!s || !(s->text = strdup(sql))) {
        free(s);
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    s->c = conn;
    size_t cap = strlen(sql) / 2 + 2;
    s->words = calloc(cap, sizeof(*s->words));
    if (!s->words) {
        free(s->text);
        free(s);
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    for (char *save = NULL, *w = strtok_r(s->text, " \t\r\n", &save); w;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        bool param = strcmp(w, "?") == 0;
        s->words[s->nwords++] = param ? NULL : w;
        s->nparams += param;
    }
    if (s->nwords == 0 || !s->words[0]) {
        free(s->words);
        free(s->text);
        free(s);
        return forge_db_derr_set(e, FORGE_EINVAL, "a Redis statement starts with a command name");
    }
    *out = s;
    return 0;
}

static void rd_reset(void *stmt)
{
    rd_stmt *s = stmt;
    if (s->reply)
        freeReplyObject(s->reply);
    s->reply = NULL;
    s->row = s->nrows = 0;
}

static void rd_finalize(void *stmt)
{
    rd_stmt *s = stmt;
    rd_reset(s);
    free(s->words);
    free(s->text);
    free(s);
}

static int rd_execute(void *stmt, const forge_db_value *p, size_t n, forge_db_derr *e)
{
    rd_stmt *s = stmt;
    rd_reset(s);
    if (n != s->nparams)
        return forge_db_derr_set(e, FORGE_EINVAL, "command takes %zu parameters, %zu given",
                                 s->nparams, n);
    const char **argv = calloc(s->nwords, sizeof(*argv));
    size_t *lens = calloc(s->nwords, sizeof(*lens));
    char(*nums)[32] = calloc(n ? n : 1, sizeof(*nums));
    if (!argv || !lens || !nums) {
        free(argv);
        free(lens);
        free(nums);
        return forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0, k = 0; i < s->nwords; i++) {
        if (s->words[i]) {
            argv[i] = s->words[i];
            lens[i] = strlen(s->words[i]);
            continue;
        }
        const forge_db_value *v = &p[k];
        switch (v->type) {
        case FORGE_DB_T_INT:
            lens[i] = (size_t)snprintf(nums[k], 32, "%lld", (long long)v->v.i);
            argv[i] = nums[k];
            break;
        case FORGE_DB_T_DOUBLE:
            lens[i] = (size_t)snprintf(nums[k], 32, "%.17g", v->v.d);
            argv[i] = nums[k];
            break;
        case FORGE_DB_T_BOOL:
            argv[i] = v->v.b ? "1" : "0";
            lens[i] = 1;
            break;
        case FORGE_DB_T_TEXT:
        case FORGE_DB_T_BLOB:
            argv[i] = v->v.s.p ? v->v.s.p : "";
            lens[i] = v->v.s.n;
            break;
        default:
            rc = forge_db_derr_set(e, FORGE_EINVAL, "Redis has no NULL (parameter %zu)", k + 1);
        }
        k++;
    }
    if (rc == 0)
        rc = command(s->c, (int)s->nwords, argv, lens, &s->reply, e);
    free(argv);
    free(lens);
    free(nums);
    if (rc == 0)
        s->nrows = s->reply->type == REDIS_REPLY_ARRAY ? s->reply->elements : 1;
    return rc;
}

static int rd_next(void *stmt, forge_db_derr *e)
{
    (void)e;
    rd_stmt *s = stmt;
    if (!s->reply || s->row >= s->nrows)
        return 0;
    s->row++;
    return 1;
}

static size_t rd_ncols(void *stmt)
{
    (void)stmt;
    return 1;
}

static const char *rd_col_name(void *stmt, size_t col)
{
    (void)stmt;
    (void)col;
    return "value";
}

static void rd_get(void *stmt, size_t col, forge_db_value *out)
{
    rd_stmt *s = stmt;
    *out = FORGE_DB_NULL;
    if (!s->reply || s->row == 0 || col != 0)
        return;
    const redisReply *r =
        s->reply->type == REDIS_REPLY_ARRAY ? s->reply->element[s->row - 1] : s->reply;
    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        *out = FORGE_DB_INT(r->integer);
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        *out = FORGE_DB_TEXTN(r->str, r->len);
        break;
    default:
        break;
    }
}

static int64_t rd_changes(void *stmt)
{
    rd_stmt *s = stmt;
    return s->reply && s->reply->type == REDIS_REPLY_INTEGER ? s->reply->integer : 0;
}

static int64_t rd_last_id(void *conn)
{
    (void)conn;
    return -1;
}

static int rd_script(void *conn, const char *sql, forge_db_derr *e)
{
    (void)conn;
    (void)sql;
    return forge_db_derr_set(e, FORGE_ENOSYS, "Redis runs no SQL scripts");
}

static int rd_set_timeout(void *conn, uint32_t ms, forge_db_derr *e)
{
    rd_conn *c = conn;
    /* 0 means no timeout to Forge; hiredis takes a zero timeval as "none" too */
    if (redisSetTimeout(c->r, tv_ms(ms)) != REDIS_OK)
        return forge_db_derr_set(e, FORGE_EIO, "cannot set the socket timeout");
    return 0;
}

static const char *const schemes[] = {"redis", NULL};

static const forge_db_driver driver = {
    .abi = FORGE_DB_DRIVER_ABI,
    .size = sizeof(forge_db_driver),
    .name = "redis",
    .schemes = schemes,
    .caps = 0,
    .connect = rd_connect,
    .close = rd_close,
    .ping = rd_ping,
    .broken = rd_broken,
    .prepare = rd_prepare,
    .finalize = rd_finalize,
    .execute = rd_execute,
    .next = rd_next,
    .ncols = rd_ncols,
    .col_name = rd_col_name,
    .get = rd_get,
    .changes = rd_changes,
    .reset = rd_reset,
    .last_insert_id = rd_last_id,
    .exec_script = rd_script,
    .set_timeout = rd_set_timeout,
    .cancel = NULL,
};

FORGE_EXPORT const forge_db_driver *forge_db_driver_entry(void)
{
    return &driver;
}
