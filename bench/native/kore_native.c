/*
 * kore_native: the native Kore page bench/kore_bench.sh measures Forge
 * against. It answers what Forge's hello app answers on GET /hello: 200,
 * "hello\n" as text/plain. Built with Kore's feature flags like every
 * object Kore loads (kore-module/CMakeLists.txt).
 */

#include <kore/kore.h>
#include <kore/http.h>

int native_hello(struct http_request *);

int native_hello(struct http_request *req)
{
    http_response_header(req, "content-type", "text/plain; charset=utf-8");
    http_response(req, HTTP_STATUS_OK, "hello\n", 6);

    return (KORE_RESULT_OK);
}
