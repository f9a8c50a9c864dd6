/*
 * `forge run --host apache`: a private Apache httpd (mpm_event) for one app.
 *
 * Writes httpd.conf into a fresh temporary directory (which also holds the
 * pid file and Apache's runtime files), loads mod_forge from the lib
 * directory beside the forge binary, and runs `apache2 -f CONF -DFOREGROUND`
 * in its own process group, so that a terminal's Ctrl-C reaches forge only:
 * forge then asks Apache for a graceful stop (SIGWINCH, what `apachectl
 * graceful-stop` sends), waits for it, and removes the directory. SIGHUP
 * becomes a graceful restart (SIGUSR1).
 *
 * Started as root, Apache refuses to serve as root: the children run as
 * www-data, and Forge's machine lock goes to a world-writable directory
 * inside the temporary one (TMPDIR) unless the app's config names one.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX          8192
#define THREADS_PER_CHILD 64

/* Where the server's own modules (the MPM, authz_core) live. */
static const char *const httpd_module_dirs[] = {
    "/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/lib/httpd/modules"};

static int find_httpd_modules(char *out, size_t cap)
{
    char path[PATH_MAX];
    const char *env = getenv("FORGE_APACHE_MODULES_DIR");
    if (env && *env) {
        snprintf(path, sizeof(path), "%s/mod_mpm_event.so", env);
        if (access(path, R_OK) == 0 && snprintf(out, cap, "%s", env) < (int)cap)
            return 0;
    }
    for (size_t i = 0; i < sizeof(httpd_module_dirs) / sizeof(httpd_module_dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/mod_mpm_event.so", httpd_module_dirs[i]);
        if (access(path, R_OK) == 0 && snprintf(out, cap, "%s", httpd_module_dirs[i]) < (int)cap)
            return 0;
    }
    return -1;
}

/* A path as a double-quoted httpd.conf argument; refuses what it cannot hold. */
static int quoted(char *out, size_t cap, const char *s)
{
    int n = snprintf(out, cap, "\"%s\"", s);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\')
            return -1;
    return 0;
}

static int write_conf(const forge_run_opts *o, const char *dir, const char *module,
                      const char *modules_dir, const char *conf_path)
{
    char qdir[PATH_MAX + 8], qmod[PATH_MAX + 8], qapp[PATH_MAX + 8];
    char mpm[PATH_MAX + 32], authz[PATH_MAX + 32], qmpm[PATH_MAX + 40], qauthz[PATH_MAX + 40];
    char cfgline[PATH_MAX + 32], listen[96], conf[CONF_MAX];
    snprintf(mpm, sizeof(mpm), "%s/mod_mpm_event.so", modules_dir);
    snprintf(authz, sizeof(authz), "%s/mod_authz_core.so", modules_dir);
    if (quoted(qdir, sizeof(qdir), dir) || quoted(qmod, sizeof(qmod), module) ||
        quoted(qapp, sizeof(qapp), o->app) || quoted(qmpm, sizeof(qmpm), mpm) ||
        quoted(qauthz, sizeof(qauthz), authz)) {
        forge_cli_err("run: a path contains characters httpd.conf cannot hold");
        return -1;
    }
    cfgline[0] = '\0';
    if (o->config) {
        char q[PATH_MAX + 8];
        if (quoted(q, sizeof(q), o->config)) {
            forge_cli_err("run: the config path contains characters httpd.conf cannot hold");
            return -1;
        }
        snprintf(cfgline, sizeof(cfgline), "ForgeConfig %s\n", q);
    }
    forge_cli_listen_str(o, listen, sizeof(listen));

    int n =
        snprintf(conf, sizeof(conf),
                 "# Written by `forge run` for one local run; removed when it stops.\n"
                 "ServerRoot %s\n"
                 "ServerName %s\n"
                 "PidFile httpd.pid\n"
                 "DefaultRuntimeDir %s\n"
                 "ErrorLog /dev/stderr\n"
                 "LogLevel %s\n"
                 "Listen %s\n"
                 "%s"
                 "LoadModule mpm_event_module %s\n"
                 "LoadModule authz_core_module %s\n"
                 "LoadModule forge_module %s\n"
                 "\n"
                 "# %d process%s of %d threads; room for children finishing a graceful restart\n"
                 "StartServers %d\n"
                 "ServerLimit %d\n"
                 "ThreadLimit %d\n"
                 "ThreadsPerChild %d\n"
                 "MaxRequestWorkers %d\n"
                 "MinSpareThreads 1\n"
                 "MaxSpareThreads %d\n"
                 "GracefulShutdownTimeout 10\n"
                 "LimitRequestBody %lld\n"
                 "AllowEncodedSlashes NoDecode\n"
                 "\n"
                 "ForgeApp %s\n"
                 "%s"
                 "<Location />\n"
                 "    Forge On\n"
                 "</Location>\n",
                 qdir, o->host, qdir, o->log_level, listen,
                 geteuid() == 0 ? "User www-data\nGroup www-data\n" : "", qmpm, qauthz, qmod,
                 o->workers, o->workers == 1 ? "" : "es", THREADS_PER_CHILD, o->workers,
                 2 * o->workers, THREADS_PER_CHILD, THREADS_PER_CHILD,
                 o->workers * THREADS_PER_CHILD, o->workers * THREADS_PER_CHILD,
                 (long long)forge_cli_size_bytes(o->max_body), qapp, cfgline);
    if (n < 0 || (size_t)n >= sizeof(conf)) {
        forge_cli_err("run: httpd.conf too long");
        return -1;
    }
    if (forge_cli_write_file(conf_path, conf) != 0) {
        forge_cli_err("run: writing %s: %s", conf_path, strerror(errno));
        return -1;
    }
    return 0;
}

int forge_run_apache(const forge_run_opts *o)
{
    char httpd[PATH_MAX], module[PATH_MAX], modules_dir[PATH_MAX], dir[PATH_MAX];
    char conf_path[PATH_MAX + 16], tmpdir[PATH_MAX + 8], what[64];

    if (forge_cli_which(o->server ? o->server : "apache2", "/usr/sbin:/usr/local/sbin:/sbin", httpd,
                        sizeof(httpd)) != 0 &&
        (o->server ||
         forge_cli_which("httpd", "/usr/sbin:/usr/local/sbin", httpd, sizeof(httpd)) != 0)) {
        forge_cli_err("run: no apache2 binary found%s%s (apt-get install apache2, or --server "
                      "PATH)",
                      o->server ? " at " : " on PATH", o->server ? o->server : "");
        return FORGE_CLI_FAIL;
    }
    if (forge_cli_find_module(o, "FORGE_APACHE_MODULE", "mod_forge.so", module, sizeof(module)) !=
        0) {
        forge_cli_err("run: mod_forge.so not found%s%s: %s (build it with apache2-dev "
                      "installed, or pass --module PATH)",
                      o->module ? " at " : " beside forge", o->module ? o->module : "",
                      strerror(errno));
        return FORGE_CLI_FAIL;
    }
    if (find_httpd_modules(modules_dir, sizeof(modules_dir)) != 0) {
        forge_cli_err("run: Apache's mod_mpm_event.so not found (looked in "
                      "/usr/lib/apache2/modules and $FORGE_APACHE_MODULES_DIR)");
        return FORGE_CLI_FAIL;
    }
    if (forge_cli_port_open(o->host, o->port)) {
        forge_cli_err("run: %s:%d is already in use", o->host, o->port);
        return FORGE_CLI_FAIL;
    }
    if (forge_cli_run_dir(dir, sizeof(dir)) != 0)
        return FORGE_CLI_FAIL;
    snprintf(conf_path, sizeof(conf_path), "%s/httpd.conf", dir);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", dir);
    snprintf(what, sizeof(what), "apache mpm_event, %d process%s", o->workers,
             o->workers == 1 ? "" : "es");

    char *argv[] = {"apache2", "-f", conf_path, "-DFOREGROUND", NULL};
    const forge_serve_spec spec = {
        .name = "apache",
        .what = what,
        .path = httpd,
        .argv = argv,
        /* Children running as www-data need a temp dir they can write. */
        .tmpdir = geteuid() == 0 ? tmpdir : NULL,
        .stop_signal = SIGWINCH,  /* graceful-stop */
        .reload_signal = SIGUSR1, /* graceful restart */
        .reload_note = "restarting apache (graceful)",
        .term_after_s = 12,
        .kill_after_s = 17,
    };
    int rc = FORGE_CLI_FAIL;
    if (write_conf(o, dir, module, modules_dir, conf_path) != 0)
        goto done;
    if (geteuid() == 0 && (mkdir(tmpdir, 0755) != 0 || chmod(tmpdir, 01777) != 0)) {
        forge_cli_err("run: creating %s: %s", tmpdir, strerror(errno));
        goto done;
    }
    rc = forge_cli_serve(o, &spec);
done:
    forge_cli_run_dir_done(o, dir);
    return rc;
}
