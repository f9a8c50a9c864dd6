/*
 * forge_kore: waking the worker's event loop from Forge's threads.
 *
 * A Forge request that cannot finish at once (a blocking route on Forge's
 * pool, an async handler, a stream) sleeps in Kore: the page handler calls
 * http_request_sleep() and returns KORE_RESULT_RETRY, and Kore leaves the
 * request alone until http_request_wakeup() puts it back on the run queue,
 * where Kore calls the page handler again (kore_task does the same).
 *
 * Forge calls ops->wake(hreq) from any thread. Each worker has one eventfd
 * in Kore's event loop and a queue of requests to wake, guarded by a
 * mutex: wake() queues the request once and writes the eventfd when the
 * queue was empty; the event handler (loop thread) drains the queue and
 * wakes each request, which Kore then runs in the same loop iteration
 * (http_process runs right after the events). A request leaves the queue
 * when it is woken or released; Forge never wakes a released request.
 */

#include <sys/types.h>
#include <sys/eventfd.h>

#include <pthread.h>

#include "forge_kore.h"

/* struct kore_event's type is informational; Kore's own are 1 to 6. */
#define FORGE_KORE_TYPE_WAKE 0x46

struct forge_kore_wake {
	struct kore_event evt; /* first: Kore hands us &evt */
	int fd;
	pthread_mutex_t lock;
	TAILQ_HEAD(, forge_kore_req) queue;
};

static void forge_kore_wake_handle(void *, int);
static void forge_kore_wake_signal(void);

static struct forge_kore_wake wake = { .fd = -1 };

void
forge_kore_wake_init(void)
{
	if ((wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("forge: eventfd: %s", errno_s);

	if (pthread_mutex_init(&wake.lock, NULL) != 0)
		fatal("forge: pthread_mutex_init failed");

	TAILQ_INIT(&wake.queue);

	wake.evt.type = FORGE_KORE_TYPE_WAKE;
	wake.evt.flags = 0;
	wake.evt.handle = forge_kore_wake_handle;

	kore_platform_event_level_read(wake.fd, &wake.evt);
}

void
forge_kore_wake_cleanup(void)
{
	if (wake.fd == -1)
		return;

	/* Kore closes its epoll descriptor after the teardown hook. */
	(void)close(wake.fd);
	wake.fd = -1;
}

/* Any thread. Called by Forge with the request's own lock held. */
void
forge_kore_wake(void *hreq)
{
	struct forge_kore_req *fr = hreq;
	int was_empty;

	was_empty = 0;

	pthread_mutex_lock(&wake.lock);
	if (!fr->queued && !fr->released) {
		was_empty = TAILQ_EMPTY(&wake.queue);
		TAILQ_INSERT_TAIL(&wake.queue, fr, wlist);
		fr->queued = 1;
	}
	pthread_mutex_unlock(&wake.lock);

	if (was_empty)
		forge_kore_wake_signal();
}

/*
 * Loop thread, after forge_req_release: no wake comes for the request any
 * more, and `queued` set by an earlier one is visible (ordered by the
 * request's lock in the core). The synchronous path never queued: no lock.
 */
void
forge_kore_wake_cancel(struct forge_kore_req *fr)
{
	if (!fr->queued) {
		fr->released = 1;
		return;
	}

	pthread_mutex_lock(&wake.lock);
	if (fr->queued) {
		TAILQ_REMOVE(&wake.queue, fr, wlist);
		fr->queued = 0;
	}
	fr->released = 1;
	pthread_mutex_unlock(&wake.lock);
}

static void
forge_kore_wake_signal(void)
{
	u_int64_t one = 1;

	/*
	 * EAGAIN: the counter is saturated, an event is pending anyway. The
	 * descriptor is valid while workers run, so nothing else can fail.
	 */
	if (write(wake.fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return;
}

static void
forge_kore_wake_handle(void *arg, int error)
{
	struct forge_kore_req *fr;
	u_int64_t n;

	/* Reset the counter first: a wake after this signals again. */
	if (read(wake.fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		kore_log(LOG_ERR, "forge: read(eventfd): %s", errno_s);

	pthread_mutex_lock(&wake.lock);
	while ((fr = TAILQ_FIRST(&wake.queue)) != NULL) {
		TAILQ_REMOVE(&wake.queue, fr, wlist);
		fr->queued = 0;
		http_request_wakeup(fr->req);
	}
	pthread_mutex_unlock(&wake.lock);
}
