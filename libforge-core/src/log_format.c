/*
 * Log line formats.
 *
 * text: `2024-05-01T12:00:00.123Z INFO  message req_id=abc k=v k2="two words"`
 *       One record is always one line: control characters in the message and
 *       values are escaped (\n, \t, \xNN); values with spaces, quotes, '=' or
 *       escapes are double-quoted.
 * json: one object per line: {"ts":..,"level":..,"msg":..,"req_id":..,
 *       "trace_id":..,"span_id":..,<fields>}. Strings are escaped by hand (no allocation),
 *       invalid UTF-8 becomes U+FFFD, non-finite doubles become strings.
 *
 * Secret fields print as "***" in both formats; their value is never read.
 */
#include "log_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MASK "***"

static const char *const level_upper[] = {"TRACE", "DEBUG", "INFO", "WARN",
                                          "ERROR", "FATAL", "OFF"};

/* Shortest of %.15g / %.17g that reads back as the same double. */
static void fmt_double(char *buf, size_t size, double d)
{
    if (isnan(d)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, size, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(buf, size, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, size, "%.17g", d);
}

/* ---- text ---- */

static bool text_needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7F)
            return true;
    }
    return false;
}

/* Append s with control characters escaped (and '"', '\\' when quoted). */
static void text_escaped(forge__lbuf *b, const char *s, size_t n, bool quoted)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[5];
        size_t elen = 0;
        if (c == '\n')
            memcpy(esc, "\\n", elen = 2);
        else if (c == '\r')
            memcpy(esc, "\\r", elen = 2);
        else if (c == '\t')
            memcpy(esc, "\\t", elen = 2);
        else if (c < 0x20 || c == 0x7F) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            elen = 4;
        } else if (quoted && (c == '"' || c == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        }
        if (elen) {
            forge__lbuf_put(b, s + i - run, run);
            run = 0;
            forge__lbuf_put(b, esc, elen);
        } else {
            run++;
        }
    }
    forge__lbuf_put(b, s + n - run, run);
}

static void text_value(forge__lbuf *b, const char *s, size_t n)
{
    if (text_needs_quotes(s, n)) {
        forge__lbuf_putc(b, '"');
        text_escaped(b, s, n, true);
        forge__lbuf_putc(b, '"');
    } else {
        forge__lbuf_put(b, s, n);
    }
}

static void text_field(forge__lbuf *b, const forge_log_field *f)
{
    char num[40];
    const char *key = f->key ? f->key : "";
    forge__lbuf_putc(b, ' ');
    text_escaped(b, key, strlen(key), false);
    forge__lbuf_putc(b, '=');
    switch (f->type) {
    case FORGE_LF_STR:
        if (f->v.s)
            text_value(b, f->v.s, strlen(f->v.s));
        else
            forge__lbuf_puts(b, "null");
        break;
    case FORGE_LF_INT:
        snprintf(num, sizeof(num), "%lld", (long long)f->v.i);
        forge__lbuf_puts(b, num);
        break;
    case FORGE_LF_DBL:
        fmt_double(num, sizeof(num), f->v.d);
        forge__lbuf_puts(b, num);
        break;
    case FORGE_LF_BOOL:
        forge__lbuf_puts(b, f->v.b ? "true" : "false");
        break;
    case FORGE_LF_SECRET:
    default:
        forge__lbuf_puts(b, SECRET_MASK);
        break;
    }
}

void forge__log_format_text(forge__lbuf *b, const forge__log_rec *r)
{
    forge__lbuf_puts(b, r->ts);
    forge__lbuf_putc(b, ' ');
    const char *lv = level_upper[r->level];
    forge__lbuf_puts(b, lv);
    forge__lbuf_put(b, "     ", 6 - strlen(lv)); /* align messages: "INFO  msg" */
    text_escaped(b, r->msg, r->msg_len, false);
    if (r->req_id) {
        forge__lbuf_puts(b, " req_id=");
        text_value(b, r->req_id, strlen(r->req_id));
    }
    if (r->trace_id) {
        forge__lbuf_puts(b, " trace_id=");
        text_value(b, r->trace_id, strlen(r->trace_id));
    }
    if (r->span_id) {
        forge__lbuf_puts(b, " span_id=");
        text_value(b, r->span_id, strlen(r->span_id));
    }
    for (size_t i = 0; i < r->nfields; i++)
        text_field(b, &r->fields[i]);
}

/* ---- json ---- */

static void put_jstring(forge__lbuf *b, const char *s)
{
    forge__lbuf_putc(b, '"');
    forge__lbuf_json_str(b, s, strlen(s));
    forge__lbuf_putc(b, '"');
}

static void json_field(forge__lbuf *b, const forge_log_field *f)
{
    char num[40];
    forge__lbuf_putc(b, ',');
    put_jstring(b, f->key ? f->key : "");
    forge__lbuf_putc(b, ':');
    switch (f->type) {
    case FORGE_LF_STR:
        if (f->v.s)
            put_jstring(b, f->v.s);
        else
            forge__lbuf_puts(b, "null");
        break;
    case FORGE_LF_INT:
        snprintf(num, sizeof(num), "%lld", (long long)f->v.i);
        forge__lbuf_puts(b, num);
        break;
    case FORGE_LF_DBL:
        fmt_double(num, sizeof(num), f->v.d);
        if (isfinite(f->v.d))
            forge__lbuf_puts(b, num);
        else
            put_jstring(b, num);
        break;
    case FORGE_LF_BOOL:
        forge__lbuf_puts(b, f->v.b ? "true" : "false");
        break;
    case FORGE_LF_SECRET:
    default:
        forge__lbuf_puts(b, "\"" SECRET_MASK "\"");
        break;
    }
}

static const char *const level_lower[] = {"trace", "debug", "info", "warn",
                                          "error", "fatal", "off"};

void forge__log_format_json(forge__lbuf *b, const forge__log_rec *r)
{
    forge__lbuf_puts(b, "{\"ts\":\"");
    forge__lbuf_puts(b, r->ts);
    forge__lbuf_puts(b, "\",\"level\":\"");
    forge__lbuf_puts(b, level_lower[r->level]);
    forge__lbuf_puts(b, "\",\"msg\":\"");
    forge__lbuf_json_str(b, r->msg, r->msg_len);
    forge__lbuf_putc(b, '"');
    if (r->req_id) {
        forge__lbuf_puts(b, ",\"req_id\":");
        put_jstring(b, r->req_id);
    }
    if (r->trace_id) {
        forge__lbuf_puts(b, ",\"trace_id\":");
        put_jstring(b, r->trace_id);
    }
    if (r->span_id) {
        forge__lbuf_puts(b, ",\"span_id\":");
        put_jstring(b, r->span_id);
    }
    for (size_t i = 0; i < r->nfields; i++)
        json_field(b, &r->fields[i]);
    forge__lbuf_putc(b, '}');
}
