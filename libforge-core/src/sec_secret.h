/*
 * The hook between configuration loading (config_secret.c) and encrypted
 * values (sec_secret.c): `${enc:v1:<base64>}` references are opened here.
 */
#ifndef FORGE_SEC_SECRET_H
#define FORGE_SEC_SECRET_H

#include <forge/error.h>
#include <stddef.h>

/*
 * Decrypt the body of one `${enc:...}` reference (`ref`, n bytes, "v1:...").
 * The key comes from `key_file` (absolute, or relative to the current
 * directory), else the variable named `key_env`, else FORGE_SECRETS_KEY_FILE,
 * else FORGE_SECRETS_KEY; both may be NULL. On success *plain is malloc'd and
 * NUL-terminated: the caller wipes (OPENSSL_cleanse) and frees it. On failure
 * err->message names the key's source and never holds plaintext or key bytes.
 */
int forge__secret_open_ref(const char *ref, size_t n, const char *key_file, const char *key_env,
                           char **plain, size_t *len, forge_error *err);

#endif
