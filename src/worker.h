/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The agent-run background workers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_WORKER_H
#define SANDBOX_WORKER_H

#define SANDBOX_MAX_WORKERS 16

extern void sandbox_worker_register_all(void);

#endif							/* SANDBOX_WORKER_H */
