/*
 * forge_kore: Forge inside Kore 4.1.
 *
 * A Kore module that loads one Forge app and hands requests to it. The
 * module holds no business logic: routing, middleware, handlers and their
 * responses are Forge's. Kore routes requests to the page handler
 * forge_kore_page (a catch-all `route ^/ forge_kore_page`, or any narrower
 * route); it translates the request into a forge_req, dispatches it, and
 * writes Forge's response through Kore's http_response machinery.
 *
 * Process model: the app is loaded in Kore's parent (kore_parent_configure)
 * before the workers fork; each worker starts Forge's runtime and pool
 * threads (kore_worker_configure) and stops them (kore_worker_teardown).
 *
 * Threads: everything here runs on the worker's event loop thread except
 * forge_kore_wake(), which Forge calls from any thread, and the log sink.
 * Kore's allocator and network code are not thread-safe; only those two
 * functions may run off the loop thread, and they use neither.
 */
#ifndef __H_FORGE_KORE_H
#define __H_FORGE_KORE_H

#include <sys/queue.h>

#include <kore/kore.h>
#include <kore/http.h>

#include <forge/host.h>
#include <forge/log.h>

/*
 * One Forge request: Kore's per-request state (the request's hdlr_extra,
 * recycled by forge_kore_page.c when Kore frees the request) and Forge's
 * host handle (hreq).
 */
struct forge_kore_req {
	struct http_request *req;
	forge_req *freq; /* NULL once released */
	struct forge_kore_req *next_free; /* on the free list */

	/*
	 * Written under the worker's wake lock; forge_kore_wake_cancel reads
	 * queued without it once Forge has released the request.
	 */
	TAILQ_ENTRY(forge_kore_req) wlist;
	int queued;
	int released;

	/* Loop thread only. */
	int64_t length; /* send_head: body length, -1 for a stream */
	u_int64_t sent; /* body bytes queued on the connection */
	int status;
	int flags;
};

#define FORGE_KORE_HEAD 0x01 /* send_head was called */
#define FORGE_KORE_SENT 0x02 /* Kore has written the status and headers */
#define FORGE_KORE_STREAM 0x04 /* the body goes out piece by piece */
#define FORGE_KORE_CHUNKED 0x08 /* ... with chunked framing */
#define FORGE_KORE_LAST 0x10 /* FORGE_SEND_LAST was seen */
#define FORGE_KORE_CLOSE 0x20 /* close the connection after the response */

/* The process's Forge host, set up in the parent before fork. */
struct forge_kore {
	forge_host *host;
	forge_app *app;
	char *app_path;
	char *config_path;
	char logname[32]; /* "[parent]", "[wrk 1]": as kore_log names us */
};

extern struct forge_kore forge_kore;

/* forge_kore.c: the process hooks, callable from another module's hooks. */
void forge_kore_parent_configure(void);
void forge_kore_parent_teardown(void);
void forge_kore_worker_configure(void);
void forge_kore_worker_teardown(void);
void forge_kore_errstr(char *, size_t, const forge_error *);

/* forge_kore_conf.c */
int forge_kore_conf_load(char **, char **, char *, size_t);

/* forge_kore_page.c */
int forge_kore_page(struct http_request *);
void forge_kore_page_cleanup(void);

/* forge_kore_output.c */
int forge_kore_send_head(void *, int, const forge_header *, size_t, int64_t);
int forge_kore_send_body(void *, const void *, size_t, unsigned);
void forge_kore_output_finish(struct forge_kore_req *);

/* forge_kore_wake.c */
void forge_kore_wake_init(void);
void forge_kore_wake_cleanup(void);
void forge_kore_wake(void *);
void forge_kore_wake_cancel(struct forge_kore_req *);

/* forge_kore_seccomp.c */
void forge_kore_seccomp_register(forge_app *);

#endif /* !__H_FORGE_KORE_H */
