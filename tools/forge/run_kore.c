/*
 * `forge run --host kore`: a private Kore 4.1 for one app.
 *
 * Writes kore.conf and forge.conf (the app and its config, read by
 * forge_kore.so) into a fresh temporary directory, loads forge_kore.so from
 * the lib directory beside the forge binary, and runs `kore -f -n -r -c
 * DIR/kore.conf` (foreground, no chroot, no privilege drop) from that
 * directory, in its own process group so that a terminal's Ctrl-C reaches
 * forge only: forge then asks Kore to stop (SIGTERM), waits for it, and
 * removes the directory. Kore reloads modules on SIGHUP but the Forge app
 * stays loaded, so forge does not pass SIGHUP on: restart to reload.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_MAX 4096

/* Kore's config splits on spaces and has no quoting; forge.conf ends values at '#'. */
static bool plain_path(const char *s)
{
    for (; *s; s++)
        if (isspace((unsigned char)*s) || *s == '#' || (unsigned char)*s < 0x20)
            return false;
    return true;
}

static int write_confs(const forge_run_opts *o, const char *module, const char *dir)
{
    char conf[CONF_MAX], path[PATH_MAX + 32];
    if (!plain_path(module) || !plain_path(o->app) || (o->config && !plain_path(o->config))) {
        forge_cli_err("run: Kore's configuration cannot hold paths with spaces or '#'");
        return -1;
    }

    int n = snprintf(conf, sizeof(conf),
                     "# Written by `forge run` for one local run; removed when it stops.\n"
                     "app %s\n"
                     "%s%s%s",
                     o->app, o->config ? "config " : "", o->config ? o->config : "",
                     o->config ? "\n" : "");
    snprintf(path, sizeof(path), "%s/forge.conf", dir);
    if (n < 0 || (size_t)n >= sizeof(conf) || forge_cli_write_file(path, conf) != 0) {
        forge_cli_err("run: writing %s: %s", path, strerror(errno));
        return -1;
    }

    /* No accesslog: Kore's workers wait on the parent to drain it (see docs/hosts/kore.md). */
    n = snprintf(conf, sizeof(conf),
                 "# Written by `forge run` for one local run; removed when it stops.\n"
                 "server notls {\n"
                 "\tbind %s %d\n"
                 "\ttls no\n"
                 "}\n"
                 "\n"
                 "load %s\n"
                 "\n"
                 "workers %d\n"
                 "pidfile %s/kore.pid\n"
                 "http_hsts_enable 0\n"
                 "http_body_max %llu\n"
                 "\n"
                 "domain * {\n"
                 "\tattach notls\n"
                 "\troute ^/ forge_kore_page\n"
                 "}\n",
                 o->host, o->port, module, o->workers, dir, forge_cli_size_bytes(o->max_body));
    snprintf(path, sizeof(path), "%s/kore.conf", dir);
    if (n < 0 || (size_t)n >= sizeof(conf) || forge_cli_write_file(path, conf) != 0) {
        forge_cli_err("run: writing %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int forge_run_kore(const forge_run_opts *o)
{
    char kore[PATH_MAX], module[PATH_MAX], dir[PATH_MAX], conf_path[PATH_MAX + 16], what[64];

    if (forge_cli_which(o->server ? o->server : "kore", "/usr/bin:/usr/local/bin", kore,
                        sizeof(kore)) != 0) {
        forge_cli_err("run: no kore binary found%s%s (apt-get install kore, or --server PATH)",
                      o->server ? " at " : " on PATH", o->server ? o->server : "");
        return FORGE_CLI_FAIL;
    }
    if (forge_cli_find_module(o, "FORGE_KORE_MODULE", "forge_kore.so", module, sizeof(module)) !=
        0) {
        forge_cli_err("run: forge_kore.so not found%s%s: %s (build it with kore installed, or "
                      "pass --module PATH)",
                      o->module ? " at " : " beside forge", o->module ? o->module : "",
                      strerror(errno));
        return FORGE_CLI_FAIL;
    }
    if (o->workers > 250) {
        forge_cli_err("run: Kore runs at most 250 workers");
        return FORGE_CLI_USAGE;
    }
    if (forge_cli_port_open(o->host, o->port)) {
        forge_cli_err("run: %s:%d is already in use", o->host, o->port);
        return FORGE_CLI_FAIL;
    }
    if (forge_cli_run_dir(dir, sizeof(dir)) != 0)
        return FORGE_CLI_FAIL;
    snprintf(conf_path, sizeof(conf_path), "%s/kore.conf", dir);
    snprintf(what, sizeof(what), "kore, %d worker%s", o->workers, o->workers == 1 ? "" : "s");

    /* Kore's notices are its startup chatter; warn and above keep them quiet. */
    bool quiet = strcmp(o->log_level, "warn") == 0 || strcmp(o->log_level, "error") == 0 ||
                 strcmp(o->log_level, "crit") == 0;
    char *argv[] = {"kore", quiet ? "-fnrqc" : "-fnrc", conf_path, NULL};
    const forge_serve_spec spec = {
        .name = "kore",
        .what = what,
        .path = kore,
        .argv = argv,
        .chdir = dir,
        .stop_signal = SIGTERM,
        .reload_note = "SIGHUP ignored: Kore keeps the Forge app loaded; restart to reload",
        .kill_after_s = 10,
    };
    int rc = FORGE_CLI_FAIL;
    if (write_confs(o, module, dir) == 0)
        rc = forge_cli_serve(o, &spec);
    forge_cli_run_dir_done(o, dir);
    return rc;
}
