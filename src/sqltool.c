/*-------------------------------------------------------------------------
 *
 * sqltool.c
 *	  SQL functions as agent tools: which functions can be one (their
 *	  arguments and the JSON Schema the model sees), the tools a run may
 *	  use, and one call of one.
 *
 * A call runs the function as the run's owner, never with more rights:
 * the owner's role (SetUserIdAndSecContext with SECURITY_LOCAL_USERID_CHANGE
 * and SECURITY_RESTRICTED_OPERATION, so the function can neither SET ROLE
 * nor SET SESSION AUTHORIZATION back to the worker's superuser session)
 * and the owner's identity (request.jwt.claims and request.jwt.claim.sub,
 * checked through sandbox.identity_function); row-level security applies.
 * Owners that are superusers or the extension's owner are refused.  Each
 * call has a subtransaction of its own, its own GUC nest level (pinned
 * search_path, transaction_read_only unless the tool was registered as
 * writing, the identity settings), and sandbox.sql_tool_timeout as a
 * statement timeout; whatever happens in it, the caller's transaction,
 * user, settings and timeouts are as they were.  The model's arguments are
 * checked against the function's and bound as parameters, never spliced
 * into the statement.  The rows come as JSON objects through a cursor,
 * kept up to sandbox.sql_tool_max_bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/catcache.h"
#include "libpq/pqsignal.h"
#include "tcop/tcopprot.h"

#include "identity.h"
#include "json_util.h"
#include "registry.h"
#include "safe_path.h"
#include "sql_common.h"
#include "sqltool.h"


/* rows fetched from the cursor at a time */
#define SQLTOOL_FETCH_BATCH 64

/*
 * sqltool_valid_name tells whether name is a tool name every model
 * provider accepts: ^[a-zA-Z0-9_-]{1,64}$.
 */
bool
sqltool_valid_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > SQLTOOL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * scalar_kind says how the model gives a value of type `type`; false for a
 * type a tool's argument may not have.
 */
static bool
scalar_kind(Oid type, SqlToolKind *kind)
{
	switch (type)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			*kind = SQLTOOL_STRING;
			return true;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			*kind = SQLTOOL_INTEGER;
			return true;
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			*kind = SQLTOOL_NUMBER;
			return true;
		case BOOLOID:
			*kind = SQLTOOL_BOOLEAN;
			return true;
		case JSONOID:
		case JSONBOID:
			*kind = SQLTOOL_ANY;
			return true;
		default:
			return false;
	}
}

/*
 * sqltool_function_args reads the input arguments of function fn as a
 * List of SqlToolArg, in order; or returns NIL with *problem set (a
 * sentence naming the argument) when the function cannot be a tool: not
 * a plain function, a variadic or unnamed argument, an argument type the
 * model cannot give, or a result that is a record without a column list.
 */
List *
sqltool_function_args(Oid fn, char **problem)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	Oid		   *types;
	char	  **names;
	char	   *modes;
	int			nall;
	int			nin = 0;
	int			first_default;
	List	   *args = NIL;
	Oid			rettype;
	TypeFuncClass cls;

	*problem = NULL;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
	{
		*problem = psprintf("Function %u does not exist.", fn);
		return NIL;
	}
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prokind != PROKIND_FUNCTION)
	{
		*problem = psprintf("%s is %s, not a plain function.", format_procedure(fn),
							proc->prokind == PROKIND_PROCEDURE ? "a procedure" :
							proc->prokind == PROKIND_AGGREGATE ? "an aggregate" :
							proc->prokind == PROKIND_WINDOW ? "a window function" : "not a function");
		ReleaseSysCache(tup);
		return NIL;
	}
	first_default = proc->pronargs - proc->pronargdefaults;
	nall = get_func_arg_info(tup, &types, &names, &modes);
	for (int i = 0; i < nall && *problem == NULL; i++)
	{
		char		mode = modes ? modes[i] : PROARGMODE_IN;
		char	   *name = names ? names[i] : NULL;
		SqlToolArg *a;
		Oid			elem;

		if (mode == PROARGMODE_OUT || mode == PROARGMODE_TABLE)
			continue;
		if (mode == PROARGMODE_VARIADIC)
		{
			*problem = psprintf("Argument %d (%s) is VARIADIC: a tool's arguments are named values; declare it as an array.",
								i + 1, name && name[0] ? name : "unnamed");
			break;
		}
		if (name == NULL || name[0] == '\0')
		{
			*problem = psprintf("Argument %d has no name: the model gives a tool's arguments by name.", i + 1);
			break;
		}
		a = palloc0(sizeof(SqlToolArg));
		a->name = pstrdup(name);
		a->type = types[i];
		a->required = nin < first_default;
		elem = get_element_type(types[i]);
		if (OidIsValid(elem) && !(types[i] == INT2VECTOROID || types[i] == OIDVECTOROID))
		{
			a->elemtype = elem;
			if (!scalar_kind(elem, &a->kind))
				*problem = psprintf("Argument \"%s\" is of type %s: a tool's arguments may be text, integer, numeric, boolean, json or jsonb, or one-dimensional arrays of those.",
									name, format_type_be(types[i]));
		}
		else if (!scalar_kind(types[i], &a->kind))
			*problem = psprintf("Argument \"%s\" is of type %s: a tool's arguments may be text, integer, numeric, boolean, json or jsonb, or one-dimensional arrays of those.",
								name, format_type_be(types[i]));
		args = lappend(args, a);
		nin++;
	}
	ReleaseSysCache(tup);
	if (*problem)
		return NIL;

	cls = get_func_result_type(fn, &rettype, NULL);
	if (cls == TYPEFUNC_RECORD)
		*problem = psprintf("%s returns record without naming its columns: declare OUT arguments or RETURNS TABLE.",
							format_procedure(fn));
	else if (cls == TYPEFUNC_OTHER && rettype != VOIDOID)
		*problem = psprintf("%s returns %s, which a tool cannot return.",
							format_procedure(fn), format_type_be(rettype));
	return *problem ? NIL : args;
}

/*
 * append_kind_schema writes the JSON Schema of one value of kind k.
 */
static void
append_kind_schema(StringInfo buf, SqlToolKind k)
{
	switch (k)
	{
		case SQLTOOL_STRING:
			appendStringInfoString(buf, "{\"type\":\"string\"}");
			break;
		case SQLTOOL_INTEGER:
			appendStringInfoString(buf, "{\"type\":\"integer\"}");
			break;
		case SQLTOOL_NUMBER:
			appendStringInfoString(buf, "{\"type\":\"number\"}");
			break;
		case SQLTOOL_BOOLEAN:
			appendStringInfoString(buf, "{\"type\":\"boolean\"}");
			break;
		case SQLTOOL_ANY:
			appendStringInfoString(buf, "{}");
			break;
	}
}

/*
 * sqltool_input_schema is the JSON Schema of a tool's input: an object
 * with one property per argument, those without a default required, no
 * other property.
 */
char *
sqltool_input_schema(List *args)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"type\":\"object\",\"properties\":{");
	foreach(lc, args)
	{
		SqlToolArg *a = lfirst(lc);

		if (!first)
			appendStringInfoChar(&buf, ',');
		first = false;
		json_append_string(&buf, a->name);
		appendStringInfoChar(&buf, ':');
		if (OidIsValid(a->elemtype))
		{
			appendStringInfoString(&buf, "{\"type\":\"array\",\"items\":");
			append_kind_schema(&buf, a->kind);
			appendStringInfoChar(&buf, '}');
		}
		else
			append_kind_schema(&buf, a->kind);
	}
	appendStringInfoString(&buf, "},\"required\":[");
	first = true;
	foreach(lc, args)
	{
		SqlToolArg *a = lfirst(lc);

		if (!a->required)
			continue;
		if (!first)
			appendStringInfoChar(&buf, ',');
		first = false;
		json_append_string(&buf, a->name);
	}
	appendStringInfoString(&buf, "],\"additionalProperties\":false}");
	return buf.data;
}

/*
 * True while a user's function runs as a SQL tool: the worker's own rights
 * (agent_runs_guard lets the worker write what users may not) must not
 * reach the user's SQL.
 */
bool		sandbox_in_user_sql = false;

/* the hard deadline of a call: past it the worker exits (see below) */
static TimeoutId hard_timeout = MAX_TIMEOUTS;

/*
 * hard_deadline_handler ends the process like a terminate request: a
 * function that catches query_canceled (PL/pgSQL can) would otherwise
 * hold the worker, and every run it drives, for as long as it likes.  A
 * FATAL cannot be caught; the postmaster starts the worker again and the
 * runs resume (a SQL call interrupted so is not run again).
 */
static void
hard_deadline_handler(void)
{
	ProcDiePending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/*
 * overloads counts the functions of fn's schema with fn's name: the call
 * is made by name, so another function of that name (someone with CREATE
 * on the schema could add one) could be the one chosen.
 */
static int
overloads(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	CatCList   *list;
	int			n = 0;

	if (!HeapTupleIsValid(tup))
		return 0;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	list = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum(NameStr(proc->proname)));
	for (int i = 0; i < list->n_members; i++)
	{
		Form_pg_proc p = (Form_pg_proc) GETSTRUCT(&list->members[i]->tuple);

		if (p->pronamespace == proc->pronamespace)
			n++;
	}
	ReleaseSysCacheList(list);
	ReleaseSysCache(tup);
	return n;
}

/*
 * owner_refusal says why role `owner` may never run a SQL tool (a
 * superuser, the extension's owner, a dropped role), or NULL.
 */
static char *
owner_refusal(Oid owner)
{
	ExtensionInfo ext;

	if (GetUserNameFromId(owner, true) == NULL)
		return psprintf("The run's owner (role %u) does not exist any more.", owner);
	if (superuser_arg(owner))
		return psprintf("The run's owner, %s, is a superuser: SQL tools never run with a superuser's rights.",
						GetUserNameFromId(owner, false));
	if (sandbox_extension_info(&ext, true) && ext.owner == owner)
		return psprintf("The run's owner, %s, owns the extension: SQL tools never run with its rights.",
						GetUserNameFromId(owner, false));
	return NULL;
}

/*
 * tool_problem says why role `owner` may not use the registered tool
 * `name` on function fn, or NULL when it may.
 */
static char *
tool_problem(const char *name, Oid fn, Oid owner)
{
	char	   *refusal;

	if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(fn)))
		return psprintf("SQL tool \"%s\": its function does not exist any more.", name);
	if (pg_proc_aclcheck(fn, owner, ACL_EXECUTE) != ACLCHECK_OK)
		return psprintf("SQL tool \"%s\": role %s may not execute %s.", name,
						GetUserNameFromId(owner, true) ? GetUserNameFromId(owner, true) : "?",
						format_procedure(fn));
	refusal = owner_refusal(owner);
	if (refusal)
		return psprintf("SQL tool \"%s\": %s", name, refusal);
	return NULL;
}

/*
 * sqltool_load returns, allocated in cxt, the registered SQL tools (SqlTool)
 * among `names`, in their order there.  Names that are not registered SQL
 * tools are skipped; a registered tool that role `owner` may not use (no
 * EXECUTE on its function, a dropped function, an owner that is a
 * superuser or the extension's owner) is left out and the first such
 * reason is put in *problem (palloc'd in cxt), else *problem is NULL.  In a
 * transaction.
 */
List *
sqltool_load(List *names, Oid owner, MemoryContext cxt, char **problem)
{
	ExtensionInfo ext;
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1];
	List	   *tools = NIL;
	uint64		n;

	*problem = NULL;
	if (names == NIL || !sandbox_extension_info(&ext, true))
		return NIL;
	values[0] = text_array_datum(names);
	SPI_connect();
	n = registry_run_as_owner(&ext,
							  psprintf("SELECT t.name, t.fn::pg_catalog.oid, t.description, t.input_schema::pg_catalog.text, t.read_only "
									   "FROM %s.sandbox_sql_tools t WHERE t.name OPERATOR(pg_catalog.=) ANY ($1) "
									   "ORDER BY pg_catalog.array_position($1, t.name)", ext.schema_quoted),
							  1, types, values, NULL, true);
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 1);
		Oid			fn = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		char	   *why = tool_problem(name, fn, owner);
		MemoryContext old;
		SqlTool    *t;

		if (why)
		{
			if (*problem == NULL)
				*problem = MemoryContextStrdup(cxt, why);
			continue;
		}
		old = MemoryContextSwitchTo(cxt);
		t = palloc0(sizeof(SqlTool));
		t->fn = fn;
		t->name = pstrdup(name);
		t->description = pstrdup(SPI_getvalue(tup, desc, 3));
		t->schema_json = pstrdup(SPI_getvalue(tup, desc, 4));
		t->read_only = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		tools = lappend(tools, t);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return tools;
}

/*
 * sqltool_copy copies a tool into the current memory context (a claimed
 * run's tools live for one pass of the worker; the run keeps its own).
 */
SqlTool *
sqltool_copy(const SqlTool *t)
{
	SqlTool    *c = palloc(sizeof(SqlTool));

	c->fn = t->fn;
	c->name = pstrdup(t->name);
	c->description = pstrdup(t->description);
	c->schema_json = pstrdup(t->schema_json);
	c->read_only = t->read_only;
	return c;
}

/*
 * sqltool_usable tells whether `name` is a registered SQL tool that role
 * `owner` may use (EXECUTE on its function, an owner that is neither a
 * superuser nor the extension's owner); *exists says whether it is a
 * registered SQL tool at all.  In a transaction.
 */
bool
sqltool_usable(const char *name, Oid owner, bool *exists)
{
	ExtensionInfo ext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	Oid			fn = InvalidOid;
	bool		isnull;

	*exists = false;
	if (name == NULL || !sandbox_extension_info(&ext, true))
		return false;
	values[0] = CStringGetTextDatum(name);
	SPI_connect();
	if (registry_run_as_owner(&ext,
							  psprintf("SELECT t.fn::pg_catalog.oid FROM %s.sandbox_sql_tools t "
									   "WHERE t.name OPERATOR(pg_catalog.=) $1", ext.schema_quoted),
							  1, types, values, NULL, true) > 0)
	{
		*exists = true;
		fn = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	return *exists && tool_problem(name, fn, owner) == NULL;
}

/*
 * One argument of a call, as read from the model's input: the text of
 * its value (or of each element of an array), checked against its kind.
 */
typedef struct BoundArg
{
	SqlToolArg *arg;
	bool		isnull;
	char	   *text;			/* a scalar's text */
	int			nelems;			/* an array's elements */
	char	  **elems;
	bool	   *elemnulls;
} BoundArg;

/*
 * kind_name names what the model should have given, for messages.
 */
static const char *
kind_name(SqlToolKind k)
{
	switch (k)
	{
		case SQLTOOL_STRING:
			return "a string";
		case SQLTOOL_INTEGER:
			return "an integer";
		case SQLTOOL_NUMBER:
			return "a number";
		case SQLTOOL_BOOLEAN:
			return "a boolean";
		case SQLTOOL_ANY:
			return "any JSON value";
	}
	return "?";
}

/*
 * kind_plain names a kind without its article, for "an array of ...".
 */
static const char *
kind_plain(SqlToolKind k)
{
	return k == SQLTOOL_ANY ? "any" : strchr(kind_name(k), ' ') + 1;
}

/*
 * json_type_name names the JSON type of v, for messages.
 */
static const char *
json_type_name(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return json_is_array(v->val.binary.data) ? "an array" : "an object";
		default:
			return "an array or object";
	}
}

/*
 * jsonb_value_text writes any JSON value as JSON text.
 */
static char *
jsonb_value_text(JsonbValue *v)
{
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	else
	{
		Jsonb	   *j = JsonbValueToJsonb(v);

		return JsonbToCString(NULL, &j->root, VARSIZE(j));
	}
}

/*
 * value_text checks a (non-null) JSON value against kind k and returns its
 * text for the type's input function, or NULL with *why set.
 */
static char *
value_text(JsonbValue *v, SqlToolKind k, char **why)
{
	char	   *s;

	switch (k)
	{
		case SQLTOOL_STRING:
			if (v->type == jbvString)
				return pnstrdup(v->val.string.val, v->val.string.len);
			break;
		case SQLTOOL_INTEGER:
			if (v->type == jbvNumeric)
			{
				char	   *dot;

				s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
				dot = strchr(s, '.');
				if (dot == NULL)
					return s;
				/* 3.0 is an integer; 3.5 is not */
				for (char *p = dot + 1; *p; p++)
					if (*p != '0')
					{
						*why = psprintf("must be an integer, not %s", s);
						return NULL;
					}
				*dot = '\0';
				return s;
			}
			break;
		case SQLTOOL_NUMBER:
			if (v->type == jbvNumeric)
				return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			break;
		case SQLTOOL_BOOLEAN:
			if (v->type == jbvBool)
				return pstrdup(v->val.boolean ? "true" : "false");
			break;
		case SQLTOOL_ANY:
			return jsonb_value_text(v);
	}
	*why = psprintf("must be %s, not %s", kind_name(k), json_type_name(v));
	return NULL;
}

/*
 * bind_value reads the model's value v for argument b->arg into b, or
 * returns why it does not fit.
 */
static char *
bind_value(BoundArg *b, JsonbValue *v)
{
	SqlToolArg *a = b->arg;
	char	   *why = NULL;

	if (v->type == jbvNull)
	{
		b->isnull = true;
		return NULL;
	}
	if (!OidIsValid(a->elemtype))
	{
		b->text = value_text(v, a->kind, &why);
		return b->text ? NULL : psprintf("argument \"%s\" %s", a->name, why);
	}
	if (v->type != jbvBinary || !json_is_array(v->val.binary.data))
		return psprintf("argument \"%s\" must be an array (of %s elements), not %s", a->name,
						kind_plain(a->kind), json_type_name(v));
	{
		JsonbContainer *c = v->val.binary.data;
		int			n = jarr_length(c);

		b->nelems = n;
		b->elems = palloc0(sizeof(char *) * Max(n, 1));
		b->elemnulls = palloc0(sizeof(bool) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			JsonbValue *e = jarr_get(c, i);

			if (e == NULL || e->type == jbvNull)
			{
				b->elemnulls[i] = true;
				continue;
			}
			b->elems[i] = value_text(e, a->kind, &why);
			if (b->elems[i] == NULL)
				return psprintf("element %d of argument \"%s\" %s%s", i, a->name, why,
								e->type == jbvBinary && a->kind != SQLTOOL_ANY ?
								" (arrays are one-dimensional)" : "");
		}
	}
	return NULL;
}

/*
 * bind_args checks the model's input (a JSON object) against the
 * function's arguments: no unknown key, every required argument given,
 * each value of its argument's JSON type.  Returns the arguments given
 * (BoundArg), in the function's order, or NIL with *why set.  A null
 * value for an optional argument omits it.
 */
static List *
bind_args(List *args, const char *args_json, char **why)
{
	Jsonb	   *j;
	JsonbContainer *root;
	List	   *bound = NIL;
	ListCell   *lc;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	*why = NULL;
	if (args_json == NULL || args_json[0] == '\0')
		args_json = "{}";
	j = json_parse_cstring(args_json);
	if (j == NULL)
	{
		*why = psprintf("the arguments are not a JSON object: %s", json_parse_error());
		return NIL;
	}
	root = json_root(j);
	if (!json_is_object(root))
	{
		*why = pstrdup("the arguments must be a JSON object");
		return NIL;
	}

	/* every key names an argument */
	it = JsonbIteratorInit(root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		foreach(lc, args)
			if (strcmp(((SqlToolArg *) lfirst(lc))->name, key) == 0)
				known = true;
		if (!known)
		{
			StringInfoData names;

			initStringInfo(&names);
			foreach(lc, args)
				appendStringInfo(&names, "%s\"%s\"", names.len ? ", " : "",
								 ((SqlToolArg *) lfirst(lc))->name);
			*why = psprintf("unknown argument \"%s\" (the arguments are: %s)", key,
							names.len ? names.data : "none");
			return NIL;
		}
	}

	foreach(lc, args)
	{
		SqlToolArg *a = lfirst(lc);
		JsonbValue *given = json_get(root, a->name);
		BoundArg   *b;

		if (given == NULL || given->type == jbvNull)
		{
			if (a->required)
			{
				*why = psprintf("argument \"%s\" is required", a->name);
				return NIL;
			}
			continue;
		}
		b = palloc0(sizeof(BoundArg));
		b->arg = a;
		*why = bind_value(b, given);
		if (*why)
			return NIL;
		bound = lappend(bound, b);
	}
	return bound;
}

/*
 * bound_datum converts a checked argument to its type with the type's
 * input functions (which may raise: a value out of the type's range).
 */
static Datum
bound_datum(BoundArg *b)
{
	SqlToolArg *a = b->arg;
	Oid			typinput;
	Oid			typioparam;

	if (!OidIsValid(a->elemtype))
	{
		getTypeInputInfo(a->type, &typinput, &typioparam);
		return OidInputFunctionCall(typinput, b->text, typioparam, -1);
	}
	else
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *elems = palloc0(sizeof(Datum) * Max(b->nelems, 1));
		int			dims[1];
		int			lbs[1] = {1};

		if (b->nelems == 0)
			return PointerGetDatum(construct_empty_array(a->elemtype));
		getTypeInputInfo(a->elemtype, &typinput, &typioparam);
		get_typlenbyvalalign(a->elemtype, &typlen, &typbyval, &typalign);
		for (int i = 0; i < b->nelems; i++)
			if (!b->elemnulls[i])
				elems[i] = OidInputFunctionCall(typinput, b->elems[i], typioparam, -1);
		dims[0] = b->nelems;
		return PointerGetDatum(construct_md_array(elems, b->elemnulls, 1, dims, lbs,
												  a->elemtype, typlen, typbyval, typalign));
	}
}

/*
 * set_local sets a setting for the call's GUC nest level.
 */
static void
set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * error_text is what the model is told of an error: its message, detail,
 * hint and SQLSTATE.
 */
static char *
error_text(ErrorData *edata)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, edata->message ? edata->message : "unknown error");
	if (edata->detail)
		appendStringInfo(&buf, "\nDETAIL: %s", edata->detail);
	if (edata->hint)
		appendStringInfo(&buf, "\nHINT: %s", edata->hint);
	appendStringInfo(&buf, "\nSQLSTATE: %s", unpack_sql_state(edata->sqlerrcode));
	return buf.data;
}

/*
 * call_sql is the statement of one call: the function, schema-qualified
 * from the catalog, with the given arguments by name as $1, $2...; each
 * row as a JSON object (a scalar result's column named after the
 * function; the subquery makes each row a record even then).
 */
static char *
call_sql(Oid fn, List *bound)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	StringInfoData sql;
	ListCell   *lc;
	int			i = 0;
	Oid			rettype;
	TypeFuncClass cls;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	cls = get_func_result_type(fn, &rettype, NULL);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT pg_catalog.to_jsonb(t)::pg_catalog.text FROM (SELECT * FROM %s.%s(",
					 quote_identifier(get_namespace_name(proc->pronamespace)),
					 quote_identifier(NameStr(proc->proname)));
	foreach(lc, bound)
	{
		BoundArg   *b = lfirst(lc);

		i++;
		appendStringInfo(&sql, "%s%s => $%d", i > 1 ? ", " : "", quote_identifier(b->arg->name), i);
	}
	appendStringInfoString(&sql, ") AS f");
	if (cls != TYPEFUNC_COMPOSITE && cls != TYPEFUNC_COMPOSITE_DOMAIN)
		appendStringInfo(&sql, "(%s)", quote_identifier(NameStr(proc->proname)));
	appendStringInfoString(&sql, ") AS t");
	ReleaseSysCache(tup);
	return sql.data;
}

/*
 * fetch_rows reads the call's rows from its cursor in batches into buf (a
 * JSON array), keeping at most max_bytes; the rows beyond are counted
 * (MOVE), not kept.  Returns the number of rows; *omitted those not kept.
 */
static uint64
fetch_rows(Portal portal, StringInfo buf, size_t max_bytes, uint64 *omitted)
{
	uint64		total = 0;
	bool		full = false;

	*omitted = 0;
	appendStringInfoChar(buf, '[');
	while (!full)
	{
		SPI_cursor_fetch(portal, true, SQLTOOL_FETCH_BATCH);
		if (SPI_processed == 0)
		{
			SPI_freetuptable(SPI_tuptable);
			break;
		}
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			text	   *row = isnull ? NULL : DatumGetTextPP(d);
			size_t		len = row ? VARSIZE_ANY_EXHDR(row) : 4;

			total++;
			/* '[' + rows + ',' separators + ']' stays within max_bytes */
			if (full || (size_t) buf->len + (total > 1 ? 1 : 0) + len + 1 > max_bytes)
			{
				full = true;
				(*omitted)++;
				continue;
			}
			if (total > 1)
				appendStringInfoChar(buf, ',');
			if (row)
				appendBinaryStringInfo(buf, VARDATA_ANY(row), len);
			else
				appendStringInfoString(buf, "null");
		}
		SPI_freetuptable(SPI_tuptable);
	}
	if (full)
	{
		SPI_cursor_move(portal, true, FETCH_ALL);
		total += SPI_processed;
		*omitted += SPI_processed;
	}
	appendStringInfoChar(buf, ']');
	return total;
}

/*
 * sqltool_execute runs one call of tool t for a run of role `owner` with
 * identity owner_id (may be NULL), with the model's arguments args_json,
 * in a subtransaction of its own under timeout_ms, keeping at most
 * max_bytes of rows.  True with *result = {"rows":[...],"row_count":N}
 * (plus "truncated":true,"rows_omitted":M when rows were left out;
 * row_count counts them too); false with *error = what to tell the model.
 * Problems of the call never raise; the caller's transaction, user,
 * settings and timeouts are as they were.  Results are palloc'd in the
 * caller's memory context.  In a transaction.
 */
bool
sqltool_execute(const SqlTool *t, Oid owner, const char *owner_id, const char *args_json,
				int timeout_ms, size_t max_bytes, char **result, char **error)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	Oid			save_user;
	int			save_sec;
	char	   *refusal;
	char	   *why = NULL;
	List	   *args;
	List	   *bound;
	char	   *sql;
	char	   *role_name;
	StringInfoData claims;
	StringInfoData rows;
	volatile bool ok = false;
	pqsigfunc	volatile saved_sigterm = NULL;
	volatile uint64 total = 0;
	volatile uint64 omitted = 0;
	char	   *volatile problem = NULL;

	*result = NULL;
	*error = NULL;

	/* who: never a superuser, never the extension's owner */
	refusal = owner_refusal(owner);
	if (refusal)
	{
		*error = refusal;
		return false;
	}
	if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(t->fn)))
	{
		*error = psprintf("SQL tool \"%s\": its function does not exist any more.", t->name);
		return false;
	}
	if (pg_proc_aclcheck(t->fn, owner, ACL_EXECUTE) != ACLCHECK_OK)
	{
		*error = psprintf("permission denied: role %s may not execute %s (SQL tool \"%s\").",
						  GetUserNameFromId(owner, false), format_procedure(t->fn), t->name);
		return false;
	}

	if (overloads(t->fn) > 1)
	{
		*error = psprintf("SQL tool \"%s\" cannot be called: its schema has more than one function named %s, "
						  "and the call must reach %s only.", t->name, get_func_name(t->fn),
						  format_procedure(t->fn));
		return false;
	}

	/* what: the function's arguments as they are now, and the model's */
	args = sqltool_function_args(t->fn, &why);
	if (why)
	{
		*error = psprintf("SQL tool \"%s\" cannot be called: %s", t->name, why);
		return false;
	}
	bound = bind_args(args, args_json, &why);
	if (why)
	{
		*error = psprintf("invalid arguments for SQL tool \"%s\": %s", t->name, why);
		return false;
	}
	sql = call_sql(t->fn, bound);

	role_name = GetUserNameFromId(owner, false);
	initStringInfo(&claims);
	if (owner_id)
	{
		bool		first = true;

		appendStringInfoChar(&claims, '{');
		json_append_kv_string(&claims, &first, "sub", owner_id);
		json_append_kv_string(&claims, &first, "role", role_name);
		appendStringInfoChar(&claims, '}');
	}
	initStringInfo(&rows);

	if (hard_timeout == MAX_TIMEOUTS)
		hard_timeout = RegisterTimeout(USER_TIMEOUT, hard_deadline_handler);
	GetUserIdAndSecContext(&save_user, &save_sec);
	SPI_connect();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		int			nparams = list_length(bound);
		Oid		   *types = palloc0(sizeof(Oid) * Max(nparams, 1));
		Datum	   *values = palloc0(sizeof(Datum) * Max(nparams, 1));
		char	   *nulls = palloc0(Max(nparams, 1) + 1);
		char	   *current_id;
		ListCell   *lc;
		int			i = 0;
		Portal		portal;
		uint64		n_omitted;
		int			nest;

		enable_timeout_after(STATEMENT_TIMEOUT, timeout_ms);
		/* past twice the timeout (a function that ignores the cancel), the worker exits */
		enable_timeout_after(hard_timeout, timeout_ms * 2 + 1000);
		/* and a SIGTERM ends the call at once (the worker's handler only sets a flag) */
		saved_sigterm = pqsignal(SIGTERM, die);

		/* the call's settings, undone with its nest level */
		nest = NewGUCNestLevel();
		set_local("search_path", SANDBOX_SAFE_SEARCH_PATH);
		set_local("row_security", "on");
		set_local("request.jwt.claims", claims.data);
		set_local("request.jwt.claim.sub", owner_id ? owner_id : "");
		if (t->read_only)
			set_local("transaction_read_only", "on");

		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		sandbox_in_user_sql = true;

		current_id = identity_current();
		if (!identity_matches(owner_id, current_id))
			problem = psprintf("the identity of the run's owner could not be established for this call: "
							   "sandbox.identity_function returns %s%s%s, the run belongs to %s%s%s",
							   current_id ? "\"" : "", current_id ? current_id : "NULL",
							   current_id ? "\"" : "",
							   owner_id ? "\"" : "", owner_id ? owner_id : "no identity",
							   owner_id ? "\"" : "");
		else
		{
			foreach(lc, bound)
			{
				BoundArg   *b = lfirst(lc);

				types[i] = b->arg->type;
				nulls[i] = b->isnull ? 'n' : ' ';
				values[i] = b->isnull ? (Datum) 0 : bound_datum(b);
				i++;
			}
			portal = SPI_cursor_open_with_args(NULL, sql, nparams, types, values, nulls,
											   false, CURSOR_OPT_NO_SCROLL);
			total = fetch_rows(portal, &rows, max_bytes, &n_omitted);
			omitted = n_omitted;
			SPI_cursor_close(portal);
			/* a writing tool's deferred constraints are checked now, not at the worker's commit */
			if (!t->read_only)
				SPI_execute("SET CONSTRAINTS ALL IMMEDIATE", false, 0);
			ok = true;
		}

		disable_timeout(STATEMENT_TIMEOUT, false);
		disable_timeout(hard_timeout, false);
		pqsignal(SIGTERM, saved_sigterm);
		if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
			QueryCancelPending = false; /* fired after the last check: not ours to act on */
		sandbox_in_user_sql = false;
		SetUserIdAndSecContext(save_user, save_sec);
		/* the function's own SETs go too, not only ours */
		AtEOXact_GUC(false, nest);
		/* a read-only call leaves nothing behind; a writing one's changes stay */
		if (t->read_only || !ok)
			RollbackAndReleaseCurrentSubTransaction();
		else
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		disable_timeout(STATEMENT_TIMEOUT, false);
		disable_timeout(hard_timeout, false);
		pqsignal(SIGTERM, saved_sigterm);
		if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
			QueryCancelPending = false;
		sandbox_in_user_sql = false;
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = caller_owner;
		SetUserIdAndSecContext(save_user, save_sec);
		ok = false;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && edata->message &&
			strstr(edata->message, "statement timeout") != NULL)
			problem = psprintf("canceled after %d ms: sandbox.sql_tool_timeout", timeout_ms);
		else
			problem = error_text(edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	SPI_finish();
	MemoryContextSwitchTo(caller);
	/* session-level advisory locks the function took die with the call */
	LockReleaseAll(USER_LOCKMETHOD, true);

	if (!ok)
	{
		*error = problem ? problem : pstrdup("the call failed");
		return false;
	}
	{
		StringInfoData out;

		initStringInfo(&out);
		appendStringInfoString(&out, "{\"rows\":");
		appendBinaryStringInfo(&out, rows.data, rows.len);
		appendStringInfo(&out, ",\"row_count\":" UINT64_FORMAT, (uint64) total);
		if (omitted > 0)
			appendStringInfo(&out, ",\"truncated\":true,\"rows_omitted\":" UINT64_FORMAT,
							 (uint64) omitted);
		appendStringInfoChar(&out, '}');
		pfree(rows.data);
		*result = out.data;
	}
	return true;
}
