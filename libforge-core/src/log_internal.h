/*
 * Internal to the logging area: the line buffer and the formatters.
 */
#ifndef FORGE_LOG_INTERNAL_H
#define FORGE_LOG_INTERNAL_H

#include "internal.h"

#include <stdarg.h>

/*
 * A growable byte buffer that starts in caller storage (usually the stack)
 * and moves to the heap when a line outgrows it. On allocation failure it
 * stops growing and sets `oom`; the line is then truncated, never corrupted.
 * Invariant: p[n] == '\0' whenever cap > 0.
 */
typedef struct forge__lbuf {
    char *p;
    size_t n;
    size_t cap;
    bool heap;
    bool oom;
} forge__lbuf;

void forge__lbuf_init(forge__lbuf *b, char *storage, size_t cap);
void forge__lbuf_free(forge__lbuf *b);
void forge__lbuf_put(forge__lbuf *b, const char *s, size_t n);
void forge__lbuf_putc(forge__lbuf *b, char c);
void forge__lbuf_puts(forge__lbuf *b, const char *s);
void forge__lbuf_printf(forge__lbuf *b, const char *fmt, ...) FORGE_PRINTF(2, 3);
void forge__lbuf_vprintf(forge__lbuf *b, const char *fmt, va_list ap);

/* Append s as the inside of a JSON string: escapes, invalid UTF-8 as U+FFFD. */
void forge__lbuf_json_str(forge__lbuf *b, const char *s, size_t n);

/* One record, as the formatters see it. */
typedef struct forge__log_rec {
    const char *ts; /* RFC 3339 UTC with milliseconds */
    forge_log_level level;
    const char *msg;
    size_t msg_len;
    const char *req_id;   /* NULL when none */
    const char *trace_id; /* NULL when none */
    const char *span_id;  /* NULL when none */
    const forge_log_field *fields;
    size_t nfields;
} forge__log_rec;

/* Format one record as a line (no newline) into b. */
void forge__log_format_text(forge__lbuf *b, const forge__log_rec *r);
void forge__log_format_json(forge__lbuf *b, const forge__log_rec *r);

#endif
