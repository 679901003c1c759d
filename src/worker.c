/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Registration of the agent-run background workers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sandbox.h"
#include "worker.h"

/*
 * sandbox_worker_register_all registers sandbox.workers background workers.
 * The agent-run worker is not built yet, so nothing is registered.
 */
void
sandbox_worker_register_all(void)
{
}
