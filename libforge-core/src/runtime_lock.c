/*
 * The per-machine lock: of all workers (of all servers) pointing at the same
 * file, one holds an exclusive flock() on it and runs the per-machine
 * services.
 *
 * flock locks belong to the open file description, so two runtimes in one
 * process (each opens the file itself) exclude each other like two processes
 * do, and the kernel drops the lock when the holder closes the file or dies,
 * SIGKILL included. Workers that do not hold it retry every lock_retry_ms
 * (non-blocking, on the loop thread), so a takeover happens within one
 * period after the holder is gone.
 *
 * Order on resign: on_leader(app, false) first, then unlock, so the next
 * leader starts its services only after this worker stopped its own: there
 * is never more than one leader running them.
 *
 * The holder writes its pid into the file, for operators.
 */
#include "runtime_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define DEFAULT_RETRY_MS 300u

int forge__lock_open(forge_runtime *rt, forge_error *err)
{
    /*
     * 0644 and a read-only fallback: flock needs no write access, so workers
     * running as another user than the one that created the file (nginx's
     * master as root, workers as nobody) still compete; only the pid note
     * is lost.
     */
    int fd = open(rt->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EACCES)
        fd = open(rt->lock_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return forge_error_setk(err, FORGE_EIO, "runtime.machine_lock",
                                "runtime: cannot open the machine lock file %s: %s", rt->lock_path,
                                strerror(errno));
    rt->lock_fd = fd;
    return 0;
}

static void write_pid(int fd)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) < 0) {
        /* Informational only: the lock itself is what counts. */
    }
}

static void try_lock(forge_runtime *rt)
{
    if (rt->resigned || rt->lock_fd < 0 || atomic_load(&rt->leader))
        return;
    if (flock(rt->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return; /* EWOULDBLOCK: another worker leads; anything else: retry later too */
    uv_timer_stop(&rt->lock_timer);
    write_pid(rt->lock_fd);
    atomic_store(&rt->leader, true);
    if (rt->opts.on_leader)
        rt->opts.on_leader(rt->app, true);
}

static void on_retry(uv_timer_t *h)
{
    try_lock(h->data);
}

void forge__lock_start(forge_runtime *rt)
{
    if (rt->lock_fd < 0)
        return;
    try_lock(rt);
    if (!atomic_load(&rt->leader)) {
        uint64_t ms = rt->opts.lock_retry_ms ? rt->opts.lock_retry_ms : DEFAULT_RETRY_MS;
        uv_timer_start(&rt->lock_timer, on_retry, ms, ms);
    }
}

void forge__lock_resign(forge_runtime *rt)
{
    if (rt->resigned)
        return;
    rt->resigned = true;
    uv_timer_stop(&rt->lock_timer);
    if (rt->lock_fd < 0)
        return;
    if (atomic_load(&rt->leader)) {
        if (rt->opts.on_leader)
            rt->opts.on_leader(rt->app, false);
        atomic_store(&rt->leader, false);
    }
    /* Closing drops the flock (we hold the only descriptor of this open). */
    close(rt->lock_fd);
    rt->lock_fd = -1;
}
