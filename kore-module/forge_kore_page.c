/*
 * forge_kore: the page handler, forge_kore_page.
 *
 * Kore calls a page once the request head and body are in. The first call
 * translates the request into a forge_req and dispatches it; when Forge
 * answers FORGE_ASYNC the request sleeps (KORE_RESULT_RETRY) until Forge
 * wakes it (forge_kore_wake.c), and each later call resumes it. When Forge
 * is done the request is released and the page returns KORE_RESULT_OK:
 * Kore flushes what is queued and frees the request.
 *
 * A forge request is released exactly once: when it completes, or from the
 * request's onfree callback when Kore frees the request first (the client
 * went away while it slept).
 *
 * The per-request state (struct forge_kore_req) is Kore's hdlr_extra, as
 * http_state_create would make it, but recycled through a free list of the
 * worker's loop thread instead of a kore_calloc and kore_free per request
 * (HTTP_REQUEST_RETAIN_EXTRA keeps Kore from freeing it): ~180
 * instructions a request (ADR 0080).
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "forge_kore.h"

#include <forge/request.h>

#define FORGE_KORE_FREE_MAX 1024

static struct forge_kore_req *forge_kore_req_new(struct http_request *);
static void forge_kore_req_free(struct http_request *);
static void forge_kore_release(struct forge_kore_req *);
static int forge_kore_translate(struct forge_kore_req *);
static void forge_kore_peer(struct forge_kore_req *, struct connection *);
static int forge_kore_body(struct forge_kore_req *);
static void forge_kore_method(forge_req *, u_int8_t);

/* Recycled states, loop thread only (each worker has its own copy). */
static struct forge_kore_req *forge_kore_free;
static u_int32_t forge_kore_nfree;

int
forge_kore_page(struct http_request *req)
{
	struct forge_kore_req *fr;
	struct connection *c;
	int rc, status;

	c = req->owner;

	if ((fr = http_state_get(req)) == NULL) {
		if ((fr = forge_kore_req_new(req)) == NULL)
			return (KORE_RESULT_OK);

		if ((status = forge_kore_translate(fr)) != 0) {
			forge_kore_release(fr);
			http_response(req, status, NULL, 0);
			return (KORE_RESULT_OK);
		}

		rc = forge_req_dispatch(fr->freq);
	} else if (fr->freq != NULL) {
		rc = forge_req_resume(fr->freq);
	} else {
		/* released: nothing to do but let Kore free the request */
		return (KORE_RESULT_OK);
	}

	if (rc == FORGE_ASYNC) {
		/* a stream's head and body may be queued: write what we can */
		if ((fr->flags & FORGE_KORE_STREAM) &&
		    c->state == CONN_STATE_ESTABLISHED && !net_send_flush(c))
			kore_connection_disconnect(c);

		http_request_sleep(req);
		return (KORE_RESULT_RETRY);
	}

	forge_kore_release(fr);
	forge_kore_output_finish(fr);

	return (KORE_RESULT_OK);
}

static struct forge_kore_req *
forge_kore_req_new(struct http_request *req)
{
	struct forge_kore_req *fr;

	if ((fr = forge_kore_free) != NULL) {
		forge_kore_free = fr->next_free;
		forge_kore_nfree--;
		memset(fr, 0, sizeof(*fr));
	} else if ((fr = calloc(1, sizeof(*fr))) == NULL) {
		kore_log(LOG_ERR, "forge: out of memory for a request");
		http_response(req, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL, 0);
		return (NULL);
	}

	fr->req = req;
	req->hdlr_extra = fr;
	req->flags |= HTTP_REQUEST_RETAIN_EXTRA;
	req->onfree = forge_kore_req_free;

	if ((fr->freq = forge_req_new(forge_kore.host, fr)) == NULL) {
		fr->released = 1;
		kore_log(LOG_ERR, "forge: out of memory for a request");
		http_response(req, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL, 0);
		return (NULL);
	}

	return (fr);
}

/*
 * Kore frees the request: completed, or the connection is gone. Released
 * first, no wake can reach the state any more (forge_kore_release), so it
 * is recycled. Cleared from the request, a second call does nothing.
 */
static void
forge_kore_req_free(struct http_request *req)
{
	struct forge_kore_req *fr;

	if ((fr = req->hdlr_extra) == NULL)
		return;

	forge_kore_release(fr);
	req->hdlr_extra = NULL;
	req->onfree = NULL;

	if (forge_kore_nfree < FORGE_KORE_FREE_MAX) {
		fr->next_free = forge_kore_free;
		forge_kore_free = fr;
		forge_kore_nfree++;
	} else {
		free(fr);
	}
}

/* Worker teardown: the recycled states go back to the allocator. */
void
forge_kore_page_cleanup(void)
{
	struct forge_kore_req *fr;

	while ((fr = forge_kore_free) != NULL) {
		forge_kore_free = fr->next_free;
		free(fr);
	}
	forge_kore_nfree = 0;
}

static void
forge_kore_release(struct forge_kore_req *fr)
{
	if (fr->freq == NULL)
		return;

	/*
	 * Forge first: once forge_req_release returns, no thread calls wake
	 * for this request again (the core sets `released` under the
	 * request's lock, which every wake holds), and a wake made before is
	 * visible here, so the cancel only locks when one is queued.
	 */
	forge_req_release(fr->freq);
	fr->freq = NULL;
	forge_kore_wake_cancel(fr);
}

/*
 * Method, target, headers, peer, scheme and body. Forge copies what it is
 * given into the request's arena, except the body, which it borrows until
 * dispatch returns (Kore keeps it until the request is freed). Returns 0 or
 * the status to answer with.
 */
static int
forge_kore_translate(struct forge_kore_req *fr)
{
	struct http_request *req;
	struct http_header *hdr;
	struct connection *c;
	forge_req *freq;

	req = fr->req;
	c = req->owner;
	freq = fr->freq;

	forge_kore_method(freq, req->method);

	forge_req_set_target(freq, req->path, strlen(req->path),
	    req->query_string,
	    req->query_string != NULL ? strlen(req->query_string) : 0);

	/* Kore keeps the Host line out of req_headers, in req->host. */
	if (forge_req_add_header(
		freq, "Host", 4, req->host, strlen(req->host)) != 0)
		return (HTTP_STATUS_BAD_REQUEST);

	TAILQ_FOREACH(hdr, &req->req_headers, list)
	{
		if (forge_req_add_header(freq, hdr->header, strlen(hdr->header),
			hdr->value, strlen(hdr->value)) != 0)
			return (HTTP_STATUS_BAD_REQUEST);
	}

	forge_kore_peer(fr, c);

	if (c->owner != NULL && c->owner->server != NULL &&
	    c->owner->server->tls)
		forge_req_set_scheme(freq, "https", 5);
	else
		forge_req_set_scheme(freq, "http", 4);

	return (forge_kore_body(fr));
}

/* IP peers are formatted by Forge only if asked for (an access log, a rate
 * limit). */
static void
forge_kore_peer(struct forge_kore_req *fr, struct connection *c)
{
	switch (c->family) {
	case AF_INET:
		forge_req_set_peer_addr(
		    fr->freq, (const struct sockaddr *)&c->addr.ipv4);
		break;
	case AF_INET6:
		forge_req_set_peer_addr(
		    fr->freq, (const struct sockaddr *)&c->addr.ipv6);
		break;
	default:
		forge_req_set_peer(fr->freq, "unix", 4, 0);
		break;
	}
}

/*
 * Kore has read the whole body (POST, PUT and PATCH need a Content-Length;
 * above http_body_max Kore answered 413 before we ran). In memory it is
 * borrowed; offloaded to disk (http_body_disk_offload) it is read into
 * Forge's arena. A body over the route's limit is not read at all: Forge
 * answers 413 from its length.
 */
static int
forge_kore_body(struct forge_kore_req *fr)
{
	struct http_request *req;
	size_t len, off;
	ssize_t n;
	u_int8_t *p;

	req = fr->req;
	len = req->http_body_length;

	if (len == 0)
		return (0);

	if (len > forge_req_body_limit(fr->freq)) {
		forge_req_set_body(fr->freq, NULL, len);
		return (0);
	}

	if (req->http_body != NULL && req->http_body_fd == -1) {
		if (req->http_body->length < len)
			return (HTTP_STATUS_INTERNAL_ERROR);
		forge_req_set_body(fr->freq, req->http_body->data, len);
		return (0);
	}

	if ((p = forge_req_alloc(fr->freq, len)) == NULL)
		return (HTTP_STATUS_INTERNAL_ERROR);

	for (off = 0; off < len; off += (size_t)n) {
		n = http_body_read(req, p + off, len - off);
		if (n <= 0) {
			kore_log(LOG_ERR,
			    "forge: reading the request body "
			    "returned %zd at %zu of %zu bytes",
			    n, off, len);
			return (HTTP_STATUS_INTERNAL_ERROR);
		}
	}

	forge_req_set_body(fr->freq, p, len);

	return (0);
}

/* Kore's methods are all Forge's: no text to parse. */
static void
forge_kore_method(forge_req *freq, u_int8_t method)
{
	switch (method) {
	case HTTP_METHOD_GET:
		forge_req_set_method_id(freq, FORGE_METHOD_GET);
		break;
	case HTTP_METHOD_POST:
		forge_req_set_method_id(freq, FORGE_METHOD_POST);
		break;
	case HTTP_METHOD_PUT:
		forge_req_set_method_id(freq, FORGE_METHOD_PUT);
		break;
	case HTTP_METHOD_DELETE:
		forge_req_set_method_id(freq, FORGE_METHOD_DELETE);
		break;
	case HTTP_METHOD_HEAD:
		forge_req_set_method_id(freq, FORGE_METHOD_HEAD);
		break;
	case HTTP_METHOD_OPTIONS:
		forge_req_set_method_id(freq, FORGE_METHOD_OPTIONS);
		break;
	case HTTP_METHOD_PATCH:
		forge_req_set_method_id(freq, FORGE_METHOD_PATCH);
		break;
	default: {
		const char *text = http_method_text(method);

		forge_req_set_method(freq, text, strlen(text));
		break;
	}
	}
}
