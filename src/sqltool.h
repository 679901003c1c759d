/*-------------------------------------------------------------------------
 *
 * sqltool.h
 *	  SQL functions registered as agent tools (sandbox_register_tool): what
 *	  arguments a function may have to be one, the tools a run may use, and
 *	  one call of one, as the run's owner, in a subtransaction of its own.
 *
 * No HTTP and no knowledge of the agent: the worker loads a run's tools
 * with sqltool_load and calls sqltool_execute for each call the model
 * makes; the SQL-callable registration lives in sql_tools.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_SQLTOOL_H
#define SANDBOX_SQLTOOL_H

#include "pgcompat.h"

#include "nodes/pg_list.h"
#include "utils/palloc.h"


/* true while a user's function runs as a tool (agent_runs_guard checks it) */
extern bool sandbox_in_user_sql;

/* the longest tool name (the model providers' limit) */
#define SQLTOOL_NAME_MAX 64

/* A registered tool, as a run uses it. */
typedef struct SqlTool
{
	Oid			fn;				/* pg_proc oid */
	char	   *name;			/* as the model sees it */
	char	   *description;
	char	   *schema_json;	/* input_schema as JSON text */
	bool		read_only;
} SqlTool;

/* How one input argument of a tool's function is given by the model. */
typedef enum SqlToolKind
{
	SQLTOOL_STRING,				/* text, varchar, bpchar */
	SQLTOOL_INTEGER,			/* int2, int4, int8 */
	SQLTOOL_NUMBER,				/* numeric, float4, float8 */
	SQLTOOL_BOOLEAN,			/* bool */
	SQLTOOL_ANY					/* json, jsonb: any JSON value */
} SqlToolKind;

/* One input argument of a tool's function. */
typedef struct SqlToolArg
{
	char	   *name;
	Oid			type;			/* the argument's type (an array type for arrays) */
	Oid			elemtype;		/* its element type, or InvalidOid */
	SqlToolKind kind;			/* of the value, or of each element */
	bool		required;		/* no default */
} SqlToolArg;

extern bool sqltool_valid_name(const char *name);
extern List *sqltool_function_args(Oid fn, char **problem);
extern char *sqltool_input_schema(List *args);

extern List *sqltool_load(List *names, Oid owner, MemoryContext cxt, char **problem);
extern SqlTool *sqltool_copy(const SqlTool *t);
extern bool sqltool_usable(const char *name, Oid owner, bool *exists);
extern bool sqltool_execute(const SqlTool *t, Oid owner, const char *owner_id,
							const char *args_json, int timeout_ms, size_t max_bytes,
							char **result, char **error);

#endif							/* SANDBOX_SQLTOOL_H */
