/*-------------------------------------------------------------------------
 *
 * safe_path.c
 *	  Pin search_path around the extension's own SQL.
 *
 * Every statement the extension runs names its tables with the extension's
 * schema and its functions with pg_catalog, but operators (=, <, +, ANY)
 * and casts are resolved through search_path, and an operator a user
 * created for an exact type beats pg_catalog's polymorphic one even when
 * pg_catalog comes first.  So SQL that runs with the extension owner's
 * rights, or in the worker, runs under SANDBOX_SAFE_SEARCH_PATH, set in a
 * GUC nest level as PostgreSQL 17's RestrictSearchPath() does and undone
 * afterwards.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "safe_path.h"

/*
 * safe_path_push sets the safe search_path until safe_path_pop is called
 * with the returned level (or the (sub)transaction ends).
 */
int
safe_path_push(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", SANDBOX_SAFE_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nestlevel;
}

/*
 * safe_path_pop restores the search_path that safe_path_push replaced.
 */
void
safe_path_pop(int nestlevel)
{
	AtEOXact_GUC(false, nestlevel);
}

/*
 * safe_path_set_for_process pins the safe search_path for the rest of a
 * background worker's life, over any ALTER DATABASE or ALTER ROLE setting.
 */
void
safe_path_set_for_process(void)
{
	SetConfigOption("search_path", SANDBOX_SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
}
