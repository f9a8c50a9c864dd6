/*
 * Forge: error codes and the forge_error detail record.
 *
 * Every function that can fail returns 0 (FORGE_OK) or a negative FORGE_E*
 * code. Where there is more to say than the code, the function takes a
 * `forge_error *err` (which may be NULL) and fills it in.
 */
#ifndef FORGE_ERROR_H
#define FORGE_ERROR_H

#include <forge/common.h>

/* Results that are not errors. */
#define FORGE_OK    0
#define FORGE_ASYNC 1 /* a handler will finish the request later */
#define FORGE_NEXT  2 /* middleware: continue the chain */
#define FORGE_DONE  3 /* middleware or dispatch: the response is complete */

/* Errors: errno-like values where one fits, Forge's own below -1000. */
#define FORGE_EPERM       (-1)
#define FORGE_ENOENT      (-2)
#define FORGE_EIO         (-5)
#define FORGE_EAGAIN      (-11)
#define FORGE_ENOMEM      (-12)
#define FORGE_EACCES      (-13)
#define FORGE_EBUSY       (-16)
#define FORGE_EEXIST      (-17)
#define FORGE_EINVAL      (-22)
#define FORGE_ERANGE      (-34)
#define FORGE_ENOSYS      (-38)
#define FORGE_ETIMEDOUT   (-110)
#define FORGE_ECANCELED   (-125)
#define FORGE_ECYCLE      (-1001) /* a dependency cycle */
#define FORGE_ETYPE       (-1002) /* a value of another type than asked for */
#define FORGE_ECONFLICT   (-1003) /* conflicting registration (routes, names) */
#define FORGE_ECONFIG     (-1004) /* invalid configuration */
#define FORGE_EABI        (-1005) /* an app or plugin built for another ABI */
#define FORGE_ETOOBIG     (-1006) /* a size limit was exceeded */
#define FORGE_ESTATE      (-1007) /* the call is not valid in this state */
#define FORGE_EPARSE      (-1008) /* malformed input (syntax) */
#define FORGE_EMETHOD     (-1009) /* router: path matches, method does not */
#define FORGE_EDEPENDENCY (-1010) /* a dependency is missing or failed */

#define FORGE_ERROR_MSG_MAX 512
#define FORGE_ERROR_KEY_MAX 256

/*
 * Detail for a failure. Caller-allocated (usually on the stack); filling it
 * allocates nothing. `key` names what the error is about when there is one:
 * a config key path ("http.max_body_size"), a service or dependency name, a
 * route pattern. `cause` holds the message of an underlying error, if any.
 */
struct forge_error {
    int code;
    char message[FORGE_ERROR_MSG_MAX];
    char key[FORGE_ERROR_KEY_MAX];
    char cause[FORGE_ERROR_MSG_MAX];
};

/* The name of a code ("FORGE_EINVAL") and a short description. Static strings. */
FORGE_API const char *forge_err_name(int code);
FORGE_API const char *forge_strerror(int code);

/* Clear an error record. Safe on NULL. */
FORGE_API void forge_error_clear(forge_error *err);

/*
 * Set code and message (printf-style). Returns `code` so callers can write
 * `return forge_error_set(err, FORGE_EINVAL, "...")`. Safe on NULL err.
 * An existing message is moved into `cause` when the new one wraps it.
 */
FORGE_API int forge_error_set(forge_error *err, int code, const char *fmt, ...) FORGE_PRINTF(3, 4);

/* As forge_error_set, also naming the key the error is about. */
FORGE_API int forge_error_setk(forge_error *err, int code, const char *key, const char *fmt, ...)
    FORGE_PRINTF(4, 5);

/* Wrap: keep err's current message as the cause and set a new message. */
FORGE_API int forge_error_wrap(forge_error *err, int code, const char *fmt, ...) FORGE_PRINTF(3, 4);

#endif
