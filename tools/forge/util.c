/*
 * Helpers shared by the `forge` subcommands: addresses, paths, files.
 */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

int forge_cli_parse_listen(const char *s, char *host, size_t host_cap, int *port, char *why,
                           size_t why_cap)
{
    const char *colon, *h = s;
    size_t hn;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(why, why_cap, "expected [IPv6]:PORT");
            return -1;
        }
        h = s + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(why, why_cap, "expected ADDRESS:PORT, e.g. 127.0.0.1:8080");
            return -1;
        }
        hn = (size_t)(colon - s);
    }
    if (hn == 0 || hn >= host_cap) {
        snprintf(why, why_cap, "expected ADDRESS:PORT, e.g. 127.0.0.1:8080");
        return -1;
    }
    memcpy(host, h, hn);
    host[hn] = '\0';

    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || colon[1] == '\0' || p < 1 || p > 65535) {
        snprintf(why, why_cap, "the port must be a number from 1 to 65535");
        return -1;
    }
    *port = (int)p;

    if (strcmp(host, "localhost") == 0)
        snprintf(host, host_cap, "127.0.0.1");
    if (!is_loopback(host)) {
        snprintf(why, why_cap,
                 "'%s' is not a loopback address; forge run listens on 127.0.0.0/8 or ::1 "
                 "only (serve other addresses from your own server configuration)",
                 host);
        return -1;
    }
    return 0;
}

int forge_cli_self_dir(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1)
        return -1;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

int forge_cli_abspath(const char *path, char *out, size_t cap)
{
    char buf[PATH_MAX];
    if (!realpath(path, buf))
        return -1;
    struct stat st;
    if (stat(buf, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EISDIR;
        return -1;
    }
    if (strlen(buf) >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(out, buf);
    return 0;
}

static int find_in(const char *dirs, const char *name, char *out, size_t cap)
{
    const char *p = dirs;
    while (p && *p) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0 && snprintf(out, cap, "%.*s/%s", (int)n, p, name) < (int)cap &&
            access(out, X_OK) == 0)
            return 0;
        p = end ? end + 1 : NULL;
    }
    return -1;
}

int forge_cli_which(const char *name, const char *fallback_dirs, char *out, size_t cap)
{
    if (strchr(name, '/')) {
        if (snprintf(out, cap, "%s", name) >= (int)cap || access(out, X_OK) != 0)
            return -1;
        return 0;
    }
    if (find_in(getenv("PATH"), name, out, cap) == 0)
        return 0;
    return find_in(fallback_dirs, name, out, cap);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void forge_cli_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int forge_cli_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0)
        ok = false;
    return ok ? 0 : -1;
}

bool forge_cli_port_open(const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        len = sizeof(*s4);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        len = sizeof(*s6);
    } else {
        return false;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&ss, len) == 0;
    close(fd);
    return ok;
}
