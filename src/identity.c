/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  The identity of the current user, beside its role.
 *
 * Where many people share one database role (Supabase: every signed-in
 * user is `authenticated`), ownership by role alone lets one user reach
 * another's sandboxes and runs.  A superuser names a function in
 * sandbox.identity_function (for Supabase, auth.uid); it is called as the
 * current user, with no arguments, and its result as text is the identity
 * recorded beside the role in `sandboxes.owner_id` and `agent_runs.owner_id`.
 * Every check and the extension's row-level policies then require both to
 * match.  NULL (no function set, or it returned NULL) is an identity of its
 * own: it matches only rows whose owner_id is NULL.
 *
 * The setting must name the function with its schema, so that no
 * search_path can substitute another one; it is looked up by name on each
 * call (a dropped and recreated function is found again).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "identity.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(sandbox_identity);

/*
 * identity_current calls sandbox.identity_function as the current user and
 * returns its result as text, or NULL when there is no function or it
 * returned NULL or ''.
 */
char *
identity_current(void)
{
	List	   *name;
	Oid			fn;
	Oid			rettype;
	Oid			outfn;
	bool		isvarlena;
	FmgrInfo	flinfo;
	Datum		d;
	char	   *result;

	LOCAL_FCINFO(fcinfo, 0);

	if (sandbox_identity_function == NULL || sandbox_identity_function[0] == '\0')
		return NULL;
	name = stringToQualifiedNameList(sandbox_identity_function);
	fn = LookupFuncName(name, 0, NULL, true);
	if (!OidIsValid(fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("sandbox.identity_function names function %s(), which does not exist",
						sandbox_identity_function),
				 errhint("Create it, or ask a superuser to correct or reset sandbox.identity_function.")));
	rettype = get_func_rettype(fn);
	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, NULL, NULL);
	d = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		return NULL;
	getTypeOutputInfo(rettype, &outfn, &isvarlena);
	result = OidOutputFunctionCall(outfn, d);
	/* '' is no identity, as NULL: the policies' COALESCE(..., '') agree */
	return result[0] == '\0' ? NULL : result;
}

/*
 * identity_matches tells whether a row's owner_id is the current identity
 * (NULL matches NULL only).
 */
bool
identity_matches(const char *owner_id, const char *current)
{
	if (owner_id == NULL || current == NULL)
		return owner_id == NULL && current == NULL;
	return strcmp(owner_id, current) == 0;
}

/*
 * sandbox_identity() returns the current identity, for the extension's
 * row-level policies (and for users who want to see theirs).
 */
Datum
sandbox_identity(PG_FUNCTION_ARGS)
{
	char	   *id = identity_current();

	if (id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(id));
}
