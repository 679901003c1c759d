/*
 * b64.h - standard base64 (RFC 4648, with '=' padding), as protobuf's JSON
 * mapping uses for `bytes` fields.
 */
#ifndef COMMON_B64_H
#define COMMON_B64_H

#include <stddef.h>
#include <sys/types.h>

/* Number of characters b64_encode() writes for `n` input bytes (no NUL). */
size_t b64_encoded_len(size_t n);

/* Encodes `n` bytes into `out` (at least b64_encoded_len(n)+1 bytes);
 * NUL-terminates and returns the length. */
size_t b64_encode(const unsigned char *in, size_t n, char *out);

/* Decodes standard or URL-safe base64, padding optional, whitespace ignored.
 * `out` needs room for (len/4+1)*3 bytes.  Returns the decoded length or -1
 * on invalid input. */
ssize_t b64_decode(const char *in, size_t len, unsigned char *out);

#endif
