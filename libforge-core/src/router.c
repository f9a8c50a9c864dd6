/*
 * The router: creation and destruction. (Tree, insertion and lookup follow.)
 */
#include "internal.h"

#include <stdlib.h>

struct forge_router {
    size_t count;
};

forge_router *forge_router_new(void)
{
    return calloc(1, sizeof(forge_router));
}

void forge_router_free(forge_router *r)
{
    free(r);
}

int forge_router_add(forge_router *r, forge_method method, const char *pattern, void *value,
                     forge_error *err)
{
    return forge_error_setk(err, FORGE_ENOSYS, pattern ? pattern : "", "router: not yet built");
}

int forge_router_lookup(const forge_router *r, forge_method method, const char *path, size_t len,
                        forge_match *m)
{
    return FORGE_ENOSYS;
}

forge_str forge_match_param(const forge_match *m, const char *name)
{
    return FORGE_STR_NULL;
}

int forge_router_walk(const forge_router *r, forge_router_visit_fn fn, void *udata)
{
    return 0;
}

size_t forge_router_count(const forge_router *r)
{
    return r ? r->count : 0;
}
