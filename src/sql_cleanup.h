/*-------------------------------------------------------------------------
 *
 * sql_cleanup.h
 *	  What a backend kills when its work is undone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_SQL_CLEANUP_H
#define SANDBOX_SQL_CLEANUP_H

#include "pgcompat.h"

#include "e2b.h"

extern void cleanup_track_created(const char *sandbox_id);
extern void cleanup_set_running(const E2BTarget *t, const ExecState *st);
extern void cleanup_clear_running(void);
extern void cleanup_set_oneshot(const char *sandbox_id);

#endif							/* SANDBOX_SQL_CLEANUP_H */
