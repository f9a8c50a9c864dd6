/*
 * Signature checks for JWS with OpenSSL contexts prepared once per thread
 * and key (ADR 0104).
 *
 * OpenSSL 3's one-shot calls (HMAC(), EVP_DigestVerifyInit) fetch the
 * algorithm from the provider store, build a key context and, for HMAC,
 * hash the key into the inner and outer pads, on every call; that is most
 * of what a HS256 verify costs. Here each thread keeps a small direct-mapped
 * cache of contexts, keyed by the key's serial number (unique for the life
 * of the process, so a key set swapped by a JWKS refresh can never alias a
 * cached context) and the algorithm:
 *   - HMAC: an EVP_MAC_CTX holding the key; a verify re-initialises it with
 *     no key (OpenSSL keeps the pads) and MACs the input.
 *   - RSA, ECDSA, EdDSA: an EVP_MD_CTX set up by EVP_DigestVerifyInit with
 *     the padding parameters (the template); a verify copies it into the
 *     thread's working context (a dup, no fetch) and verifies there.
 * A cache miss builds the context the old way; any OpenSSL failure while
 * preparing falls back to building a fresh context for this call only, so
 * the cache never changes an answer.
 *
 * Thread safety: all state is per thread, the list of caches (kept so they
 * stay reachable and are freed at thread exit) is under a mutex. Contexts
 * of a key that left the key set stay cached until their slot is reused or
 * the thread ends; they are never looked up again (serials are not reused).
 */
#include "sec_impl.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 16 /* a power of two */

typedef struct slot {
    uint64_t serial; /* 0: empty */
    int alg;
    EVP_MAC_CTX *mac; /* HMAC keys */
    EVP_MD_CTX *tmpl; /* the others: initialised for verify, never used directly */
} slot;

typedef struct tcache {
    slot s[SLOTS];
    EVP_MD_CTX *work;
    struct tcache *next, *prev;
} tcache;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t tkey;
static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static tcache *list; /* every live thread's cache */
static EVP_MAC *hmac;
static EVP_MD *mds[3];
static _Thread_local tcache *tc;

static void slot_clear(slot *s)
{
    EVP_MAC_CTX_free(s->mac);
    EVP_MD_CTX_free(s->tmpl);
    memset(s, 0, sizeof(*s));
}

static void tcache_free(void *p)
{
    tcache *c = p;
    pthread_mutex_lock(&list_mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&list_mu);
    for (size_t i = 0; i < SLOTS; i++)
        slot_clear(&c->s[i]);
    EVP_MD_CTX_free(c->work);
    free(c);
    if (tc == c)
        tc = NULL;
}

static void init_once(void)
{
    pthread_key_create(&tkey, tcache_free);
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    mds[0] = EVP_MD_fetch(NULL, "SHA256", NULL);
    mds[1] = EVP_MD_fetch(NULL, "SHA384", NULL);
    mds[2] = EVP_MD_fetch(NULL, "SHA512", NULL);
}

const EVP_MD *forge__sec_alg_md(int alg)
{
    pthread_once(&once, init_once);
    switch (alg) {
    case SEC_HS256:
    case SEC_RS256:
    case SEC_PS256:
    case SEC_ES256:
        return mds[0];
    case SEC_HS384:
    case SEC_RS384:
    case SEC_PS384:
    case SEC_ES384:
        return mds[1];
    case SEC_EDDSA:
        return NULL;
    default:
        return mds[2];
    }
}

static tcache *thread_cache(void)
{
    if (tc)
        return tc;
    pthread_once(&once, init_once);
    tcache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (!(c->work = EVP_MD_CTX_new()) || pthread_setspecific(tkey, c) != 0) {
        EVP_MD_CTX_free(c->work);
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&list_mu);
    c->next = list;
    if (list)
        list->prev = c;
    list = c;
    pthread_mutex_unlock(&list_mu);
    return tc = c;
}

static EVP_MAC_CTX *mac_new(const forge__sec_key *k, int alg)
{
    const EVP_MD *md = forge__sec_alg_md(alg);
    EVP_MAC_CTX *m = hmac && md ? EVP_MAC_CTX_new(hmac) : NULL;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0),
        OSSL_PARAM_construct_end()};
    if (m && EVP_MAC_init(m, k->secret, k->secret_len, p) == 1)
        return m;
    EVP_MAC_CTX_free(m);
    return NULL;
}

/* An EVP_MD_CTX initialised for verifying with k under alg. */
static EVP_MD_CTX *verify_ctx_new(const forge__sec_key *k, int alg)
{
    const EVP_MD *md = forge__sec_alg_md(alg);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k->pkey) == 1;
    if (ok && k->kty == SEC_KTY_RSA) {
        bool pss = alg == SEC_PS256 || alg == SEC_PS384 || alg == SEC_PS512;
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) ==
             1;
        if (ok && pss)
            ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
                 EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1;
    }
    if (ok)
        return ctx;
    EVP_MD_CTX_free(ctx);
    return NULL;
}

/* The thread's slot for (k, alg), filled on a miss; NULL if it cannot be prepared. */
static slot *prepared(const forge__sec_key *k, int alg)
{
    tcache *c = thread_cache();
    if (!c || k->serial == 0)
        return NULL;
    uint64_t h = (k->serial * 0x9E3779B97F4A7C15ull) ^ (uint64_t)alg;
    slot *s = &c->s[(h >> 32) & (SLOTS - 1)];
    if (s->serial == k->serial && s->alg == alg)
        return s;
    slot_clear(s);
    if (k->kty == SEC_KTY_OCT)
        s->mac = mac_new(k, alg);
    else
        s->tmpl = verify_ctx_new(k, alg);
    if (!s->mac && !s->tmpl)
        return NULL;
    s->serial = k->serial;
    s->alg = alg;
    return s;
}

static bool hmac_check(EVP_MAC_CTX *m, bool reinit, const char *input, size_t n,
                       const unsigned char *sig, size_t siglen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    bool ok = (!reinit || EVP_MAC_init(m, NULL, 0, NULL) == 1) &&
              EVP_MAC_update(m, (const unsigned char *)input, n) == 1 &&
              EVP_MAC_final(m, mac, &maclen, sizeof(mac)) == 1 && siglen == maclen &&
              CRYPTO_memcmp(mac, sig, maclen) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

bool forge__jwt_check_sig(const forge__sec_key *k, int alg, const char *input, size_t n,
                          const unsigned char *sig, size_t siglen)
{
    slot *s = prepared(k, alg);
    if (k->kty == SEC_KTY_OCT) {
        if (s)
            return hmac_check(s->mac, true, input, n, sig, siglen);
        EVP_MAC_CTX *m = mac_new(k, alg);
        bool ok = m && hmac_check(m, false, input, n, sig, siglen);
        EVP_MAC_CTX_free(m);
        return ok;
    }
    EVP_MD_CTX *ctx = NULL, *fresh = NULL;
    if (s && EVP_MD_CTX_copy_ex(tc->work, s->tmpl) == 1)
        ctx = tc->work;
    else
        ctx = fresh = verify_ctx_new(k, alg);
    if (!ctx)
        return false;
    /* The context is thrown away after this: verify in place, no internal copy. */
    EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE);
    bool ok = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)input, n) == 1;
    EVP_MD_CTX_free(fresh);
    return ok;
}
