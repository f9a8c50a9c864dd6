/*
 * `forge run`: serve an app on a host binding, on a loopback address only.
 *
 * The options are the host-neutral ones; each host (the table below) turns
 * them into its own server configuration, starts the server in the
 * foreground and stops it on SIGINT/SIGTERM. Anything beyond a local run
 * (public listeners, TLS, several apps) belongs in the server's own config.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const forge_run_host forge_run_hosts[] = {
    {"nginx", "nginx with ngx_http_forge_module (dynamic module)", forge_run_nginx},
    {"apache", "Apache httpd (mpm_event) with mod_forge", forge_run_apache},
    {"kore", "Kore 4.1 with forge_kore.so (Kore module)", forge_run_kore},
};

#define NHOSTS (sizeof(forge_run_hosts) / sizeof(forge_run_hosts[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: forge run --app PATH.so [options]\n\n"
               "Serve a Forge app on a host server in the foreground, on a loopback\n"
               "address. Ctrl-C (SIGINT) or SIGTERM stops the server gracefully;\n"
               "SIGHUP reloads it.\n\n"
               "options:\n"
               "  --app PATH         the app's shared object (required)\n"
               "  --host NAME        host server (default nginx):");
    for (size_t i = 0; i < NHOSTS; i++)
        fprintf(f, " %s", forge_run_hosts[i].name);
    fprintf(f, "\n"
               "  --listen ADDR:PORT loopback address to listen on (default 127.0.0.1:8080)\n"
               "  --workers N        worker processes, 1 to 64 (default 1)\n"
               "  --config FILE      the app's configuration (YAML or JSON)\n"
               "  --max-body SIZE    the host's ceiling on request bodies (default 64m);\n"
               "                     the app's own per-route limits apply below it\n"
               "  --log-level LEVEL  host error log level: debug, info, notice, warn,\n"
               "                     error (default notice; info shows Forge's access log)\n"
               "  --server PATH      the host server binary (default: found on PATH)\n"
               "  --module PATH      the host binding module (default: beside forge)\n"
               "  --keep             keep the temporary directory (for debugging)\n"
               "  --help             this text\n");
}

static const forge_run_host *find_host(const char *name)
{
    for (size_t i = 0; i < NHOSTS; i++)
        if (strcmp(forge_run_hosts[i].name, name) == 0)
            return &forge_run_hosts[i];
    return NULL;
}

static bool valid_size(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 12 || !isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i]))
            continue;
        return i == n - 1 && strchr("kKmMgG", s[i]);
    }
    return true;
}

static bool valid_level(const char *s)
{
    static const char *const levels[] = {"debug", "info", "notice", "warn", "error", "crit"};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(s, levels[i]) == 0)
            return true;
    return false;
}

int forge_cmd_run(int argc, char **argv)
{
    enum {
        O_APP = 256,
        O_HOST,
        O_LISTEN,
        O_WORKERS,
        O_CONFIG,
        O_MAX_BODY,
        O_LOG_LEVEL,
        O_SERVER,
        O_MODULE,
        O_KEEP,
        O_HELP
    };
    static const struct option longopts[] = {
        {"app", required_argument, NULL, O_APP},
        {"host", required_argument, NULL, O_HOST},
        {"listen", required_argument, NULL, O_LISTEN},
        {"workers", required_argument, NULL, O_WORKERS},
        {"config", required_argument, NULL, O_CONFIG},
        {"max-body", required_argument, NULL, O_MAX_BODY},
        {"log-level", required_argument, NULL, O_LOG_LEVEL},
        {"server", required_argument, NULL, O_SERVER},
        {"module", required_argument, NULL, O_MODULE},
        {"keep", no_argument, NULL, O_KEEP},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *app = NULL, *config = NULL, *host = "nginx", *listen = "127.0.0.1:8080";
    forge_run_opts o = {.workers = 1, .max_body = "64m", .log_level = "notice"};
    static char app_abs[PATH_MAX], config_abs[PATH_MAX];
    char why[256];
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case O_APP:
            app = optarg;
            break;
        case O_HOST:
            host = optarg;
            break;
        case O_LISTEN:
            listen = optarg;
            break;
        case O_CONFIG:
            config = optarg;
            break;
        case O_MAX_BODY:
            o.max_body = optarg;
            break;
        case O_LOG_LEVEL:
            o.log_level = optarg;
            break;
        case O_SERVER:
            o.server = optarg;
            break;
        case O_MODULE:
            o.module = optarg;
            break;
        case O_KEEP:
            o.keep = true;
            break;
        case O_WORKERS: {
            char *end;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || *end || n < 1 || n > 64) {
                forge_cli_err("run: --workers takes a number from 1 to 64, not '%s'", optarg);
                return FORGE_CLI_USAGE;
            }
            o.workers = (int)n;
            break;
        }
        case O_HELP:
            usage(stdout);
            return FORGE_CLI_OK;
        case ':':
            forge_cli_err("run: %s needs a value (see 'forge run --help')", argv[optind - 1]);
            return FORGE_CLI_USAGE;
        default:
            forge_cli_err("run: unknown option '%s' (see 'forge run --help')", argv[optind - 1]);
            return FORGE_CLI_USAGE;
        }
    }
    if (optind < argc) {
        forge_cli_err("run: unexpected argument '%s' (see 'forge run --help')", argv[optind]);
        return FORGE_CLI_USAGE;
    }

    const forge_run_host *h = find_host(host);
    if (!h) {
        forge_cli_err("run: unknown host '%s' (see 'forge run --help')", host);
        return FORGE_CLI_USAGE;
    }
    if (!app) {
        forge_cli_err("run: --app PATH.so is required (see 'forge run --help')");
        return FORGE_CLI_USAGE;
    }
    if (forge_cli_abspath(app, app_abs, sizeof(app_abs)) != 0) {
        forge_cli_err("run: app '%s': %s", app, strerror(errno));
        return FORGE_CLI_USAGE;
    }
    o.app = app_abs;
    if (config) {
        if (forge_cli_abspath(config, config_abs, sizeof(config_abs)) != 0) {
            forge_cli_err("run: config '%s': %s", config, strerror(errno));
            return FORGE_CLI_USAGE;
        }
        o.config = config_abs;
    }
    if (forge_cli_parse_listen(listen, o.host, sizeof(o.host), &o.port, why, sizeof(why)) != 0) {
        forge_cli_err("run: --listen %s: %s", listen, why);
        return FORGE_CLI_USAGE;
    }
    if (!valid_size(o.max_body)) {
        forge_cli_err("run: --max-body takes a size like 512k, 64m or 1g, not '%s'", o.max_body);
        return FORGE_CLI_USAGE;
    }
    if (!valid_level(o.log_level)) {
        forge_cli_err("run: --log-level takes debug, info, notice, warn, error or crit, not '%s'",
                      o.log_level);
        return FORGE_CLI_USAGE;
    }
    return h->run(&o);
}
