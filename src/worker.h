/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The agent-run background workers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_WORKER_H
#define SANDBOX_WORKER_H

#include "settings.h"

extern void sandbox_worker_register_all(void);

/* true in a worker process: its writes to agent_runs are not a user's */
extern bool sandbox_is_worker;
extern bool sandbox_trusted_write;	/* triggers.c: see there */

#endif							/* SANDBOX_WORKER_H */
