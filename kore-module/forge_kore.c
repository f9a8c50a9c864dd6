/*
 * forge_kore: the process hooks and the host contract's ops table.
 *
 * Kore 4.1 calls hooks by symbol name, the first loaded module defining a
 * name wins: kore_parent_configure (parent, after the config is parsed and
 * before the workers fork), kore_worker_configure (each worker, after its
 * sandbox is up), kore_worker_teardown and kore_parent_teardown. This
 * module defines all four as thin wrappers; an application module that
 * needs its own hooks and is loaded first calls the forge_kore_* function
 * of each hook from its own.
 */

#include <sys/types.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "forge_kore.h"

#include <forge/app.h>
#include <forge/config.h>

void kore_parent_configure(int, char **);
void kore_parent_teardown(void);
void kore_worker_configure(void);
void kore_worker_teardown(void);

static void forge_kore_log_sink(void *, forge_log_level, const char *, size_t);
static void forge_kore_check_body_max(void);

struct forge_kore forge_kore;

static const forge_host_ops forge_kore_ops = {
	.abi_version = FORGE_ABI_VERSION,
	.size = sizeof(forge_host_ops),
	.kind = "kore",
	.version = "4.1", /* replaced by kore_version at load */
	/*
	 * Workers are event loops: never block them. Kore refuses any header
	 * value byte outside printable ASCII itself (http_validate_header).
	 */
	.flags = FORGE_HOST_FIELDS_CHECKED,
	.send_head = forge_kore_send_head,
	.send_body = forge_kore_send_body,
	.wake = forge_kore_wake,
};

void
kore_parent_configure(int argc, char **argv)
{
	forge_kore_parent_configure();
}

void
kore_parent_teardown(void)
{
	forge_kore_parent_teardown();
}

void
kore_worker_configure(void)
{
	forge_kore_worker_configure();
}

void
kore_worker_teardown(void)
{
	forge_kore_worker_teardown();
}

void
forge_kore_parent_configure(void)
{
	forge_host_ops ops;
	forge_error err;
	char msg[2048];

	if (forge_kore.host != NULL)
		return;

	(void)snprintf(
	    forge_kore.logname, sizeof(forge_kore.logname), "[parent]");

	/*
	 * In the foreground Kore logs with printf; make stdout line buffered
	 * so its lines and ours reach a pipe or file as they happen (workers
	 * inherit this).
	 */
	if (kore_foreground)
		(void)setvbuf(stdout, NULL, _IOLBF, 0);

	if (forge_kore_conf_load(&forge_kore.app_path, &forge_kore.config_path,
		msg, sizeof(msg)) == -1)
		fatal("forge: %s", msg);

	ops = forge_kore_ops;
	ops.version = kore_version;

	forge_error_clear(&err);
	if ((forge_kore.host = forge_host_new(&ops, NULL, &err)) == NULL) {
		forge_kore_errstr(msg, sizeof(msg), &err);
		fatal("forge: %s", msg);
	}

	forge_kore.app = forge_host_load(
	    forge_kore.host, forge_kore.app_path, forge_kore.config_path, &err);
	if (forge_kore.app == NULL) {
		forge_kore_errstr(msg, sizeof(msg), &err);
		fatal("forge: app %s: %s", forge_kore.app_path, msg);
	}

	forge_kore_seccomp_register(forge_kore.app);

	forge_log_set_sink(
	    forge_app_log(forge_kore.app), forge_kore_log_sink, NULL);

	if (forge_host_before_fork(forge_kore.host, &err) != 0) {
		forge_kore_errstr(msg, sizeof(msg), &err);
		fatal("forge: app %s: %s", forge_kore.app_path, msg);
	}

	forge_kore_check_body_max();

	if (!kore_quiet) {
		kore_log(LOG_NOTICE, "forge: app %s %s loaded from %s%s%s",
		    forge_app_name(forge_kore.app),
		    forge_app_version(forge_kore.app), forge_kore.app_path,
		    forge_kore.config_path ? ", config " : "",
		    forge_kore.config_path ? forge_kore.config_path : "");
	}
}

void
forge_kore_parent_teardown(void)
{
	if (forge_kore.host == NULL)
		return;

	forge_host_free(forge_kore.host);
	forge_kore.host = NULL;
	forge_kore.app = NULL;
}

void
forge_kore_worker_configure(void)
{
	forge_error err;
	sigset_t all, old;
	char msg[2048];
	int id, count, rc;

	if (forge_kore.host == NULL)
		fatal("forge: kore_worker_configure without an app: was "
		      "kore_parent_configure shadowed by another module?");

	(void)snprintf(forge_kore.logname, sizeof(forge_kore.logname),
	    "[wrk %d]", worker->id);

	/* Kore numbers HTTP workers 1..n; two slots are keymgr and acme. */
	id = (int)worker->id - 1;
	count = (int)worker_count - 2;
	if (count < 1)
		count = 1;
	if (id < 0 || id >= count)
		id = 0;

	forge_kore_wake_init();

	/*
	 * Forge's runtime and pool threads inherit the signal mask: block
	 * everything while they start so Kore's signals (SIGTERM, SIGHUP)
	 * are delivered to this thread, whose epoll_wait they interrupt.
	 */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);

	forge_error_clear(&err);
	rc = forge_host_worker_start(forge_kore.host, id, count, &err);

	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (rc != 0) {
		forge_kore_errstr(msg, sizeof(msg), &err);
		fatal("forge: worker %d could not start %s: %s", id,
		    forge_kore.app_path, msg);
	}
}

void
forge_kore_worker_teardown(void)
{
	if (forge_kore.host == NULL)
		return;

	forge_host_worker_stop(forge_kore.host);
	forge_kore_wake_cleanup();
	forge_kore_page_cleanup();
}

/* "message (key "k"): cause" */
void
forge_kore_errstr(char *buf, size_t len, const forge_error *err)
{
	int n;

	n = snprintf(buf, len, "%s",
	    err->message[0] ? err->message : forge_strerror(err->code));
	if (n < 0 || (size_t)n >= len)
		return;

	if (err->key[0]) {
		n += snprintf(buf + n, len - n, " (key \"%s\")", err->key);
		if ((size_t)n >= len)
			return;
	}

	if (err->cause[0])
		(void)snprintf(buf + n, len - n, ": %s", err->cause);
}

/*
 * Forge's log lines, in Kore's log format and destination (what kore_log
 * does: stdout in the foreground, syslog otherwise). Called from any
 * thread, serialised per logger by Forge. kore_log itself is not used off
 * the loop thread: it formats the worker's name into a static buffer.
 */
static void
forge_kore_log_sink(
    void *udata, forge_log_level level, const char *line, size_t len)
{
	int prio;

	switch (level) {
	case FORGE_LOG_TRACE:
	case FORGE_LOG_DEBUG:
		prio = LOG_DEBUG;
		break;
	case FORGE_LOG_INFO:
		prio = LOG_INFO;
		break;
	case FORGE_LOG_WARN:
		prio = LOG_WARNING;
		break;
	case FORGE_LOG_ERROR:
		prio = LOG_ERR;
		break;
	default:
		prio = LOG_CRIT;
		break;
	}

	if (kore_foreground) {
		(void)printf("%s: %.*s\n", forge_kore.logname, (int)len, line);
	} else {
		syslog(prio, "%s: %.*s", forge_kore.logname, (int)len, line);
	}
}

/*
 * Kore reads a whole request body before any page runs and answers 413
 * itself above http_body_max. Say so when that cuts below the app's own
 * limit, so a 413 without a problem+json body is not a surprise.
 */
static void
forge_kore_check_body_max(void)
{
	uint64_t limit;

	if (forge_config_get_size(forge_app_config(forge_kore.app),
		"http.max_body_size", &limit, NULL) != 0)
		return;

	if (limit > http_body_max) {
		kore_log(LOG_NOTICE,
		    "forge: http_body_max %zu is below the app's "
		    "http.max_body_size %llu: Kore answers 413 itself for "
		    "bodies over %zu bytes",
		    http_body_max, (unsigned long long)limit, http_body_max);
	}
}
