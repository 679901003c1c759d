/*
 * buf.h - a growable byte buffer.
 *
 * Used everywhere a response body, a request body or an encoded message is
 * assembled piece by piece.  The buffer always keeps one spare byte so that
 * buf_cstr() can NUL-terminate the contents without reallocating.
 */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char  *data;   /* NULL until the first append */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
} buf_t;

/* Initializes an empty buffer (no allocation). */
void buf_init(buf_t *b);

/* Makes room for at least `extra` more bytes; returns 0 or -1 (ENOMEM). */
int buf_reserve(buf_t *b, size_t extra);

/* Appends `n` bytes; returns 0 or -1 (ENOMEM). */
int buf_append(buf_t *b, const void *data, size_t n);

/* Appends a NUL-terminated string (without its NUL). */
int buf_puts(buf_t *b, const char *s);

/* Appends printf-formatted text. */
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* va_list variant of buf_printf. */
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);

/* Drops the first `n` bytes, moving the rest to the front. */
void buf_consume(buf_t *b, size_t n);

/* Empties the buffer but keeps its allocation. */
void buf_clear(buf_t *b);

/* Returns the contents as a NUL-terminated string ("" when empty). */
const char *buf_cstr(buf_t *b);

/* Hands the allocation to the caller (NUL-terminated) and resets the buffer. */
char *buf_steal(buf_t *b, size_t *len);

/* Frees the allocation and resets the buffer. */
void buf_free(buf_t *b);

#endif
