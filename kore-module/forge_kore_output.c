/*
 * forge_kore: Forge's response into Kore.
 *
 * send_head keeps the status and copies the headers onto the Kore request;
 * nothing is written yet. A whole body handed over in one piece (the usual
 * case) goes out with http_response(), which writes the head with its
 * Content-Length and the body in one go. Anything else (a stream, a body
 * in several pieces) is written piece by piece, as Kore's own Python
 * binding does for iterators: http_response() writes the head with
 * HTTP_REQUEST_NO_CONTENT_LENGTH and our own Content-Length or
 * Transfer-Encoding: chunked, CONN_IS_BUSY keeps Kore from reading the next
 * request meanwhile, and each piece is queued on the connection (with the
 * chunked framing written here: Kore has none). HTTP/1.0 gets a
 * close-delimited body instead of chunks.
 *
 * Both ops run only on the worker's loop thread, inside forge_req_dispatch
 * or forge_req_resume; the page handler flushes the connection after them.
 */

#include <sys/types.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "forge_kore.h"

static int forge_kore_gone(struct http_request *);
static int forge_kore_skip(struct forge_kore_req *, const forge_header *);
static void forge_kore_header_add(
    struct http_request *, const char *, size_t, const char *, size_t);
static void forge_kore_emit_whole(
    struct forge_kore_req *, const void *, size_t);
static void forge_kore_emit_stream(struct forge_kore_req *);
static void forge_kore_queue(
    struct forge_kore_req *, const void *, size_t, unsigned);

#define forge_kore_is(h, s) forge_str_ieq((h)->name, FORGE_STR(s))

int
forge_kore_send_head(void *hreq, int status, const forge_header *headers,
    size_t nheaders, int64_t length)
{
	struct forge_kore_req *fr = hreq;
	struct http_header *hdr;
	const forge_header *first;
	size_t i, len;
	char *p;

	if (fr->flags & FORGE_KORE_HEAD)
		return (FORGE_ESTATE);
	if (forge_kore_gone(fr->req))
		return (FORGE_EIO);

	/*
	 * Kore writes each response header as "%s: %s\r\n". All of Forge's
	 * headers go into one of them: the first name, and as its value the
	 * first value followed by "\r\nName: value" for each other header.
	 * One header allocation and one formatted write per response instead
	 * of one per header. Forge
	 * refuses CR and LF in header names and values, so the block holds
	 * exactly the headers given.
	 */
	first = NULL;
	len = 0;
	for (i = 0; i < nheaders; i++) {
		if (forge_kore_skip(fr, &headers[i]))
			continue;
		if (first == NULL) {
			first = &headers[i];
			len = first->value.n;
		} else {
			len += 2 + headers[i].name.n + 2 + headers[i].value.n;
		}
	}

	if (first != NULL) {
		hdr = kore_pool_get(&http_header_pool);

		hdr->header = kore_malloc(first->name.n + 1);
		memcpy(hdr->header, first->name.p, first->name.n);
		hdr->header[first->name.n] = '\0';

		hdr->value = kore_malloc(len + 1);
		p = hdr->value;
		memcpy(p, first->value.p, first->value.n);
		p += first->value.n;

		for (i = (size_t)(first - headers) + 1; i < nheaders; i++) {
			if (forge_kore_skip(fr, &headers[i]))
				continue;
			*p++ = '\r';
			*p++ = '\n';
			memcpy(p, headers[i].name.p, headers[i].name.n);
			p += headers[i].name.n;
			*p++ = ':';
			*p++ = ' ';
			memcpy(p, headers[i].value.p, headers[i].value.n);
			p += headers[i].value.n;
		}
		*p = '\0';

		TAILQ_INSERT_TAIL(&fr->req->resp_headers, hdr, list);
	}

	fr->status = status;
	fr->length = length;
	fr->flags |= FORGE_KORE_HEAD;

	return (0);
}

int
forge_kore_send_body(void *hreq, const void *data, size_t len, unsigned flags)
{
	struct forge_kore_req *fr = hreq;
	struct http_request *req;

	req = fr->req;

	if (!(fr->flags & FORGE_KORE_HEAD) || (fr->flags & FORGE_KORE_LAST))
		return (FORGE_ESTATE);
	if (forge_kore_gone(req))
		return (FORGE_EIO);

	if (flags & FORGE_SEND_LAST)
		fr->flags |= FORGE_KORE_LAST;

	if (req->method == HTTP_METHOD_HEAD) {
		/* the head as GET would have it; no body bytes */
		if (!(fr->flags & FORGE_KORE_SENT))
			forge_kore_emit_whole(fr, NULL, 0);
		return (0);
	}

	if (!(fr->flags & FORGE_KORE_SENT)) {
		if ((flags & FORGE_SEND_LAST) && fr->length >= 0 &&
		    (u_int64_t)fr->length == len) {
			forge_kore_emit_whole(fr, data, len);
			return (0);
		}

		if (len == 0 && flags == 0)
			return (0);

		forge_kore_emit_stream(fr);
	}

	if (fr->length >= 0 && len > (u_int64_t)fr->length - fr->sent) {
		kore_log(LOG_ERR, "forge: %s: body exceeds its length %" PRId64,
		    req->path, fr->length);
		return (FORGE_ERANGE);
	}

	forge_kore_queue(fr, data, len, flags);

	return (0);
}

/*
 * Forge is done with the request (and it is released): complete what is
 * on the wire. The page then returns KORE_RESULT_OK and Kore flushes.
 */
void
forge_kore_output_finish(struct forge_kore_req *fr)
{
	struct http_request *req;
	struct connection *c;

	req = fr->req;
	c = req->owner;

	if (forge_kore_gone(req))
		return;

	if (!(fr->flags & FORGE_KORE_SENT)) {
		if (!(fr->flags & FORGE_KORE_HEAD)) {
			kore_log(LOG_ERR,
			    "forge: %s: completed without a "
			    "response",
			    req->path);
			http_response(req, HTTP_STATUS_INTERNAL_ERROR, NULL, 0);
			return;
		}

		if (req->method == HTTP_METHOD_HEAD || fr->length == 0) {
			forge_kore_emit_whole(fr, NULL, 0);
			return;
		}

		forge_kore_emit_stream(fr);
	}

	if (!(fr->flags & FORGE_KORE_STREAM))
		return;

	if ((fr->flags & FORGE_KORE_CHUNKED) && !(fr->flags & FORGE_KORE_LAST))
		forge_kore_queue(fr, NULL, 0, FORGE_SEND_LAST);

	/* a body short of its Content-Length: only a close tells the client */
	if (fr->length >= 0 && fr->sent != (u_int64_t)fr->length) {
		kore_log(LOG_ERR,
		    "forge: %s: body ended at %" PRIu64 " of %" PRId64 " bytes",
		    req->path, fr->sent, fr->length);
		fr->flags |= FORGE_KORE_CLOSE;
	}

	c->flags &= ~CONN_IS_BUSY;

	if (fr->flags & FORGE_KORE_CLOSE)
		c->flags |= CONN_CLOSE_EMPTY;
	else
		http_start_recv(c);
}

static int
forge_kore_gone(struct http_request *req)
{
	return (req->owner == NULL ||
	    req->owner->state == CONN_STATE_DISCONNECTING);
}

/* Framing and connection headers are Kore's; note a Connection: close. */
static int
forge_kore_skip(struct forge_kore_req *fr, const forge_header *h)
{
	size_t i;

	/* by length first: most headers match none of the four */
	switch (h->name.n) {
	case 0:
		return (1);
	case 10:
		break;
	case 14:
		return (forge_kore_is(h, "Content-Length"));
	case 17:
		return (forge_kore_is(h, "Transfer-Encoding"));
	default:
		return (0);
	}

	if (forge_kore_is(h, "Keep-Alive"))
		return (1);

	if (forge_kore_is(h, "Connection")) {
		for (i = 0; i + 5 <= h->value.n; i++) {
			if (!strncasecmp(h->value.p + i, "close", 5))
				fr->flags |= FORGE_KORE_CLOSE;
		}
		return (1);
	}

	return (0);
}

/*
 * http_response_header() with lengths: Forge's strings are not
 * NUL-terminated. Kore frees both strings and the header with the request.
 */
static void
forge_kore_header_add(struct http_request *req, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	struct http_header *hdr;

	hdr = kore_pool_get(&http_header_pool);

	hdr->header = kore_malloc(nlen + 1);
	memcpy(hdr->header, name, nlen);
	hdr->header[nlen] = '\0';

	hdr->value = kore_malloc(vlen + 1);
	memcpy(hdr->value, value, vlen);
	hdr->value[vlen] = '\0';

	TAILQ_INSERT_TAIL(&req->resp_headers, hdr, list);
}

/* Head and whole body at once; for HEAD, the head GET would have. */
static void
forge_kore_emit_whole(struct forge_kore_req *fr, const void *data, size_t len)
{
	struct http_request *req;

	req = fr->req;

	if (fr->flags & FORGE_KORE_CLOSE)
		req->owner->flags |= CONN_CLOSE_EMPTY;

	if (req->method == HTTP_METHOD_HEAD) {
		if (fr->length >= 0) {
			/* Kore writes content-length: len, sends no body */
			len = (size_t)fr->length;
		} else {
			req->flags |= HTTP_REQUEST_NO_CONTENT_LENGTH;
			if (!(req->flags & HTTP_VERSION_1_0)) {
				forge_kore_header_add(
				    req, "transfer-encoding", 17, "chunked", 7);
			}
			len = 0;
		}
		data = NULL;
	}

	http_response(req, fr->status, data, len);
	fr->flags |= FORGE_KORE_SENT;
}

static void
forge_kore_emit_stream(struct forge_kore_req *fr)
{
	struct http_request *req;
	struct connection *c;
	char buf[32];
	int n;

	req = fr->req;
	c = req->owner;

	if (fr->length >= 0) {
		n = snprintf(buf, sizeof(buf), "%" PRId64, fr->length);
		forge_kore_header_add(
		    req, "content-length", 14, buf, (size_t)n);
	} else if (!(req->flags & HTTP_VERSION_1_0)) {
		forge_kore_header_add(
		    req, "transfer-encoding", 17, "chunked", 7);
		fr->flags |= FORGE_KORE_CHUNKED;
	} else {
		/* HTTP/1.0: the body ends with the connection */
		fr->flags |= FORGE_KORE_CLOSE;
	}

	req->flags |= HTTP_REQUEST_NO_CONTENT_LENGTH;
	c->flags |= CONN_IS_BUSY;

	if (fr->flags & FORGE_KORE_CLOSE)
		c->flags |= CONN_CLOSE_EMPTY;

	http_response(req, fr->status, NULL, 0);

	/*
	 * Kore closes a CONN_CLOSE_EMPTY connection as soon as its send queue
	 * runs empty, which would cut the stream after its first piece: hold
	 * the close back until the body is complete.
	 */
	if (c->flags & CONN_CLOSE_EMPTY) {
		fr->flags |= FORGE_KORE_CLOSE;
		c->flags &= ~CONN_CLOSE_EMPTY;
	}

	fr->flags |= FORGE_KORE_SENT | FORGE_KORE_STREAM;
}

static void
forge_kore_queue(
    struct forge_kore_req *fr, const void *data, size_t len, unsigned flags)
{
	struct connection *c;
	char size[32];
	int n;

	c = fr->req->owner;

	if (len > 0) {
		if (fr->flags & FORGE_KORE_CHUNKED) {
			n = snprintf(size, sizeof(size), "%zx\r\n", len);
			net_send_queue(c, size, (size_t)n);
			net_send_queue(c, data, len);
			net_send_queue(c, "\r\n", 2);
		} else {
			net_send_queue(c, data, len);
		}
		fr->sent += len;
	}

	if ((flags & FORGE_SEND_LAST) && (fr->flags & FORGE_KORE_CHUNKED))
		net_send_queue(c, "0\r\n\r\n", 5);
}
