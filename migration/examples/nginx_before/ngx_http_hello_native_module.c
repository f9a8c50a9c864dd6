/* clang-format off */
/* (nginx's own style throughout, as a native module is written) */

/*
 * ngx_http_hello_native_module: the "before" of
 * migration/nginx-content-handler.md, a classic nginx content handler.
 *
 *     load_module modules/ngx_http_hello_native_module.so;
 *     location /api/ { hello_native; }
 *
 * Paths are taken below the location's prefix:
 *
 *     GET  /api/hello      "hello\n" as text/plain
 *     GET  /api/users/ID   {"id":"ID"} as application/json
 *     POST /api/echo       the request body back, with its Content-Type
 *
 * Anything else is nginx's own 404 or 405 page. The Forge app in
 * ../nginx_after answers the same routes; tests/integration/migration_test.sh
 * serves both from one nginx and compares them.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


static char *ngx_http_hello_native(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_hello_native_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_hello_native_user(ngx_http_request_t *r,
    ngx_str_t *id);
static void ngx_http_hello_native_echo(ngx_http_request_t *r);
static ngx_int_t ngx_http_hello_native_send(ngx_http_request_t *r,
    ngx_str_t *type, ngx_chain_t *out, off_t len);


static ngx_command_t  ngx_http_hello_native_commands[] = {

    { ngx_string("hello_native"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_hello_native,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_hello_native_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_hello_native_module = {
    NGX_MODULE_V1,
    &ngx_http_hello_native_module_ctx,     /* module context */
    ngx_http_hello_native_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_hello_native_text =
    ngx_string("text/plain; charset=utf-8");
static ngx_str_t  ngx_http_hello_native_json =
    ngx_string("application/json");
static ngx_str_t  ngx_http_hello_native_octets =
    ngx_string("application/octet-stream");


static ngx_int_t
ngx_http_hello_native_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  rest, id;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* r->uri is already percent-decoded (and its slashes merged) */

    if (r->uri.len < clcf->name.len) {
        return NGX_HTTP_NOT_FOUND;
    }

    rest.data = r->uri.data + clcf->name.len;
    rest.len = r->uri.len - clcf->name.len;

    if (rest.len == 4 && ngx_strncmp(rest.data, "echo", 4) == 0) {

        if (r->method != NGX_HTTP_POST) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        rc = ngx_http_read_client_request_body(r, ngx_http_hello_native_echo);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (rest.len == 5 && ngx_strncmp(rest.data, "hello", 5) == 0) {

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->pos = (u_char *) "hello\n";
        b->last = b->pos + sizeof("hello\n") - 1;
        b->memory = 1;
        b->last_buf = (r == r->main) ? 1 : 0;
        b->last_in_chain = 1;

        out.buf = b;
        out.next = NULL;

        return ngx_http_hello_native_send(r, &ngx_http_hello_native_text, &out,
                                          b->last - b->pos);
    }

    if (rest.len > 6 && ngx_strncmp(rest.data, "users/", 6) == 0) {
        id.data = rest.data + 6;
        id.len = rest.len - 6;

        if (ngx_strlchr(id.data, id.data + id.len, '/') == NULL) {
            return ngx_http_hello_native_user(r, &id);
        }
    }

    return NGX_HTTP_NOT_FOUND;
}


static ngx_int_t
ngx_http_hello_native_user(ngx_http_request_t *r, ngx_str_t *id)
{
    size_t        len;
    u_char       *p;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    len = sizeof("{\"id\":\"\"}") - 1 + id->len
          + ngx_escape_json(NULL, id->data, id->len);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, id->data, id->len);
    b->last = ngx_cpymem(p, "\"}", sizeof("\"}") - 1);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_hello_native_send(r, &ngx_http_hello_native_json, &out,
                                      b->last - b->pos);
}


/* The body is sent back from nginx's own buffers, in memory or in a file. */

static void
ngx_http_hello_native_echo(ngx_http_request_t *r)
{
    off_t         len;
    ngx_buf_t    *b, *last;
    ngx_str_t    *type;
    ngx_chain_t  *cl, *out, **ll;

    len = 0;
    out = NULL;
    ll = &out;
    last = NULL;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        if (ngx_buf_size(cl->buf) == 0) {
            continue;
        }

        b = ngx_alloc_buf(r->pool);
        if (b == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        *b = *cl->buf;
        b->last_buf = 0;
        b->last_in_chain = 0;
        len += ngx_buf_size(b);

        *ll = ngx_alloc_chain_link(r->pool);
        if (*ll == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        (*ll)->buf = b;
        (*ll)->next = NULL;
        ll = &(*ll)->next;
        last = b;
    }

    if (last == NULL) {
        last = ngx_calloc_buf(r->pool);
        *ll = ngx_alloc_chain_link(r->pool);

        if (last == NULL || *ll == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        (*ll)->buf = last;
        (*ll)->next = NULL;
    }

    last->last_buf = (r == r->main) ? 1 : 0;
    last->last_in_chain = 1;

    type = r->headers_in.content_type
           ? &r->headers_in.content_type->value
           : &ngx_http_hello_native_octets;

    ngx_http_finalize_request(r, ngx_http_hello_native_send(r, type, out,
                                                            len));
}


static ngx_int_t
ngx_http_hello_native_send(ngx_http_request_t *r, ngx_str_t *type,
    ngx_chain_t *out, off_t len)
{
    u_char     *semi;
    ngx_int_t   rc;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type = *type;

    semi = ngx_strlchr(type->data, type->data + type->len, ';');
    r->headers_out.content_type_len = semi ? (size_t) (semi - type->data)
                                           : type->len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


static char *
ngx_http_hello_native(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_hello_native_handler;

    return NGX_CONF_OK;
}

/* clang-format on */
