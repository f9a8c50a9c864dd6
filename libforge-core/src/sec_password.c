/*
 * Password hashing with Argon2id (RFC 9106) through libargon2, in the PHC
 * string format ("$argon2id$v=19$m=65536,t=3,p=1$salt$hash") so parameters
 * can be raised later and old hashes still verify.
 */
#include "sec_impl.h"

#include <argon2.h>
#include <openssl/rand.h>
#include <string.h>

#define T_COST   3
#define M_COST   (64 * 1024) /* KiB */
#define PARALLEL 1
#define SALT_LEN 16
#define HASH_LEN 32

int forge_password_hash(const char *password, size_t len, char *out, size_t cap, forge_error *err)
{
    unsigned char salt[SALT_LEN];
    if (!password || !out)
        return forge_error_set(err, FORGE_EINVAL, "password hash: no password or buffer");
    size_t need = argon2_encodedlen(T_COST, M_COST, PARALLEL, SALT_LEN, HASH_LEN, Argon2_id);
    if (cap < need)
        return forge_error_set(err, FORGE_ERANGE, "password hash: need %zu bytes", need);
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return forge_error_set(err, FORGE_EIO, "password hash: no randomness");
    int rc = argon2id_hash_encoded(T_COST, M_COST, PARALLEL, password, len, salt, sizeof(salt),
                                   HASH_LEN, out, cap);
    if (rc != ARGON2_OK)
        return forge_error_set(err, rc == ARGON2_MEMORY_ALLOCATION_ERROR ? FORGE_ENOMEM : FORGE_EIO,
                               "password hash: %s", argon2_error_message(rc));
    return FORGE_OK;
}

int forge_password_verify(const char *encoded, const char *password, size_t len)
{
    if (!encoded || !password || strncmp(encoded, "$argon2id$", 10) != 0)
        return FORGE_EPARSE;
    int rc = argon2id_verify(encoded, password, len);
    if (rc == ARGON2_OK)
        return FORGE_OK;
    return rc == ARGON2_VERIFY_MISMATCH ? FORGE_EACCES : FORGE_EPARSE;
}
