/*
 * `forge secret keygen|encrypt|decrypt`: encrypted config values
 * (${enc:v1:...}, AES-256-GCM; docs/security.md "Encrypted secrets").
 *
 * Plaintext is read from standard input, never from the command line (argv
 * is visible to every user through /proc and lands in shell history).
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "cli.h"

#include <forge/security.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INPUT_MAX (64u * 1024u)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: forge secret keygen [--out FILE]\n"
            "       forge secret encrypt [--key-file FILE | --key-env VAR]  < plaintext\n"
            "       forge secret decrypt [--key-file FILE | --key-env VAR]  < value\n\n"
            "  keygen    print a new random key (base64 of 32 bytes); --out writes it to a new\n"
            "            file with mode 0600 instead\n"
            "  encrypt   read the plaintext from stdin (one trailing newline dropped) and print\n"
            "            the config value ${enc:v1:...}\n"
            "  decrypt   read a ${enc:v1:...} value from stdin and print the plaintext\n\n"
            "The key comes from --key-file, --key-env, else FORGE_SECRETS_KEY_FILE, else\n"
            "FORGE_SECRETS_KEY. The plaintext is never taken from arguments.\n");
}

/* All of stdin, at most INPUT_MAX bytes. */
static int read_stdin(char **out, size_t *len)
{
    char *buf = malloc(INPUT_MAX + 1);
    size_t n = 0;
    if (!buf)
        return -1;
    for (;;) {
        ssize_t r = read(0, buf + n, INPUT_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            forge_cli_err("reading stdin: %s", strerror(errno));
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > INPUT_MAX) {
            forge_cli_err("stdin: more than %u bytes", INPUT_MAX);
            explicit_bzero(buf, n);
            free(buf);
            return -1;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int keygen(const char *outfile)
{
    char key[64];
    forge_error err;
    forge_error_clear(&err);
    if (forge_secret_keygen(key, sizeof(key), &err) < 0) {
        forge_cli_err("%s", err.message);
        return FORGE_CLI_FAIL;
    }
    if (!outfile) {
        printf("%s\n", key);
        explicit_bzero(key, sizeof(key));
        return FORGE_CLI_OK;
    }
    int fd = open(outfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        forge_cli_err("%s: %s%s", outfile, strerror(errno),
                      errno == EEXIST ? " (refusing to overwrite a key)" : "");
        explicit_bzero(key, sizeof(key));
        return FORGE_CLI_FAIL;
    }
    size_t n = strlen(key);
    key[n] = '\n';
    bool ok = write(fd, key, n + 1) == (ssize_t)(n + 1);
    ok = close(fd) == 0 && ok;
    explicit_bzero(key, sizeof(key));
    if (!ok) {
        forge_cli_err("%s: write failed", outfile);
        return FORGE_CLI_FAIL;
    }
    fprintf(stderr, "forge: wrote a new key to %s (mode 0600)\n", outfile);
    return FORGE_CLI_OK;
}

static int crypt_cmd(bool enc, const char *key_file, const char *key_env)
{
    forge_error err;
    forge_error_clear(&err);
    forge_secret_key key;
    if (forge_secret_key_load(key_file, key_env, &key, &err) < 0) {
        forge_cli_err("%s", err.message);
        return FORGE_CLI_FAIL;
    }
    if (enc && isatty(0))
        fprintf(stderr, "forge: type the secret, then Ctrl-D\n");
    char *in = NULL;
    size_t n = 0;
    if (read_stdin(&in, &n) < 0) {
        forge_secret_key_wipe(&key);
        return FORGE_CLI_FAIL;
    }
    int rc = FORGE_CLI_OK;
    if (enc) {
        size_t m = n;
        if (m && in[m - 1] == '\n')
            m--;
        if (m && in[m - 1] == '\r')
            m--;
        char *v = forge_secret_encrypt(&key, in, m, &err);
        if (v)
            printf("%s\n", v);
        else
            rc = FORGE_CLI_FAIL;
        free(v);
    } else {
        char *plain = NULL;
        size_t m = 0;
        if (forge_secret_decrypt(&key, in, n, &plain, &m, &err) == 0) {
            fwrite(plain, 1, m, stdout);
            fputc('\n', stdout);
            explicit_bzero(plain, m);
            free(plain);
        } else {
            rc = FORGE_CLI_FAIL;
        }
    }
    if (rc != FORGE_CLI_OK)
        forge_cli_err("%s", err.message);
    explicit_bzero(in, n);
    free(in);
    forge_secret_key_wipe(&key);
    return rc;
}

int forge_cmd_secret(int argc, char **argv)
{
    static const struct option longopts[] = {{"key-file", required_argument, NULL, 'f'},
                                             {"key-env", required_argument, NULL, 'e'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *key_file = NULL, *key_env = NULL, *out = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            key_file = optarg;
            break;
        case 'e':
            key_env = optarg;
            break;
        case 'o':
            out = optarg;
            break;
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
    const char *sub = argv[optind];
    if (optind + 1 < argc) {
        forge_cli_err("secret %s: unexpected argument (the plaintext is read from stdin, never "
                      "from arguments)",
                      sub);
        return FORGE_CLI_USAGE;
    }
    if (strcmp(sub, "keygen") == 0) {
        if (key_file || key_env) {
            forge_cli_err("secret keygen: --key-file/--key-env do not apply (use --out FILE)");
            return FORGE_CLI_USAGE;
        }
        return keygen(out);
    }
    if (out) {
        forge_cli_err("secret %s: --out applies to keygen only", sub);
        return FORGE_CLI_USAGE;
    }
    if (key_file && key_env) {
        forge_cli_err("secret %s: give --key-file or --key-env, not both", sub);
        return FORGE_CLI_USAGE;
    }
    if (strcmp(sub, "encrypt") == 0 || strcmp(sub, "decrypt") == 0)
        return crypt_cmd(sub[0] == 'e', key_file, key_env);
    forge_cli_err("secret: unknown subcommand '%s' (keygen, encrypt, decrypt)", sub);
    return FORGE_CLI_USAGE;
}
