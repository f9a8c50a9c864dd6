/*
 * Forge: dependency injection.
 *
 * A container of named entries: values, or constructors with a lifetime
 * (singleton, transient, request-scoped). Lookups are typed: each entry has a
 * forge_type tag, and asking for another type fails with FORGE_ETYPE naming
 * both types.
 *
 * Ownership. The container owns every value it holds or builds and runs the
 * destructors in reverse creation order when it is freed:
 *  - values (forge_di_value): owned from registration on;
 *  - singletons: built once on first use, owned by the container;
 *  - transients: a new value on every lookup, owned by whoever produced it:
 *    the container for container lookups (forge_di_get, and constructors of
 *    singletons), the scope for scope lookups (forge_di_scope_get, and
 *    constructors of scoped entries). forge_di_release destroys one early;
 *    otherwise it lives until its owner is freed;
 *  - scoped: one per scope, destroyed with the scope (reverse creation order).
 *
 * Lifetimes are checked on each lookup: a singleton cannot depend on a scoped
 * entry (it would outlive it), and a scoped entry cannot be fetched without a
 * scope. Both fail with FORGE_ESTATE naming the entries.
 *
 * Thread safety: registration belongs to start-up (one thread). Lookups on
 * the container (get, optional, group, lazy) are safe from any thread; a
 * singleton is built exactly once even when several threads ask at once.
 * Constructors run under the container's build lock (one construction at a
 * time, per container), so they must not wait for another thread that
 * itself resolves from this container. A scope is used by one thread at a
 * time (a request is).
 */
#ifndef FORGE_DI_H
#define FORGE_DI_H

#include <stdio.h>

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

typedef enum forge_lifetime {
    FORGE_DI_VALUE = 0, /* a ready value given at registration */
    FORGE_DI_SINGLETON, /* built once, on first use */
    FORGE_DI_TRANSIENT, /* built on every lookup */
    FORGE_DI_SCOPED     /* built once per scope (per request) */
} forge_lifetime;

/* Handed to constructors to fetch their own dependencies (see forge_resolve*). */
typedef struct forge_resolver forge_resolver;

/* A scope: one set of scoped instances, usually one request's. */
typedef struct forge_di_scope forge_di_scope;

/* A lazy handle: resolves its entry on first forge_di_lazy_get. Owned by the container. */
typedef struct forge_di_lazy forge_di_lazy;

/*
 * Builds one instance. Returns it (never NULL on success), or NULL with err
 * set (the container wraps err, naming the entry). `udata` is the def's.
 */
typedef void *(*forge_di_ctor_fn)(forge_resolver *r, void *udata, forge_error *err);

typedef struct forge_di_def {
    const char *name;          /* unique in the container; copied */
    const forge_type *type;    /* required; compared by address */
    forge_lifetime lifetime;   /* SINGLETON, TRANSIENT or SCOPED */
    forge_di_ctor_fn ctor;     /* required */
    void (*dtor)(void *value); /* may be NULL */
    void *udata;               /* passed to ctor */
    const char *const *deps;   /* declared dependency names, NULL-terminated, may be NULL */
    const char *group;         /* a group to join (forge_di_group), may be NULL; copied */
    void *reserved[4];
} forge_di_def;

FORGE_API forge_container *forge_di_new(void);
FORGE_API void forge_di_free(forge_container *c);

/* Register a ready value. `dtor` (may be NULL) runs when the container is freed. */
FORGE_API int forge_di_value(forge_container *c, const char *name, const forge_type *type,
                             void *value, void (*dtor)(void *), forge_error *err);

/* Register a constructor. FORGE_EEXIST on a duplicate name, FORGE_EINVAL on a bad def. */
FORGE_API int forge_di_register(forge_container *c, const forge_di_def *def, forge_error *err);

/* Shorthands for forge_di_register without deps or group. */
FORGE_API int forge_di_singleton(forge_container *c, const char *name, const forge_type *type,
                                 forge_di_ctor_fn ctor, void (*dtor)(void *), void *udata,
                                 forge_error *err);
FORGE_API int forge_di_transient(forge_container *c, const char *name, const forge_type *type,
                                 forge_di_ctor_fn ctor, void (*dtor)(void *), void *udata,
                                 forge_error *err);
FORGE_API int forge_di_scoped(forge_container *c, const char *name, const forge_type *type,
                              forge_di_ctor_fn ctor, void (*dtor)(void *), void *udata,
                              forge_error *err);

/* Add an already registered entry to a group (an entry may join several). */
FORGE_API int forge_di_group_add(forge_container *c, const char *group, const char *name,
                                 forge_error *err);

/* Look up by name, checking the type. NULL with err set when missing or mistyped. */
FORGE_API void *forge_di_get(forge_container *c, const char *name, const forge_type *type,
                             forge_error *err);

/*
 * As forge_di_get, but a name that is not registered gives NULL with err
 * cleared (code 0). A registered entry of another type, or a failing
 * constructor, still gives NULL with err set.
 */
FORGE_API void *forge_di_get_optional(forge_container *c, const char *name, const forge_type *type,
                                      forge_error *err);

/*
 * The one entry of `type` (whatever its name). FORGE_ENOENT when there is
 * none, FORGE_ECONFLICT naming two candidates when there are several (ask by
 * name then).
 */
FORGE_API void *forge_di_get_by_type(forge_container *c, const forge_type *type, forge_error *err);

/*
 * Fetch every member of `group`, in the order they joined it, into out[0..cap).
 * Returns the number of members (may exceed cap: only cap are fetched), or a
 * negative code. Every member must be of `type`. An unknown group has 0 members.
 */
FORGE_API int forge_di_group(forge_container *c, const char *group, const forge_type *type,
                             void **out, size_t cap, forge_error *err);

/* Destroy a transient early (runs its dtor). FORGE_ENOENT if `value` is not one we own. */
FORGE_API int forge_di_release(forge_container *c, void *value);

/*
 * A handle resolved on first forge_di_lazy_get (then cached). The entry need
 * not be registered yet when the handle is made. Useful to break a cycle:
 * a constructor keeps a lazy handle instead of the instance.
 */
FORGE_API forge_di_lazy *forge_di_lazy_new(forge_container *c, const char *name,
                                           const forge_type *type, forge_error *err);
FORGE_API void *forge_di_lazy_get(forge_di_lazy *lazy, forge_error *err);

/* Scopes. forge_di_scope_free destroys the scope's instances in reverse creation order. */
FORGE_API forge_di_scope *forge_di_scope_new(forge_container *c);
FORGE_API void forge_di_scope_free(forge_di_scope *s);
FORGE_API void *forge_di_scope_get(forge_di_scope *s, const char *name, const forge_type *type,
                                   forge_error *err);
FORGE_API void *forge_di_scope_get_optional(forge_di_scope *s, const char *name,
                                            const forge_type *type, forge_error *err);

/*
 * The request's scope: made on first use, stored as the request value
 * FORGE_DI_REQ_SCOPE_KEY, freed when the request ends. Like any scope, used
 * by one thread at a time (the one handling the request).
 */
#define FORGE_DI_REQ_SCOPE_KEY "forge.di.scope"
FORGE_API forge_di_scope *forge_di_req_scope(forge_req *req, forge_error *err);
/* forge_di_scope_get on the request's scope. */
FORGE_API void *forge_di_req_get(forge_req *req, const char *name, const forge_type *type,
                                 forge_error *err);

/* Inside a constructor: resolve with the lifetime rules and cycle detection of the lookup. */
FORGE_API void *forge_resolve(forge_resolver *r, const char *name, const forge_type *type,
                              forge_error *err);
FORGE_API void *forge_resolve_optional(forge_resolver *r, const char *name, const forge_type *type,
                                       forge_error *err);
FORGE_API int forge_resolve_group(forge_resolver *r, const char *group, const forge_type *type,
                                  void **out, size_t cap, forge_error *err);
FORGE_API forge_di_lazy *forge_resolve_lazy(forge_resolver *r, const char *name,
                                            const forge_type *type, forge_error *err);
FORGE_API forge_container *forge_resolver_container(forge_resolver *r);

/*
 * Check the declared graph before anything is built: every declared
 * dependency is registered (FORGE_EDEPENDENCY), no singleton declares a
 * scoped dependency (FORGE_ESTATE), and there is no cycle (FORGE_ECYCLE with
 * the path "a -> b -> a"). forge_app_start calls it.
 */
FORGE_API int forge_di_validate(forge_container *c, forge_error *err);

/*
 * The declared graph as Graphviz DOT: one node per entry (name, type,
 * lifetime), one edge per declared dependency, one cluster per group.
 * forge_di_dot writes at most cap bytes (NUL-terminated when cap > 0) and
 * returns the full length, like snprintf; forge_di_dot_file returns 0 or
 * FORGE_EIO.
 */
FORGE_API int forge_di_dot(forge_container *c, char *buf, size_t cap);
FORGE_API int forge_di_dot_file(forge_container *c, FILE *f);

FORGE_API const char *forge_lifetime_name(forge_lifetime lt);

#endif
