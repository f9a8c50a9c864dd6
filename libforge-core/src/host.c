/*
 * The host object: what a binding holds for its process. Creation, loading
 * an app (from an .so or a linked entry), and teardown. Worker lifecycle is
 * in host_worker.c.
 */
#include "request_impl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

forge_host *forge_host_new(const forge_host_ops *ops, void *hctx, forge_error *err)
{
    if (!ops) {
        forge_error_set(err, FORGE_EINVAL, "host: no ops table");
        return NULL;
    }
    if (ops->abi_version != FORGE_ABI_VERSION || ops->size != sizeof(forge_host_ops)) {
        forge_error_set(err, FORGE_EABI,
                        "host binding %s was built for Forge ABI %u (ops size %u), this core "
                        "has ABI %u (ops size %zu): rebuild the binding",
                        ops->kind ? ops->kind : "(unnamed)", ops->abi_version, ops->size,
                        FORGE_ABI_VERSION, sizeof(forge_host_ops));
        return NULL;
    }
    if (!ops->send_head || !ops->send_body || !ops->wake) {
        forge_error_set(err, FORGE_EINVAL,
                        "host binding %s: send_head, send_body and wake "
                        "are required",
                        ops->kind ? ops->kind : "(unnamed)");
        return NULL;
    }
    forge_host *h = calloc(1, sizeof(*h));
    if (!h) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    h->ops = *ops;
    h->hctx = hctx;
    pthread_mutex_init(&h->leader_mu, NULL);
    return h;
}

void forge_host_free(forge_host *host)
{
    if (!host)
        return;
    forge_host_worker_stop(host);
    size_t live = atomic_load(&host->live);
    if (live && host->app)
        forge_logf(host->app->log, FORGE_LOG_WARN, NULL,
                   "host freed with %zu requests not released (leaked)", live);
    forge_app_free(host->app);
    forge__host_free_lock(&host->free_busy);
    forge_req *r = host->free_list;
    host->free_list = NULL;
    forge__host_free_unlock(&host->free_busy);
    while (r) {
        forge_req *next = r->next_free;
        forge__req_destroy(r);
        r = next;
    }
    if (host->dl)
        dlclose(host->dl);
    free(host->so_path);
    free(host->lock_path);
    pthread_mutex_destroy(&host->leader_mu);
    free(host);
}

forge_app *forge_host_app(forge_host *host)
{
    return host ? host->app : NULL;
}

const forge_host_ops *forge__host_ops(const forge_host *host)
{
    return &host->ops;
}

static int check_entry(const struct forge_app_entry *e, const char *where, forge_error *err)
{
    if (e->abi_version != FORGE_ABI_VERSION)
        return forge_error_set(err, FORGE_EABI,
                               "%s was built for Forge ABI %u, this core has ABI %u: rebuild "
                               "the app against this Forge",
                               where, e->abi_version, FORGE_ABI_VERSION);
    if (e->size < sizeof(struct forge_app_entry))
        return forge_error_set(err, FORGE_EABI,
                               "%s has an entry record of %u bytes, this core expects %zu "
                               "(ABI %u): rebuild the app",
                               where, e->size, sizeof(struct forge_app_entry), FORGE_ABI_VERSION);
    if (!e->init)
        return forge_error_set(err, FORGE_EINVAL, "%s has no init function", where);
    return FORGE_OK;
}

static int load_config(forge_app *app, const char *path, const char *text, forge_error *err)
{
    int rc = FORGE_OK;
    if (text)
        rc = forge_config_load_string(app->config, text, strlen(text), FORGE_CONFIG_AUTO, err);
    if (rc == FORGE_OK && path)
        rc = forge_config_load_file(app->config, path, err);
    if (rc == FORGE_OK)
        rc = forge_config_apply_env(app->config, err);
    if (rc == FORGE_OK && forge_config_check_core(app->config, err) < 0) {
        /* Type and range errors of the core sections are config errors to a host. */
        rc = FORGE_ECONFIG;
        if (err)
            err->code = rc;
    }
    if (rc == FORGE_OK)
        rc = forge_log_configure(app->log, app->config, err);
    return rc;
}

/*
 * Keys no area and not the app declared are most often typos, and a typo
 * silently ignored is a setting that does not apply: like an unknown nginx
 * directive or Apache command, they stop the load (`nginx -t` and
 * `apache2 -t` name them). `config.unknown_keys: warn` only logs them.
 */
static int check_unknown_keys(forge_app *app, forge_error *err)
{
    forge_error uerr;
    forge_error_clear(&uerr);
    if (forge_config_check_unknown(app->config, &uerr) == FORGE_OK)
        return FORGE_OK;
    const char *mode = forge_config_string(app->config, "config.unknown_keys", "error");
    if (mode && strcmp(mode, "warn") == 0) {
        forge_logf(app->log, FORGE_LOG_WARN, NULL, "config: %s", uerr.message);
        return FORGE_OK;
    }
    return forge_error_setk(err, FORGE_ECONFIG, uerr.key,
                            "config: %s (a key the app reads must be declared: "
                            "forge_config_bind or forge_config_declare; "
                            "config.unknown_keys: warn only logs them)",
                            uerr.message);
}

forge_app *forge__host_load(forge_host *host, const struct forge_app_entry *entry, void *dl,
                            const char *so_path, const char *config_path, const char *config_text,
                            forge_error *err)
{
    if (!host || !entry) {
        forge_error_set(err, FORGE_EINVAL, "host load: no host or entry");
        return NULL;
    }
    if (host->app) {
        forge_error_set(err, FORGE_ESTATE, "host load: an app (%s) is already loaded",
                        host->app->name);
        return NULL;
    }
    const char *where = so_path ? so_path : (entry->name ? entry->name : "app");
    if (check_entry(entry, where, err) < 0)
        return NULL;
    forge_app *app = forge_app_new(entry->name, entry->version);
    if (!app) {
        forge_error_set(err, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    app->host = host;
    host->app = app;
    int rc = load_config(app, config_path, config_text, err);
    if (rc == FORGE_OK) {
        rc = entry->init(app, err);
        if (rc < 0)
            forge_error_wrap(err, rc, "app %s: init failed", app->name);
    }
    if (rc == FORGE_OK)
        rc = forge__routes_finalize(app, err);
    if (rc == FORGE_OK)
        rc = check_unknown_keys(app, err);
    if (rc < 0) {
        if (err && !err->code)
            err->code = rc;
        host->app = NULL;
        forge_app_free(app);
        return NULL;
    }
    host->dl = dl;
    if (so_path)
        host->so_path = strdup(so_path);
    return app;
}

forge_app *forge_host_load_entry(forge_host *host, const struct forge_app_entry *entry,
                                 const char *config_path, forge_error *err)
{
    return forge__host_load(host, entry, NULL, NULL, config_path, NULL, err);
}

forge_app *forge_host_load(forge_host *host, const char *so_path, const char *config_path,
                           forge_error *err)
{
    return forge__host_load_so(host, so_path, config_path, NULL, err);
}

forge_app *forge__host_load_so(forge_host *host, const char *so_path, const char *config_path,
                               const char *config_text, forge_error *err)
{
    if (!host || !so_path) {
        forge_error_set(err, FORGE_EINVAL, "host load: no host or app path");
        return NULL;
    }
    if (access(so_path, R_OK) != 0) {
        int e = errno;
        forge_error_set(err, e == ENOENT ? FORGE_ENOENT : FORGE_EACCES, "app %s: %s", so_path,
                        strerror(e));
        return NULL;
    }
    void *dl = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        forge_error_set(err, FORGE_EIO, "app %s cannot be loaded: %s", so_path,
                        why ? why : "unknown dlopen error");
        return NULL;
    }
    const struct forge_app_entry *entry = dlsym(dl, FORGE_APP_SYMBOL);
    if (!entry) {
        forge_error_set(err, FORGE_ENOENT,
                        "app %s does not export the symbol %s: declare the app with "
                        "FORGE_APP(name, version) in one of its sources",
                        so_path, FORGE_APP_SYMBOL);
        dlclose(dl);
        return NULL;
    }
    forge_app *app = forge__host_load(host, entry, dl, so_path, config_path, config_text, err);
    if (!app)
        dlclose(dl);
    return app;
}
