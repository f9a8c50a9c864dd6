/*
 * kore_before: a small native Kore 4.1 application, the "before" of
 * migration/kore-page.md. Three pages:
 *
 *	GET  /hello		"hello\n"
 *	GET  /users/<id>	{"id":"<id>"} (digits only, else 404)
 *	POST /echo		the body back with its Content-Type
 *
 * Build: kore-module/CMakeLists.txt (build/lib/kore_before.so, with Kore's
 * feature flags). Run: kore -f -n -r -c kore_before.conf from this
 * directory after adjusting its `load` path.
 */

#include <kore/kore.h>
#include <kore/http.h>

#include <stdio.h>
#include <string.h>

int page_hello(struct http_request *);
int page_user(struct http_request *);
int page_echo(struct http_request *);

int
page_hello(struct http_request *req)
{
	http_response_header(req, "content-type", "text/plain; charset=utf-8");
	http_response(req, HTTP_STATUS_OK, "hello\n", 6);
	return (KORE_RESULT_OK);
}

int
page_user(struct http_request *req)
{
	const char *id;
	char json[128];
	int len;

	if (req->method != HTTP_METHOD_GET) {
		http_response_header(req, "allow", "GET");
		http_response(req, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL, 0);
		return (KORE_RESULT_OK);
	}

	/* the route regex ^/users/[0-9]{1,32}$ guarantees the shape */
	id = req->path + sizeof("/users/") - 1;
	len = snprintf(json, sizeof(json), "{\"id\":\"%s\"}", id);
	if (len < 0 || (size_t)len >= sizeof(json)) {
		http_response(req, HTTP_STATUS_INTERNAL_ERROR, NULL, 0);
		return (KORE_RESULT_OK);
	}

	http_response_header(req, "content-type", "application/json");
	http_response(req, HTTP_STATUS_OK, json, (size_t)len);
	return (KORE_RESULT_OK);
}

int
page_echo(struct http_request *req)
{
	struct kore_buf buf;
	const char *type;
	u_int8_t data[4096];
	ssize_t n;

	if (req->method != HTTP_METHOD_POST) {
		http_response_header(req, "allow", "POST");
		http_response(req, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL, 0);
		return (KORE_RESULT_OK);
	}

	kore_buf_init(&buf, 1024);
	while ((n = http_body_read(req, data, sizeof(data))) > 0)
		kore_buf_append(&buf, data, (size_t)n);

	if (n == -1) {
		kore_buf_cleanup(&buf);
		http_response(req, HTTP_STATUS_INTERNAL_ERROR, NULL, 0);
		return (KORE_RESULT_OK);
	}

	if (!http_request_header(req, "content-type", &type))
		type = "application/octet-stream";

	http_response_header(req, "content-type", type);
	http_response(req, HTTP_STATUS_OK, buf.data, buf.offset);
	kore_buf_cleanup(&buf);

	return (KORE_RESULT_OK);
}
