/*
 * Shared memory: named reservations made before fork, mapped once in the
 * master, inherited by every worker.
 *
 * Lifecycle: forge_shm_reserve (app init, single thread) -> forge__shm_map_all
 * (master, before fork) -> forge_shm_get (any thread, any worker). After the
 * mapping the table is read-only, so lookups need no lock.
 *
 * Without a host allocator all regions share one MAP_SHARED|MAP_ANONYMOUS
 * mapping (zero-filled by the kernel), each region starting on a 64-byte
 * boundary so two regions never share a cache line. With the host's
 * allocator each region is one call; the host must hand back zeroed memory
 * for a region it creates (nginx's shared zones are).
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define REGION_ALIGN 64u
#define NAME_MAX_LEN 128u

struct shm_region {
    char *name;
    size_t size;
    void *addr; /* NULL until mapped */
};

struct forge__shm {
    struct shm_region *v;
    size_t n, cap;
    bool mapped;
    void *base; /* our own mapping (NULL when the host allocated) */
    size_t base_len;
};

struct forge__shm *forge__shm_new(void)
{
    return calloc(1, sizeof(struct forge__shm));
}

void forge__shm_free(struct forge__shm *s)
{
    if (!s)
        return;
    if (s->base)
        munmap(s->base, s->base_len);
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].name);
    free(s->v);
    free(s);
}

static struct shm_region *find(const struct forge__shm *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0)
            return &s->v[i];
    return NULL;
}

int forge_shm_reserve(forge_app *app, const char *name, size_t size, forge_error *err)
{
    if (!app || !name || !*name || size == 0)
        return forge_error_set(err, FORGE_EINVAL, "shm: a reservation needs a name and a size > 0");
    if (strlen(name) > NAME_MAX_LEN)
        return forge_error_setk(err, FORGE_EINVAL, name, "shm: name longer than %u bytes",
                                NAME_MAX_LEN);
    if (size > SIZE_MAX / 2)
        return forge_error_setk(err, FORGE_ETOOBIG, name, "shm: region of %zu bytes is too big",
                                size);
    struct forge__shm *s = app->shm;
    if (s->mapped)
        return forge_error_setk(err, FORGE_ESTATE, name,
                                "shm: '%s' reserved after shared memory was mapped (reserve from "
                                "the app's init, before fork)",
                                name);
    struct shm_region *r = find(s, name);
    if (r) {
        if (r->size == size)
            return 0;
        return forge_error_setk(err, FORGE_EEXIST, name,
                                "shm: '%s' already reserved with %zu bytes, not %zu", name, r->size,
                                size);
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct shm_region *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return forge_error_set(err, FORGE_ENOMEM, "shm: out of memory");
        s->v = v;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return forge_error_set(err, FORGE_ENOMEM, "shm: out of memory");
    s->v[s->n++] = (struct shm_region){copy, size, NULL};
    return 0;
}

static int map_with_host(struct forge__shm *s,
                         void *(*alloc)(void *hctx, const char *name, size_t size), void *hctx,
                         forge_error *err)
{
    for (size_t i = 0; i < s->n; i++) {
        s->v[i].addr = alloc(hctx, s->v[i].name, s->v[i].size);
        if (!s->v[i].addr) {
            for (size_t j = 0; j < i; j++)
                s->v[j].addr = NULL;
            return forge_error_setk(err, FORGE_ENOMEM, s->v[i].name,
                                    "shm: the host could not allocate '%s' (%zu bytes)",
                                    s->v[i].name, s->v[i].size);
        }
    }
    return 0;
}

static int map_anonymous(struct forge__shm *s, forge_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t sz = (s->v[i].size + REGION_ALIGN - 1) & ~(size_t)(REGION_ALIGN - 1);
        if (sz < s->v[i].size || total > SIZE_MAX - sz)
            return forge_error_set(err, FORGE_ETOOBIG,
                                   "shm: reservations exceed the address space");
        total += sz;
    }
    void *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return forge_error_set(err, FORGE_ENOMEM, "shm: mmap of %zu bytes failed: %s", total,
                               strerror(errno));
    size_t off = 0;
    for (size_t i = 0; i < s->n; i++) {
        s->v[i].addr = (char *)base + off;
        off += (s->v[i].size + REGION_ALIGN - 1) & ~(size_t)(REGION_ALIGN - 1);
    }
    s->base = base;
    s->base_len = total;
    return 0;
}

int forge__shm_map_all(struct forge__shm *s,
                       void *(*alloc)(void *hctx, const char *name, size_t size), void *hctx,
                       forge_error *err)
{
    if (s->mapped)
        return 0; /* reservations are closed once mapped, so there is nothing new */
    if (s->n > 0) {
        int rc = alloc ? map_with_host(s, alloc, hctx, err) : map_anonymous(s, err);
        if (rc < 0)
            return rc;
    }
    s->mapped = true;
    return 0;
}

void *forge_shm_get(forge_app *app, const char *name)
{
    if (!app || !name || !app->shm->mapped)
        return NULL;
    struct shm_region *r = find(app->shm, name);
    return r ? r->addr : NULL;
}
