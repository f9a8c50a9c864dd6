/*
 * `forge run --host nginx`: a private nginx for one app.
 *
 * Writes nginx.conf into a fresh temporary directory (which also holds the
 * pid file and nginx's temp paths), loads ngx_http_forge_module from the lib
 * directory beside the forge binary, and runs `nginx -p DIR -c DIR/nginx.conf`
 * in the foreground, in its own process group so that a terminal's Ctrl-C
 * reaches forge only: forge then asks nginx for a graceful stop (SIGQUIT),
 * waits for it, and removes the directory. SIGHUP is passed on (reload).
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX 8192

/* A path as a double-quoted nginx string. */
static int quoted(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    if (cap < 3)
        return -1;
    out[n++] = '"';
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20)
            return -1;
        if (n + 3 >= cap)
            return -1;
        if (*s == '"' || *s == '\\' || *s == '$')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n++] = '"';
    out[n] = '\0';
    return 0;
}

static int write_conf(const forge_run_opts *o, const char *module, const char *conf_path)
{
    char qmod[PATH_MAX + 8], qapp[PATH_MAX + 8], qcfg[PATH_MAX + 32];
    char listen[96], conf[CONF_MAX];
    if (quoted(qmod, sizeof(qmod), module) || quoted(qapp, sizeof(qapp), o->app)) {
        forge_cli_err("run: a path contains characters nginx.conf cannot hold");
        return -1;
    }
    qcfg[0] = '\0';
    if (o->config) {
        char q[PATH_MAX + 8];
        if (quoted(q, sizeof(q), o->config)) {
            forge_cli_err("run: the config path contains characters nginx.conf cannot hold");
            return -1;
        }
        snprintf(qcfg, sizeof(qcfg), "    forge_config %s;\n", q);
    }
    forge_cli_listen_str(o, listen, sizeof(listen));

    /* Relative paths below are relative to the prefix (-p): the temporary directory. */
    int n = snprintf(conf, sizeof(conf),
                     "# Written by `forge run` for one local run; removed when it stops.\n"
                     "load_module %s;\n"
                     "daemon off;\n"
                     "master_process on;\n"
                     "worker_processes %d;\n"
                     "pid nginx.pid;\n"
                     "error_log stderr %s;\n"
                     "%s"
                     "\n"
                     "events {\n"
                     "    worker_connections 1024;\n"
                     "}\n"
                     "\n"
                     "http {\n"
                     "    access_log off;\n"
                     "    client_body_temp_path client_body;\n"
                     "    proxy_temp_path proxy;\n"
                     "    fastcgi_temp_path fastcgi;\n"
                     "    uwsgi_temp_path uwsgi;\n"
                     "    scgi_temp_path scgi;\n"
                     "    client_max_body_size %s;\n"
                     "\n"
                     "    forge_app %s;\n"
                     "%s"
                     "\n"
                     "    server {\n"
                     "        listen %s;\n"
                     "        location / {\n"
                     "            forge;\n"
                     "        }\n"
                     "    }\n"
                     "}\n",
                     qmod, o->workers, o->log_level,
                     /* Started as root, nginx would run workers as nobody; a local run keeps
                      * the user who started it, so the app reads and writes what it can. */
                     geteuid() == 0 ? "user root root;\n" : "", o->max_body, qapp, qcfg, listen);
    if (n < 0 || (size_t)n >= sizeof(conf)) {
        forge_cli_err("run: nginx.conf too long");
        return -1;
    }
    if (forge_cli_write_file(conf_path, conf) != 0) {
        forge_cli_err("run: writing %s: %s", conf_path, strerror(errno));
        return -1;
    }
    return 0;
}

int forge_run_nginx(const forge_run_opts *o)
{
    char nginx[PATH_MAX], module[PATH_MAX], dir[PATH_MAX], conf_path[PATH_MAX + 16];
    char what[64];

    if (forge_cli_which(o->server ? o->server : "nginx", "/usr/sbin:/usr/local/sbin:/sbin", nginx,
                        sizeof(nginx)) != 0) {
        forge_cli_err("run: no nginx binary found%s%s (apt-get install nginx, or --server PATH)",
                      o->server ? " at " : " on PATH", o->server ? o->server : "");
        return FORGE_CLI_FAIL;
    }
    if (forge_cli_find_module(o, "FORGE_NGINX_MODULE", "ngx_http_forge_module.so", module,
                              sizeof(module)) != 0) {
        forge_cli_err("run: ngx_http_forge_module.so not found%s%s: %s (build it with nginx-dev "
                      "installed, or pass --module PATH)",
                      o->module ? " at " : " beside forge", o->module ? o->module : "",
                      strerror(errno));
        return FORGE_CLI_FAIL;
    }
    if (forge_cli_port_open(o->host, o->port)) {
        forge_cli_err("run: %s:%d is already in use", o->host, o->port);
        return FORGE_CLI_FAIL;
    }
    if (forge_cli_run_dir(dir, sizeof(dir)) != 0)
        return FORGE_CLI_FAIL;
    snprintf(conf_path, sizeof(conf_path), "%s/nginx.conf", dir);
    snprintf(what, sizeof(what), "nginx, %d worker%s", o->workers, o->workers == 1 ? "" : "s");

    char *argv[] = {"nginx", "-p", dir, "-c", conf_path, "-e", "stderr", NULL};
    const forge_serve_spec spec = {
        .name = "nginx",
        .what = what,
        .path = nginx,
        .argv = argv,
        .stop_signal = SIGQUIT, /* graceful: finish requests in flight */
        .reload_signal = SIGHUP,
        .reload_note = "reloading nginx",
        .term_after_s = 10,
        .kill_after_s = 15,
    };
    int rc = FORGE_CLI_FAIL;
    if (write_conf(o, module, conf_path) == 0)
        rc = forge_cli_serve(o, &spec);
    forge_cli_run_dir_done(o, dir);
    return rc;
}
