/*
 * The DI container: registration, the name table, groups, and freeing.
 * Resolution lives in di_resolve.c, scopes in di_scope.c, the graph checks
 * and DOT export in di_graph.c.
 */
#include "di_impl.h"

#include <stdlib.h>
#include <string.h>

FORGE_API const forge_type forge_type_app = {"forge.app"};
FORGE_API const forge_type forge_type_log = {"forge.log"};
FORGE_API const forge_type forge_type_config = {"forge.config"};
FORGE_API const forge_type forge_type_router = {"forge.router"};

static size_t hash_name(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

forge_container *forge_di_new(void)
{
    forge_container *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&c->build, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_rwlock_init(&c->rw, NULL);
    pthread_mutex_init(&c->own, NULL);
    return c;
}

int forge__di_list_push(struct di_list *l, struct di_entry *e, void *value)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct di_instance *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return FORGE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].entry = e;
    l->v[l->n].value = value;
    l->n++;
    return 0;
}

/* Destructors run newest first: a value is destroyed before what it was built from. */
void forge__di_list_destroy(struct di_list *l)
{
    while (l->n > 0) {
        struct di_instance *in = &l->v[--l->n];
        if (in->entry->dtor)
            in->entry->dtor(in->value);
    }
    free(l->v);
    l->v = NULL;
    l->cap = 0;
}

static void entry_free(struct di_entry *e)
{
    for (size_t i = 0; i < e->ndeps; i++)
        free(e->deps[i]);
    free(e->deps);
    free(e->name);
    free(e);
}

void forge_di_free(forge_container *c)
{
    if (!c)
        return;
    forge__di_list_destroy(&c->created);
    for (size_t i = 0; i < c->n; i++)
        entry_free(c->entries[i]);
    for (size_t i = 0; i < c->ngroups; i++) {
        free(c->groups[i].name);
        free(c->groups[i].members);
    }
    for (size_t i = 0; i < c->nlazies; i++) {
        free(c->lazies[i]->name);
        free(c->lazies[i]);
    }
    free(c->lazies);
    free(c->groups);
    free(c->entries);
    free(atomic_load(&c->table));
    while (c->retired) {
        struct di_table *t = c->retired;
        c->retired = t->retired_next;
        free(t);
    }
    pthread_mutex_destroy(&c->own);
    pthread_rwlock_destroy(&c->rw);
    pthread_mutex_destroy(&c->build);
    free(c);
}

/* Lock-free: see struct di_table. */
struct di_entry *forge__di_find(forge_container *c, const char *name)
{
    struct di_table *t = atomic_load_explicit(&c->table, memory_order_acquire);
    if (!t)
        return NULL;
    size_t mask = t->nslots - 1;
    for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        struct di_entry *e = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (!e || strcmp(e->name, name) == 0)
            return e;
    }
}

static void table_put(struct di_table *t, struct di_entry *e)
{
    size_t mask = t->nslots - 1;
    size_t i = hash_name(e->name) & mask;
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed))
        i = (i + 1) & mask;
    atomic_store_explicit(&t->slots[i], e, memory_order_release);
}

/* Caller holds rw for writing. The old table is retired, not freed: readers may be in it. */
static int grow_table(forge_container *c)
{
    struct di_table *old = atomic_load_explicit(&c->table, memory_order_relaxed);
    size_t ns = old ? old->nslots * 2 : 32;
    struct di_table *t = calloc(1, sizeof(*t) + ns * sizeof(t->slots[0]));
    if (!t)
        return FORGE_ENOMEM;
    t->nslots = ns;
    for (size_t k = 0; k < c->n; k++)
        table_put(t, c->entries[k]);
    atomic_store_explicit(&c->table, t, memory_order_release);
    if (old) {
        old->retired_next = c->retired;
        c->retired = old;
    }
    return 0;
}

/* Caller holds rw for writing; the name is known to be new. Keeps the load under 1/2. */
static int insert_locked(forge_container *c, struct di_entry *e)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct di_entry **v = realloc(c->entries, cap * sizeof(*v));
        if (!v)
            return FORGE_ENOMEM;
        c->entries = v;
        c->cap = cap;
    }
    struct di_table *t = atomic_load_explicit(&c->table, memory_order_relaxed);
    if ((!t || (c->n + 1) * 2 > t->nslots) && grow_table(c) != 0)
        return FORGE_ENOMEM;
    e->index = c->n;
    c->entries[c->n++] = e;
    table_put(atomic_load_explicit(&c->table, memory_order_relaxed), e);
    return 0;
}

struct di_group *forge__di_group_find(forge_container *c, const char *name)
{
    for (size_t i = 0; i < c->ngroups; i++)
        if (strcmp(c->groups[i].name, name) == 0)
            return &c->groups[i];
    return NULL;
}

/* Caller holds rw for writing. */
static int group_join_locked(forge_container *c, const char *group, struct di_entry *e,
                             forge_error *err)
{
    struct di_group *g = forge__di_group_find(c, group);
    if (!g) {
        if (c->ngroups == c->gcap) {
            size_t cap = c->gcap ? c->gcap * 2 : 8;
            struct di_group *v = realloc(c->groups, cap * sizeof(*v));
            if (!v)
                return forge_error_set(err, FORGE_ENOMEM, "out of memory");
            c->groups = v;
            c->gcap = cap;
        }
        g = &c->groups[c->ngroups];
        memset(g, 0, sizeof(*g));
        if (!(g->name = strdup(group)))
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        c->ngroups++;
    }
    for (size_t i = 0; i < g->n; i++)
        if (g->members[i] == e)
            return forge_error_setk(err, FORGE_EEXIST, e->name, "'%s' is already in group '%s'",
                                    e->name, group);
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4;
        struct di_entry **v = realloc(g->members, cap * sizeof(*v));
        if (!v)
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        g->members = v;
        g->cap = cap;
    }
    g->members[g->n++] = e;
    return 0;
}

static int check_def(const forge_di_def *def, forge_error *err)
{
    if (!def || !def->name || !def->name[0])
        return forge_error_set(err, FORGE_EINVAL, "a DI entry needs a name");
    if (!def->type || !def->type->name)
        return forge_error_setk(err, FORGE_EINVAL, def->name, "DI entry '%s' needs a type",
                                def->name);
    if (def->lifetime == FORGE_DI_VALUE)
        return 0;
    if (def->lifetime != FORGE_DI_SINGLETON && def->lifetime != FORGE_DI_TRANSIENT &&
        def->lifetime != FORGE_DI_SCOPED)
        return forge_error_setk(err, FORGE_EINVAL, def->name,
                                "DI entry '%s' has an unknown lifetime %d", def->name,
                                (int)def->lifetime);
    if (!def->ctor)
        return forge_error_setk(err, FORGE_EINVAL, def->name, "DI entry '%s' needs a constructor",
                                def->name);
    return 0;
}

static struct di_entry *entry_new(const forge_di_def *def, void *value)
{
    struct di_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->name = strdup(def->name);
    e->type = def->type;
    e->lifetime = def->lifetime;
    e->ctor = def->ctor;
    e->dtor = def->dtor;
    e->udata = def->udata;
    atomic_init(&e->instance, value);
    size_t nd = 0;
    while (def->deps && def->deps[nd])
        nd++;
    e->deps = nd ? calloc(nd, sizeof(*e->deps)) : NULL;
    if (!e->name || (nd && !e->deps)) {
        entry_free(e);
        return NULL;
    }
    for (; e->ndeps < nd; e->ndeps++)
        if (!(e->deps[e->ndeps] = strdup(def->deps[e->ndeps]))) {
            entry_free(e);
            return NULL;
        }
    return e;
}

static int add(forge_container *c, const forge_di_def *def, void *value, forge_error *err)
{
    int rc = check_def(def, err);
    if (rc)
        return rc;
    struct di_entry *e = entry_new(def, value);
    if (!e)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    pthread_rwlock_wrlock(&c->rw);
    if (forge__di_find(c, def->name)) {
        pthread_rwlock_unlock(&c->rw);
        entry_free(e);
        return forge_error_setk(err, FORGE_EEXIST, def->name, "DI entry '%s' is already registered",
                                def->name);
    }
    rc = insert_locked(c, e);
    if (rc) {
        pthread_rwlock_unlock(&c->rw);
        entry_free(e);
        return forge_error_set(err, rc, "out of memory");
    }
    /* The entry stays registered even if joining the group fails: the caller sees the error. */
    if (def->group)
        rc = group_join_locked(c, def->group, e, err);
    pthread_rwlock_unlock(&c->rw);
    if (rc == 0 && def->lifetime == FORGE_DI_VALUE && def->dtor) {
        pthread_mutex_lock(&c->own);
        rc = forge__di_list_push(&c->created, e, value);
        pthread_mutex_unlock(&c->own);
        if (rc)
            return forge_error_set(err, rc, "out of memory");
    }
    return rc;
}

int forge_di_value(forge_container *c, const char *name, const forge_type *type, void *value,
                   void (*dtor)(void *), forge_error *err)
{
    forge_di_def def = {.name = name, .type = type, .lifetime = FORGE_DI_VALUE, .dtor = dtor};
    return add(c, &def, value, err);
}

int forge_di_register(forge_container *c, const forge_di_def *def, forge_error *err)
{
    if (def && def->lifetime == FORGE_DI_VALUE)
        return forge_error_set(err, FORGE_EINVAL, "use forge_di_value to register the value '%s'",
                               def->name ? def->name : "");
    return add(c, def, NULL, err);
}

static int shorthand(forge_container *c, forge_lifetime lt, const char *name,
                     const forge_type *type, forge_di_ctor_fn ctor, void (*dtor)(void *),
                     void *udata, forge_error *err)
{
    forge_di_def def = {
        .name = name, .type = type, .lifetime = lt, .ctor = ctor, .dtor = dtor, .udata = udata};
    return add(c, &def, NULL, err);
}

int forge_di_singleton(forge_container *c, const char *name, const forge_type *type,
                       forge_di_ctor_fn ctor, void (*dtor)(void *), void *udata, forge_error *err)
{
    return shorthand(c, FORGE_DI_SINGLETON, name, type, ctor, dtor, udata, err);
}

int forge_di_transient(forge_container *c, const char *name, const forge_type *type,
                       forge_di_ctor_fn ctor, void (*dtor)(void *), void *udata, forge_error *err)
{
    return shorthand(c, FORGE_DI_TRANSIENT, name, type, ctor, dtor, udata, err);
}

int forge_di_scoped(forge_container *c, const char *name, const forge_type *type,
                    forge_di_ctor_fn ctor, void (*dtor)(void *), void *udata, forge_error *err)
{
    return shorthand(c, FORGE_DI_SCOPED, name, type, ctor, dtor, udata, err);
}

int forge_di_group_add(forge_container *c, const char *group, const char *name, forge_error *err)
{
    if (!group || !name)
        return forge_error_set(err, FORGE_EINVAL, "a group and an entry name are needed");
    pthread_rwlock_wrlock(&c->rw);
    struct di_entry *e = forge__di_find(c, name);
    int rc =
        e ? group_join_locked(c, group, e, err)
          : forge_error_setk(err, FORGE_ENOENT, name,
                             "cannot add '%s' to group '%s': it is not registered", name, group);
    pthread_rwlock_unlock(&c->rw);
    return rc;
}

const char *forge_lifetime_name(forge_lifetime lt)
{
    switch (lt) {
    case FORGE_DI_VALUE:
        return "value";
    case FORGE_DI_SINGLETON:
        return "singleton";
    case FORGE_DI_TRANSIENT:
        return "transient";
    case FORGE_DI_SCOPED:
        return "scoped";
    }
    return "unknown";
}
