/*
 * auth.h - the --api-key check (httpd's authorization hook).
 *
 * Anthropic requests (/v1/messages, or any request with an
 * anthropic-version header) pass with "x-api-key: KEY" or
 * "Authorization: Bearer KEY"; OpenAI requests only with the Bearer form;
 * admin routes with either.  A failure is answered 401 with the provider's
 * error body by httpd (through the error-body hook).
 */
#ifndef MODELD_AUTH_H
#define MODELD_AUTH_H

#include "httpd.h"

/* httpd auth hook; `arg` is the modeld_opts_t.  Returns 0 or 401. */
int auth_check(httpd_req_t *req, void *arg);

#endif
