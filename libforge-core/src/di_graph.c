/*
 * The DI container's declared graph: validation before start, and export as
 * Graphviz DOT. Only declared dependencies (forge_di_def.deps) are known
 * here; what a constructor resolves without declaring is checked when it
 * runs (cycles, lifetimes) but cannot be drawn.
 */
#include "di_impl.h"
#include "service_impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int check_deps(forge_container *c, forge_error *err)
{
    for (size_t i = 0; i < c->n; i++) {
        struct di_entry *e = c->entries[i];
        for (size_t k = 0; k < e->ndeps; k++) {
            struct di_entry *d = forge__di_find(c, e->deps[k]);
            if (!d)
                return forge_error_setk(err, FORGE_EDEPENDENCY, e->name,
                                        "DI entry '%s' depends on '%s', which is not registered",
                                        e->name, e->deps[k]);
            if (e->lifetime == FORGE_DI_SINGLETON && d->lifetime == FORGE_DI_SCOPED)
                return forge_error_setk(err, FORGE_ESTATE, e->name,
                                        "singleton '%s' cannot depend on scoped '%s'", e->name,
                                        d->name);
        }
    }
    return 0;
}

static int check_cycles(forge_container *c, forge_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++)
        total += c->entries[i]->ndeps;
    const char **names = malloc((c->n + 1) * sizeof(*names));
    const size_t **deps = malloc((c->n + 1) * sizeof(*deps));
    size_t *ndeps = malloc((c->n + 1) * sizeof(*ndeps));
    size_t *flat = malloc((total + 1) * sizeof(*flat));
    size_t *order = malloc((c->n + 1) * sizeof(*order));
    int rc = 0;
    if (!names || !deps || !ndeps || !flat || !order) {
        rc = forge_error_set(err, FORGE_ENOMEM, "out of memory");
    } else {
        size_t off = 0;
        for (size_t i = 0; i < c->n; i++) {
            struct di_entry *e = c->entries[i];
            names[i] = e->name;
            deps[i] = flat + off;
            ndeps[i] = e->ndeps;
            for (size_t k = 0; k < e->ndeps; k++)
                flat[off++] = forge__di_find(c, e->deps[k])->index;
        }
        forge__graph g = {c->n, names, deps, ndeps};
        rc = forge__graph_order(&g, order, err);
    }
    free(names);
    free(deps);
    free(ndeps);
    free(flat);
    free(order);
    return rc;
}

/* Runs once registration is over (start-up), so the entry list does not move under it. */
int forge_di_validate(forge_container *c, forge_error *err)
{
    int rc = check_deps(c, err);
    return rc ? rc : check_cycles(c, err);
}

/* Where DOT text goes: a bounded buffer (counting what did not fit) or a FILE. */
struct dot_out {
    char *buf;
    size_t cap, len;
    FILE *f;
    bool failed;
};

static void put(struct dot_out *o, const char *fmt, ...) FORGE_PRINTF(2, 3);
static void put(struct dot_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (o->f) {
        if (vfprintf(o->f, fmt, ap) < 0)
            o->failed = true;
    } else {
        size_t room = o->len < o->cap ? o->cap - o->len : 0;
        int w = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
        if (w > 0)
            o->len += (size_t)w;
    }
    va_end(ap);
}

/* Inside a DOT double-quoted string: quotes and backslashes escaped, newlines dropped. */
static void put_esc(struct dot_out *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            put(o, "\\%c", *s);
        else if (*s != '\n' && *s != '\r')
            put(o, "%c", *s);
    }
}

static void put_id(struct dot_out *o, const char *s)
{
    put(o, "\"");
    put_esc(o, s);
    put(o, "\"");
}

static void dot_write(forge_container *c, struct dot_out *o)
{
    pthread_rwlock_rdlock(&c->rw);
    put(o, "digraph forge_di {\n  rankdir=LR;\n  node [shape=box];\n");
    for (size_t i = 0; i < c->n; i++) {
        struct di_entry *e = c->entries[i];
        put(o, "  ");
        put_id(o, e->name);
        put(o, " [label=\"");
        put_esc(o, e->name);
        put(o, "\\n");
        put_esc(o, e->type->name);
        put(o, " (%s)\"];\n", forge_lifetime_name(e->lifetime));
    }
    for (size_t i = 0; i < c->n; i++)
        for (size_t k = 0; k < c->entries[i]->ndeps; k++) {
            put(o, "  ");
            put_id(o, c->entries[i]->name);
            put(o, " -> ");
            put_id(o, c->entries[i]->deps[k]);
            put(o, ";\n");
        }
    for (size_t i = 0; i < c->ngroups; i++) {
        struct di_group *g = &c->groups[i];
        put(o, "  subgraph \"cluster_%zu\" {\n    label=", i);
        put_id(o, g->name);
        put(o, ";\n");
        for (size_t k = 0; k < g->n; k++) {
            put(o, "    ");
            put_id(o, g->members[k]->name);
            put(o, ";\n");
        }
        put(o, "  }\n");
    }
    put(o, "}\n");
    pthread_rwlock_unlock(&c->rw);
}

int forge_di_dot(forge_container *c, char *buf, size_t cap)
{
    struct dot_out o = {buf, cap, 0, NULL, false};
    if (cap)
        buf[0] = '\0';
    dot_write(c, &o);
    return o.len > (size_t)INT32_MAX ? INT32_MAX : (int)o.len;
}

int forge_di_dot_file(forge_container *c, FILE *f)
{
    struct dot_out o = {NULL, 0, 0, f, false};
    dot_write(c, &o);
    return o.failed || ferror(f) ? FORGE_EIO : 0;
}
