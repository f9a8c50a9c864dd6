/*
 * Internal to the runtime area: the thread pool and the runtime record,
 * shared by pool.c, runtime.c, runtime_timer.c and runtime_lock.c.
 */
#ifndef FORGE_RUNTIME_IMPL_H
#define FORGE_RUNTIME_IMPL_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

/* ---- pool.c: a fixed set of threads over a bounded FIFO ---- */

typedef struct forge__job {
    forge_task_fn fn;
    void *arg;
} forge__job;

/*
 * Invariants (under mu): 0 <= count <= cap; jobs live in ring[head ..
 * head+count) modulo cap; once `stopping` is set no job is added, and the
 * threads exit when the ring is empty, so every job accepted runs exactly once.
 */
typedef struct forge__pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* work arrived or stopping */
    forge__job *ring;
    size_t cap, head, count;
    int idle; /* threads waiting on cv */
    pthread_t *threads;
    int nthreads; /* threads started */
    bool stopping;
    const forge_runtime *owner; /* what forge_runtime_on_pool_thread compares with */
} forge__pool;

/* Start `threads` threads with room for `queue_max` waiting jobs. */
int forge__pool_init(forge__pool *p, int threads, size_t queue_max, const forge_runtime *owner,
                     forge_error *err);
/* 0, FORGE_EBUSY (queue full) or FORGE_ESTATE (stopping). Any thread. */
int forge__pool_submit(forge__pool *p, forge_task_fn fn, void *arg);
/* Refuse new jobs, run every queued one, join the threads. Not from a pool thread. */
void forge__pool_drain(forge__pool *p);
/* Free what init allocated (after drain). */
void forge__pool_destroy(forge__pool *p);
size_t forge__pool_queued(forge__pool *p);
bool forge__pool_on_thread(const forge_runtime *owner);

/* ---- runtime.c ---- */

typedef struct forge__call {
    forge_task_fn fn;
    void *arg;
    struct forge__call *next;
} forge__call;

struct forge__timer; /* runtime_timer.c */

struct forge_runtime {
    forge_app *app;
    forge__runtime_opts opts; /* machine_lock_path points at lock_path */
    char *lock_path;
    forge__pool pool;

    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t lock_timer;
    pthread_t thread;
    bool thread_started;

    /* Everything below up to the machine lock is guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* a timer callback finished; a resign finished */
    forge__call *head, *tail; /* calls waiting for the loop, FIFO */
    forge__call *spare;       /* recycled call nodes */
    size_t nspare;
    bool stopping;               /* calls and timers refused; the loop is shutting down */
    bool shut;                   /* loop thread: shutdown done (handles closing) */
    struct forge__timer *timers; /* live timers by id */
    struct forge__timer *dead;   /* cancelled, waiting for the loop to close them */
    struct forge__timer *firing; /* the timer whose fn runs now */
    bool sweep_pending;
    int64_t next_timer_id;
    bool resign_done;

    /* Machine lock: the fd and `resigned` belong to the loop thread. */
    int lock_fd;
    bool resigned;
    atomic_bool leader;
};

/* Enqueue fn(arg) for the loop thread; mu held by the caller. */
int forge__runtime_post_locked(forge_runtime *rt, forge_task_fn fn, void *arg);

/* ---- runtime_timer.c (loop thread unless said otherwise) ---- */
/* Close the timers in `dead` (taken from rt->dead under mu). */
void forge__timers_sweep(forge_runtime *rt, struct forge__timer *dead);
/* Cancel every live timer; under mu. Returns the new dead list to sweep. */
struct forge__timer *forge__timers_cancel_all_locked(forge_runtime *rt);

/* ---- runtime_lock.c (loop thread) ---- */
int forge__lock_open(forge_runtime *rt, forge_error *err);
void forge__lock_start(forge_runtime *rt);
/* Give up leadership (on_leader(false), unlock) and stop competing. */
void forge__lock_resign(forge_runtime *rt);

#endif
