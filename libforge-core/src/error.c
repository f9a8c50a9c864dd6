/*
 * Error codes: names, descriptions, and the forge_error detail record.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct code_info {
    int code;
    const char *name;
    const char *text;
};

static const struct code_info codes[] = {
    {FORGE_OK, "FORGE_OK", "success"},
    {FORGE_ASYNC, "FORGE_ASYNC", "completes asynchronously"},
    {FORGE_NEXT, "FORGE_NEXT", "continue"},
    {FORGE_DONE, "FORGE_DONE", "done"},
    {FORGE_EPERM, "FORGE_EPERM", "operation not permitted"},
    {FORGE_ENOENT, "FORGE_ENOENT", "not found"},
    {FORGE_EIO, "FORGE_EIO", "input/output error"},
    {FORGE_EAGAIN, "FORGE_EAGAIN", "try again"},
    {FORGE_ENOMEM, "FORGE_ENOMEM", "out of memory"},
    {FORGE_EACCES, "FORGE_EACCES", "permission denied"},
    {FORGE_EBUSY, "FORGE_EBUSY", "busy"},
    {FORGE_EEXIST, "FORGE_EEXIST", "already exists"},
    {FORGE_EINVAL, "FORGE_EINVAL", "invalid argument"},
    {FORGE_ERANGE, "FORGE_ERANGE", "out of range"},
    {FORGE_ENOSYS, "FORGE_ENOSYS", "not supported"},
    {FORGE_ETIMEDOUT, "FORGE_ETIMEDOUT", "timed out"},
    {FORGE_ECANCELED, "FORGE_ECANCELED", "canceled"},
    {FORGE_ECYCLE, "FORGE_ECYCLE", "dependency cycle"},
    {FORGE_ETYPE, "FORGE_ETYPE", "type mismatch"},
    {FORGE_ECONFLICT, "FORGE_ECONFLICT", "conflicting registration"},
    {FORGE_ECONFIG, "FORGE_ECONFIG", "invalid configuration"},
    {FORGE_EABI, "FORGE_EABI", "ABI version mismatch"},
    {FORGE_ETOOBIG, "FORGE_ETOOBIG", "size limit exceeded"},
    {FORGE_ESTATE, "FORGE_ESTATE", "invalid in this state"},
    {FORGE_EPARSE, "FORGE_EPARSE", "malformed input"},
    {FORGE_EMETHOD, "FORGE_EMETHOD", "method not allowed"},
    {FORGE_EDEPENDENCY, "FORGE_EDEPENDENCY", "dependency missing or failed"},
};

static const struct code_info *find(int code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return &codes[i];
    return NULL;
}

const char *forge_err_name(int code)
{
    const struct code_info *c = find(code);
    return c ? c->name : "FORGE_EUNKNOWN";
}

const char *forge_strerror(int code)
{
    const struct code_info *c = find(code);
    return c ? c->text : "unknown error";
}

void forge_error_clear(forge_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->message[0] = '\0';
    err->key[0] = '\0';
    err->cause[0] = '\0';
}

static void vset(forge_error *err, int code, const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

int forge_error_set(forge_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int forge_error_setk(forge_error *err, int code, const char *key, const char *fmt, ...)
{
    if (!err)
        return code;
    snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int forge_error_wrap(forge_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    if (err->message[0])
        snprintf(err->cause, sizeof(err->cause), "%s", err->message);
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}
