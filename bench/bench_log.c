/*
 * Logging and configuration costs: a record below the level, text and JSON
 * records into a sink that only counts bytes, concurrent emission, and
 * loading + binding a typical config. Prints ns per operation.
 */
#include <forge/forge.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void count_sink(void *udata, forge_log_level level, const char *line, size_t len)
{
    *(size_t *)udata += len;
}

static void emit_n(forge_log *log, long n)
{
    for (long i = 0; i < n; i++)
        forge_log_emit(log, FORGE_LOG_INFO, NULL, "request done",
                       FORGE_LOG_FIELDS(FORGE_F_STR("route", "/users/:id"),
                                        FORGE_F_INT("status", 200), FORGE_F_DBL("ms", 1.25),
                                        FORGE_F_SECRET("token", "x")));
}

static void *thread_main(void *arg)
{
    emit_n(arg, 200000);
    return NULL;
}

int main(void)
{
    size_t bytes = 0;
    forge_log *log = forge_log_new();
    forge_log_set_sink(log, count_sink, &bytes);
    const long n = 1000000;

    forge_log_set_level(log, FORGE_LOG_WARN);
    double t0 = now_ns();
    emit_n(log, n * 10);
    printf("log disabled level:  %.2f ns/record\n", (now_ns() - t0) / (double)(n * 10));

    forge_log_set_level(log, FORGE_LOG_INFO);
    t0 = now_ns();
    emit_n(log, n);
    printf("log text, 4 fields:  %.1f ns/record\n", (now_ns() - t0) / (double)n);

    forge_log_set_format(log, FORGE_LOG_JSON);
    t0 = now_ns();
    emit_n(log, n);
    printf("log json, 4 fields:  %.1f ns/record\n", (now_ns() - t0) / (double)n);

    pthread_t th[2];
    t0 = now_ns();
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, thread_main, log);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    printf("log json, 2 threads: %.1f ns/record (wall, 400000 records)\n",
           (now_ns() - t0) / 400000.0);
    forge_log_free(log);

    const char *yaml = "http:\n  max_body_size: 8m\n  middleware:\n    access_log: false\n"
                       "log:\n  level: debug\n  format: json\n"
                       "runtime:\n  pool_threads: 8\n  pool_queue_max: 1024\n"
                       "services:\n  start_timeout: 45s\n  stop_timeout: 5s\n";
    const int loads = 20000;
    t0 = now_ns();
    for (int i = 0; i < loads; i++) {
        forge_config *cfg = forge_config_new();
        forge_error err;
        if (forge_config_load_string(cfg, yaml, strlen(yaml), FORGE_CONFIG_YAML, &err) != 0 ||
            forge_config_check_core(cfg, &err) != 0) {
            fprintf(stderr, "config: %s\n", err.message);
            return 1;
        }
        forge_config_free(cfg);
    }
    printf("config load+check_core (13 keys): %.1f us\n", (now_ns() - t0) / loads / 1000.0);
    return bytes == 0;
}
