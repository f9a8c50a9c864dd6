/*
 * Fuzz the MongoDB driver's BSON -> JSON conversion (adapters/mongo/
 * mongo_json.c) with documents as a server could send them: the input is
 * a document's body (members), framed here. Invariants: no crash or leak; a
 * document whose members cannot all be walked (corrupt bytes inside) is an
 * error, never a shorter JSON object; a converted document prints and
 * converts back to BSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mongo.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_mongo_json: invariant broken: %s\n", what);
        abort();
    }
}

/* Can every member, at every depth, be walked without libbson finding corruption? */
static int walks_whole(bson_iter_t *it, int depth)
{
    while (bson_iter_next(it)) {
        if (depth < 140 && (BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it))) {
            bson_iter_t child;
            if (!bson_iter_recurse(it, &child) || !walks_whole(&child, depth + 1))
                return 0;
        }
    }
    return it->err_off == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The input is a document's body: the frame (length, final NUL) is made
       right, so mutations land on the members rather than on the header. */
    static uint8_t buf[1 << 16];
    if (size > sizeof(buf) - 5)
        return 0;
    uint32_t n = (uint32_t)size + 5;
    buf[0] = (uint8_t)n, buf[1] = (uint8_t)(n >> 8), buf[2] = (uint8_t)(n >> 16), buf[3] = 0;
    memcpy(buf + 4, data, size);
    buf[n - 1] = 0;
    bson_t b;
    if (!bson_init_static(&b, buf, n))
        return 0;
    forge_db_derr e = {0};
    json_t *j = mg_doc_to_json(&b, &e);
    bson_iter_t it;
    int whole = bson_iter_init(&it, &b) && walks_whole(&it, 0);
    if (!whole)
        check(j == NULL, "a corrupt document converted");
    if (!j) {
        check(e.code != 0, "a failed conversion without an error");
        return 0;
    }
    check(json_is_object(j), "a document that is not an object");
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    check(text != NULL, "a converted document that does not print");
    free(text);
    bson_t back = BSON_INITIALIZER;
    forge_db_derr e2 = {0};
    (void)mg_append_json(&back, j, &e2); /* may refuse (depth, size), must not crash */
    bson_destroy(&back);
    json_decref(j);
    return 0;
}
