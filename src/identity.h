/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  Who, beside the role, owns a sandbox or a run (sandbox.identity_function).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_IDENTITY_H
#define SANDBOX_IDENTITY_H

#include "pgcompat.h"

extern char *identity_current(void);
extern bool identity_matches(const char *owner_id, const char *current);

#endif							/* SANDBOX_IDENTITY_H */
