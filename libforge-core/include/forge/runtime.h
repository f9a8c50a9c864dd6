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
 * forge_runtime_loop (only on the runtime thread) and forge_shm_reserve
 * (only before fork, from the app's init or a service's registration).
 */
#ifndef FORGE_RUNTIME_H
#define FORGE_RUNTIME_H

#include <forge/common.h>
#include <forge/error.h>

typedef void (*forge_task_fn)(void *arg);

/* Run fn(arg) on the thread pool. FORGE_EBUSY when the queue is full, FORGE_ESTATE when stopping. */
FORGE_API int forge_runtime_submit(forge_runtime *rt, forge_task_fn fn, void *arg);

/* Run fn(arg) on the runtime (event loop) thread, soon. */
FORGE_API int forge_runtime_call(forge_runtime *rt, forge_task_fn fn, void *arg);

/*
 * Timers on the runtime thread: fn(arg) after `delay_ms`, then every
 * `repeat_ms` if non-zero. Returns an id > 0, or a negative code.
 */
FORGE_API int64_t forge_runtime_timer(forge_runtime *rt, uint64_t delay_ms, uint64_t repeat_ms,
                                      forge_task_fn fn, void *arg);
FORGE_API int forge_runtime_timer_cancel(forge_runtime *rt, int64_t id);

/* The libuv loop (a `uv_loop_t *`); valid only on the runtime thread. */
FORGE_API void *forge_runtime_loop(forge_runtime *rt);

/* True on the runtime thread / on a pool thread. */
FORGE_API bool forge_runtime_on_loop_thread(const forge_runtime *rt);

/* Pool size and queued jobs, for metrics. */
FORGE_API int forge_runtime_pool_size(const forge_runtime *rt);
FORGE_API size_t forge_runtime_pool_queued(const forge_runtime *rt);

/* True in the worker that holds the per-machine lock. */
FORGE_API bool forge_runtime_machine_leader(const forge_runtime *rt);

/*
 * Shared memory. forge_shm_reserve declares a zeroed region of `size` bytes
 * under `name` before fork (from the app's init function); FORGE_EEXIST if
 * the name is taken with another size. forge_shm_get returns its address in
 * this process after the host mapped it (NULL before, or for an unknown
 * name). All workers see the same bytes; synchronise with atomics or with
 * forge_shm_mutex_init's robust process-shared mutexes, which survive the
 * crash of a worker holding them.
 */
FORGE_API int forge_shm_reserve(forge_app *app, const char *name, size_t size, forge_error *err);
FORGE_API void *forge_shm_get(forge_app *app, const char *name);
FORGE_API int forge_shm_mutex_init(void *mutex_storage); /* storage: a pthread_mutex_t in shm */
FORGE_API int forge_shm_mutex_lock(void *mutex);
FORGE_API void forge_shm_mutex_unlock(void *mutex);

#endif
