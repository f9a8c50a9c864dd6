/*
 * forge: the Forge command line.
 *
 *   forge run --app build/lib/hello.so --listen 127.0.0.1:8080
 *
 * Subcommands are rows of the table below; each parses its own options.
 */
#include "cli.h"

#include <forge/common.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int cmd_help(int argc, char **argv);

static const forge_cli_command forge_cli_commands[] = {
    {"run", "serve an app on a host (nginx, apache, kore) on a loopback address", forge_cmd_run},
    {"migrate", "apply, undo, list or create database migrations", forge_cmd_migrate},
    {"secret", "make keys, encrypt and decrypt config secrets (${enc:v1:...})", forge_cmd_secret},
    {"help", "show help for forge or one of its commands", cmd_help},
};

#define NCOMMANDS (sizeof(forge_cli_commands) / sizeof(forge_cli_commands[0]))

void forge_cli_err(const char *fmt, ...)
{
    va_list ap;
    fputs("forge: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: forge <command> [options]\n\n"
            "Forge %s: one C app, served inside the web servers you run.\n\n"
            "commands:\n",
            FORGE_VERSION_STRING);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", forge_cli_commands[i].name, forge_cli_commands[i].summary);
    fprintf(f, "\n'forge <command> --help' describes a command's options.\n");
}

static const forge_cli_command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(forge_cli_commands[i].name, name) == 0)
            return &forge_cli_commands[i];
    return NULL;
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return FORGE_CLI_OK;
    }
    const forge_cli_command *c = find(argv[1]);
    if (!c || c->run == cmd_help) {
        forge_cli_err("no command '%s' (see 'forge --help')", argv[1]);
        return FORGE_CLI_USAGE;
    }
    char *args[] = {argv[1], "--help", NULL};
    return c->run(2, args);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FORGE_CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return FORGE_CLI_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("forge %s (ABI %u)\n", FORGE_VERSION_STRING, FORGE_ABI_VERSION);
        return FORGE_CLI_OK;
    }
    const forge_cli_command *c = find(name);
    if (!c) {
        forge_cli_err("unknown command '%s' (see 'forge --help')", name);
        return FORGE_CLI_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
