/*
 * /_/info: what is running. App name and version, Forge and host versions,
 * workers, uptime (since the server's shared memory was laid out, i.e. the
 * master loaded the app), this worker's services and their states, and the
 * routes.
 */
#include "metrics_impl.h"
#include "request_impl.h"

#include <string.h>

static int add_service(const char *name, forge_service_state st, void *u)
{
    json_array_append_new(
        u, json_pack("{s:s,s:s}", "name", name, "state", forge_service_state_name(st)));
    return 0;
}

static int add_route(const forge_route_info *info, void *u)
{
    json_array_append_new(u, json_pack("{s:s,s:s,s:b}", "method", forge_method_name(info->method),
                                       "pattern", info->pattern, "internal",
                                       (info->opts->flags & FORGE_ROUTE_INTERNAL) != 0));
    return 0;
}

static int h_info(forge_req *req, void *udata)
{
    forge_app *app = forge_req_app(req);
    const forge_host_ops *ops = forge__host_ops(req->host);
    int64_t start = forge__metrics_start_ms(app->observe->metrics);
    json_t *services = json_array(), *routes = json_array();
    forge_app_services(app, add_service, services);
    forge_app_routes(app, add_route, routes);
    json_t *o = json_pack(
        "{s:{s:s,s:s},s:{s:s},s:{s:s,s:s},s:i,s:i,s:f,s:I,s:o,s:o}", "app", "name",
        forge_app_name(app), "version", forge_app_version(app), "forge", "version",
        FORGE_VERSION_STRING, "host", "kind", ops->kind ? ops->kind : "", "version",
        ops->version ? ops->version : "", "workers", forge_app_worker_count(app), "worker",
        forge_app_worker_id(app), "uptime_s", (double)(forge__obs_now_ms() - start) / 1000.0,
        "started_ms", (json_int_t)start, "services", services, "routes", routes);
    if (!o)
        return FORGE_ENOMEM;
    forge_res_set_header(req, "Cache-Control", "no-store");
    int rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

int forge__info_routes(forge_app *app, forge_error *err)
{
    return forge__observe_route(app, "/info", h_info, NULL, 0, err);
}
