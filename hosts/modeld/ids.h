/*
 * ids.h - identifiers in the providers' formats, from process-wide counters:
 * msg_00000001, toolu_00000001, chatcmpl-00000001, call_00000001,
 * req_00000001.  Counters make them unique within a run and deterministic
 * for a given request order.
 */
#ifndef MODELD_IDS_H
#define MODELD_IDS_H

#include "httpd.h"

#include <stddef.h>

/* Kinds of identifiers, each with its own counter. */
typedef enum {
    ID_MESSAGE = 0, /* msg_ */
    ID_TOOL_USE,    /* toolu_ */
    ID_COMPLETION,  /* chatcmpl- */
    ID_CALL,        /* call_ */
    ID_REQUEST,     /* req_ */
    ID_KINDS,
} id_kind_t;

/* Writes the next identifier of `kind` into out (at least 32 bytes). */
void id_next(id_kind_t kind, char *out, size_t outsz);

/* The request id of this request, created on first use; creating it also
 * adds the `request-id` and `x-request-id` headers to the reply. */
const char *request_id(httpd_req_t *req);

#endif
