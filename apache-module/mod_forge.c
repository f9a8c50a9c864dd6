/*
 * mod_forge: directives, configuration and process hooks.
 *
 *     LoadModule forge_module /usr/lib/forge/mod_forge.so
 *     ForgeApp    /srv/app/app.so
 *     ForgeConfig /srv/app/app.yaml
 *     <Location /api/>
 *         Forge On
 *     </Location>
 *
 * (`SetHandler forge` works as well, like any handler.)
 *
 * The app is loaded in check_config, once per configuration generation, in
 * the parent: a missing .so, one without Forge's entry symbol, one built for
 * another Forge ABI or a bad app config fails `apache2 -t` (and a start or
 * restart) with the reason. At startup Apache reads its configuration twice
 * (a test pass, then the real one), so the app's init runs twice in the
 * parent; only the generation that serves maps shared memory
 * (post_config) and nothing is started before the children fork. Each child
 * starts the app as one Forge worker (child_init) and stops it when its
 * pool goes (the child exits).
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "scoreboard.h"

#include "apr_strings.h"
#include "apr_time.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "mod_forge.h"

const forge_host_ops forge_ap_ops = {
    .abi_version = FORGE_ABI_VERSION,
    .size = sizeof(forge_host_ops),
    .kind = "apache",
    .version = AP_SERVER_BASEREVISION,
    /* request threads may block: blocking routes run in place. Not
       FORGE_HOST_FIELDS_CHECKED: httpd refuses control bytes in header values
       under HttpProtocolOptions Strict (the default) but not Unsafe. */
    .flags = FORGE_HOST_CAN_BLOCK,
    .send_head = forge_ap_send_head,
    .send_body = forge_ap_send_body,
    .wake = forge_ap_wake,
    .shm_alloc = NULL, /* Forge's own mmap, inherited through fork */
};

/* ---- configuration records ---- */

static void *forge_create_server_conf(apr_pool_t *p, server_rec *s)
{
    forge_server_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->main = sc;
    return sc;
}

/* Virtual hosts share the main server's app; `used` stays their own. */
static void *forge_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    forge_server_conf *base = basev, *add = addv;
    forge_server_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->main = base->main;
    sc->used = add->used;
    return sc;
}

static void *forge_create_dir_conf(apr_pool_t *p, char *dir)
{
    forge_dir_conf *dc = apr_palloc(p, sizeof(*dc));

    dc->enabled = FORGE_UNSET;
    return dc;
}

static void *forge_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    forge_dir_conf *base = basev, *add = addv;
    forge_dir_conf *dc = apr_palloc(p, sizeof(*dc));

    dc->enabled = add->enabled != FORGE_UNSET ? add->enabled : base->enabled;
    return dc;
}

/* ---- directives ---- */

static const char *forge_file_arg(cmd_parms *cmd, const char *arg,
                                  const char **out)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);

    if (!path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path ", arg,
                           NULL);
    }
    if (access(path, R_OK) != 0) {
        return apr_psprintf(cmd->pool, "%s %s: %s", cmd->cmd->name, path,
                            strerror(errno));
    }
    *out = path;
    return NULL;
}

static const char *forge_set_app(cmd_parms *cmd, void *dummy, const char *arg)
{
    forge_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &forge_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    if (sc->app_path) {
        return "ForgeApp is set twice: one Forge app per Apache instance "
               "(its routes decide what each location serves)";
    }
    err = forge_file_arg(cmd, arg, &sc->app_path);
    if (err) {
        return err;
    }
    sc->app_where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                                 cmd->directive->line_num);
    return NULL;
}

static const char *forge_set_config(cmd_parms *cmd, void *dummy,
                                    const char *arg)
{
    forge_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &forge_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    if (sc->config_path) {
        return "ForgeConfig is set twice";
    }
    return forge_file_arg(cmd, arg, &sc->config_path);
}

static const char *forge_set_enabled(cmd_parms *cmd, void *dconf, int on)
{
    forge_dir_conf *dc = dconf;
    forge_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &forge_module);

    dc->enabled = on;
    if (on) {
        sc->used = 1;
    }
    return NULL;
}

static const command_rec forge_cmds[] = {
    AP_INIT_TAKE1("ForgeApp", forge_set_app, NULL, RSRC_CONF,
                  "the Forge app (.so) served where Forge is on"),
    AP_INIT_TAKE1("ForgeConfig", forge_set_config, NULL, RSRC_CONF,
                  "the Forge app's configuration file (YAML or JSON)"),
    AP_INIT_FLAG("Forge", forge_set_enabled, NULL, RSRC_CONF | ACCESS_CONF,
                 "On: the Forge app serves this location (Off: it does not)"),
    {NULL}};

/* ---- loading the app (parent) ---- */

/* "message (key k): cause" */
static const char *forge_strerror_ap(apr_pool_t *p, const forge_error *err)
{
    return apr_pstrcat(
        p, err->message[0] ? err->message : forge_strerror(err->code),
        err->key[0] ? " (key " : "", err->key, err->key[0] ? ")" : "",
        err->cause[0] ? ": " : "", err->cause, NULL);
}

static apr_status_t forge_free_host(void *data)
{
    forge_server_conf *sc = data;

    forge_host_free(sc->host);
    sc->host = NULL;
    sc->app = NULL;
    return APR_SUCCESS;
}

/* Forge's log lines into Apache's error log, from any thread. */
static void forge_log_sink(void *udata, forge_log_level level, const char *line,
                           size_t len)
{
    server_rec *s = udata;
    int ap_level;

    switch (level) {
        case FORGE_LOG_TRACE:
            ap_level = APLOG_TRACE1;
            break;
        case FORGE_LOG_DEBUG:
            ap_level = APLOG_DEBUG;
            break;
        case FORGE_LOG_INFO:
            ap_level = APLOG_INFO;
            break;
        case FORGE_LOG_WARN:
            ap_level = APLOG_WARNING;
            break;
        case FORGE_LOG_ERROR:
            ap_level = APLOG_ERR;
            break;
        default:
            ap_level = APLOG_CRIT;
            break;
    }
    ap_log_error(APLOG_MARK, ap_level, 0, s, "%.*s", (int)len, line);
}

/*
 * Records below the error log's level for this module would be dropped by
 * ap_log_error: raise Forge's own level to match, so they are not even
 * formatted (Forge checks its level before building a line).
 */
static void forge_match_log_level(forge_log *log, server_rec *s)
{
    int ap_level = ap_get_server_module_loglevel(s, APLOG_MODULE_INDEX);
    forge_log_level min;

    if (ap_level >= APLOG_TRACE1) {
        min = FORGE_LOG_TRACE;
    }
    else if (ap_level >= APLOG_DEBUG) {
        min = FORGE_LOG_DEBUG;
    }
    else if (ap_level >= APLOG_INFO) {
        min = FORGE_LOG_INFO;
    }
    else if (ap_level >= APLOG_WARNING) {
        min = FORGE_LOG_WARN;
    }
    else if (ap_level >= APLOG_ERR) {
        min = FORGE_LOG_ERROR;
    }
    else {
        min = FORGE_LOG_FATAL;
    }
    if (forge_log_get_level(log) < min) {
        forge_log_set_level(log, min);
    }
}

static int forge_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    forge_server_conf *sc =
        ap_get_module_config(s->module_config, &forge_module);
    forge_error err;
    server_rec *v;

    if (!sc->app_path) {
        for (v = s; v; v = v->next) {
            forge_server_conf *vc =
                ap_get_module_config(v->module_config, &forge_module);
            if (vc->used) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, NULL,
                             "mod_forge: `Forge On` is set in %s but no "
                             "ForgeApp is configured",
                             v->is_virtual ? "a virtual host"
                                           : "the main server");
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        return OK;
    }

    forge_error_clear(&err);
    sc->server = s;
    sc->host = forge_host_new(&forge_ap_ops, s, &err);
    if (sc->host) {
        apr_pool_cleanup_register(pconf, sc, forge_free_host,
                                  apr_pool_cleanup_null);
        sc->app =
            forge_host_load(sc->host, sc->app_path, sc->config_path, &err);
    }
    if (!sc->app) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, NULL,
                     "mod_forge: ForgeApp %s (%s): %s", sc->app_path,
                     sc->app_where, forge_strerror_ap(ptemp, &err));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/*
 * The error log is open now: send Forge's lines there. Shared memory is
 * mapped only for the generation whose children will fork, not in the
 * first (test) pass of a start.
 */
static int forge_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    forge_server_conf *sc =
        ap_get_module_config(s->module_config, &forge_module);
    forge_log *log;
    forge_error err;

    if (!sc->app) {
        return OK;
    }
    log = forge_app_log(sc->app);
    forge_log_set_sink(log, forge_log_sink, s);
    forge_match_log_level(log, s);

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    forge_error_clear(&err);
    if (forge_host_before_fork(sc->host, &err) != FORGE_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "mod_forge: ForgeApp %s (%s): %s", sc->app_path,
                     sc->app_where, forge_strerror_ap(ptemp, &err));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "mod_forge: serving app %s %s from %s (Forge %s)",
                 forge_app_name(sc->app), forge_app_version(sc->app),
                 sc->app_path, FORGE_VERSION_STRING);
    return OK;
}

/* ---- children ---- */

/*
 * The child's scoreboard slot, unique among live children: the parent
 * records the pid right after fork, so wait for it briefly. -1 if it never
 * shows (then the pid stands in).
 */
static int forge_child_slot(int limit)
{
    pid_t me = getpid();
    int i, tries;

    for (tries = 0; ap_scoreboard_image && tries < 500; tries++) {
        for (i = 0; i < limit; i++) {
            if (ap_scoreboard_image->parent[i].pid == me) {
                return i;
            }
        }
        apr_sleep(apr_time_from_msec(2));
    }
    return -1;
}

static apr_status_t forge_stop_worker(void *data)
{
    forge_server_conf *sc = data;

    forge_host_worker_stop(sc->host);
    return APR_SUCCESS;
}

static void forge_child_init(apr_pool_t *pchild, server_rec *s)
{
    forge_server_conf *sc =
        ap_get_module_config(s->module_config, &forge_module);
    int limit = 1, slot, rc;
    sigset_t all, old;
    forge_error err;

    if (!sc->host) {
        return;
    }
    rc = forge_ap_waiters_init(pchild);
    if (rc != 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rc, s,
                     "mod_forge: no thread-specific key for request waiters");
        exit(APEXIT_CHILDSICK);
    }
    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS ||
        limit < 1) {
        limit = 1;
    }
    slot = forge_child_slot(limit);
    if (slot < 0) {
        slot = (int)(getpid() % limit);
    }

    /*
     * Forge's threads inherit the signal mask: block everything while they
     * are created, so that the MPM's signals (prefork handles them in the
     * child) reach Apache's own threads only.
     */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    forge_error_clear(&err);
    rc = forge_host_worker_start(sc->host, slot, limit, &err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (rc != FORGE_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "mod_forge: child %d could not start app %s: %s", slot,
                     sc->app_path, forge_strerror_ap(pchild, &err));
        exit(APEXIT_CHILDSICK);
    }
    apr_pool_cleanup_register(pchild, sc, forge_stop_worker,
                              apr_pool_cleanup_null);
}

/* ---- module ---- */

static void forge_register_hooks(apr_pool_t *p)
{
    /*
     * Claimed before Apache decodes the path (after mod_proxy's encoded
     * mappings); translate_name runs after server-level rewrites and
     * proxying, which may still take a claimed request over, and before
     * Alias and core.
     */
    static const char *const before_us[] = {"mod_rewrite.c", "mod_proxy.c",
                                            NULL};

    ap_hook_check_config(forge_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(forge_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(forge_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_translate_name(forge_ap_pre_translate_name, before_us, NULL,
                               APR_HOOK_MIDDLE);
    ap_hook_translate_name(forge_ap_translate_name, before_us, NULL,
                           APR_HOOK_FIRST);
    ap_hook_map_to_storage(forge_ap_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(forge_ap_handler, NULL, NULL, APR_HOOK_FIRST);
}

AP_DECLARE_MODULE(forge) = {
    STANDARD20_MODULE_STUFF,
    forge_create_dir_conf,    /* create per-directory config */
    forge_merge_dir_conf,     /* merge per-directory config */
    forge_create_server_conf, /* create per-server config */
    forge_merge_server_conf,  /* merge per-server config */
    forge_cmds,               /* directives */
    forge_register_hooks,     /* hooks */
    AP_MODULE_FLAG_NONE       /* flags */
};
