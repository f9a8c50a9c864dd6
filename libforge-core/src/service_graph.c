/*
 * Dependency graphs: a stable topological order with cycle paths, used for
 * the services' start order and the DI container's declared graph.
 *
 * Kahn's algorithm picking, at each step, the lowest-index node whose
 * dependencies are all placed: O(n^2 + edges), fine for the tens of nodes
 * an app registers, and it makes the order "registration order among
 * equals" exactly.
 */
#include "service_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Among the unplaced nodes there is a cycle: walk dependencies until one repeats. */
static int cycle_path(const forge__graph *g, const bool *placed, forge_error *err)
{
    size_t *path = malloc(g->n * sizeof(*path) + 1);
    size_t *pos = malloc(g->n * sizeof(*pos) + 1); /* position in path, or SIZE_MAX */
    if (!path || !pos) {
        free(path);
        free(pos);
        return forge_error_set(err, FORGE_ECYCLE, "dependency cycle (out of memory naming it)");
    }
    for (size_t i = 0; i < g->n; i++)
        pos[i] = SIZE_MAX;
    size_t cur = 0;
    while (placed[cur])
        cur++;
    size_t len = 0;
    /* Every unplaced node has an unplaced dependency (else Kahn would have placed it). */
    while (pos[cur] == SIZE_MAX) {
        pos[cur] = len;
        path[len++] = cur;
        size_t next = SIZE_MAX;
        for (size_t k = 0; k < g->ndeps[cur] && next == SIZE_MAX; k++)
            if (!placed[g->deps[cur][k]])
                next = g->deps[cur][k];
        cur = next;
    }
    char buf[FORGE_ERROR_MSG_MAX - 32];
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = pos[cur]; i < len; i++) {
        int w = snprintf(buf + off, sizeof(buf) - off, "%s -> ", g->names[path[i]]);
        if (w < 0 || (size_t)w >= sizeof(buf) - off)
            break;
        off += (size_t)w;
    }
    snprintf(buf + off, sizeof(buf) - off, "%s", g->names[cur]);
    int rc = forge_error_setk(err, FORGE_ECYCLE, g->names[cur], "dependency cycle: %s", buf);
    free(path);
    free(pos);
    return rc;
}

int forge__graph_order(const forge__graph *g, size_t *order, forge_error *err)
{
    if (g->n == 0)
        return 0;
    bool *placed = calloc(g->n, sizeof(*placed));
    if (!placed)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    size_t done = 0;
    while (done < g->n) {
        size_t pick = SIZE_MAX;
        for (size_t i = 0; i < g->n && pick == SIZE_MAX; i++) {
            if (placed[i])
                continue;
            bool ready = true;
            for (size_t k = 0; k < g->ndeps[i] && ready; k++)
                ready = placed[g->deps[i][k]];
            if (ready)
                pick = i;
        }
        if (pick == SIZE_MAX) {
            int rc = cycle_path(g, placed, err);
            free(placed);
            return rc;
        }
        placed[pick] = true;
        order[done++] = pick;
    }
    free(placed);
    return 0;
}

static ssize_t index_of(struct forge__services *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/*
 * Missing dependencies are named before cycles are looked for; so is an
 * app-level service depending on a per-machine one (it would start in
 * workers where that one never runs).
 */
int forge__services_order(struct forge__services *s, size_t *order, forge_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++)
        total += s->v[i]->ndeps;
    const char **names = malloc((s->n + 1) * sizeof(*names));
    const size_t **deps = malloc((s->n + 1) * sizeof(*deps));
    size_t *ndeps = malloc((s->n + 1) * sizeof(*ndeps));
    size_t *flat = malloc((total + 1) * sizeof(*flat));
    int rc = 0;
    if (!names || !deps || !ndeps || !flat) {
        rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
        goto out;
    }
    size_t off = 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        struct svc *sv = s->v[i];
        names[i] = sv->name;
        deps[i] = flat + off;
        ndeps[i] = sv->ndeps;
        for (size_t k = 0; k < sv->ndeps && rc == 0; k++) {
            ssize_t d = index_of(s, sv->deps[k]);
            if (d < 0)
                rc = forge_error_setk(err, FORGE_EDEPENDENCY, sv->name,
                                      "service '%s' depends on '%s', which is not registered",
                                      sv->name, sv->deps[k]);
            else if ((s->v[d]->def.flags & FORGE_SERVICE_PER_MACHINE) &&
                     !(sv->def.flags & FORGE_SERVICE_PER_MACHINE))
                rc = forge_error_setk(err, FORGE_EDEPENDENCY, sv->name,
                                      "service '%s' depends on '%s', which runs once per machine "
                                      "(only per-machine services may depend on it)",
                                      sv->name, sv->deps[k]);
            else
                flat[off++] = (size_t)d;
        }
    }
    if (rc == 0) {
        forge__graph g = {s->n, names, deps, ndeps};
        rc = forge__graph_order(&g, order, err);
    }
out:
    free(names);
    free(deps);
    free(ndeps);
    free(flat);
    return rc;
}
