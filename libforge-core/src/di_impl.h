/*
 * Internal to the DI container (di*.c): the container record, its entries
 * and the resolution chain. Nothing here is exported.
 */
#ifndef FORGE_DI_IMPL_H
#define FORGE_DI_IMPL_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

/*
 * One registered entry. Immutable after registration except `instance`
 * (singletons: NULL until built, then set once with release order; values:
 * set at registration). Entries are never removed, so a pointer to one stays
 * valid for the container's life.
 */
struct di_entry {
    char *name;
    const forge_type *type;
    forge_lifetime lifetime;
    forge_di_ctor_fn ctor;
    void (*dtor)(void *);
    void *udata;
    char **deps; /* declared, owned copies */
    size_t ndeps;
    size_t index; /* registration order */
    _Atomic(void *) instance;
};

/* An instance something owns, in creation order (destroyed in reverse). */
struct di_instance {
    struct di_entry *entry;
    void *value;
};

struct di_list {
    struct di_instance *v;
    size_t n, cap;
};

struct di_group {
    char *name;
    struct di_entry **members; /* in joining order */
    size_t n, cap;
};

/*
 * The name table: open addressing over a power of two of slots, at most
 * half full. Lookups load c->table (acquire) and probe without a lock.
 * Writers (holding rw for writing) fill an empty slot with a release store,
 * or publish a bigger copy and retire the old table to c->retired, which is
 * freed with the container (a reader may still be probing it).
 */
struct di_table {
    struct di_table *retired_next;
    size_t nslots;
    _Atomic(struct di_entry *) slots[];
};

struct forge_di_lazy {
    forge_container *c;
    char *name;
    const forge_type *type;
    _Atomic(void *) value;
};

/*
 * Locks, in the order they may be taken: build (recursive; held while a
 * singleton or lazy handle is being built, so each is built once), then rw
 * (the registration lists: entries, groups, lazies; and writers of the name
 * table; write only to register), then own
 * (the container's instance list). rw and own are never held across a
 * constructor call.
 */
struct forge_container {
    pthread_mutex_t build;
    pthread_rwlock_t rw;
    pthread_mutex_t own;
    struct di_entry **entries; /* registration order */
    size_t n, cap;
    _Atomic(struct di_table *) table;
    struct di_table *retired;
    struct di_group *groups;
    size_t ngroups, gcap;
    struct forge_di_lazy **lazies;
    size_t nlazies, lcap;
    struct di_list created; /* container-owned instances */
};

struct forge_di_scope {
    forge_container *c;
    struct di_list created; /* scoped and transient instances of this scope */
};

/*
 * One link of a resolution chain, on the stack of the thread resolving. The
 * root link has no entry; each constructor call gets a link naming the entry
 * being built, whose parent is the link that asked for it. Walking parents
 * finds cycles and the lifetime of what is being built.
 */
struct forge_resolver {
    forge_container *c;
    forge_di_scope *scope; /* where scoped/transient instances go; NULL: container */
    struct forge_resolver *parent;
    struct di_entry *entry;
};

/* di.c */
struct di_entry *forge__di_find(forge_container *c, const char *name);
struct di_group *forge__di_group_find(forge_container *c, const char *name);
int forge__di_list_push(struct di_list *l, struct di_entry *e, void *value);
void forge__di_list_destroy(struct di_list *l);

/* di_resolve.c */
void *forge__di_resolve(struct forge_resolver *r, const char *name, const forge_type *type,
                        bool optional, forge_error *err);
int forge__di_resolve_group(struct forge_resolver *r, const char *group, const forge_type *type,
                            void **out, size_t cap, forge_error *err);

#endif
