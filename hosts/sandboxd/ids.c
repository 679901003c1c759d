/* ids.c - random identifiers from getrandom(2) (see ids.h). */
#include "ids.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

/* Fills `n` bytes from the kernel CSPRNG (blocking only before boot entropy). */
static void fill_random(void *p, size_t n)
{
    unsigned char *b = p;
    while (n) {
        ssize_t r = getrandom(b, n, 0);
        if (r <= 0)
            continue;
        b += r;
        n -= (size_t)r;
    }
}

/* 20 characters from a 36-letter alphabet, rejection-sampled to stay uniform. */
void ids_sandbox(char out[SANDBOX_ID_LEN + 1])
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    out[0] = 'i';
    int i = 1;
    while (i < SANDBOX_ID_LEN) {
        unsigned char buf[32];
        fill_random(buf, sizeof buf);
        for (size_t k = 0; k < sizeof buf && i < SANDBOX_ID_LEN; k++)
            if (buf[k] < 252)
                out[i++] = alpha[buf[k] % 36];
    }
    out[SANDBOX_ID_LEN] = '\0';
}

/* Hex encoding of random bytes (tokens). */
void ids_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[64];
    size_t o = 0;
    while (nbytes) {
        size_t n = nbytes < sizeof b ? nbytes : sizeof b;
        fill_random(b, n);
        for (size_t i = 0; i < n; i++) {
            out[o++] = hex[b[i] >> 4];
            out[o++] = hex[b[i] & 15];
        }
        nbytes -= n;
    }
    out[o] = '\0';
}

/* Random UUID v4, the shape the code interpreter uses for context IDs. */
void ids_uuid(char out[37])
{
    unsigned char b[16];
    fill_random(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
