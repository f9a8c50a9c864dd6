/*
 * Helpers for the http area's tests: a test host over an entry, and
 * shorthands for requests and problem+json checks. Include after cmocka.h.
 */
#ifndef FORGE_HTTP_TEST_H
#define FORGE_HTTP_TEST_H

#include <forge/forge.h>
#include <forge/testhost.h>

#include <stdio.h>
#include <string.h>

/* Quiet by default: access lines are INFO. */
#define HT_QUIET "log:\n  level: warn\n"

static inline forge_test_host *ht_new_opts(const forge_test_opts *o)
{
    forge_error err;
    forge_error_clear(&err);
    forge_test_host *th = forge_test_host_new_opts(o, &err);
    if (!th)
        fail_msg("test host: %s (%s) [%s]", err.message, forge_err_name(err.code), err.cause);
    return th;
}

static inline forge_test_host *ht_new(const struct forge_app_entry *e, const char *cfg)
{
    forge_test_opts o = {.entry = e, .config_text = cfg ? cfg : HT_QUIET};
    return ht_new_opts(&o);
}

/* One request; fails the test when the host could not complete it. */
static inline void ht_req(forge_test_host *th, const char *method, const char *target,
                          const char *const *headers, const char *body, forge_test_response *res)
{
    forge_error err;
    forge_error_clear(&err);
    int rc =
        forge_test_request(th, method, target, headers, body, body ? strlen(body) : 0, res, &err);
    if (rc != 0)
        fail_msg("%s %s: %s", method, target, err.message);
    assert_true(res->complete);
}

static inline const char *ht_header(const forge_test_response *res, const char *name)
{
    const char *v = forge_test_response_header(res, name);
    return v ? v : "";
}

/* Check an RFC 9457 body: media type, status member, title, instance. */
static inline json_t *ht_problem(const forge_test_response *res, int status, const char *instance)
{
    assert_int_equal(res->status, status);
    assert_string_equal(ht_header(res, "Content-Type"), "application/problem+json");
    assert_int_equal(res->content_length, (int64_t)res->body_len);
    json_error_t je;
    json_t *p = json_loadb(res->body, res->body_len, 0, &je);
    if (!p)
        fail_msg("problem body is not JSON: %s (%s)", je.text, res->body);
    assert_int_equal(json_integer_value(json_object_get(p, "status")), status);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "about:blank");
    assert_non_null(json_string_value(json_object_get(p, "title")));
    if (instance)
        assert_string_equal(json_string_value(json_object_get(p, "instance")), instance);
    return p; /* caller decrefs */
}

#define HT_ENTRY(var, name_, init_)                                                                \
    static const struct forge_app_entry var = {                                                    \
        FORGE_ABI_VERSION, (uint32_t)sizeof(struct forge_app_entry), name_, "1.0.0", init_, {0}}

#endif
