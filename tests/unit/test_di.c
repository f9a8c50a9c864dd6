/*
 * Dependency injection: lifetimes, typed lookups, named entries and groups,
 * optional and lazy dependencies, cycles, validation, DOT export, destructor
 * order and concurrent singleton construction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <forge/di.h>

static FORGE_TYPE_DEFINE(t_db, "test.db");
static FORGE_TYPE_DEFINE(t_cache, "test.cache");
static FORGE_TYPE_DEFINE(t_plugin, "test.plugin");

/* A constructed thing: remembers its name; destructors log the name in order. */
typedef struct thing {
    char name[32];
    void *dep;
} thing;

static char dtor_log[32][32];
static int dtor_n;

static void thing_dtor(void *v)
{
    thing *t = v;
    if (dtor_n < 32)
        snprintf(dtor_log[dtor_n++], 32, "%s", t->name);
    free(t);
}

/* udata: the thing's name; it resolves nothing. */
static atomic_int builds;

static void *make_thing(forge_resolver *r, void *udata, forge_error *err)
{
    (void)r;
    (void)err;
    atomic_fetch_add(&builds, 1);
    thing *t = calloc(1, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", (const char *)udata);
    return t;
}

/* udata: "name>dep": builds `name`, resolving `dep` as a test.db. */
static void *make_with_dep(forge_resolver *r, void *udata, forge_error *err)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", (const char *)udata);
    char *gt = strchr(buf, '>');
    *gt = '\0';
    void *dep = forge_resolve(r, gt + 1, &t_db, err);
    if (!dep)
        return NULL;
    atomic_fetch_add(&builds, 1);
    thing *t = calloc(1, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%.31s", buf);
    t->dep = dep;
    return t;
}

static void *make_failing(forge_resolver *r, void *udata, forge_error *err)
{
    forge_error_set(err, FORGE_EIO, "connection refused");
    return NULL;
}

static int setup(void **state)
{
    dtor_n = 0;
    atomic_store(&builds, 0);
    *state = forge_di_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    forge_di_free(*state);
    return 0;
}

static void test_value_and_type_mismatch(void **state)
{
    forge_container *c = *state;
    int x = 42;
    forge_error err;
    assert_int_equal(forge_di_value(c, "answer", &t_db, &x, NULL, &err), 0);
    assert_ptr_equal(forge_di_get(c, "answer", &t_db, &err), &x);
    assert_null(forge_di_get(c, "answer", &t_cache, &err));
    assert_int_equal(err.code, FORGE_ETYPE);
    assert_non_null(strstr(err.message, "test.db"));
    assert_non_null(strstr(err.message, "test.cache"));
    assert_string_equal(err.key, "answer");
    assert_int_equal(forge_di_value(c, "answer", &t_db, &x, NULL, &err), FORGE_EEXIST);
    assert_int_equal(forge_di_value(c, "untyped", NULL, &x, NULL, &err), FORGE_EINVAL);
}

static void test_missing_and_optional(void **state)
{
    forge_container *c = *state;
    forge_error err;
    assert_null(forge_di_get(c, "nope", &t_db, &err));
    assert_int_equal(err.code, FORGE_ENOENT);
    assert_non_null(strstr(err.message, "'nope'"));
    err.code = 99;
    assert_null(forge_di_get_optional(c, "nope", &t_db, &err));
    assert_int_equal(err.code, 0);
    int x = 1;
    forge_di_value(c, "x", &t_db, &x, NULL, NULL);
    assert_ptr_equal(forge_di_get_optional(c, "x", &t_db, &err), &x);
    /* Present with another type is still an error. */
    assert_null(forge_di_get_optional(c, "x", &t_cache, &err));
    assert_int_equal(err.code, FORGE_ETYPE);
    /* NULL err is accepted everywhere. */
    assert_null(forge_di_get(c, "nope", &t_db, NULL));
}

static void test_singleton_once(void **state)
{
    forge_container *c = *state;
    assert_int_equal(forge_di_singleton(c, "db", &t_db, make_thing, thing_dtor, "db", NULL), 0);
    assert_int_equal(atomic_load(&builds), 0); /* built on first use, not at registration */
    thing *a = forge_di_get(c, "db", &t_db, NULL);
    thing *b = forge_di_get(c, "db", &t_db, NULL);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_string_equal(a->name, "db");
    assert_int_equal(atomic_load(&builds), 1);
}

static void test_transient_new_each_time_and_release(void **state)
{
    forge_container *c = *state;
    assert_int_equal(forge_di_transient(c, "req", &t_db, make_thing, thing_dtor, "req", NULL), 0);
    thing *a = forge_di_get(c, "req", &t_db, NULL);
    thing *b = forge_di_get(c, "req", &t_db, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(atomic_load(&builds), 2);
    assert_int_equal(forge_di_release(c, a), 0);
    assert_int_equal(dtor_n, 1);
    assert_int_equal(forge_di_release(c, a), FORGE_ENOENT); /* already gone */
    int local = 0;
    assert_int_equal(forge_di_release(c, &local), FORGE_ENOENT);
    /* b is destroyed by forge_di_free (teardown); ASan would report a leak otherwise. */
}

static void test_scoped(void **state)
{
    forge_container *c = *state;
    forge_error err;
    assert_int_equal(forge_di_scoped(c, "tx", &t_db, make_thing, thing_dtor, "tx", NULL), 0);
    assert_int_equal(forge_di_transient(c, "tmp", &t_db, make_thing, thing_dtor, "tmp", NULL), 0);
    assert_null(forge_di_get(c, "tx", &t_db, &err));
    assert_int_equal(err.code, FORGE_ESTATE);
    assert_non_null(strstr(err.message, "scope"));

    forge_di_scope *s1 = forge_di_scope_new(c);
    forge_di_scope *s2 = forge_di_scope_new(c);
    thing *a = forge_di_scope_get(s1, "tx", &t_db, &err);
    thing *a2 = forge_di_scope_get(s1, "tx", &t_db, &err);
    thing *b = forge_di_scope_get(s2, "tx", &t_db, &err);
    assert_non_null(a);
    assert_ptr_equal(a, a2);
    assert_ptr_not_equal(a, b);
    snprintf(a->name, sizeof(a->name), "tx1");
    thing *t = forge_di_scope_get(s1, "tmp", &t_db, &err); /* transient: owned by the scope */
    assert_non_null(t);
    assert_null(forge_di_scope_get_optional(s1, "none", &t_db, &err));
    assert_int_equal(err.code, 0);
    forge_di_scope_free(s1);
    assert_int_equal(dtor_n, 2);
    assert_string_equal(dtor_log[0], "tmp"); /* reverse creation order */
    assert_string_equal(dtor_log[1], "tx1");
    forge_di_scope_free(s2);
    assert_int_equal(dtor_n, 3);
    forge_di_scope_free(NULL);
}

static void test_singleton_cannot_capture_scoped(void **state)
{
    forge_container *c = *state;
    forge_error err;
    forge_di_scoped(c, "tx", &t_db, make_thing, thing_dtor, "tx", NULL);
    forge_di_singleton(c, "repo", &t_db, make_with_dep, thing_dtor, "repo>tx", NULL);
    forge_di_scope *s = forge_di_scope_new(c);
    assert_null(forge_di_scope_get(s, "repo", &t_db, &err));
    assert_int_equal(err.code, FORGE_ESTATE);
    assert_non_null(strstr(err.message, "singleton 'repo' cannot depend on scoped 'tx'"));
    forge_di_scope_free(s);
}

static void test_resolver_and_failure_chain(void **state)
{
    forge_container *c = *state;
    forge_error err;
    forge_di_singleton(c, "pool", &t_db, make_failing, thing_dtor, NULL, NULL);
    forge_di_singleton(c, "repo", &t_db, make_with_dep, thing_dtor, "repo>pool", NULL);
    forge_di_singleton(c, "db", &t_db, make_thing, thing_dtor, "db", NULL);
    forge_di_singleton(c, "users", &t_db, make_with_dep, thing_dtor, "users>db", NULL);
    forge_di_singleton(c, "orphan", &t_db, make_with_dep, thing_dtor, "orphan>ghost", NULL);

    thing *u = forge_di_get(c, "users", &t_db, &err);
    assert_non_null(u);
    assert_ptr_equal(u->dep, forge_di_get(c, "db", &t_db, NULL));

    assert_null(forge_di_get(c, "repo", &t_db, &err));
    assert_int_equal(err.code, FORGE_EIO);
    assert_string_equal(err.message,
                        "cannot construct 'repo': cannot construct 'pool': connection refused");
    assert_string_equal(err.key, "pool");

    assert_null(forge_di_get(c, "orphan", &t_db, &err));
    assert_int_equal(err.code, FORGE_EDEPENDENCY);
    assert_non_null(strstr(err.message, "'orphan' depends on 'ghost', which is not registered"));
}

static void test_cycle_path(void **state)
{
    forge_container *c = *state;
    forge_error err;
    forge_di_singleton(c, "a", &t_db, make_with_dep, thing_dtor, "a>b", NULL);
    forge_di_transient(c, "b", &t_db, make_with_dep, thing_dtor, "b>c", NULL);
    forge_di_singleton(c, "c", &t_db, make_with_dep, thing_dtor, "c>a", NULL);
    forge_di_singleton(c, "x", &t_db, make_with_dep, thing_dtor, "x>a", NULL);
    assert_null(forge_di_get(c, "x", &t_db, &err));
    assert_int_equal(err.code, FORGE_ECYCLE);
    assert_non_null(strstr(err.message, "dependency cycle: a -> b -> c -> a"));
    assert_null(strstr(err.message, "x ->")); /* the path is the cycle, not how we got there */
    assert_int_equal(atomic_load(&builds), 0);

    forge_di_singleton(c, "self", &t_db, make_with_dep, thing_dtor, "self>self", NULL);
    assert_null(forge_di_get(c, "self", &t_db, &err));
    assert_non_null(strstr(err.message, "dependency cycle: self -> self"));
}

static void test_named_and_by_type(void **state)
{
    forge_container *c = *state;
    forge_error err;
    forge_di_singleton(c, "db.primary", &t_db, make_thing, thing_dtor, "primary", NULL);
    forge_di_singleton(c, "db.replica", &t_db, make_thing, thing_dtor, "replica", NULL);
    forge_di_singleton(c, "cache", &t_cache, make_thing, thing_dtor, "cache", NULL);
    thing *p = forge_di_get(c, "db.primary", &t_db, NULL);
    thing *r = forge_di_get(c, "db.replica", &t_db, NULL);
    assert_string_equal(p->name, "primary");
    assert_string_equal(r->name, "replica");
    assert_null(forge_di_get_by_type(c, &t_db, &err));
    assert_int_equal(err.code, FORGE_ECONFLICT);
    assert_non_null(strstr(err.message, "db.primary"));
    assert_non_null(strstr(err.message, "db.replica"));
    thing *k = forge_di_get_by_type(c, &t_cache, &err);
    assert_non_null(k);
    assert_string_equal(k->name, "cache");
    assert_null(forge_di_get_by_type(c, &t_plugin, &err));
    assert_int_equal(err.code, FORGE_ENOENT);
}

static void test_groups(void **state)
{
    forge_container *c = *state;
    forge_error err;
    forge_di_def d = {.name = "p.auth",
                      .type = &t_plugin,
                      .lifetime = FORGE_DI_SINGLETON,
                      .ctor = make_thing,
                      .dtor = thing_dtor,
                      .udata = "auth",
                      .group = "plugins"};
    assert_int_equal(forge_di_register(c, &d, &err), 0);
    d.name = "p.gzip";
    d.udata = "gzip";
    assert_int_equal(forge_di_register(c, &d, &err), 0);
    int v = 3;
    assert_int_equal(forge_di_value(c, "p.static", &t_plugin, &v, NULL, &err), 0);
    assert_int_equal(forge_di_group_add(c, "plugins", "p.static", &err), 0);
    assert_int_equal(forge_di_group_add(c, "plugins", "p.static", &err), FORGE_EEXIST);
    assert_int_equal(forge_di_group_add(c, "plugins", "ghost", &err), FORGE_ENOENT);

    void *out[4] = {0};
    assert_int_equal(forge_di_group(c, "plugins", &t_plugin, out, 4, &err), 3);
    assert_string_equal(((thing *)out[0])->name, "auth");
    assert_string_equal(((thing *)out[1])->name, "gzip");
    assert_ptr_equal(out[2], &v);
    void *two[2] = {0};
    assert_int_equal(forge_di_group(c, "plugins", &t_plugin, two, 2, &err), 3);
    assert_ptr_equal(two[1], out[1]);
    assert_int_equal(forge_di_group(c, "plugins", &t_plugin, NULL, 0, &err), 3);
    assert_int_equal(forge_di_group(c, "none", &t_plugin, out, 4, &err), 0);
    assert_int_equal(forge_di_group(c, "plugins", &t_db, out, 4, &err), FORGE_ETYPE);
}

/* a keeps a lazy handle to b; b needs a: no cycle until the handle is used. */
static void *make_a_lazy(forge_resolver *r, void *udata, forge_error *err)
{
    thing *t = calloc(1, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "a");
    t->dep = forge_resolve_lazy(r, "b", &t_db, err);
    atomic_fetch_add(&builds, 1);
    return t;
}

static void test_lazy(void **state)
{
    forge_container *c = *state;
    forge_error err;
    forge_di_lazy *l = forge_di_lazy_new(c, "late", &t_db, &err); /* before registration */
    assert_non_null(l);
    assert_null(forge_di_lazy_get(l, &err));
    assert_int_equal(err.code, FORGE_ENOENT);
    forge_di_transient(c, "late", &t_db, make_thing, thing_dtor, "late", NULL);
    thing *x = forge_di_lazy_get(l, &err);
    assert_non_null(x);
    assert_ptr_equal(forge_di_lazy_get(l, &err), x); /* cached: the transient is built once */
    assert_int_equal(atomic_load(&builds), 1);

    forge_di_singleton(c, "a", &t_db, make_a_lazy, thing_dtor, NULL, NULL);
    forge_di_singleton(c, "b", &t_db, make_with_dep, thing_dtor, "b>a", NULL);
    thing *a = forge_di_get(c, "a", &t_db, &err);
    assert_non_null(a);
    thing *b = forge_di_lazy_get(a->dep, &err);
    assert_non_null(b);
    assert_ptr_equal(b->dep, a);
}

static void test_validate(void **state)
{
    forge_container *c = *state;
    forge_error err;
    const char *a_deps[] = {"b", NULL};
    const char *b_deps[] = {"c", NULL};
    const char *c_deps[] = {"a", NULL};
    forge_di_def d = {.type = &t_db, .lifetime = FORGE_DI_SINGLETON, .ctor = make_thing};
    d.name = "a", d.deps = a_deps;
    forge_di_register(c, &d, NULL);
    d.name = "b", d.deps = b_deps;
    forge_di_register(c, &d, NULL);
    assert_int_equal(forge_di_validate(c, &err), FORGE_EDEPENDENCY);
    assert_non_null(strstr(err.message, "'b' depends on 'c', which is not registered"));
    d.name = "c", d.deps = c_deps;
    forge_di_register(c, &d, NULL);
    assert_int_equal(forge_di_validate(c, &err), FORGE_ECYCLE);
    assert_string_equal(err.message, "dependency cycle: a -> b -> c -> a");

    forge_container *c2 = forge_di_new();
    const char *tx[] = {"tx", NULL};
    d.name = "tx", d.deps = NULL, d.lifetime = FORGE_DI_SCOPED;
    forge_di_register(c2, &d, NULL);
    d.name = "repo", d.deps = tx, d.lifetime = FORGE_DI_SINGLETON;
    forge_di_register(c2, &d, NULL);
    assert_int_equal(forge_di_validate(c2, &err), FORGE_ESTATE);
    assert_non_null(strstr(err.message, "singleton 'repo' cannot depend on scoped 'tx'"));
    forge_di_free(c2);
}

static void test_dot(void **state)
{
    forge_container *c = *state;
    const char *deps[] = {"db", "cfg\"x", NULL};
    int v = 0;
    forge_di_value(c, "cfg\"x", &t_cache, &v, NULL, NULL);
    forge_di_singleton(c, "db", &t_db, make_thing, thing_dtor, "db", NULL);
    forge_di_def d = {.name = "repo",
                      .type = &t_db,
                      .lifetime = FORGE_DI_TRANSIENT,
                      .ctor = make_thing,
                      .deps = deps,
                      .group = "repos"};
    forge_di_register(c, &d, NULL);
    char buf[2048];
    int n = forge_di_dot(c, buf, sizeof(buf));
    assert_int_equal(n, (int)strlen(buf));
    assert_non_null(strstr(buf, "digraph forge_di {"));
    assert_non_null(strstr(buf, "\"repo\" [label=\"repo\\ntest.db (transient)\"];"));
    assert_non_null(strstr(buf, "\"db\" [label=\"db\\ntest.db (singleton)\"];"));
    assert_non_null(strstr(buf, "\"repo\" -> \"db\";"));
    assert_non_null(strstr(buf, "\"repo\" -> \"cfg\\\"x\";")); /* quotes escaped */
    assert_non_null(strstr(buf, "subgraph \"cluster_0\" {\n    label=\"repos\";\n    \"repo\";"));
    assert_string_equal(buf + n - 2, "}\n");

    char small[16];
    assert_int_equal(forge_di_dot(c, small, sizeof(small)), n); /* full length, like snprintf */
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, buf, sizeof(small) - 1);
    assert_int_equal(forge_di_dot(c, NULL, 0), n);

    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(forge_di_dot_file(c, f), 0);
    assert_int_equal(ftell(f), n);
    rewind(f);
    char back[2048] = {0};
    assert_int_equal(fread(back, 1, sizeof(back), f), (size_t)n);
    assert_string_equal(back, buf);
    fclose(f);
}

static void test_destructor_order(void **state)
{
    forge_container *c = *state;
    thing *v = calloc(1, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "value");
    forge_di_value(c, "value", &t_db, v, thing_dtor, NULL);
    forge_di_singleton(c, "base", &t_db, make_thing, thing_dtor, "base", NULL);
    forge_di_singleton(c, "top", &t_db, make_with_dep, thing_dtor, "top>base", NULL);
    forge_di_singleton(c, "unused", &t_db, make_thing, thing_dtor, "unused", NULL);
    forge_di_transient(c, "t", &t_db, make_thing, thing_dtor, "t", NULL);
    assert_non_null(forge_di_get(c, "top", &t_db, NULL)); /* builds base, then top */
    assert_non_null(forge_di_get(c, "t", &t_db, NULL));
    forge_di_free(c);
    *state = NULL;
    assert_int_equal(dtor_n, 4); /* "unused" was never built */
    assert_string_equal(dtor_log[0], "t");
    assert_string_equal(dtor_log[1], "top");
    assert_string_equal(dtor_log[2], "base");
    assert_string_equal(dtor_log[3], "value");
}

#define NTHREADS 8

struct race {
    forge_container *c;
    pthread_barrier_t go;
    void *got[NTHREADS];
};

static void *make_slow(forge_resolver *r, void *udata, forge_error *err)
{
    /* Widen the window in which a second builder could slip in. Not a timing assertion. */
    usleep(20000);
    return make_thing(r, udata, err);
}

static void *racer(void *arg)
{
    struct race *rc = arg;
    pthread_barrier_wait(&rc->go);
    void *first = NULL;
    for (int i = 0; i < 1000; i++) {
        void *v = forge_di_get(rc->c, "shared", &t_db, NULL);
        if (!first)
            first = v;
        else if (v != first)
            return NULL;
    }
    return first;
}

static void test_concurrent_singleton(void **state)
{
    forge_container *c = *state;
    forge_di_singleton(c, "shared", &t_db, make_slow, thing_dtor, "shared", NULL);
    struct race rc = {.c = c};
    pthread_barrier_init(&rc.go, NULL, NTHREADS);
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, racer, &rc), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], &rc.got[i]);
    pthread_barrier_destroy(&rc.go);
    assert_int_equal(atomic_load(&builds), 1);
    for (int i = 0; i < NTHREADS; i++) {
        assert_non_null(rc.got[i]);
        assert_ptr_equal(rc.got[i], rc.got[0]);
    }
}

static void test_bad_defs(void **state)
{
    forge_container *c = *state;
    forge_error err;
    forge_di_def d = {.name = "x", .type = &t_db, .lifetime = FORGE_DI_SINGLETON};
    assert_int_equal(forge_di_register(c, &d, &err), FORGE_EINVAL); /* no ctor */
    assert_non_null(strstr(err.message, "constructor"));
    d.ctor = make_thing;
    d.lifetime = (forge_lifetime)42;
    assert_int_equal(forge_di_register(c, &d, &err), FORGE_EINVAL);
    d.lifetime = FORGE_DI_VALUE;
    assert_int_equal(forge_di_register(c, &d, &err), FORGE_EINVAL);
    d.name = "";
    d.lifetime = FORGE_DI_SINGLETON;
    assert_int_equal(forge_di_register(c, &d, &err), FORGE_EINVAL);
    assert_int_equal(forge_di_register(c, NULL, &err), FORGE_EINVAL);
    assert_string_equal(forge_lifetime_name(FORGE_DI_SCOPED), "scoped");
}

static void test_many_entries(void **state)
{
    forge_container *c = *state;
    static int vals[300];
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "e%d", i);
        vals[i] = i;
        assert_int_equal(forge_di_value(c, name, &t_db, &vals[i], NULL, NULL), 0);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "e%d", i);
        int *v = forge_di_get(c, name, &t_db, NULL);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    assert_null(forge_di_get(c, "e300", &t_db, NULL));
}

/* Readers probe the name table without a lock while a writer grows it. */
static void *reader(void *arg)
{
    forge_container *c = arg;
    for (int i = 0; i < 20000; i++)
        if (!forge_di_get(c, "stable", &t_db, NULL))
            return NULL;
    return c;
}

static void test_lookup_while_registering(void **state)
{
    forge_container *c = *state;
    static int v;
    forge_di_value(c, "stable", &t_db, &v, NULL, NULL);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, c), 0);
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        assert_int_equal(forge_di_value(c, name, &t_cache, &v, NULL, NULL), 0);
    }
    for (int i = 0; i < 3; i++) {
        void *ok = NULL;
        pthread_join(t[i], &ok);
        assert_ptr_equal(ok, c);
    }
    assert_ptr_equal(forge_di_get(c, "n1999", &t_cache, NULL), &v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_value_and_type_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_optional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_singleton_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_new_each_time_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scoped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_singleton_cannot_capture_scoped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolver_and_failure_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_and_by_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destructor_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_singleton, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_defs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_while_registering, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
