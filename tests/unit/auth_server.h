/*
 * Start and stop tests/integration/security_authserver.py (a python3
 * http.server OAuth2 authorization server and JWKS host) from unit tests,
 * and read its hit counters. Header-only: included by test_sec_oauth2.c and
 * test_sec_jwks.c.
 */
#ifndef FORGE_TEST_AUTH_SERVER_H
#define FORGE_TEST_AUTH_SERVER_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static bool auth_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Spawn the server on port (jwks may be NULL); the pid, or -1 when it did not come up in 10 s. */
static pid_t auth_server_start(int port, const char *jwks)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("python3", "python3", FORGE_SOURCE_DIR "/tests/integration/security_authserver.py",
               p, jwks, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; pid > 0 && i < 200; i++) {
        if (auth_port_open(port))
            return pid;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

static void auth_server_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

static size_t auth_collect(char *p, size_t sz, size_t n, void *ud)
{
    char **b = ud;
    size_t old = *b ? strlen(*b) : 0;
    char *nb = realloc(*b, old + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + old, p, sz * n);
    nb[old + sz * n] = '\0';
    *b = nb;
    return sz * n;
}

/* GET /hits as JSON (new reference), NULL on failure. */
static json_t *auth_hits(int port)
{
    char url[64], *body = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hits", port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, auth_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    json_t *j = cc == CURLE_OK && body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return j;
}

/* Times the server introspected `token` (or, with token NULL, the counter `what`). */
static long auth_count(int port, const char *what, const char *token)
{
    json_t *h = auth_hits(port);
    json_t *v = json_object_get(h, what);
    long n = (long)json_integer_value(token ? json_object_get(v, token) : v);
    json_decref(h);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

#endif
