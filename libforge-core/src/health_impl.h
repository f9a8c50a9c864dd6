/*
 * Internal to health*.c: the registry, the checks and the shared records
 * through which every worker publishes its results.
 *
 * Process-local state is guarded by reg->mu; a worker's shared record is
 * written only by that worker, under reg->mu, inside a sequence lock
 * (odd while writing), so readers in any worker copy it without a lock and
 * retry when it changed under them.
 *
 * Lifetime: runner threads are detached and hold a reference on the
 * registry (refs), so a check that hangs past the worker's stop never
 * touches freed memory when it finally returns.
 */
#ifndef FORGE_HEALTH_IMPL_H
#define FORGE_HEALTH_IMPL_H

#include "observe_impl.h"

#define FORGE__HNAME_MAX      64
#define FORGE__HGROUPS_MAX    64
#define FORGE__HMSG_MAX       160
#define FORGE__HMAGIC         0x464f52474548ull
#define FORGE__HCALLBACKS_MAX 16

/* Worker states in the shared record. */
enum { HW_NONE = 0, HW_STARTING, HW_STARTED, HW_STOPPING, HW_STOPPED };

struct hrec {
    char name[FORGE__HNAME_MAX];
    char groups[FORGE__HGROUPS_MAX]; /* ",ready,startup," */
    uint8_t status;                  /* forge_health */
    uint8_t has_result, ever_ok, timed_out;
    uint32_t duration_us;
    uint32_t failures; /* consecutive unhealthy results */
    int64_t last_run_ms, last_change_ms;
    char message[FORGE__HMSG_MAX];
};

struct hworker {
    _Atomic uint32_t seq;
    uint32_t state;
    int32_t pid;
    uint32_t nchecks;
    int64_t heartbeat_ms, started_ms;
    /* struct hrec checks[max_checks] follows */
};

struct hshm {
    uint64_t magic;
    uint32_t max_workers, max_checks;
    uint64_t worker_stride;
};

struct hcheck {
    char *name;
    char groups[FORGE__HGROUPS_MAX];
    forge_health_check_fn fn;
    void *udata;
    char *service; /* a service's check: its name */
    uint64_t interval_ms, timeout_ms;
    /* under reg->mu */
    bool running, timed_out;
    uint64_t gen;
    uint64_t started_mono, due_mono;
    struct hrec rec;
};

struct hcallback {
    forge_health_change_fn fn;
    void *udata;
};

struct forge_health_registry {
    forge_app *app;
    pthread_mutex_t mu;
    _Atomic int refs;
    struct hcheck **v;
    size_t n, cap;
    struct hcallback *cbs;
    size_t ncbs;
    uint64_t interval_ms, timeout_ms;
    int concurrency, max_checks, max_workers;
    struct hshm *shm; /* NULL until mapped */
    uint32_t worker;
    int state;   /* HW_* of this worker */
    int running; /* runner threads working on a check */
    int64_t tick_timer;
    uint64_t tick_ms;
    forge_health overall;
    bool overall_known;
    forge_metric *status_metric;
};

static inline struct hworker *forge__hworker(const struct hshm *s, uint32_t w)
{
    return (struct hworker *)((char *)s + 64 + (uint64_t)w * s->worker_stride);
}
static inline struct hrec *forge__hrecs(struct hworker *w)
{
    return (struct hrec *)((char *)w + 64);
}

/* health.c */
void forge__health_unref(forge_health_registry *h);
/* A check record with its name and groups set (fn and the rest by the caller). */
struct hcheck *forge__health_check_new(const char *name, const char *const *groups,
                                       forge_error *err);
/* Add it (freed on failure). */
int forge__health_add_check(forge_health_registry *h, struct hcheck *c, forge_error *err);
/* Publish this worker's record (mu held). */
void forge__health_publish_locked(forge_health_registry *h);
/*
 * Store a result (mu held) and collect the change callbacks due into ev; the
 * caller runs them (forge__health_fire) after unlocking.
 */
typedef struct forge__health_event {
    const char *check; /* NULL: overall; points into the check (stable) */
    forge_health before, now;
    char message[FORGE__HMSG_MAX];
} forge__health_event;
size_t forge__health_record_locked(forge_health_registry *h, struct hcheck *c, forge_health st,
                                   const char *msg, uint64_t duration_us, bool timed_out,
                                   forge__health_event *ev);
void forge__health_fire(forge_health_registry *h, const forge__health_event *ev, size_t n);

/* health_view.c: a consistent copy of a worker's record; false when empty or stale. */
typedef struct forge__hview {
    struct hworker w;
    struct hrec *checks; /* nchecks copies */
    bool live;           /* started or starting, heartbeat fresh and process alive */
} forge__hview;
bool forge__health_read(const struct hshm *s, uint32_t w, forge__hview *out, struct hrec *buf);

#endif
