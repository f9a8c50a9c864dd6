/*
 * The app record: creation, ownership of its parts, accessors.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static char *dup_or(const char *s, const char *def)
{
    return strdup(s ? s : def);
}

forge_app *forge_app_new(const char *name, const char *version)
{
    forge_app *app = calloc(1, sizeof(*app));
    if (!app)
        return NULL;
    app->name = dup_or(name, "app");
    app->version = dup_or(version, "0.0.0");
    app->config = forge_config_new();
    app->log = forge_log_new();
    app->di = forge_di_new();
    app->router = forge_router_new();
    app->services = forge__services_new();
    app->routes = forge__routes_new();
    app->shm = forge__shm_new();
    app->worker_id = 0;
    app->worker_count = 1;
    if (!app->name || !app->version || !app->config || !app->log || !app->di || !app->router ||
        !app->services || !app->routes || !app->shm) {
        forge_app_free(app);
        return NULL;
    }
    forge_di_value(app->di, "forge.app", &forge_type_app, app, NULL, NULL);
    forge_di_value(app->di, "forge.log", &forge_type_log, app->log, NULL, NULL);
    forge_di_value(app->di, "forge.config", &forge_type_config, app->config, NULL, NULL);
    forge_di_value(app->di, "forge.router", &forge_type_router, app->router, NULL, NULL);
    if (forge__observe_attach(app) < 0) {
        forge_app_free(app);
        return NULL;
    }
    return app;
}

void forge_app_free(forge_app *app)
{
    if (!app)
        return;
    forge_app_stop(app);
    /* The container may hold values whose destructors use the other parts: free it first. */
    forge_di_free(app->di);
    forge__observe_free(app);
    forge__routes_free(app->routes);
    forge__services_free(app->services);
    forge__shm_free(app->shm);
    forge_router_free(app->router);
    forge_log_free(app->log);
    forge_config_free(app->config);
    free(app->name);
    free(app->version);
    free(app);
}

const char *forge_app_name(const forge_app *app)
{
    return app->name;
}

const char *forge_app_version(const forge_app *app)
{
    return app->version;
}

forge_config *forge_app_config(forge_app *app)
{
    return app->config;
}

forge_log *forge_app_log(forge_app *app)
{
    return app->log;
}

forge_container *forge_app_container(forge_app *app)
{
    return app->di;
}

forge_router *forge_app_router(forge_app *app)
{
    return app->router;
}

forge_runtime *forge_app_runtime(forge_app *app)
{
    return app->runtime;
}

void forge_app_set_data(forge_app *app, void *data)
{
    app->user_data = data;
}

void *forge_app_data(const forge_app *app)
{
    return app->user_data;
}

int forge_app_worker_id(const forge_app *app)
{
    return app->worker_id;
}

int forge_app_worker_count(const forge_app *app)
{
    return app->worker_count;
}
