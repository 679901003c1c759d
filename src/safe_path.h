/*-------------------------------------------------------------------------
 *
 * safe_path.h
 *	  A search_path that no user can write to, for the extension's own SQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_SAFE_PATH_H
#define SANDBOX_SAFE_PATH_H

#include "pgcompat.h"

/*
 * Only the system catalog: operators, functions and types named without a
 * schema resolve there, never in a schema a user can create objects in.
 * pg_temp last keeps temporary tables from shadowing anything (functions
 * and operators are never looked up in pg_temp).
 */
#define SANDBOX_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

extern int	safe_path_push(void);
extern void safe_path_pop(int nestlevel);
extern void safe_path_set_for_process(void);

#endif							/* SANDBOX_SAFE_PATH_H */
