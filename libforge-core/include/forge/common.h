/*
 * Forge: common definitions shared by every area of the public API.
 *
 * Visibility: everything the core exports is marked FORGE_API; the rest is
 * hidden. Names: forge_ public, forge__ internal to the core.
 */
#ifndef FORGE_COMMON_H
#define FORGE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#if defined(FORGE_BUILDING_CORE)
#define FORGE_API __attribute__((visibility("default")))
#else
#define FORGE_API
#endif

#define FORGE_EXPORT __attribute__((visibility("default")))

#if defined(__GNUC__)
#define FORGE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FORGE_PRINTF(f, a)
#endif

#define FORGE_VERSION_MAJOR  0
#define FORGE_VERSION_MINOR  1
#define FORGE_VERSION_PATCH  0
#define FORGE_VERSION_STRING "0.1.0"

/*
 * The ABI version an app or plugin is built against. FORGE_APP records it in
 * the app's entry record; a host refuses an app whose ABI differs from its own
 * core's. Bump it whenever a public struct layout or a function signature that
 * apps call changes incompatibly.
 */
#define FORGE_ABI_VERSION 1u

/*
 * A borrowed, length-delimited string. Not necessarily NUL-terminated unless
 * the function that returns it says so. Who owns the bytes is stated by each
 * function returning one; in request context it is the request's arena or
 * the host's request memory, valid until the request ends.
 */
typedef struct forge_str {
    const char *p;
    size_t n;
} forge_str;

#define FORGE_STR(lit) ((forge_str){(lit), sizeof(lit) - 1})
#define FORGE_STR_NULL ((forge_str){NULL, 0})

/* Opaque handles, defined by their areas. */
typedef struct forge_app forge_app;
typedef struct forge_req forge_req;
typedef struct forge_config forge_config;
typedef struct forge_log forge_log;
typedef struct forge_router forge_router;
typedef struct forge_container forge_container;
typedef struct forge_runtime forge_runtime;
typedef struct forge_arena forge_arena;
typedef struct forge_error forge_error;

#endif
