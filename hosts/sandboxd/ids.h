/*
 * ids.h - random identifiers: sandbox IDs, access tokens, context IDs.
 */
#ifndef SANDBOXD_IDS_H
#define SANDBOXD_IDS_H

#include <stddef.h>

#define SANDBOX_ID_LEN 21 /* "i" + 20 chars */

/* Writes "i" + 20 characters of [a-z0-9] (E2B's sandbox ID shape) + NUL. */
void ids_sandbox(char out[SANDBOX_ID_LEN + 1]);

/* Writes 2*nbytes lowercase hex digits + NUL (out needs 2*nbytes+1). */
void ids_hex(char *out, size_t nbytes);

/* Writes a random RFC 4122 version-4 UUID (37 bytes with NUL). */
void ids_uuid(char out[37]);

#endif
