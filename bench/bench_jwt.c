/*
 * bench_jwt: nanoseconds and heap allocations per forge_jwt_verify, for
 * HS256, RS256 (2048-bit), ES256 and EdDSA (Ed25519), with a token shaped
 * like the one bench/security_bench.sh sends (iss, aud, sub, iat, exp, and
 * a kid). Prints, per algorithm, the median and minimum over batches of the
 * per-verify time, and the allocation calls of one verify (the claims the
 * verifier hands back included; the caller frees them).
 *
 * Usage: build/bench/bench_jwt [batches [ALG]]   (default 15 batches, every algorithm)
 */
#include "../tests/unit/alloc_count.h"

#include <forge/error.h>
#include <forge/security.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char *pem_of(EVP_PKEY *k, int priv)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (priv)
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(b, k);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *out = strndup(p, (size_t)n);
    BIO_free(b);
    return out;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *only;

static void run(const char *alg, const char *sign_key, size_t sign_len, json_t *keyent, int batches,
                int per_batch)
{
    if (only && strcmp(only, alg) != 0) {
        json_decref(keyent);
        return;
    }
    forge_error err;
    forge_error_clear(&err);
    json_t *d = json_pack("{s:s, s:[s], s:[o], s:s, s:s, s:[s]}", "name", "bench", "algorithms",
                          alg, "keys", keyent, "issuer", "forge-example", "audience", "forge-api",
                          "required_claims", "sub");
    forge_jwt_verifier *v = forge_jwt_verifier_new(d, NULL, &err);
    json_decref(d);
    if (!v) {
        fprintf(stderr, "bench_jwt: %s verifier: %s\n", alg, err.message);
        exit(1);
    }
    long t = (long)time(NULL);
    json_t *claims =
        json_pack("{s:s, s:s, s:s, s:I, s:I}", "sub", "bench", "iss", "forge-example", "aud",
                  "forge-api", "iat", (json_int_t)t, "exp", (json_int_t)(t + 3600));
    char *tok = forge_jwt_sign(alg, sign_key, sign_len, "k1", claims, &err);
    json_decref(claims);
    if (!tok) {
        fprintf(stderr, "bench_jwt: %s sign: %s\n", alg, err.message);
        exit(1);
    }
    size_t n = strlen(tok);
    json_t *c = NULL;
    if (forge_jwt_verify(v, tok, n, 0, &c, &err) != 0) { /* also warms up */
        fprintf(stderr, "bench_jwt: %s verify: %s\n", alg, err.message);
        exit(1);
    }
    json_decref(c);
    forge_alloc_count_begin();
    forge_jwt_verify(v, tok, n, 0, &c, &err);
    json_decref(c);
    size_t allocs = forge_alloc_count_end();
    double *ns = calloc((size_t)batches, sizeof(double));
    for (int b = 0; b < batches; b++) {
        double t0 = now_ns();
        for (int i = 0; i < per_batch; i++) {
            int rc = forge_jwt_verify(v, tok, n, 0, &c, &err);
            if (rc != 0) {
                fprintf(stderr, "bench_jwt: %s verify failed in the loop\n", alg);
                exit(1);
            }
            json_decref(c);
        }
        ns[b] = (now_ns() - t0) / per_batch;
    }
    qsort(ns, (size_t)batches, sizeof(double), cmp_d);
    printf("bench_jwt: %-5s verify  median %8.0f ns  min %8.0f ns  allocs %zu  (token %zu B, %d "
           "batches of %d)\n",
           alg, ns[batches / 2], ns[0], FORGE_ALLOC_COUNT_ENABLED ? allocs : 0, n, batches,
           per_batch);
    free(ns);
    free(tok);
    forge_jwt_verifier_free(v);
}

int main(int argc, char **argv)
{
    int batches = argc > 1 ? atoi(argv[1]) : 15;
    if (batches < 1)
        batches = 15;
    only = argc > 2 ? argv[2] : NULL;
    static const char secret[] = "0123456789abcdef0123456789abcdef-bench";
    run("HS256", secret, strlen(secret), json_pack("{s:s, s:s}", "kid", "k1", "secret", secret),
        batches, 20000);
    static const struct {
        const char *alg, *type;
        const char *param;
        size_t bits;
        int per_batch;
    } pk[] = {{"RS256", "RSA", NULL, 2048, 2000},
              {"ES256", "EC", "P-256", 0, 1000},
              {"EdDSA", "ED25519", NULL, 0, 1000}};
    for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++) {
        EVP_PKEY *k = pk[i].bits    ? EVP_PKEY_Q_keygen(NULL, NULL, pk[i].type, pk[i].bits)
                      : pk[i].param ? EVP_PKEY_Q_keygen(NULL, NULL, pk[i].type, pk[i].param)
                                    : EVP_PKEY_Q_keygen(NULL, NULL, pk[i].type);
        char *priv = pem_of(k, 1), *pub = pem_of(k, 0);
        run(pk[i].alg, priv, strlen(priv), json_pack("{s:s, s:s}", "kid", "k1", "pem", pub),
            batches, pk[i].per_batch);
        free(priv);
        free(pub);
        EVP_PKEY_free(k);
    }
    return 0;
}
