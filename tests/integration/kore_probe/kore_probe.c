/*
 * kore_probe: a Forge app that answers with what it was given, so the Kore
 * binding's integration test can check the translation of a request
 * (method, raw path, query, headers in order with repeats, peer, scheme,
 * body length) and of response headers the app repeats.
 *
 * Any method on /probe/ and below answers
 *   {"method":..,"path":..,"query":..,"peer":..,"port":..,"scheme":..,
 *    "body_len":..,"headers":[[name,value],...]}
 * with two "X-Probe" response headers.
 */
#include <forge/forge.h>

static int probe(forge_req *req, void *udata)
{
    json_t *hs = json_array();
    forge_header h;
    for (size_t i = 0; hs && forge_req_header_at(req, i, &h); i++)
        json_array_append_new(hs, json_pack("[s%s%]", h.name.p, h.name.n, h.value.p, h.value.n));
    forge_str m = forge_req_method_str(req), p = forge_req_raw_path(req), q = forge_req_query(req);
    forge_str peer = forge_req_peer(req), scheme = forge_req_scheme(req);
    json_t *o = json_pack("{s:s%,s:s%,s:s%,s:s%,s:i,s:s%,s:I,s:o}", "method", m.p, m.n, "path", p.p,
                          p.n, "query", q.p ? q.p : "", q.n, "peer", peer.p, peer.n, "port",
                          forge_req_peer_port(req), "scheme", scheme.p, scheme.n, "body_len",
                          (json_int_t)forge_req_body(req).n, "headers", hs);
    if (!o)
        return FORGE_ENOMEM;
    int rc = forge_res_header(req, "X-Probe", "one");
    if (rc == FORGE_OK)
        rc = forge_res_header(req, "X-Probe", "two");
    if (rc == FORGE_OK)
        rc = forge_res_json(req, 200, o);
    json_decref(o);
    return rc;
}

FORGE_APP("kore_probe", "1.0.0")
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", NULL};
    for (int i = 0; methods[i]; i++) {
        int rc = forge_app_route(app, methods[i], "/probe/*rest", probe, NULL, NULL, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}
