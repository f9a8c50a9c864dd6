/*
 * The log line buffer: caller storage first, heap when a line outgrows it.
 */
#include "log_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void forge__lbuf_init(forge__lbuf *b, char *storage, size_t cap)
{
    b->p = storage;
    b->n = 0;
    b->cap = cap;
    b->heap = false;
    b->oom = false;
    if (cap)
        b->p[0] = '\0';
}

void forge__lbuf_free(forge__lbuf *b)
{
    if (b->heap)
        free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->heap = false;
}

/* Make room for `more` bytes plus the NUL; false when that is impossible. */
static bool reserve(forge__lbuf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->n + more < b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap <= b->n + more) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = b->heap ? realloc(b->p, cap) : malloc(cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    if (!b->heap && b->n)
        memcpy(p, b->p, b->n);
    b->p = p;
    b->cap = cap;
    b->heap = true;
    return true;
}

void forge__lbuf_put(forge__lbuf *b, const char *s, size_t n)
{
    if (!n || !reserve(b, n))
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void forge__lbuf_putc(forge__lbuf *b, char c)
{
    forge__lbuf_put(b, &c, 1);
}

void forge__lbuf_puts(forge__lbuf *b, const char *s)
{
    forge__lbuf_put(b, s, strlen(s));
}

void forge__lbuf_vprintf(forge__lbuf *b, const char *fmt, va_list ap)
{
    if (b->oom)
        return;
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap > b->n ? b->cap - b->n : 0;
    int k = vsnprintf(room ? b->p + b->n : NULL, room, fmt, ap2);
    va_end(ap2);
    if (k < 0) {
        if (b->cap)
            b->p[b->n] = '\0';
        return;
    }
    if ((size_t)k < room) {
        b->n += (size_t)k;
        return;
    }
    if (!reserve(b, (size_t)k)) {
        if (b->cap)
            b->p[b->n] = '\0';
        return;
    }
    vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    b->n += (size_t)k;
}

void forge__lbuf_printf(forge__lbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    forge__lbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void forge__lbuf_json_str(forge__lbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* bytes copied verbatim, flushed in one put */
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t len = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7F) {
            memcpy(ubuf, "\\u00", 4);
            ubuf[4] = hex[c >> 4];
            ubuf[5] = hex[c & 15];
            ubuf[6] = '\0';
            esc = ubuf;
        } else if (c >= 0x80) {
            len = utf8_len(u + i, n - i);
            if (!len) {
                esc = "\\ufffd";
                len = 1;
            }
        }
        if (esc) {
            forge__lbuf_put(b, s + i - run, run);
            run = 0;
            forge__lbuf_puts(b, esc);
        } else {
            run += len;
        }
        i += len;
    }
    forge__lbuf_put(b, s + n - run, run);
}
