/*
 * DI resolution: typed lookups, lifetimes, cycle detection, constructor
 * failures, groups, lazy handles and early release of transients.
 */
#include "di_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entry `e` is already being built up the chain: name the cycle from its first link. */
static int cycle_error(struct forge_resolver *r, struct di_entry *e, forge_error *err)
{
    struct di_entry *chain[64];
    size_t n = 0;
    for (struct forge_resolver *l = r; l && l->entry && n < 64; l = l->parent) {
        chain[n++] = l->entry;
        if (l->entry == e)
            break;
    }
    char path[FORGE_ERROR_MSG_MAX - 64];
    size_t len = 0;
    path[0] = '\0';
    /* chain holds the cycle newest first; print it oldest first, closing on e. */
    for (size_t i = n; i-- > 0;) {
        int w = snprintf(path + len, sizeof(path) - len, "%s -> ", chain[i]->name);
        if (w < 0 || (size_t)w >= sizeof(path) - len)
            break;
        len += (size_t)w;
    }
    snprintf(path + len, sizeof(path) - len, "%s", e->name);
    return forge_error_setk(err, FORGE_ECYCLE, e->name, "dependency cycle: %s", path);
}

static struct di_entry *nearest_singleton(struct forge_resolver *r)
{
    for (; r && r->entry; r = r->parent)
        if (r->entry->lifetime == FORGE_DI_SINGLETON)
            return r->entry;
    return NULL;
}

static int type_error(struct di_entry *e, const forge_type *want, forge_error *err)
{
    return forge_error_setk(err, FORGE_ETYPE, e->name, "DI entry '%s' is a %s, not a %s", e->name,
                            e->type->name, want && want->name ? want->name : "(null)");
}

/* Wrap a constructor's failure so the message reads along the chain, innermost last. */
static void ctor_failed(struct di_entry *e, forge_error *err)
{
    char inner[FORGE_ERROR_MSG_MAX];
    snprintf(inner, sizeof(inner), "%s", err->message[0] ? err->message : "constructor failed");
    int code = err->code < 0 ? err->code : FORGE_EDEPENDENCY;
    if (!err->key[0])
        snprintf(err->key, sizeof(err->key), "%s", e->name);
    forge_error_wrap(err, code, "cannot construct '%s': %.400s", e->name, inner);
}

static void *construct(struct forge_resolver *r, struct di_entry *e, forge_di_scope *scope,
                       forge_error *err)
{
    struct forge_resolver link = {r->c, scope, r, e};
    forge_error_clear(err);
    void *v = e->ctor(&link, e->udata, err);
    if (!v)
        ctor_failed(e, err);
    return v;
}

static void *get_singleton(struct forge_resolver *r, struct di_entry *e, forge_error *err)
{
    void *v = atomic_load_explicit(&e->instance, memory_order_acquire);
    if (v)
        return v;
    forge_container *c = r->c;
    pthread_mutex_lock(&c->build);
    v = atomic_load_explicit(&e->instance, memory_order_relaxed);
    if (!v && (v = construct(r, e, NULL, err)) != NULL) {
        pthread_mutex_lock(&c->own);
        int rc = forge__di_list_push(&c->created, e, v);
        pthread_mutex_unlock(&c->own);
        if (rc) {
            if (e->dtor)
                e->dtor(v);
            v = NULL;
            forge_error_set(err, rc, "out of memory");
        } else {
            atomic_store_explicit(&e->instance, v, memory_order_release);
        }
    }
    pthread_mutex_unlock(&c->build);
    return v;
}

static void *scope_cached(forge_di_scope *s, struct di_entry *e)
{
    for (size_t i = 0; i < s->created.n; i++)
        if (s->created.v[i].entry == e)
            return s->created.v[i].value;
    return NULL;
}

/* Build a transient or scoped instance and hand it to its owner (scope, else container). */
static void *build_owned(struct forge_resolver *r, struct di_entry *e, forge_error *err)
{
    void *v = construct(r, e, r->scope, err);
    if (!v)
        return NULL;
    int rc;
    if (r->scope) {
        rc = forge__di_list_push(&r->scope->created, e, v);
    } else {
        pthread_mutex_lock(&r->c->own);
        rc = forge__di_list_push(&r->c->created, e, v);
        pthread_mutex_unlock(&r->c->own);
    }
    if (rc) {
        if (e->dtor)
            e->dtor(v);
        forge_error_set(err, rc, "out of memory");
        return NULL;
    }
    return v;
}

static void *get_scoped(struct forge_resolver *r, struct di_entry *e, forge_error *err)
{
    if (!r->scope) {
        struct di_entry *s = nearest_singleton(r);
        if (s)
            forge_error_setk(err, FORGE_ESTATE, e->name,
                             "singleton '%s' cannot depend on scoped '%s'", s->name, e->name);
        else
            forge_error_setk(err, FORGE_ESTATE, e->name,
                             "scoped '%s' can only be fetched from a scope", e->name);
        return NULL;
    }
    void *v = scope_cached(r->scope, e);
    return v ? v : build_owned(r, e, err);
}

static void *resolve_entry(struct forge_resolver *r, struct di_entry *e, forge_error *err)
{
    for (struct forge_resolver *l = r; l && l->entry; l = l->parent)
        if (l->entry == e) {
            cycle_error(r, e, err);
            return NULL;
        }
    switch (e->lifetime) {
    case FORGE_DI_VALUE:
        return atomic_load_explicit(&e->instance, memory_order_acquire);
    case FORGE_DI_SINGLETON:
        return get_singleton(r, e, err);
    case FORGE_DI_TRANSIENT:
        return build_owned(r, e, err);
    case FORGE_DI_SCOPED:
        return get_scoped(r, e, err);
    }
    return NULL;
}

void *forge__di_resolve(struct forge_resolver *r, const char *name, const forge_type *type,
                        bool optional, forge_error *err)
{
    forge_error local;
    if (!err)
        err = &local;
    forge_error_clear(err);
    if (!name) {
        forge_error_set(err, FORGE_EINVAL, "a DI lookup needs a name");
        return NULL;
    }
    struct di_entry *e = forge__di_find(r->c, name);
    if (!e) {
        if (!optional) {
            if (r->entry)
                forge_error_setk(err, FORGE_EDEPENDENCY, name,
                                 "'%s' depends on '%s', which is not registered", r->entry->name,
                                 name);
            else
                forge_error_setk(err, FORGE_ENOENT, name, "no DI entry named '%s'", name);
        }
        return NULL;
    }
    if (e->type != type) {
        type_error(e, type, err);
        return NULL;
    }
    return resolve_entry(r, e, err);
}

void *forge_di_get(forge_container *c, const char *name, const forge_type *type, forge_error *err)
{
    struct forge_resolver root = {c, NULL, NULL, NULL};
    return forge__di_resolve(&root, name, type, false, err);
}

void *forge_di_get_optional(forge_container *c, const char *name, const forge_type *type,
                            forge_error *err)
{
    struct forge_resolver root = {c, NULL, NULL, NULL};
    return forge__di_resolve(&root, name, type, true, err);
}

void *forge_di_get_by_type(forge_container *c, const forge_type *type, forge_error *err)
{
    struct di_entry *found = NULL, *other = NULL;
    pthread_rwlock_rdlock(&c->rw);
    for (size_t i = 0; i < c->n && !other; i++) {
        if (c->entries[i]->type != type)
            continue;
        if (found)
            other = c->entries[i];
        else
            found = c->entries[i];
    }
    pthread_rwlock_unlock(&c->rw);
    const char *tn = type && type->name ? type->name : "(null)";
    if (!found) {
        forge_error_set(err, FORGE_ENOENT, "no DI entry of type %s", tn);
        return NULL;
    }
    if (other) {
        forge_error_set(err, FORGE_ECONFLICT,
                        "several DI entries of type %s ('%s', '%s'...): ask by name", tn,
                        found->name, other->name);
        return NULL;
    }
    forge_error local;
    if (!err)
        err = &local;
    forge_error_clear(err);
    struct forge_resolver root = {c, NULL, NULL, NULL};
    return resolve_entry(&root, found, err);
}

int forge__di_resolve_group(struct forge_resolver *r, const char *group, const forge_type *type,
                            void **out, size_t cap, forge_error *err)
{
    forge_error_clear(err);
    if (!group)
        return forge_error_set(err, FORGE_EINVAL, "a group lookup needs a group name");
    /* Members are copied out first: resolving may register nothing, but keeps rw unheld. */
    pthread_rwlock_rdlock(&r->c->rw);
    struct di_group *g = forge__di_group_find(r->c, group);
    size_t n = g ? g->n : 0;
    struct di_entry **members = n ? malloc(n * sizeof(*members)) : NULL;
    if (members)
        memcpy(members, g->members, n * sizeof(*members));
    pthread_rwlock_unlock(&r->c->rw);
    if (n && !members)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    int rc = (int)n;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        if (members[i]->type != type) {
            rc = type_error(members[i], type, err);
            break;
        }
        if (i >= cap)
            continue;
        out[i] = resolve_entry(r, members[i], err);
        if (!out[i])
            rc = err && err->code ? err->code : FORGE_EDEPENDENCY;
    }
    free(members);
    return rc;
}

int forge_di_group(forge_container *c, const char *group, const forge_type *type, void **out,
                   size_t cap, forge_error *err)
{
    forge_error local;
    struct forge_resolver root = {c, NULL, NULL, NULL};
    return forge__di_resolve_group(&root, group, type, out, cap, err ? err : &local);
}

int forge_di_release(forge_container *c, void *value)
{
    struct di_instance found = {NULL, NULL};
    pthread_mutex_lock(&c->own);
    for (size_t i = c->created.n; i-- > 0;) {
        struct di_instance *in = &c->created.v[i];
        if (in->value == value && in->entry->lifetime == FORGE_DI_TRANSIENT) {
            found = *in;
            memmove(in, in + 1, (c->created.n - i - 1) * sizeof(*in));
            c->created.n--;
            break;
        }
    }
    pthread_mutex_unlock(&c->own);
    if (!found.entry)
        return FORGE_ENOENT;
    if (found.entry->dtor)
        found.entry->dtor(found.value);
    return 0;
}

forge_di_lazy *forge_di_lazy_new(forge_container *c, const char *name, const forge_type *type,
                                 forge_error *err)
{
    if (!name || !type)
        return forge_error_set(err, FORGE_EINVAL, "a lazy handle needs a name and a type"), NULL;
    forge_di_lazy *l = calloc(1, sizeof(*l));
    if (!l || !(l->name = strdup(name))) {
        free(l);
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    l->c = c;
    l->type = type;
    atomic_init(&l->value, NULL);
    pthread_rwlock_wrlock(&c->rw);
    if (c->nlazies == c->lcap) {
        size_t cap = c->lcap ? c->lcap * 2 : 8;
        forge_di_lazy **v = realloc(c->lazies, cap * sizeof(*v));
        if (!v) {
            pthread_rwlock_unlock(&c->rw);
            free(l->name);
            free(l);
            forge_error_set(err, FORGE_ENOMEM, "out of memory");
            return NULL;
        }
        c->lazies = v;
        c->lcap = cap;
    }
    c->lazies[c->nlazies++] = l;
    pthread_rwlock_unlock(&c->rw);
    return l;
}

/* Resolved at container level under the build lock, so a transient behind it is built once. */
void *forge_di_lazy_get(forge_di_lazy *l, forge_error *err)
{
    void *v = atomic_load_explicit(&l->value, memory_order_acquire);
    if (v)
        return v;
    pthread_mutex_lock(&l->c->build);
    v = atomic_load_explicit(&l->value, memory_order_relaxed);
    if (!v) {
        v = forge_di_get(l->c, l->name, l->type, err);
        if (v)
            atomic_store_explicit(&l->value, v, memory_order_release);
    }
    pthread_mutex_unlock(&l->c->build);
    return v;
}

void *forge_resolve(forge_resolver *r, const char *name, const forge_type *type, forge_error *err)
{
    return forge__di_resolve(r, name, type, false, err);
}

void *forge_resolve_optional(forge_resolver *r, const char *name, const forge_type *type,
                             forge_error *err)
{
    return forge__di_resolve(r, name, type, true, err);
}

int forge_resolve_group(forge_resolver *r, const char *group, const forge_type *type, void **out,
                        size_t cap, forge_error *err)
{
    forge_error local;
    return forge__di_resolve_group(r, group, type, out, cap, err ? err : &local);
}

forge_di_lazy *forge_resolve_lazy(forge_resolver *r, const char *name, const forge_type *type,
                                  forge_error *err)
{
    return forge_di_lazy_new(r->c, name, type, err);
}

forge_container *forge_resolver_container(forge_resolver *r)
{
    return r->c;
}
