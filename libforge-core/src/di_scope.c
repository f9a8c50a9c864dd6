/*
 * DI scopes: one set of scoped instances (and the transients fetched
 * through it), usually one request's. Not thread-safe: a scope is used by
 * one thread at a time. Singletons fetched through a scope still come from
 * (and belong to) the container.
 */
#include "di_impl.h"

#include <stdlib.h>

forge_di_scope *forge_di_scope_new(forge_container *c)
{
    forge_di_scope *s = calloc(1, sizeof(*s));
    if (s)
        s->c = c;
    return s;
}

void forge_di_scope_free(forge_di_scope *s)
{
    if (!s)
        return;
    forge__di_list_destroy(&s->created);
    free(s);
}

void *forge_di_scope_get(forge_di_scope *s, const char *name, const forge_type *type,
                         forge_error *err)
{
    struct forge_resolver root = {s->c, s, NULL, NULL};
    return forge__di_resolve(&root, name, type, false, err);
}

void *forge_di_scope_get_optional(forge_di_scope *s, const char *name, const forge_type *type,
                                  forge_error *err)
{
    struct forge_resolver root = {s->c, s, NULL, NULL};
    return forge__di_resolve(&root, name, type, true, err);
}
