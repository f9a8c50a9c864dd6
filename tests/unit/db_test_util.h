/*
 * Helpers for the data-layer tests (test_db_*.c): a temporary directory and
 * a SQLite URL inside it, and the driver plugins of this build.
 */
#ifndef FORGE_DB_TEST_UTIL_H
#define FORGE_DB_TEST_UTIL_H

#include <forge/forge.h>
#include <forge/db.h>
#include <forge/db_driver.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Point the driver search at this build's plugins. */
static inline void dbt_env(void)
{
    setenv("FORGE_DB_DRIVER_PATH", FORGE_BINARY_DIR "/lib", 1);
}

/* A fresh temporary directory (caller frees with dbt_rmdir). */
static inline char *dbt_tmpdir(void)
{
    char tmpl[] = "/tmp/forge-dbtest-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void dbt_rmdir(char *dir)
{
    if (!dir)
        return;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

/* "sqlite://<dir>/<name>" in buf. */
static inline const char *dbt_url(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "sqlite://%s/%s", dir, name);
    return buf;
}

static inline void dbt_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

#endif
