/* buf.c - growable byte buffer (see buf.h). */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Initializes an empty buffer; no memory is allocated until data arrives. */
void buf_init(buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Grows the allocation geometrically so repeated appends stay amortized O(1);
 * one extra byte is always kept for the terminating NUL of buf_cstr(). */
int buf_reserve(buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2)
            return -1;
        ncap *= 2;
    }
    char *p = realloc(b->data, ncap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = ncap;
    return 0;
}

/* Appends raw bytes. */
int buf_append(buf_t *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

/* Appends a C string without its terminator. */
int buf_puts(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* Formats into the buffer, growing it once if the first attempt is short. */
int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    if (buf_reserve(b, 64) < 0) {
        va_end(ap2);
        return -1;
    }
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return -1;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (buf_reserve(b, (size_t)n) < 0) {
            va_end(ap2);
            return -1;
        }
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

/* printf-style append. */
int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Removes a prefix, used by stream writers after part of the data went out. */
void buf_consume(buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* Resets the length, keeping the allocation for reuse. */
void buf_clear(buf_t *b)
{
    b->len = 0;
}

/* NUL-terminates in place; the spare byte guaranteed by buf_reserve is used. */
const char *buf_cstr(buf_t *b)
{
    if (!b->data)
        return "";
    b->data[b->len] = '\0';
    return b->data;
}

/* Transfers ownership of the bytes to the caller. */
char *buf_steal(buf_t *b, size_t *len)
{
    if (!b->data && buf_reserve(b, 0) < 0)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    buf_init(b);
    return p;
}

/* Releases memory. */
void buf_free(buf_t *b)
{
    free(b->data);
    buf_init(b);
}
