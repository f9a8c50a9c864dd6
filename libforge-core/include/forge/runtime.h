/*
 * Forge: the per-worker runtime.
 *
 * Each worker process has one runtime: a thread running a libuv loop (timers,
 * background work, broker consumers later) and a thread pool for blocking
 * routes and blocking jobs. Shared memory is reserved by name before fork and
 * mapped in every worker. One worker per machine holds the machine lock and
 * runs the services flagged FORGE_SERVICE_PER_MACHINE; when it exits another
 * worker takes the lock over.
 *
 * Thread safety: every function here may be called from any thread, except
 * forge_runtime_loop (only useful on the runtime thread) and forge_shm_reserve
 * (only before fork, from the app's init or a service's registration).
 */
#ifndef FORGE_RUNTIME_H
#define FORGE_RUNTIME_H

#include <forge/common.h>
#include <forge/error.h>

typedef void (*forge_task_fn)(void *arg);

/*
 * Run fn(arg) on a pool thread, FIFO. 0, FORGE_EBUSY when runtime.pool_queue_max
 * jobs are already waiting (the caller answers 503 or retries), FORGE_ESTATE
 * once the runtime is stopping, FORGE_EINVAL on NULL. Any thread, pool
 * threads included. Every accepted job runs exactly once, also when the
 * runtime stops (the stop waits for queued jobs). The caller keeps ownership
 * of arg; fn typically frees it or hands it back.
 */
FORGE_API int forge_runtime_submit(forge_runtime *rt, forge_task_fn fn, void *arg);

/*
 * Run fn(arg) on the runtime (event loop) thread, soon, in call order. Never
 * runs fn inline, also when called on the runtime thread. 0, FORGE_ESTATE
 * once the loop is stopping, FORGE_ENOMEM. Every accepted call runs exactly
 * once, also when the runtime stops. Does not allocate in steady state.
 */
FORGE_API int forge_runtime_call(forge_runtime *rt, forge_task_fn fn, void *arg);

/*
 * Timers on the runtime thread: fn(arg) after `delay_ms`, then every
 * `repeat_ms` if non-zero. Returns an id > 0, or a negative code
 * (FORGE_ESTATE when stopping). A one-shot timer's id is gone once fn returned.
 *
 * forge_runtime_timer_cancel: 0, or FORGE_ENOENT for an unknown, fired or
 * already cancelled id. After 0, fn is not running and never runs again, so
 * arg may be freed: off the runtime thread the call waits for a running fn
 * of this timer to return (do not cancel while holding a lock that fn takes);
 * on the runtime thread, fn may cancel its own timer. When the runtime stops,
 * pending timers are cancelled without running.
 */
FORGE_API int64_t forge_runtime_timer(forge_runtime *rt, uint64_t delay_ms, uint64_t repeat_ms,
                                      forge_task_fn fn, void *arg);
FORGE_API int forge_runtime_timer_cancel(forge_runtime *rt, int64_t id);

/* The libuv loop (a `uv_loop_t *`) on the runtime thread; NULL on any other thread. */
FORGE_API void *forge_runtime_loop(forge_runtime *rt);

/* True on this runtime's loop thread / on one of its pool threads. */
FORGE_API bool forge_runtime_on_loop_thread(const forge_runtime *rt);
FORGE_API bool forge_runtime_on_pool_thread(const forge_runtime *rt);

/* Pool size and jobs waiting (not running), for metrics. */
FORGE_API int forge_runtime_pool_size(const forge_runtime *rt);
FORGE_API size_t forge_runtime_pool_queued(const forge_runtime *rt);

/*
 * True in the worker that holds the per-machine lock (set on the runtime
 * thread just before on_leader(app, true), cleared just after
 * on_leader(app, false)).
 */
FORGE_API bool forge_runtime_machine_leader(const forge_runtime *rt);

/*
 * Shared memory. forge_shm_reserve declares a zeroed region of `size` bytes
 * under `name` before fork (from the app's init function); FORGE_EEXIST if
 * the name is taken with another size. forge_shm_get returns its address in
 * this process after the host mapped it (NULL before, or for an unknown
 * name). All workers see the same bytes; synchronise with atomics or with
 * forge_shm_mutex_init's robust process-shared mutexes, which survive the
 * crash of a worker holding them. Regions start on a 64-byte boundary.
 * A host that allocates shared memory itself (host.h shm_alloc) returns
 * zeroed memory for a new region.
 *
 * forge_shm_reserve: FORGE_EINVAL (no name, size 0, name over 128 bytes),
 * FORGE_EEXIST (name taken with another size; the same size is a no-op),
 * FORGE_ESTATE (after the mapping, i.e. after fork).
 *
 * Mutexes: forge_shm_mutex_init once, before fork, on a pthread_mutex_t
 * inside a region. forge_shm_mutex_lock returns 0 holding the mutex, also
 * when its previous holder died holding it (the mutex is then made
 * consistent; the data it guards may be half-updated), or a negative code.
 */
FORGE_API int forge_shm_reserve(forge_app *app, const char *name, size_t size, forge_error *err);
FORGE_API void *forge_shm_get(forge_app *app, const char *name);
FORGE_API int forge_shm_mutex_init(void *mutex_storage); /* storage: a pthread_mutex_t in shm */
FORGE_API int forge_shm_mutex_lock(void *mutex);
FORGE_API void forge_shm_mutex_unlock(void *mutex);

#endif
