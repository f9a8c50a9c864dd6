/*
 * forge_kore: which app to load, from a small forge.conf.
 *
 * Kore 4.1 has no way for a module to add configuration directives (unknown
 * ones are ignored with a message), so the app is named in a file of its
 * own, in Kore's configuration syntax:
 *
 *	# forge.conf: the Forge app this Kore serves
 *	app	../build/lib/hello.so
 *	config	app.yaml
 *
 * The file is $FORGE_KORE_CONF when set, else forge.conf in the directory
 * of Kore's own configuration file (the -c argument; the current directory
 * without one). Relative paths in it are relative to its own directory.
 */

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge_kore.h"

#define FORGE_KORE_CONF_NAME "forge.conf"

/* Kore's argv (kore.c), intact in the parent until it forks the workers. */
extern char **kore_argv;

static const char *forge_kore_conf_kore_path(void);
static int forge_kore_conf_path(char *, size_t, char *, size_t);
static char *forge_kore_conf_resolve(const char *, const char *);

int
forge_kore_conf_load(char **app, char **config, char *msg, size_t msglen)
{
	FILE *fp;
	char path[PATH_MAX], dir[PATH_MAX], line[PATH_MAX + 64];
	char *p, *key, *value, **out;
	int lineno, rc;

	*app = NULL;
	*config = NULL;

	if (forge_kore_conf_path(path, sizeof(path), dir, sizeof(dir)) == -1) {
		(void)snprintf(msg, msglen, "forge.conf path too long");
		return (-1);
	}

	if ((fp = fopen(path, "r")) == NULL) {
		(void)snprintf(msg, msglen,
		    "cannot open %s: %s (it names the app: `app PATH.so`; "
		    "FORGE_KORE_CONF may point elsewhere)",
		    path, strerror(errno));
		return (-1);
	}

	rc = 0;
	lineno = 0;

	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;

		if (strchr(line, '\n') == NULL && !feof(fp)) {
			(void)snprintf(
			    msg, msglen, "%s:%d: line too long", path, lineno);
			rc = -1;
			break;
		}

		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';

		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (*p == '\0')
			continue;

		key = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
		value = p;
		p = value + strlen(value);
		while (p > value && isspace((unsigned char)p[-1]))
			*--p = '\0';

		if (!strcmp(key, "app")) {
			out = app;
		} else if (!strcmp(key, "config")) {
			out = config;
		} else {
			(void)snprintf(msg, msglen,
			    "%s:%d: unknown key \"%s\" (expected app or "
			    "config)",
			    path, lineno, key);
			rc = -1;
			break;
		}

		if (*value == '\0') {
			(void)snprintf(msg, msglen, "%s:%d: %s needs a path",
			    path, lineno, key);
			rc = -1;
			break;
		}

		if (*out != NULL) {
			(void)snprintf(msg, msglen, "%s:%d: %s given twice",
			    path, lineno, key);
			rc = -1;
			break;
		}

		if ((*out = forge_kore_conf_resolve(dir, value)) == NULL) {
			(void)snprintf(
			    msg, msglen, "%s:%d: path too long", path, lineno);
			rc = -1;
			break;
		}
	}

	(void)fclose(fp);

	if (rc == 0 && *app == NULL) {
		(void)snprintf(msg, msglen,
		    "%s: no app line (`app PATH.so` names the Forge app)",
		    path);
		rc = -1;
	}

	if (rc == -1) {
		free(*app);
		free(*config);
		*app = NULL;
		*config = NULL;
	}

	return (rc);
}

/* Kore's -c argument, parsed as kore's getopt("c:dfhnqrv") does. */
static const char *
forge_kore_conf_kore_path(void)
{
	int i;
	const char *a, *o;

	if (kore_argv == NULL)
		return (NULL);

	for (i = 1; (a = kore_argv[i]) != NULL; i++) {
		if (a[0] != '-' || a[1] == '\0')
			return (NULL);
		if (!strcmp(a, "--"))
			return (NULL);

		for (o = a + 1; *o != '\0'; o++) {
			if (*o != 'c')
				continue;
			if (o[1] != '\0')
				return (o + 1);
			return (kore_argv[i + 1]);
		}
	}

	return (NULL);
}

static int
forge_kore_conf_path(char *path, size_t plen, char *dir, size_t dlen)
{
	const char *env, *kconf, *slash;
	int n;

	if ((env = getenv("FORGE_KORE_CONF")) != NULL && *env != '\0') {
		n = snprintf(path, plen, "%s", env);
	} else if ((kconf = forge_kore_conf_kore_path()) != NULL &&
	    (slash = strrchr(kconf, '/')) != NULL) {
		n = snprintf(path, plen, "%.*s/%s", (int)(slash - kconf), kconf,
		    FORGE_KORE_CONF_NAME);
	} else {
		n = snprintf(path, plen, "%s", FORGE_KORE_CONF_NAME);
	}

	if (n < 0 || (size_t)n >= plen)
		return (-1);

	if ((slash = strrchr(path, '/')) == NULL)
		n = snprintf(dir, dlen, ".");
	else if (slash == path)
		n = snprintf(dir, dlen, "/");
	else
		n = snprintf(dir, dlen, "%.*s", (int)(slash - path), path);

	if (n < 0 || (size_t)n >= dlen)
		return (-1);

	return (0);
}

/*
 * A malloc'd path: value as is when absolute, else dir/value ("./x.so" for
 * a bare name: dlopen would search the library path for "x.so").
 */
static char *
forge_kore_conf_resolve(const char *dir, const char *value)
{
	char buf[PATH_MAX];
	int n;

	if (value[0] == '/')
		n = snprintf(buf, sizeof(buf), "%s", value);
	else
		n = snprintf(buf, sizeof(buf), "%s/%s", dir, value);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return (NULL);

	return (strdup(buf));
}
