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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONF_MAX 4096

/* Where forge_kore.so is looked for, relative to the forge binary's directory. */
static const char *const module_dirs[] = {"../lib", "../lib/x86_64-linux-gnu",
                                          "../lib/aarch64-linux-gnu", "../lib/forge"};

static int find_module(const forge_run_opts *o, char *out, size_t cap)
{
    char self[PATH_MAX], path[PATH_MAX + 64];
    if (o->module)
        return forge_cli_abspath(o->module, out, cap);
    const char *env = getenv("FORGE_KORE_MODULE");
    if (env && *env)
        return forge_cli_abspath(env, out, cap);
    if (forge_cli_self_dir(self, sizeof(self)) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(module_dirs) / sizeof(module_dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s/forge_kore.so", self, module_dirs[i]);
        if (forge_cli_abspath(path, out, cap) == 0)
            return 0;
    }
    errno = ENOENT;
    return -1;
}

/* Kore's config splits on spaces and has no quoting; forge.conf ends values at '#'. */
static bool plain_path(const char *s)
{
    for (; *s; s++)
        if (isspace((unsigned char)*s) || *s == '#' || (unsigned char)*s < 0x20)
            return false;
    return true;
}

/* "64m" (checked by cmd_run.c) in bytes. */
static unsigned long long size_bytes(const char *s)
{
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    switch (*end) {
    case 'k':
    case 'K':
        return n << 10;
    case 'm':
    case 'M':
        return n << 20;
    case 'g':
    case 'G':
        return n << 30;
    default:
        return n;
    }
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
                 o->host, o->port, module, o->workers, dir, size_bytes(o->max_body));
    snprintf(path, sizeof(path), "%s/kore.conf", dir);
    if (n < 0 || (size_t)n >= sizeof(conf) || forge_cli_write_file(path, conf) != 0) {
        forge_cli_err("run: writing %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs Kore until it exits; returns the exit code for forge. */
static int supervise(pid_t pid, const forge_run_opts *o, const sigset_t *set)
{
    const struct timespec tick = {0, 50 * 1000 * 1000};
    bool ready = false, stopping = false, warned = false, killed = false;
    double started = now_s(), stop_at = 0;

    for (;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (stopping) {
                printf("forge: kore stopped\n");
                return FORGE_CLI_OK;
            }
            if (WIFEXITED(status))
                forge_cli_err("kore exited with status %d", WEXITSTATUS(status));
            else if (WIFSIGNALED(status))
                forge_cli_err("kore was killed by signal %d", WTERMSIG(status));
            return FORGE_CLI_FAIL;
        }

        int sig = sigtimedwait(set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            if (!stopping) {
                printf("\nforge: stopping kore\n");
                fflush(stdout);
                kill(pid, SIGTERM);
                stopping = true;
                stop_at = now_s();
            } else if (!killed) {
                /* asked twice: do not wait */
                kill(-pid, SIGKILL);
                killed = true;
            }
        } else if (sig == SIGHUP && !stopping) {
            printf("forge: SIGHUP ignored: Kore keeps the Forge app loaded; restart to reload\n");
            fflush(stdout);
        }

        if (stopping) {
            if (!killed && now_s() - stop_at > 10) {
                kill(-pid, SIGKILL);
                killed = true;
            }
            continue;
        }
        if (!ready && forge_cli_port_open(o->host, o->port)) {
            ready = true;
            if (strchr(o->host, ':'))
                printf("forge: serving %s on http://[%s]:%d/ (kore, %d worker%s)\n", o->app,
                       o->host, o->port, o->workers, o->workers == 1 ? "" : "s");
            else
                printf("forge: serving %s on http://%s:%d/ (kore, %d worker%s)\n", o->app, o->host,
                       o->port, o->workers, o->workers == 1 ? "" : "s");
            printf("forge: Ctrl-C stops the server\n");
            fflush(stdout);
        }
        if (!ready && !warned && now_s() - started > 15) {
            forge_cli_err("kore has not opened %s:%d after 15 s; still waiting", o->host, o->port);
            warned = true;
        }
    }
}

int forge_run_kore(const forge_run_opts *o)
{
    char kore[PATH_MAX], module[PATH_MAX], dir[PATH_MAX], conf_path[PATH_MAX + 16];

    if (forge_cli_which(o->server ? o->server : "kore", "/usr/bin:/usr/local/bin", kore,
                        sizeof(kore)) != 0) {
        forge_cli_err("run: no kore binary found%s%s (apt-get install kore, or --server PATH)",
                      o->server ? " at " : " on PATH", o->server ? o->server : "");
        return FORGE_CLI_FAIL;
    }
    if (find_module(o, module, sizeof(module)) != 0) {
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

    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/forge-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        forge_cli_err("run: creating a temporary directory: %s", strerror(errno));
        return FORGE_CLI_FAIL;
    }
    snprintf(conf_path, sizeof(conf_path), "%s/kore.conf", dir);

    int rc = FORGE_CLI_FAIL;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);

    if (write_confs(o, module, dir) != 0)
        goto done;

    /* Kore's notices are its startup chatter; warn and above keep them quiet. */
    bool quiet = strcmp(o->log_level, "warn") == 0 || strcmp(o->log_level, "error") == 0 ||
                 strcmp(o->log_level, "crit") == 0;

    sigprocmask(SIG_BLOCK, &set, &old);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        forge_cli_err("run: fork: %s", strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        goto done;
    }
    if (pid == 0) {
        setpgid(0, 0);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (chdir(dir) != 0)
            _exit(127);
        execl(kore, "kore", quiet ? "-fnrqc" : "-fnrc", conf_path, (char *)NULL);
        fprintf(stderr, "forge: exec %s: %s\n", kore, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    rc = supervise(pid, o, &set);
    sigprocmask(SIG_SETMASK, &old, NULL);

done:
    if (o->keep)
        printf("forge: kept %s\n", dir);
    else
        forge_cli_rmtree(dir);
    return rc;
}
