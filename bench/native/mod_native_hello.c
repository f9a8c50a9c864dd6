/*
 * mod_native_hello: the reference of bench/apache_bench.sh. A minimal native
 * Apache handler answering "hello\n" as text/plain, claiming its locations
 * the way mod_forge does (translate_name + map_to_storage), so that the
 * comparison measures Forge's binding and core, not core's directory walk.
 *
 *     <Location /native>
 *         NativeHello On
 *     </Location>
 */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include "apr_strings.h"

#include <string.h>

typedef struct {
    int on; /* -1 unset, 0, 1 */
} native_dir_conf;

static const char native_claimed = 1;

module AP_MODULE_DECLARE_DATA native_hello_module;

static void *native_create_dir_conf(apr_pool_t *p, char *dir)
{
    native_dir_conf *dc = apr_palloc(p, sizeof(*dc));

    dc->on = -1;
    return dc;
}

static void *native_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    native_dir_conf *base = basev, *add = addv;
    native_dir_conf *dc = apr_palloc(p, sizeof(*dc));

    dc->on = add->on != -1 ? add->on : base->on;
    return dc;
}

static const char *native_set_on(cmd_parms *cmd, void *dconf, int on)
{
    ((native_dir_conf *)dconf)->on = on;
    return NULL;
}

static int native_translate(request_rec *r)
{
    native_dir_conf *dc = ap_get_module_config(r->per_dir_config, &native_hello_module);

    if (dc->on != 1) {
        return DECLINED;
    }
    ap_set_module_config(r->request_config, &native_hello_module, (void *)&native_claimed);
    r->handler = "native-hello";
    r->filename = apr_pstrcat(r->pool, "native:", r->uri, NULL);
    return OK;
}

static int native_map_to_storage(request_rec *r)
{
    return ap_get_module_config(r->request_config, &native_hello_module) ? OK : DECLINED;
}

static int native_handler(request_rec *r)
{
    if (!ap_get_module_config(r->request_config, &native_hello_module)) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    ap_set_content_type(r, "text/plain; charset=utf-8");
    ap_set_content_length(r, 6);
    if (!r->header_only) {
        ap_rwrite("hello\n", 6, r);
    }
    return OK;
}

static const command_rec native_cmds[] = {AP_INIT_FLAG("NativeHello", native_set_on, NULL,
                                                       RSRC_CONF | ACCESS_CONF,
                                                       "On: answer hello here"),
                                          {NULL}};

static void native_register_hooks(apr_pool_t *p)
{
    ap_hook_translate_name(native_translate, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(native_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(native_handler, NULL, NULL, APR_HOOK_FIRST);
}

module AP_MODULE_DECLARE_DATA native_hello_module = {
    STANDARD20_MODULE_STUFF,
    native_create_dir_conf, /* create per-directory config */
    native_merge_dir_conf,  /* merge per-directory config */
    NULL,                   /* create per-server config */
    NULL,                   /* merge per-server config */
    native_cmds,            /* directives */
    native_register_hooks,  /* hooks */
    AP_MODULE_FLAG_NONE     /* flags */
};
