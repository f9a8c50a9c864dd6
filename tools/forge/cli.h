/*
 * The `forge` command: subcommands and the helpers they share.
 *
 * A subcommand is one row in forge_cli_commands (main.c): a name, a line of
 * summary, and a function taking the arguments after its name. `forge run`
 * serves an app on a host binding, chosen from the table in cmd_run.c.
 */
#ifndef FORGE_CLI_H
#define FORGE_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct forge_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
} forge_cli_command;

/* Exit codes. */
#define FORGE_CLI_OK    0
#define FORGE_CLI_FAIL  1 /* the work failed */
#define FORGE_CLI_USAGE 2 /* bad arguments */

/* Print "forge: <message>" on stderr. */
void forge_cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- `forge run` ---- */

typedef struct forge_run_opts {
    const char *app;    /* absolute path of the app .so */
    const char *config; /* absolute path of the app's config, or NULL */
    char host[64];      /* listen address as given ("127.0.0.1", "::1") */
    int port;
    int workers;
    const char *max_body; /* the host's ceiling on request bodies ("64m") */
    const char *log_level;
    const char *server; /* host server binary, or NULL to search */
    const char *module; /* binding module path, or NULL for the one beside forge */
    bool keep;          /* keep the temporary directory (debugging) */
} forge_run_opts;

/* A host binding `forge run` can start. */
typedef struct forge_run_host {
    const char *name;
    const char *summary;
    int (*run)(const forge_run_opts *o);
} forge_run_host;

int forge_cmd_run(int argc, char **argv);
int forge_cmd_migrate(int argc, char **argv); /* cmd_migrate.c */
int forge_cmd_secret(int argc, char **argv);  /* cmd_secret.c */
int forge_run_nginx(const forge_run_opts *o);
int forge_run_apache(const forge_run_opts *o);
int forge_run_kore(const forge_run_opts *o);

/* ---- running a host server in the foreground (serve.c) ---- */

/* What differs between hosts when forge runs one. */
typedef struct forge_serve_spec {
    const char *name;        /* "nginx", in messages */
    const char *what;        /* the ready line's note: "nginx, 2 workers" */
    const char *path;        /* the server binary */
    char *const *argv;       /* its argv, NULL-terminated */
    const char *chdir;       /* run it from this directory, or NULL */
    const char *tmpdir;      /* TMPDIR for the server, or NULL to inherit */
    int stop_signal;         /* the host's graceful stop */
    int reload_signal;       /* what SIGHUP becomes; 0: not passed on */
    const char *reload_note; /* printed on SIGHUP */
    int term_after_s;        /* graceful stop escalates to SIGTERM after this; 0: no such step */
    int kill_after_s;        /* then SIGKILL to the server's process group */
} forge_serve_spec;

/* Run the server until it exits or forge is stopped; the exit code for forge. */
int forge_cli_serve(const forge_run_opts *o, const forge_serve_spec *s);

/* The binding module: --module, else $env_name, else `file` in the lib dirs beside forge. */
int forge_cli_find_module(const forge_run_opts *o, const char *env_name, const char *file,
                          char *out, size_t cap);

/* A fresh $TMPDIR/forge-run-XXXXXX (mode 0755); -1 with the error printed. */
int forge_cli_run_dir(char *out, size_t cap);
/* Remove it, or say where it was kept (--keep). */
void forge_cli_run_dir_done(const forge_run_opts *o, const char *dir);

/* "127.0.0.1:8080" or "[::1]:8080": the listen address as host configs and URLs write it. */
void forge_cli_listen_str(const forge_run_opts *o, char *out, size_t cap);

/* "64m" (validated by cmd_run.c) in bytes, capped at 2^31 - 1. */
unsigned long long forge_cli_size_bytes(const char *s);

/* ---- helpers (util.c) ---- */

/*
 * Parse "ADDR:PORT" ("127.0.0.1:8080", "[::1]:8080", "localhost:8080") into
 * host and port, and refuse addresses that are not loopback. Returns 0, or -1
 * with a message in `why`.
 */
int forge_cli_parse_listen(const char *s, char *host, size_t host_cap, int *port, char *why,
                           size_t why_cap);

/* The directory holding the running executable (no trailing slash). */
int forge_cli_self_dir(char *out, size_t cap);

/* An existing file's absolute path in `out`; -1 with errno when it is missing. */
int forge_cli_abspath(const char *path, char *out, size_t cap);

/* The first executable named `name` on $PATH, then in `fallback_dirs` (":"-separated). */
int forge_cli_which(const char *name, const char *fallback_dirs, char *out, size_t cap);

/* Remove a directory tree (best effort). */
void forge_cli_rmtree(const char *dir);

/* Write `text` to `path` (mode 0644). */
int forge_cli_write_file(const char *path, const char *text);

/* True once a TCP connect to host:port succeeds. */
bool forge_cli_port_open(const char *host, int port);

#endif
