
/*
 * ngx_http_forge_module: directives, configuration and process hooks.
 *
 *     load_module modules/ngx_http_forge_module.so;
 *     http {
 *         forge_app    /srv/app/app.so;
 *         forge_config /srv/app/app.yaml;
 *         server {
 *             location /api/ { forge; }
 *         }
 *     }
 *
 * The app is loaded once per configuration, in the master, when the http{}
 * block has been read: a bad app path, an .so without Forge's entry symbol
 * or an app built for another Forge ABI fails `nginx -t` and a reload leaves
 * the running configuration in place. Workers inherit it through fork.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

#include <signal.h>
#include <pthread.h>

#include "ngx_http_forge_module.h"


static void *ngx_http_forge_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_forge_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_forge_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_forge_merge_loc_conf(
    ngx_conf_t *cf, void *parent, void *child);
static char *ngx_http_forge_app(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_forge(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static void  ngx_http_forge_cleanup_host(void *data);
static ngx_int_t ngx_http_forge_init_process(ngx_cycle_t *cycle);
static void      ngx_http_forge_exit_process(ngx_cycle_t *cycle);
static void      ngx_http_forge_log_sink(
         void *udata, forge_log_level level, const char *line, size_t len);
static void    ngx_http_forge_log_level(forge_app *fapp, ngx_log_t *log);
static u_char *ngx_http_forge_strerror(
    u_char *buf, size_t size, forge_error *err);


/* clang-format off */
static ngx_command_t  ngx_http_forge_commands[] = {

    { ngx_string("forge_app"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_forge_app,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("forge_config"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_forge_main_conf_t, config),
      NULL },

    { ngx_string("forge"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_forge,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_forge_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_forge_create_main_conf,       /* create main configuration */
    ngx_http_forge_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_forge_create_loc_conf,        /* create location configuration */
    ngx_http_forge_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_forge_module = {
    NGX_MODULE_V1,
    &ngx_http_forge_module_ctx,            /* module context */
    ngx_http_forge_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_forge_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_forge_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


forge_host_ops  ngx_http_forge_ops = {
    FORGE_ABI_VERSION,
    sizeof(forge_host_ops),
    "nginx",
    NGINX_VERSION,
    0,                                     /* request threads never block */
    ngx_http_forge_send_head,
    ngx_http_forge_send_body,
    ngx_http_forge_wake,
    NULL,                                  /* shm: Forge's mmap, see ADR 0060 */
    { NULL }
};
/* clang-format on */


static void *
ngx_http_forge_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_forge_main_conf_t *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_forge_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->app = { 0, NULL };
     *     mcf->config = { 0, NULL };
     *     mcf->used = 0;
     *     mcf->host = NULL;
     *     mcf->fapp = NULL;
     */

    return mcf;
}


static char *
ngx_http_forge_app(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_forge_main_conf_t *mcf = conf;

    ngx_str_t *value;

    if (mcf->app.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    mcf->app = value[1];

    if (ngx_conf_full_name(cf->cycle, &mcf->app, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    mcf->app_file = cf->conf_file->file.name;
    mcf->app_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_http_forge(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_forge_loc_conf_t *flcf = conf;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_forge_main_conf_t *mcf;

    if (flcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    flcf->enable = 1;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_forge_module);
    mcf->used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_forge_handler;

    return NGX_CONF_OK;
}


/*
 * The whole http{} block has been read: load the app and map the shared
 * memory it reserved. This runs in the master (and in `nginx -t` and
 * `nginx -s`, which read the configuration too), before any worker forks.
 * It is done here rather than in init_module because a failure here is a
 * configuration error (a reload keeps the running configuration), while a
 * failing init_module makes a running master exit.
 */
static char *
ngx_http_forge_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_forge_main_conf_t *mcf = conf;

    u_char             *config;
    u_char              msg[NGX_MAX_CONF_ERRSTR], *last;
    forge_error         err;
    ngx_pool_cleanup_t *cln;

    if (mcf->app.data == NULL) {
        if (mcf->used) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                "\"forge\" is used in a location but no \"forge_app\" "
                "is set in http{}");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    config = NULL;

    if (mcf->config.len) {
        if (ngx_conf_full_name(cf->cycle, &mcf->config, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        config = mcf->config.data;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    forge_error_clear(&err);

    mcf->host = forge_host_new(&ngx_http_forge_ops, mcf, &err);
    if (mcf->host == NULL) {
        goto failed;
    }

    cln->handler = ngx_http_forge_cleanup_host;
    cln->data = mcf;

    mcf->fapp = forge_host_load(
        mcf->host, (char *) mcf->app.data, (char *) config, &err);
    if (mcf->fapp == NULL) {
        goto failed;
    }

    forge_log_set_sink(forge_app_log(mcf->fapp), ngx_http_forge_log_sink, NULL);

    if (forge_host_before_fork(mcf->host, &err) != 0) {
        goto failed;
    }

    return NGX_CONF_OK;

failed:

    last = ngx_http_forge_strerror(msg, sizeof(msg), &err);

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "forge_app \"%V\" in %V:%ui: %*s",
        &mcf->app, &mcf->app_file, mcf->app_line, last - msg, msg);

    return NGX_CONF_ERROR;
}


static void
ngx_http_forge_cleanup_host(void *data)
{
    ngx_http_forge_main_conf_t *mcf = data;

    if (mcf->host) {
        forge_host_free(mcf->host);
        mcf->host = NULL;
        mcf->fapp = NULL;
    }
}


static void *
ngx_http_forge_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_forge_loc_conf_t *flcf;

    flcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_forge_loc_conf_t));
    if (flcf == NULL) {
        return NULL;
    }

    flcf->enable = NGX_CONF_UNSET;

    return flcf;
}


/*
 * `forge;` is not inherited: a nested location stays native unless it says
 * `forge;` itself, the same as nginx's own content handlers.
 */
static char *
ngx_http_forge_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_forge_loc_conf_t *conf = child;

    ngx_conf_init_value(conf->enable, 0);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_forge_init_process(ngx_cycle_t *cycle)
{
    int                         rc;
    u_char                      msg[NGX_MAX_CONF_ERRSTR], *last;
    sigset_t                    all, old;
    ngx_int_t                   count;
    forge_error                 err;
    ngx_core_conf_t            *ccf;
    ngx_http_forge_main_conf_t *mcf;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_forge_module);
    if (mcf == NULL || mcf->host == NULL) {
        return NGX_OK;
    }

    if (ngx_http_forge_wake_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_forge_log_level(mcf->fapp, cycle->log);

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    count = (ngx_process == NGX_PROCESS_WORKER) ? ccf->worker_processes : 1;

    /*
     * Forge's runtime and pool threads start here and inherit the signal
     * mask: block everything while they are created, so that nginx's signals
     * (reload, quit, reopen) reach this thread, whose epoll_wait they must
     * interrupt.
     */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);

    forge_error_clear(&err);
    rc =
        forge_host_worker_start(mcf->host, (int) ngx_worker, (int) count, &err);

    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (rc != 0) {
        last = ngx_http_forge_strerror(msg, sizeof(msg), &err);
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
            "forge: worker %ui could not start \"%V\": %*s", ngx_worker,
            &mcf->app, last - msg, msg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_forge_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_forge_main_conf_t *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_forge_module);
    if (mcf == NULL || mcf->host == NULL) {
        return;
    }

    forge_host_worker_stop(mcf->host);
    ngx_http_forge_wake_done(cycle);
}


/*
 * Forge's log lines go to nginx's error log. Called from any thread:
 * ngx_log_error on the cycle's log is one write() per line.
 */
static void
ngx_http_forge_log_sink(
    void *udata, forge_log_level level, const char *line, size_t len)
{
    ngx_uint_t ngx_level;
    ngx_log_t *log;

    switch (level) {
    case FORGE_LOG_TRACE:
    case FORGE_LOG_DEBUG:
        ngx_level = NGX_LOG_DEBUG;
        break;
    case FORGE_LOG_INFO:
        ngx_level = NGX_LOG_INFO;
        break;
    case FORGE_LOG_WARN:
        ngx_level = NGX_LOG_WARN;
        break;
    case FORGE_LOG_ERROR:
        ngx_level = NGX_LOG_ERR;
        break;
    default:
        ngx_level = NGX_LOG_CRIT;
        break;
    }

    log = ngx_cycle->log;

    if (log->log_level >= ngx_level) {
        ngx_log_error_core(ngx_level, log, 0, "forge: %*s", len, line);
    }
}


/*
 * Records below the error log's level would be formatted by Forge and then
 * dropped by nginx: raise Forge's level to what nginx writes (never lower
 * it below the app's own setting). nginx keeps a log's chain sorted by
 * level, highest first.
 */
static void
ngx_http_forge_log_level(forge_app *fapp, ngx_log_t *log)
{
    forge_log      *flog;
    forge_log_level min;

    if (log->log_level >= NGX_LOG_DEBUG) {
        min = FORGE_LOG_TRACE;

    } else if (log->log_level >= NGX_LOG_INFO) {
        min = FORGE_LOG_INFO;

    } else if (log->log_level >= NGX_LOG_WARN) {
        min = FORGE_LOG_WARN;

    } else if (log->log_level >= NGX_LOG_ERR) {
        min = FORGE_LOG_ERROR;

    } else {
        min = FORGE_LOG_FATAL;
    }

    flog = forge_app_log(fapp);

    if (forge_log_get_level(flog) < min) {
        forge_log_set_level(flog, min);
    }
}


/* "message (key: k): cause" into buf; returns the end. */
static u_char *
ngx_http_forge_strerror(u_char *buf, size_t size, forge_error *err)
{
    u_char *p, *last;

    last = buf + size;

    p = ngx_slprintf(buf, last, "%s",
        err->message[0] ? err->message : forge_strerror(err->code));

    if (err->key[0]) {
        p = ngx_slprintf(p, last, " (key \"%s\")", err->key);
    }

    if (err->cause[0]) {
        p = ngx_slprintf(p, last, ": %s", err->cause);
    }

    return p;
}
