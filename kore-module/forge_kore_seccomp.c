/*
 * forge_kore: the system calls Forge needs inside Kore's seccomp sandbox.
 *
 * Kore workers run under a seccomp allow-list that kills the worker on any
 * other system call (SIGSYS, "sandbox violation"). Forge's core adds
 * threads (its runtime's libuv loop and its pool), an eventfd to wake the
 * worker, a file lock for the per-machine services and the stat calls of
 * glibc 2.36 (fstat is newfstatat there, which Kore 4.1.0's list lacks).
 * The list was found with `seccomp_tracing yes` running every route of the
 * test app; docs/hosts/kore.md says how to extend it for an app's own
 * system calls (sockets to a database, files...).
 *
 * An app that exports traces (observe.trace.endpoint) also makes outgoing
 * HTTP connections from a pool thread (libcurl), and an app with databases
 * (a db section) does file I/O or connects to its servers: further filters
 * allow these, and only then.
 *
 * The filters are registered from the parent before fork, with
 * kore_seccomp_filter() rather than the KORE_SECCOMP_FILTER macro, so that
 * the app's own module keeps the single kore_seccomp_hook symbol. Kore puts
 * it ahead of its own worker list; mmap and mprotect are deliberately not
 * here, so Kore's refusal of writable+executable mappings still applies.
 */

#include <sys/types.h>

#include <sys/socket.h>

#include <kore/seccomp.h>

#include "forge_kore.h"

#include <forge/app.h>
#include <forge/config.h>

static struct sock_filter filter_forge[] = {
	/* Threads: Forge's runtime loop and pool (tgkill: abort()). */
	KORE_SYSCALL_ALLOW(clone),
#if defined(SYS_clone3)
	KORE_SYSCALL_ALLOW(clone3),
#endif
	KORE_SYSCALL_ALLOW(set_robust_list),
#if defined(SYS_rseq)
	KORE_SYSCALL_ALLOW(rseq),
#endif
	KORE_SYSCALL_ALLOW(sched_yield),
	KORE_SYSCALL_ALLOW(tgkill),

	/* The worker's wake eventfd; libuv's loop in the runtime thread. */
	KORE_SYSCALL_ALLOW(eventfd2),
	KORE_SYSCALL_ALLOW(epoll_create1),
	KORE_SYSCALL_ALLOW(pipe2),

	/* glibc 2.36's fstat and stat: newfstatat. */
	KORE_SYSCALL_ALLOW(newfstatat),

	/* The per-machine lock file: flock, then the holder's pid. */
	KORE_SYSCALL_ALLOW(flock),
	KORE_SYSCALL_ALLOW(ftruncate),
	KORE_SYSCALL_ALLOW(pwrite64),
};

/*
 * Outgoing connections for trace export: TCP to the collector, UDP for DNS
 * (glibc sends its queries with sendmmsg, after uname); libcurl asks
 * getpeername.
 * Debian's Kore allows some of these already for its pgsql built-in.
 */
static struct sock_filter filter_forge_net[] = {
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_INET),
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_INET6),
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_UNIX),
	KORE_SYSCALL_ALLOW(connect),
	KORE_SYSCALL_ALLOW(getsockopt),
	KORE_SYSCALL_ALLOW(getsockname),
	KORE_SYSCALL_ALLOW(getpeername),
	KORE_SYSCALL_ALLOW(sendmmsg),
	KORE_SYSCALL_ALLOW(socketpair),
	KORE_SYSCALL_ALLOW(uname),
};

/*
 * Forge's database API (db.* in the app config): SQLite's file I/O and
 * migrations (directory listing); network drivers also get forge-net.
 */
static struct sock_filter filter_forge_db[] = {
	KORE_SYSCALL_ALLOW(pread64),
	KORE_SYSCALL_ALLOW(fdatasync),
	KORE_SYSCALL_ALLOW(fsync),
	KORE_SYSCALL_ALLOW(fchown),
	KORE_SYSCALL_ALLOW(getdents64),
	KORE_SYSCALL_ALLOW(mkdir),
	KORE_SYSCALL_ALLOW(rename),
};

void
forge_kore_seccomp_register(forge_app *app)
{
	const char *endpoint;
	int db;

	if (!kore_seccomp_filter(
		"forge", filter_forge, KORE_FILTER_LEN(filter_forge)))
		kore_log(LOG_NOTICE, "forge: seccomp filter already present");

	db = forge_config_len(forge_app_config(app), "db") > 0;
	if (db &&
	    !kore_seccomp_filter(
		"forge-db", filter_forge_db, KORE_FILTER_LEN(filter_forge_db)))
		kore_log(LOG_NOTICE, "forge: seccomp filter forge-db present");

	endpoint = forge_config_string(
	    forge_app_config(app), "observe.trace.endpoint", NULL);
	if (!db && (endpoint == NULL || *endpoint == '\0'))
		return;

	if (!kore_seccomp_filter("forge-net", filter_forge_net,
		KORE_FILTER_LEN(filter_forge_net)))
		kore_log(LOG_NOTICE, "forge: seccomp filter forge-net present");
}
