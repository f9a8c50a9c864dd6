/*
 * Forge: dependency injection.
 *
 * A container of named entries: values, or constructors with a lifetime
 * (singleton, transient, request-scoped). Lookups are typed: each entry has a
 * forge_type tag, and asking for another type fails with FORGE_ETYPE.
 *
 * (Owner of this area: extend freely, keep these signatures.)
 */
#ifndef FORGE_DI_H
#define FORGE_DI_H

#include <forge/common.h>
#include <forge/error.h>

/* A type tag: compared by address. Declare one per C type you register. */
typedef struct forge_type {
    const char *name;
} forge_type;

#define FORGE_TYPE_DEFINE(id, cname) const forge_type id = {cname}

/* Built-in entries every app's container holds. */
FORGE_API extern const forge_type forge_type_app;    /* "forge.app" -> forge_app * */
FORGE_API extern const forge_type forge_type_log;    /* "forge.log" -> forge_log * */
FORGE_API extern const forge_type forge_type_config; /* "forge.config" -> forge_config * */
FORGE_API extern const forge_type forge_type_router; /* "forge.router" -> forge_router * */

FORGE_API forge_container *forge_di_new(void);
FORGE_API void forge_di_free(forge_container *c);

/* Register a ready value. `dtor` (may be NULL) runs when the container is freed. */
FORGE_API int forge_di_value(forge_container *c, const char *name, const forge_type *type,
                             void *value, void (*dtor)(void *), forge_error *err);

/* Look up by name, checking the type. NULL with err set when missing or mistyped. */
FORGE_API void *forge_di_get(forge_container *c, const char *name, const forge_type *type,
                             forge_error *err);

#endif
