/*
 * JSON (Jansson) <-> BSON, field by field: no text is parsed on the way in,
 * so a string is a string whatever it holds. Integers become int32 when
 * they fit, else int64; the type wrappers of forge_db_doc_wrapper become
 * ObjectIds and UTC datetimes, and come back the same way. BSON types JSON
 * has no form for come back as MongoDB's canonical extended JSON.
 */
#include "mongo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 128

static int too_deep(forge_db_derr *e)
{
    return forge_db_derr_set(e, FORGE_EINVAL, "documents nest deeper than %d levels", MAX_DEPTH);
}

static int too_big(forge_db_derr *e)
{
    return forge_db_derr_set(e, FORGE_ETOOBIG, "document too large for BSON");
}

static int append_members(bson_t *b, const json_t *v, int depth, forge_db_derr *e);

static int append_value(bson_t *b, const char *key, size_t klen, const json_t *v, int depth,
                        forge_db_derr *e)
{
    bool ok = true;
    bson_t child;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        switch (forge_db_doc_wrapper(v)) {
        case 1: {
            bson_oid_t oid;
            bson_oid_init_from_string(&oid, json_string_value(json_object_get(v, "$oid")));
            ok = bson_append_oid(b, key, (int)klen, &oid);
            break;
        }
        case 2:
            ok = bson_append_date_time(b, key, (int)klen,
                                       json_integer_value(json_object_get(v, "$date")));
            break;
        default:
            if (!bson_append_document_begin(b, key, (int)klen, &child))
                return too_big(e);
            if (append_members(&child, v, depth + 1, e) < 0)
                return e->code;
            ok = bson_append_document_end(b, &child);
        }
        break;
    case JSON_ARRAY:
        if (!bson_append_array_begin(b, key, (int)klen, &child))
            return too_big(e);
        if (append_members(&child, v, depth + 1, e) < 0)
            return e->code;
        ok = bson_append_array_end(b, &child);
        break;
    case JSON_STRING:
        ok = bson_append_utf8(b, key, (int)klen, json_string_value(v), (int)json_string_length(v));
        break;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        ok = i >= INT32_MIN && i <= INT32_MAX ? bson_append_int32(b, key, (int)klen, (int32_t)i)
                                              : bson_append_int64(b, key, (int)klen, i);
        break;
    }
    case JSON_REAL:
        ok = bson_append_double(b, key, (int)klen, json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        ok = bson_append_bool(b, key, (int)klen, json_is_true(v));
        break;
    case JSON_NULL:
        ok = bson_append_null(b, key, (int)klen);
        break;
    }
    return ok ? 0 : too_big(e);
}

static int append_members(bson_t *b, const json_t *v, int depth, forge_db_derr *e)
{
    if (depth > MAX_DEPTH)
        return too_deep(e);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            char buf[16];
            const char *key;
            size_t klen = bson_uint32_to_string((uint32_t)i, &key, buf, sizeof(buf));
            int rc = append_value(b, key, klen, json_array_get(v, i), depth, e);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        if (strlen(key) != klen)
            return forge_db_derr_set(e, FORGE_EINVAL, "a NUL byte in a field name");
        int rc = append_value(b, key, klen, json_object_iter_value(it), depth, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int mg_append_json(bson_t *b, const json_t *v, forge_db_derr *e)
{
    if (!v)
        return 0;
    if (!json_is_object(v) && !json_is_array(v))
        return forge_db_derr_set(e, FORGE_EINVAL, "a document is an object or an array");
    return append_members(b, v, 0, e);
}

/* ---- BSON to JSON ---- */

static json_t *members_to_json(bson_iter_t *it, bool array, int depth, forge_db_derr *e);

/* Canonical extended JSON of one value, for the types JSON has no form for. */
static json_t *extended(const bson_iter_t *it, forge_db_derr *e)
{
    bson_t tmp = BSON_INITIALIZER;
    json_t *out = NULL;
    if (bson_append_iter(&tmp, "v", 1, it)) {
        char *s = bson_as_canonical_extended_json(&tmp, NULL);
        json_t *doc = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
        out = json_incref(json_object_get(doc, "v"));
        json_decref(doc);
        bson_free(s);
    }
    bson_destroy(&tmp);
    if (!out)
        forge_db_derr_set(e, FORGE_EIO, "cannot convert a BSON value of type 0x%02x",
                          (unsigned)bson_iter_type(it));
    return out;
}

static json_t *value_to_json(const bson_iter_t *it, int depth, forge_db_derr *e)
{
    if (depth > MAX_DEPTH) {
        too_deep(e);
        return NULL;
    }
    json_t *v = NULL;
    switch (bson_iter_type(it)) {
    case BSON_TYPE_DOUBLE: {
        double d = bson_iter_double(it);
        if (!isfinite(d))
            return extended(it, e);
        v = json_real(d);
        break;
    }
    case BSON_TYPE_UTF8: {
        uint32_t len;
        const char *s = bson_iter_utf8(it, &len);
        v = json_stringn(s, len);
        if (!v) {
            forge_db_derr_set(e, FORGE_EIO, "the server sent a string that is not UTF-8");
            return NULL;
        }
        break;
    }
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        bson_iter_t child;
        if (!bson_iter_recurse(it, &child)) {
            forge_db_derr_set(e, FORGE_EIO, "malformed BSON from the server");
            return NULL;
        }
        return members_to_json(&child, bson_iter_type(it) == BSON_TYPE_ARRAY, depth + 1, e);
    }
    case BSON_TYPE_OID: {
        char hex[25];
        bson_oid_to_string(bson_iter_oid(it), hex);
        v = json_pack("{s:s}", "$oid", hex);
        break;
    }
    case BSON_TYPE_DATE_TIME:
        v = json_pack("{s:I}", "$date", (json_int_t)bson_iter_date_time(it));
        break;
    case BSON_TYPE_BOOL:
        v = json_boolean(bson_iter_bool(it));
        break;
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
        v = json_null();
        break;
    case BSON_TYPE_INT32:
        v = json_integer(bson_iter_int32(it));
        break;
    case BSON_TYPE_INT64:
        v = json_integer(bson_iter_int64(it));
        break;
    default:
        return extended(it, e);
    }
    if (!v)
        forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
    return v;
}

static json_t *members_to_json(bson_iter_t *it, bool array, int depth, forge_db_derr *e)
{
    json_t *out = array ? json_array() : json_object();
    if (!out) {
        forge_db_derr_set(e, FORGE_ENOMEM, "out of memory");
        return NULL;
    }
    while (bson_iter_next(it)) {
        json_t *v = value_to_json(it, depth, e);
        int rc = v ? (array ? json_array_append_new(out, v)
                            : json_object_set_new(out, bson_iter_key(it), v))
                   : -1;
        if (rc < 0) {
            if (v)
                forge_db_derr_set(e, FORGE_EIO, "a field name that is not UTF-8 from the server");
            json_decref(out);
            return NULL;
        }
    }
    /* The iteration also stops at corrupt bytes (err_off set): never hand back half a document. */
    if (it->err_off) {
        forge_db_derr_set(e, FORGE_EIO, "malformed BSON from the server (at byte %u)",
                          (unsigned)it->err_off);
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *mg_doc_to_json(const bson_t *b, forge_db_derr *e)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, b)) {
        forge_db_derr_set(e, FORGE_EIO, "malformed BSON from the server");
        return NULL;
    }
    return members_to_json(&it, false, 0, e);
}

json_t *mg_value_to_json(const bson_iter_t *it, forge_db_derr *e)
{
    return value_to_json(it, 0, e);
}
