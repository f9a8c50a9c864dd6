/*
 * The conformance suite's transport for the in-process test host.
 *
 * The checks (checks.json) are evaluated by one runner (run.py) for every
 * host. For nginx, Apache and Kore the runner speaks HTTP; for the test host
 * it starts this program and speaks a small framed protocol over its stdin
 * and stdout, and this program turns each message into forge_test_* calls
 * on the app .so given as argv[1]. It holds no expectations of its own: it
 * reports what the test host received, the runner judges.
 *
 * Protocol: each message is one line of JSON followed by `body_len` raw bytes.
 *   {"op":"request","method":M,"target":T,"headers":[[n,v]..],"body_len":N}
 *   {"op":"begin","id":I, ...as request}   start a call and keep it in flight
 *   {"op":"snapshot","id":I}               what call I has received so far
 *   {"op":"wait_wake","id":I}              wait for more output, then snapshot
 *   {"op":"wait","id":I}                   wait for completion, then snapshot; frees I
 * Every answer is a response line ({"status","headers","content_length",
 * "nchunks","nflushes","complete","async","body_len"} followed by the body
 * bytes) or {"error":"..."} with body_len 0.
 *
 * Ownership: call slots and their responses belong to the single thread of
 * this program; in-flight calls are aborted at exit.
 */
#include <forge/forge.h>
#include <forge/testhost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALLS   64
#define MAX_HEADERS 64

typedef struct slot {
    forge_test_call *call;
    forge_test_response res;
} slot;

static slot calls[MAX_CALLS];

static void send_error(const char *fmt, const char *detail)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, detail);
    json_t *o = json_pack("{s:s,s:i}", "error", msg, "body_len", 0);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", line ? line : "{\"error\":\"no memory\",\"body_len\":0}");
    fflush(stdout);
    free(line);
    json_decref(o);
}

static void send_response(const forge_test_response *res)
{
    json_t *hs = json_array();
    for (size_t i = 0; hs && i < res->nheaders; i++)
        json_array_append_new(hs,
                              json_pack("[s%,s%]", res->headers[i].name.p, res->headers[i].name.n,
                                        res->headers[i].value.p, res->headers[i].value.n));
    json_t *o =
        json_pack("{s:i,s:o*,s:I,s:I,s:I,s:b,s:b,s:I}", "status", res->status, "headers", hs,
                  "content_length", (json_int_t)res->content_length, "nchunks",
                  (json_int_t)res->nchunks, "nflushes", (json_int_t)res->nflushes, "complete",
                  res->complete, "async", res->async, "body_len", (json_int_t)res->body_len);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!line) {
        send_error("%s", "no memory for the response line");
        return;
    }
    printf("%s\n", line);
    free(line);
    if (res->body_len)
        fwrite(res->body, 1, res->body_len, stdout);
    fflush(stdout);
}

/* "Name: value" strings for forge_test_*, in one malloc'd block; NULL on bad input. */
static char **header_lines(json_t *hs, char ***out)
{
    size_t n = json_is_array(hs) ? json_array_size(hs) : 0, bytes = 0;
    if (n > MAX_HEADERS)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(hs, i);
        if (!json_is_string(json_array_get(h, 0)) || !json_is_string(json_array_get(h, 1)))
            return NULL;
        bytes +=
            json_string_length(json_array_get(h, 0)) + json_string_length(json_array_get(h, 1)) + 3;
    }
    char **v = malloc((n + 1) * sizeof(char *) + bytes);
    if (!v)
        return NULL;
    char *p = (char *)(v + n + 1);
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(hs, i);
        v[i] = p;
        p += sprintf(p, "%s: %s", json_string_value(json_array_get(h, 0)),
                     json_string_value(json_array_get(h, 1))) +
             1;
    }
    v[n] = NULL;
    *out = v;
    return v;
}

static slot *slot_of(json_t *msg, bool want_free)
{
    json_int_t id = json_integer_value(json_object_get(msg, "id"));
    if (id < 0 || id >= MAX_CALLS)
        return NULL;
    slot *s = &calls[id];
    return (s->call == NULL) == want_free ? s : NULL;
}

static void handle(forge_test_host *th, json_t *msg, const char *body, size_t body_len)
{
    const char *op = json_string_value(json_object_get(msg, "op"));
    const char *method = json_string_value(json_object_get(msg, "method"));
    const char *target = json_string_value(json_object_get(msg, "target"));
    forge_error err = {0};
    char **hv = NULL;
    slot *s;

    if (!op) {
        send_error("%s", "a message without an op");
    } else if (!strcmp(op, "request") || !strcmp(op, "begin")) {
        bool begin = op[0] == 'b';
        if (!method || !target || !header_lines(json_object_get(msg, "headers"), &hv)) {
            send_error("%s: needs method, target and [[name,value]...] headers", op);
        } else if (begin && !(s = slot_of(msg, true))) {
            send_error("%s", "begin: a free id from 0 to 63 is needed");
        } else if (!begin) {
            forge_test_response res;
            forge_test_response_init(&res);
            if (forge_test_request(th, method, target, (const char *const *)hv, body, body_len,
                                   &res, &err) < 0)
                send_error("request: %s", err.message);
            else
                send_response(&res);
            forge_test_response_free(&res);
        } else {
            forge_test_response_init(&s->res);
            s->call = forge_test_begin(th, method, target, (const char *const *)hv, body, body_len,
                                       &s->res, &err);
            if (!s->call) {
                forge_test_response_free(&s->res);
                send_error("begin: %s", err.message);
            } else {
                forge_test_call_poll(s->call);
                send_response(&s->res);
            }
        }
    } else if (!strcmp(op, "snapshot") || !strcmp(op, "wait_wake") || !strcmp(op, "wait")) {
        if (!(s = slot_of(msg, false))) {
            send_error("%s: no call in flight with that id", op);
        } else if (op[0] == 's') {
            forge_test_call_poll(s->call);
            send_response(&s->res);
        } else {
            int rc = op[4] == '_' ? forge_test_call_wait_wake(s->call, 0)
                                  : forge_test_call_wait(s->call, 0);
            if (rc < 0)
                send_error("%s: no output within the test host's timeout", op);
            else
                send_response(&s->res);
            if (op[4] != '_' || rc < 0) {
                forge_test_call_free(s->call);
                forge_test_response_free(&s->res);
                s->call = NULL;
            }
        }
    } else {
        send_error("unknown op '%s'", op);
    }
    free(hv);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s APP.so   (driven by tests/conformance/run.py)\n", argv[0]);
        return 2;
    }
    forge_error err = {0};
    forge_test_host *th = forge_test_host_load(argv[1], "log:\n  level: warn\n", &err);
    if (!th) {
        fprintf(stderr, "testhost_driver: %s: %s\n", argv[1], err.message);
        return 1;
    }
    char *line = NULL, *body = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        json_error_t jerr;
        json_t *msg = json_loads(line, 0, &jerr);
        json_int_t n = msg ? json_integer_value(json_object_get(msg, "body_len")) : 0;
        if (!msg || n < 0 || n > 64 * 1024 * 1024) {
            send_error("a malformed message: %s", msg ? "body_len out of range" : jerr.text);
            json_decref(msg);
            break; /* the stream is out of step: stop */
        }
        free(body);
        body = n ? malloc((size_t)n) : NULL;
        if (n && (!body || fread(body, 1, (size_t)n, stdin) != (size_t)n)) {
            send_error("%s", "short body");
            json_decref(msg);
            break;
        }
        handle(th, msg, body, (size_t)n);
        json_decref(msg);
    }
    free(line);
    free(body);
    for (size_t i = 0; i < MAX_CALLS; i++)
        if (calls[i].call) {
            forge_test_call_abort(calls[i].call);
            forge_test_response_free(&calls[i].res);
        }
    forge_test_host_free(th);
    return 0;
}
