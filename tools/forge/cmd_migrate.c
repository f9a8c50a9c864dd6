/*
 * `forge migrate up|down|status|create`: schema migrations (forge/migrate.h)
 * against a database given by URL or by an app's configuration.
 */
#include "cli.h"

#include <forge/forge.h>
#include <forge/db.h>
#include <forge/migrate.h>

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: forge migrate up|down|status|create [options]\n\n"
            "  up                 apply pending migrations (--to N: up to version N)\n"
            "  down               undo the last migration (--steps N: the last N)\n"
            "  status             list migrations, applied or pending\n"
            "  create NAME        add NNNN_NAME.up.sql and .down.sql to the directory\n\n"
            "options:\n"
            "  --db URL           the database (sqlite:///path.db, postgres://..., mysql://...)\n"
            "  --config FILE      take the URL and directory from an app config instead\n"
            "  --name NAME        the database's name in that config (default main:\n"
            "                     db.main.url, db.main.migrations)\n"
            "  --dir DIR          the migrations directory (default: the config's, else\n"
            "                     ./migrations)\n"
            "  --to N, --steps N  see up and down\n"
            "  --help             this text\n\n"
            "The URL may also come from FORGE_DB__<NAME>__URL.\n");
}

static int status(forge_db *db, const char *dir)
{
    forge_migration *m = NULL;
    size_t n = 0;
    forge_error err;
    forge_error_clear(&err);
    if (forge_migrate_status(db, dir, &m, &n, &err) < 0) {
        forge_cli_err("%s", err.message);
        return FORGE_CLI_FAIL;
    }
    printf("%-8s %-32s %-8s %-22s %s\n", "VERSION", "NAME", "STATE", "APPLIED", "NOTE");
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        const char *note = !m[i].has_file   ? "file missing"
                           : m[i].changed   ? "CHANGED since applied"
                           : !m[i].has_down ? "no .down.sql"
                                            : "";
        bad |= m[i].changed;
        printf("%-8lld %-32s %-8s %-22s %s\n", (long long)m[i].version, m[i].name,
               m[i].applied ? "applied" : "pending", m[i].applied ? m[i].applied_at : "-", note);
    }
    if (n == 0)
        printf("(no migrations in %s)\n", dir);
    free(m);
    return bad ? FORGE_CLI_FAIL : FORGE_CLI_OK;
}

int forge_cmd_migrate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},   {"config", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'}, {"dir", required_argument, NULL, 'D'},
        {"to", required_argument, NULL, 't'},   {"steps", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    const char *url = NULL, *config = NULL, *name = "main", *dir = NULL;
    long long to = 0, steps = 1;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'd':
            url = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'D':
            dir = optarg;
            break;
        case 't':
        case 's': {
            long long v = strtoll(optarg, &end, 10);
            if (!*optarg || *end || v < 1) {
                forge_cli_err("--%s: expected a positive number, got '%s'",
                              opt == 't' ? "to" : "steps", optarg);
                return FORGE_CLI_USAGE;
            }
            *(opt == 't' ? &to : &steps) = v;
            break;
        }
        case 'h':
            usage(stdout);
            return FORGE_CLI_OK;
        default:
            usage(stderr);
            return FORGE_CLI_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return FORGE_CLI_USAGE;
    }
    const char *action = argv[optind];
    forge_error err;
    forge_error_clear(&err);
    forge_config *cfg = forge_config_new();
    if (!cfg)
        return FORGE_CLI_FAIL;
    int code = FORGE_CLI_OK;
    if ((config && forge_config_load_file(cfg, config, &err) < 0) ||
        forge_config_apply_env(cfg, &err) < 0) {
        forge_cli_err("%s", err.message);
        forge_config_free(cfg);
        return FORGE_CLI_FAIL;
    }
    char key[160];
    if (!dir) {
        snprintf(key, sizeof(key), "db.%s.migrations", name);
        dir = forge_config_string(cfg, key, "migrations");
    }
    if (strcmp(action, "create") == 0) {
        if (optind + 1 >= argc) {
            forge_cli_err("migrate create: name the migration (forge migrate create add_users)");
            forge_config_free(cfg);
            return FORGE_CLI_USAGE;
        }
        char path[4096];
        if (forge_migrate_create(dir, argv[optind + 1], path, sizeof(path), &err) < 0) {
            forge_cli_err("%s", err.message);
            code = FORGE_CLI_FAIL;
        } else {
            printf("created %s (and its .down.sql)\n", path);
        }
        forge_config_free(cfg);
        return code;
    }
    if (strcmp(action, "up") != 0 && strcmp(action, "down") != 0 && strcmp(action, "status") != 0) {
        forge_cli_err("migrate: unknown action '%s' (up, down, status, create)", action);
        forge_config_free(cfg);
        return FORGE_CLI_USAGE;
    }
    if (!url) {
        snprintf(key, sizeof(key), "db.%s.url", name);
        url = forge_config_string(cfg, key, NULL);
    }
    if (!url) {
        forge_cli_err("migrate: no database: give --db URL, or --config with db.%s.url, or set "
                      "FORGE_DB__%s__URL",
                      name, name);
        forge_config_free(cfg);
        return FORGE_CLI_USAGE;
    }
    forge_db *db = NULL;
    forge_db_opts o = {.max_conns = 1, .connect_now = true};
    if (forge_db_open(url, &o, &db, &err) < 0) {
        forge_cli_err("%s", err.message);
        forge_config_free(cfg);
        return FORGE_CLI_FAIL;
    }
    forge_migrate_result res;
    if (strcmp(action, "status") == 0) {
        code = status(db, dir);
    } else if (strcmp(action, "up") == 0) {
        if (forge_migrate_up(db, dir, to, &res, &err) < 0) {
            forge_cli_err("%s%s%s", err.message, err.cause[0] ? ": " : "", err.cause);
            code = FORGE_CLI_FAIL;
        }
        printf("applied %d migration(s); version %lld\n", res.applied, (long long)res.version);
    } else {
        if (forge_migrate_down(db, dir, (int)steps, &res, &err) < 0) {
            forge_cli_err("%s%s%s", err.message, err.cause[0] ? ": " : "", err.cause);
            code = FORGE_CLI_FAIL;
        }
        printf("undid %d migration(s); version %lld\n", res.applied, (long long)res.version);
    }
    forge_db_close(db);
    forge_config_free(cfg);
    return code;
}
