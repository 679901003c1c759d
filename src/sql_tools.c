/*-------------------------------------------------------------------------
 *
 * sql_tools.c
 *	  sandbox_register_tool and sandbox_unregister_tool: a SQL function
 *	  becomes a tool runs may list in `tools`, or stops being one.
 *
 * Only the function's owner (or a superuser) may register or unregister
 * it.  The tool's name is the function's; its JSON Schema is derived from
 * the function's arguments (sqltool.c), its description is the argument
 * or the function's COMMENT.  `sandbox_sql_tools` and `sandbox_sql_tool_log`
 * are written as the extension's owner (users cannot write them), and
 * every registration and removal is logged.  Who may *use* a tool is
 * decided when a run lists it and when it is called: EXECUTE on the
 * function (sqltool.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/comment.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "json_util.h"
#include "registry.h"
#include "sqltool.h"
#include "tools.h"

PG_FUNCTION_INFO_V1(sandbox_register_tool);
PG_FUNCTION_INFO_V1(sandbox_unregister_tool);

/* the name the agent keeps for its structured answer, beside the tools */
#define RESERVED_TOOL_NAME "final_result"

/*
 * fn_arg returns the function argument, raising when it is NULL.
 */
static Oid
fn_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fn may not be NULL")));
	return PG_GETARG_OID(0);
}

/*
 * check_owner raises unless the current role owns function fn or is a
 * superuser; `action` says what was refused.
 */
static void
check_owner(Oid fn, const char *action)
{
	if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(fn)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fn)));
	if (!pg_proc_ownercheck(fn, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s %s as a tool", action, format_procedure(fn)),
				 errdetail("Role %s does not own the function.", GetUserNameFromId(GetUserId(), false)),
				 errhint("Only a function's owner, or a superuser, may make it a tool or remove it.")));
}

/*
 * write_log records one registration or removal in sandbox_sql_tool_log,
 * the function as regprocedure shows it under the pinned search_path
 * (schema-qualified, built-in types by their plain names).  The caller
 * has called SPI_connect.
 */
static void
write_log(const ExtensionInfo *ext, const char *action, const char *name, Oid fn,
		  bool read_only)
{
	Oid			types[5] = {TEXTOID, TEXTOID, OIDOID, BOOLOID, OIDOID};
	Datum		values[5];

	values[0] = CStringGetTextDatum(action);
	values[1] = CStringGetTextDatum(name);
	values[2] = ObjectIdGetDatum(fn);
	values[3] = BoolGetDatum(read_only);
	values[4] = ObjectIdGetDatum(GetUserId());
	registry_run_as_owner(ext,
						  psprintf("INSERT INTO %s.sandbox_sql_tool_log (action, name, fn, read_only, by_role) "
								   "VALUES ($1, $2, $3::pg_catalog.regprocedure::pg_catalog.text, $4, $5::pg_catalog.regrole)",
								   ext->schema_quoted),
						  5, types, values, NULL, false);
}

/*
 * sandbox_register_tool(fn, description, read_only) makes function fn a
 * tool named after it (or updates it when it is one already) and returns
 * the tool as the model sees it: {name, description, input_schema,
 * read_only}.
 */
Datum
sandbox_register_tool(PG_FUNCTION_ARGS)
{
	Oid			fn = fn_arg(fcinfo);
	char	   *description = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		read_only = PG_ARGISNULL(2) ? true : PG_GETARG_BOOL(2);
	char	   *name;
	char	   *problem;
	List	   *args;
	char	   *schema;
	ExtensionInfo ext;
	Oid			types[6] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, BOOLOID, OIDOID};
	Datum		values[6];
	StringInfoData out;
	bool		first = true;

	check_owner(fn, "register");
	if (pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to register %s as a tool", format_procedure(fn)),
				 errdetail("Role %s may not execute it.", GetUserNameFromId(GetUserId(), false)),
				 errhint("GRANT EXECUTE on the function to its owner first.")));

	name = get_func_name(fn);
	if (!sqltool_valid_name(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("function name \"%s\" cannot be a tool's name", name),
				 errdetail("A tool's name is its function's name, which must be 1 to %d ASCII letters, digits, underscores or dashes.",
						   SQLTOOL_NAME_MAX),
				 errhint("Wrap the function in one with such a name.")));
	if (tool_lookup(name) != NULL || strcmp(name, RESERVED_TOOL_NAME) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("\"%s\" is the name of a built-in tool", name),
				 errhint("Wrap the function in one with another name.")));

	args = sqltool_function_args(fn, &problem);
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot be a tool", format_procedure(fn)),
				 errdetail("%s", problem),
				 errhint("A tool is a plain function whose arguments are named and of the supported types; wrap this one in such a function.")));
	schema = sqltool_input_schema(args);

	if (description == NULL || description[0] == '\0')
		description = GetComment(fn, ProcedureRelationId, 0);
	if (description == NULL || description[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs a description to be a tool", format_procedure(fn)),
				 errdetail("The model chooses a tool by its description; the function has no COMMENT."),
				 errhint("Pass description => '...', or COMMENT ON FUNCTION the function.")));

	sandbox_extension_info(&ext, false);
	SPI_connect();
	{
		Oid			t1[1] = {TEXTOID};
		Datum		v1[1];

		v1[0] = CStringGetTextDatum(name);
		if (registry_run_as_owner(&ext,
								  psprintf("SELECT t.fn::pg_catalog.oid FROM %s.sandbox_sql_tools t "
										   "WHERE t.name OPERATOR(pg_catalog.=) $1 FOR UPDATE", ext.schema_quoted),
								  1, t1, v1, NULL, false) > 0)
		{
			bool		isnull;
			Oid			other = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 1, &isnull));

			/* a tool whose function was dropped gives its name up */
			if (other != fn && !SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(other)))
			{
				Oid			t2[1] = {TEXTOID};

				registry_run_as_owner(&ext,
									  psprintf("DELETE FROM %s.sandbox_sql_tools t WHERE t.name OPERATOR(pg_catalog.=) $1",
											   ext.schema_quoted),
									  1, t2, v1, NULL, false);
				write_log(&ext, "unregistered", name, other, false);
			}
			else if (other != fn)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("a tool named \"%s\" is registered already", name),
						 errdetail("It is function %s.", format_procedure(other)),
						 errhint("Tools are named after their functions: unregister that one, or wrap this function in one with another name.")));
		}
	}
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(fn);
	values[2] = CStringGetTextDatum(description);
	values[3] = CStringGetTextDatum(schema);
	values[4] = BoolGetDatum(read_only);
	values[5] = ObjectIdGetDatum(GetUserId());
	registry_run_as_owner(&ext,
						  psprintf("INSERT INTO %s.sandbox_sql_tools AS t "
								   "(name, fn, description, input_schema, read_only, registered_by) "
								   "VALUES ($1, $2::pg_catalog.regprocedure, $3, $4::pg_catalog.jsonb, $5, $6::pg_catalog.regrole) "
								   "ON CONFLICT (fn) DO UPDATE SET name = excluded.name, "
								   "description = excluded.description, input_schema = excluded.input_schema, "
								   "read_only = excluded.read_only, registered_by = excluded.registered_by, "
								   "registered_at = pg_catalog.now()", ext.schema_quoted),
						  6, types, values, NULL, false);
	write_log(&ext, "registered", name, fn, read_only);
	SPI_finish();

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	json_append_kv_string(&out, &first, "name", name);
	json_append_kv_string(&out, &first, "description", description);
	json_append_kv_raw(&out, &first, "input_schema", schema);
	json_append_kv_raw(&out, &first, "read_only", read_only ? "true" : "false");
	appendStringInfoChar(&out, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/*
 * sandbox_unregister_tool(fn) removes function fn from the tools; true if
 * it was one.
 */
Datum
sandbox_unregister_tool(PG_FUNCTION_ARGS)
{
	Oid			fn = fn_arg(fcinfo);
	ExtensionInfo ext;
	Oid			types[1] = {OIDOID};
	Datum		values[1];
	bool		found = false;

	check_owner(fn, "unregister");
	sandbox_extension_info(&ext, false);
	values[0] = ObjectIdGetDatum(fn);
	SPI_connect();
	if (registry_run_as_owner(&ext,
							  psprintf("DELETE FROM %s.sandbox_sql_tools t "
									   "WHERE t.fn OPERATOR(pg_catalog.=) $1::pg_catalog.regprocedure "
									   "RETURNING t.name, t.read_only", ext.schema_quoted),
							  1, types, values, NULL, false) > 0)
	{
		bool		isnull;
		char	   *name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		bool		read_only = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 2, &isnull));

		found = true;
		write_log(&ext, "unregistered", name, fn, read_only);
	}
	SPI_finish();
	PG_RETURN_BOOL(found);
}
