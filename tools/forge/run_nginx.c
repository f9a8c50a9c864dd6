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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONF_MAX 8192

/* Where the module is looked for, relative to the forge binary's directory. */
static const char *const module_dirs[] = {"../lib", "../lib/x86_64-linux-gnu",
                                          "../lib/aarch64-linux-gnu", "../lib/forge"};

static int find_module(const forge_run_opts *o, char *out, size_t cap)
{
    char self[PATH_MAX], path[PATH_MAX + 64];
    if (o->module)
        return forge_cli_abspath(o->module, out, cap);
    const char *env = getenv("FORGE_NGINX_MODULE");
    if (env && *env)
        return forge_cli_abspath(env, out, cap);
    if (forge_cli_self_dir(self, sizeof(self)) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(module_dirs) / sizeof(module_dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s/ngx_http_forge_module.so", self, module_dirs[i]);
        if (forge_cli_abspath(path, out, cap) == 0)
            return 0;
    }
    errno = ENOENT;
    return -1;
}

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
    if (strchr(o->host, ':'))
        snprintf(listen, sizeof(listen), "[%s]:%d", o->host, o->port);
    else
        snprintf(listen, sizeof(listen), "%s:%d", o->host, o->port);

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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void describe_exit(int status)
{
    if (WIFEXITED(status))
        forge_cli_err("nginx exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        forge_cli_err("nginx was killed by signal %d", WTERMSIG(status));
}

/* Runs nginx until it exits; returns the exit code for forge. */
static int supervise(pid_t pid, const forge_run_opts *o, const sigset_t *set)
{
    const struct timespec tick = {0, 50 * 1000 * 1000};
    bool ready = false, stopping = false, warned = false;
    double started = now_s(), stop_at = 0;
    int stop_stage = 0;

    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            if (stopping) {
                printf("forge: nginx stopped\n");
                return FORGE_CLI_OK;
            }
            describe_exit(status);
            return FORGE_CLI_FAIL;
        }

        int sig = sigtimedwait(set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            if (!stopping) {
                printf("\nforge: stopping nginx (graceful)\n");
                fflush(stdout);
                kill(pid, SIGQUIT);
                stopping = true;
                stop_at = now_s();
            } else if (stop_stage == 0) {
                /* asked twice: do not wait for requests in flight */
                kill(pid, SIGTERM);
                stop_stage = 1;
            }
        } else if (sig == SIGHUP && !stopping) {
            printf("forge: reloading nginx\n");
            fflush(stdout);
            kill(pid, SIGHUP);
        }

        if (stopping) {
            double waited = now_s() - stop_at;
            if (stop_stage == 0 && waited > 10) {
                kill(pid, SIGTERM);
                stop_stage = 1;
            } else if (stop_stage == 1 && waited > 15) {
                kill(-pid, SIGKILL);
                stop_stage = 2;
            }
            continue;
        }
        if (!ready && forge_cli_port_open(o->host, o->port)) {
            ready = true;
            if (strchr(o->host, ':'))
                printf("forge: serving %s on http://[%s]:%d/ (nginx, %d worker%s)\n", o->app,
                       o->host, o->port, o->workers, o->workers == 1 ? "" : "s");
            else
                printf("forge: serving %s on http://%s:%d/ (nginx, %d worker%s)\n", o->app, o->host,
                       o->port, o->workers, o->workers == 1 ? "" : "s");
            printf("forge: Ctrl-C stops the server\n");
            fflush(stdout);
        }
        if (!ready && !warned && now_s() - started > 15) {
            forge_cli_err("nginx has not opened %s:%d after 15 s; still waiting", o->host, o->port);
            warned = true;
        }
    }
}

int forge_run_nginx(const forge_run_opts *o)
{
    char nginx[PATH_MAX], module[PATH_MAX], dir[PATH_MAX], conf_path[PATH_MAX + 16];

    if (forge_cli_which(o->server ? o->server : "nginx", "/usr/sbin:/usr/local/sbin:/sbin", nginx,
                        sizeof(nginx)) != 0) {
        forge_cli_err("run: no nginx binary found%s%s (apt-get install nginx, or --server PATH)",
                      o->server ? " at " : " on PATH", o->server ? o->server : "");
        return FORGE_CLI_FAIL;
    }
    if (find_module(o, module, sizeof(module)) != 0) {
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

    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/forge-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        forge_cli_err("run: creating a temporary directory: %s", strerror(errno));
        return FORGE_CLI_FAIL;
    }
    /* nginx workers may run as another user: they must reach the temp paths. */
    chmod(dir, 0755);
    snprintf(conf_path, sizeof(conf_path), "%s/nginx.conf", dir);

    int rc = FORGE_CLI_FAIL;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);

    if (write_conf(o, module, conf_path) != 0)
        goto done;

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
        execl(nginx, "nginx", "-p", dir, "-c", conf_path, "-e", "stderr", (char *)NULL);
        fprintf(stderr, "forge: exec %s: %s\n", nginx, strerror(errno));
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
