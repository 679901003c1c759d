/* textutil.c - UTF-8-safe truncation and hashing (see textutil.h). */
#include "textutil.h"

#include <stdlib.h>
#include <string.h>

/* Steps back from `max` over UTF-8 continuation bytes (10xxxxxx) so the cut
 * falls before the lead byte of a multi-byte character. */
size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (max >= len)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* Copies the first half of the text; an empty or one-byte text gives "". */
char *text_half(const char *s)
{
    size_t len = strlen(s);
    size_t n = utf8_cut(s, len, len / 2);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* FNV-1a: simple, stable across runs and platforms, good enough to key
 * conversations (not a security boundary). */
uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
