/*
 * What every `forge run` host shares: finding the binding's module beside
 * forge, a private run directory, and running the server in the foreground.
 *
 * The server runs in its own process group, so a terminal's Ctrl-C reaches
 * forge only. forge asks the server for a graceful stop, escalates to
 * SIGTERM and then SIGKILL (of the whole group) when it takes too long or
 * when asked twice, and turns SIGHUP into the host's reload signal. Signals
 * are taken synchronously (sigtimedwait) while polling for readiness, so no
 * handler races with the loop.
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

/* Where modules are looked for, relative to the forge binary's directory. */
static const char *const module_dirs[] = {"../lib", "../lib/x86_64-linux-gnu",
                                          "../lib/aarch64-linux-gnu", "../lib/forge"};

int forge_cli_find_module(const forge_run_opts *o, const char *env_name, const char *file,
                          char *out, size_t cap)
{
    char self[PATH_MAX], path[PATH_MAX + 64];
    if (o->module)
        return forge_cli_abspath(o->module, out, cap);
    const char *env = getenv(env_name);
    if (env && *env)
        return forge_cli_abspath(env, out, cap);
    if (forge_cli_self_dir(self, sizeof(self)) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(module_dirs) / sizeof(module_dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s/%s", self, module_dirs[i], file);
        if (forge_cli_abspath(path, out, cap) == 0)
            return 0;
    }
    errno = ENOENT;
    return -1;
}

int forge_cli_run_dir(char *out, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, cap, "%s/forge-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(out)) {
        forge_cli_err("run: creating a temporary directory: %s", strerror(errno));
        return -1;
    }
    /* Workers may run as another user: they must reach the paths inside. */
    chmod(out, 0755);
    return 0;
}

void forge_cli_run_dir_done(const forge_run_opts *o, const char *dir)
{
    if (o->keep)
        printf("forge: kept %s\n", dir);
    else
        forge_cli_rmtree(dir);
}

unsigned long long forge_cli_size_bytes(const char *s)
{
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    int shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        break;
    }
    const unsigned long long cap = 2147483647ULL; /* what every host's directive accepts */
    return n > (cap >> shift) ? cap : n << shift;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void forge_cli_listen_str(const forge_run_opts *o, char *out, size_t cap)
{
    bool v6 = strchr(o->host, ':') != NULL;
    snprintf(out, cap, "%s%s%s:%d", v6 ? "[" : "", o->host, v6 ? "]" : "", o->port);
}

static void print_ready(const forge_run_opts *o, const forge_serve_spec *s)
{
    char listen[96];
    forge_cli_listen_str(o, listen, sizeof(listen));
    printf("forge: serving %s on http://%s/ (%s)\n", o->app, listen, s->what);
    printf("forge: Ctrl-C stops the server\n");
    fflush(stdout);
}

/* One step up the stop ladder: graceful -> SIGTERM (when the host has it) -> SIGKILL. */
static void escalate(pid_t pid, const forge_serve_spec *s, int *stage)
{
    if (*stage == 0 && s->term_after_s > 0) {
        kill(pid, SIGTERM);
        *stage = 1;
    } else if (*stage < 2) {
        kill(-pid, SIGKILL);
        *stage = 2;
    }
}

static void on_signal(pid_t pid, const forge_serve_spec *s, int sig, bool *stopping,
                      double *stop_at, int *stage)
{
    if (sig == SIGINT || sig == SIGTERM) {
        if (*stopping) {
            escalate(pid, s, stage); /* asked twice: do not wait for requests in flight */
            return;
        }
        printf("\nforge: stopping %s\n", s->name);
        fflush(stdout);
        kill(pid, s->stop_signal);
        *stopping = true;
        *stop_at = now_s();
    } else if (sig == SIGHUP && !*stopping) {
        printf("forge: %s\n", s->reload_note);
        fflush(stdout);
        if (s->reload_signal)
            kill(pid, s->reload_signal);
    }
}

/* Runs the server until it exits; returns the exit code for forge. */
static int supervise(pid_t pid, const forge_run_opts *o, const forge_serve_spec *s,
                     const sigset_t *set)
{
    const struct timespec tick = {0, 50 * 1000 * 1000};
    bool ready = false, stopping = false, warned = false;
    double started = now_s(), stop_at = 0;
    int stage = 0;

    for (;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (stopping) {
                printf("forge: %s stopped\n", s->name);
                return FORGE_CLI_OK;
            }
            if (WIFEXITED(status))
                forge_cli_err("%s exited with status %d", s->name, WEXITSTATUS(status));
            else if (WIFSIGNALED(status))
                forge_cli_err("%s was killed by signal %d", s->name, WTERMSIG(status));
            return FORGE_CLI_FAIL;
        }
        on_signal(pid, s, sigtimedwait(set, NULL, &tick), &stopping, &stop_at, &stage);
        if (stopping) {
            double waited = now_s() - stop_at;
            if ((stage == 0 && s->term_after_s > 0 && waited > s->term_after_s) ||
                (stage < 2 && waited > s->kill_after_s))
                escalate(pid, s, &stage);
            continue;
        }
        if (!ready && forge_cli_port_open(o->host, o->port)) {
            ready = true;
            print_ready(o, s);
        }
        if (!ready && !warned && now_s() - started > 15) {
            forge_cli_err("%s has not opened %s:%d after 15 s; still waiting", s->name, o->host,
                          o->port);
            warned = true;
        }
    }
}

int forge_cli_serve(const forge_run_opts *o, const forge_serve_spec *s)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);

    sigprocmask(SIG_BLOCK, &set, &old);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        forge_cli_err("run: fork: %s", strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        return FORGE_CLI_FAIL;
    }
    if (pid == 0) {
        setpgid(0, 0);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (s->chdir && chdir(s->chdir) != 0)
            _exit(127);
        if (s->tmpdir)
            setenv("TMPDIR", s->tmpdir, 1);
        execv(s->path, s->argv);
        fprintf(stderr, "forge: exec %s: %s\n", s->path, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    int rc = supervise(pid, o, s, &set);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}
