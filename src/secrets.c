/*-------------------------------------------------------------------------
 *
 * secrets.c
 *	  The secret store: sandbox_set_secret, sandbox_grant_secret,
 *	  sandbox_revoke_secret, sandbox_drop_secret and sandbox_list_secrets,
 *	  and what the rest of the extension needs of it (who may use a secret,
 *	  its value for a sandbox's environment, redaction, API keys kept in the
 *	  store).
 *
 * `sandbox_secrets` and `sandbox_secret_grants` carry no privilege for
 * anyone: every statement here runs as the extension's owner under the
 * pinned search_path (registry_run_as_owner), with the caller's role and
 * identity passed as arguments and checked here.  A secret's owner is the
 * role (and identity, sandbox.identity_function) that created it; the
 * owner, its members with the same identity, and superusers may replace,
 * grant, revoke and drop it.  A role may use a secret it owns, or one
 * granted to a role whose privileges it has.
 *
 * No value ever goes into a message: errors name the secret, never its
 * value.  Values are passed to SPI as parameters, so they are not in any
 * statement text either; the caller's own statement is another matter
 * (docs/sql-reference.md#secrets).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "identity.h"
#include "json_util.h"
#include "registry.h"
#include "secrets.h"
#include "sql_common.h"

PG_FUNCTION_INFO_V1(sandbox_set_secret);
PG_FUNCTION_INFO_V1(sandbox_grant_secret);
PG_FUNCTION_INFO_V1(sandbox_revoke_secret);
PG_FUNCTION_INFO_V1(sandbox_drop_secret);
PG_FUNCTION_INFO_V1(sandbox_list_secrets);

#define SECRET_NAME_MAX 128
#define SECRET_VALUE_MIN 8
#define SECRET_VALUE_MAX 65536

/* names starting with these (in any case) are the extension's or E2B's */
static const char *const reserved_prefixes[] = {"E2B_", "PGSANDBOX_"};

#define NAME_HINT "A secret's name is the environment variable it becomes: letters, digits and underscores, " \
	"not starting with a digit, at most 128 characters; names starting with E2B_ or PGSANDBOX_ (in any case) are reserved."

/*
 * Why name is not a valid secret name, or NULL when it is.
 */
static char *
name_problem(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0)
		return pstrdup("A secret's name may not be empty.");
	if (len > SECRET_NAME_MAX)
		return psprintf("It is %zu characters long; the limit is %d.", len, SECRET_NAME_MAX);
	if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
		return pstrdup("It must start with an ASCII letter or an underscore.");
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return pstrdup("It may hold only ASCII letters, digits and underscores.");
	}
	for (int i = 0; i < lengthof(reserved_prefixes); i++)
		if (pg_strncasecmp(name, reserved_prefixes[i], strlen(reserved_prefixes[i])) == 0)
			return psprintf("Names starting with %s are reserved for the extension and E2B.",
							reserved_prefixes[i]);
	return NULL;
}

/*
 * Raise when name is not a valid secret name.
 */
static void
check_name(const char *name)
{
	char	   *problem = name_problem(name);

	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid secret name \"%s\"", name),
				 errdetail("%s", problem),
				 errhint(NAME_HINT)));
}

/*
 * Argument n as a C string; raises, naming argname, when it is NULL.
 */
static char *
required_text(FunctionCallInfo fcinfo, int n, const char *argname)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s may not be NULL", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * Whether the current role and identity may manage (replace, grant,
 * revoke, drop) a secret with this owner.
 */
static bool
may_manage(Oid owner, const char *owner_id)
{
	return superuser() ||
		(has_privs_of_role(GetUserId(), owner) && identity_matches(owner_id, identity_current()));
}

/*
 * Read a secret's owner and identity, locking its row; false when there is
 * no such secret.  The caller has called SPI_connect.
 */
static bool
read_owner(const ExtensionInfo *ext, const char *name, Oid *owner, char **owner_id)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char	   *sql;
	bool		isnull;
	char	   *id;

	values[0] = CStringGetTextDatum(name);
	sql = psprintf("SELECT s.owner::pg_catalog.oid, s.owner_id FROM %s.sandbox_secrets s "
				   "WHERE s.name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				   ext->schema_quoted);
	if (registry_run_as_owner(ext, sql, 1, types, values, NULL, false) == 0)
		return false;
	*owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*owner_id = id ? pstrdup(id) : NULL;
	return true;
}

/*
 * Raise unless the current role and identity may manage the secret.
 */
static void
check_may_manage(const char *name, Oid owner, const char *owner_id)
{
	if (!may_manage(owner, owner_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for secret \"%s\"", name),
				 errdetail("The secret belongs to another %s.",
						   has_privs_of_role(GetUserId(), owner) ? "user (sandbox.identity_function)" : "role"),
				 errhint("Only its owner and superusers may change, grant or drop a secret.")));
}

/*
 * Raise that there is no secret of this name.
 */
static void
raise_unknown(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("secret \"%s\" does not exist", name),
			 errhint("sandbox_list_secrets() shows the secrets you own or may use.")));
}

/*
 * sandbox_set_secret(name, value) creates a secret owned by the current
 * role and identity, or replaces the value of one the caller may manage.
 */
Datum
sandbox_set_secret(PG_FUNCTION_ARGS)
{
	char	   *name = required_text(fcinfo, 0, "name");
	text	   *value;
	size_t		len;
	ExtensionInfo ext;
	Oid			owner;
	char	   *owner_id;
	char	   *current_id;

	check_name(name);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the value of secret \"%s\" may not be NULL", name),
				 errhint("sandbox_drop_secret() removes a secret.")));
	value = PG_GETARG_TEXT_PP(1);
	len = VARSIZE_ANY_EXHDR(value);
	if (len < SECRET_VALUE_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the value of secret \"%s\" is too short: %zu bytes, at least %d are needed",
						name, len, SECRET_VALUE_MIN),
				 errhint("Every occurrence of a secret's value is replaced by [secret:%s] in what the extension stores and sends to the model: a short value would replace ordinary text.",
						 name)));
	if (len > SECRET_VALUE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the value of secret \"%s\" is too long: %zu bytes, the limit is %d",
						name, len, SECRET_VALUE_MAX)));
	if (memchr(VARDATA_ANY(value), '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("the value of secret \"%s\" holds a NUL byte", name)));

	sandbox_extension_info(&ext, false);
	current_id = identity_current();
	SPI_connect();
	if (read_owner(&ext, name, &owner, &owner_id))
	{
		Oid			types[2] = {TEXTOID, TEXTOID};
		Datum		values[2];

		check_may_manage(name, owner, owner_id);
		values[0] = CStringGetTextDatum(name);
		values[1] = PointerGetDatum(value);
		registry_run_as_owner(&ext,
							  psprintf("UPDATE %s.sandbox_secrets SET value = $2, updated_at = pg_catalog.now() "
									   "WHERE name OPERATOR(pg_catalog.=) $1", ext.schema_quoted),
							  2, types, values, NULL, false);
	}
	else
	{
		Oid			types[4] = {TEXTOID, OIDOID, TEXTOID, TEXTOID};
		Datum		values[4];
		char		nulls[4] = {' ', ' ', ' ', ' '};

		values[0] = CStringGetTextDatum(name);
		values[1] = ObjectIdGetDatum(GetUserId());
		if (current_id)
			values[2] = CStringGetTextDatum(current_id);
		else
			nulls[2] = 'n';
		values[3] = PointerGetDatum(value);
		registry_run_as_owner(&ext,
							  psprintf("INSERT INTO %s.sandbox_secrets (name, owner, owner_id, value) "
									   "VALUES ($1, $2::pg_catalog.regrole, $3, $4)", ext.schema_quoted),
							  4, types, values, nulls, false);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * The role argument n, which must name a role.
 */
static Oid
role_arg(FunctionCallInfo fcinfo, int n)
{
	Oid			role = PG_ARGISNULL(n) ? InvalidOid : PG_GETARG_OID(n);

	if (!OidIsValid(role) || GetUserNameFromId(role, true) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role must name an existing role")));
	return role;
}

/*
 * sandbox_grant_secret(name, role) lets role (and the roles that have its
 * privileges) use the secret.
 */
Datum
sandbox_grant_secret(PG_FUNCTION_ARGS)
{
	char	   *name = required_text(fcinfo, 0, "name");
	Oid			role = role_arg(fcinfo, 1);
	ExtensionInfo ext;
	Oid			owner;
	char	   *owner_id;
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2];

	sandbox_extension_info(&ext, false);
	SPI_connect();
	if (!read_owner(&ext, name, &owner, &owner_id))
		raise_unknown(name);
	check_may_manage(name, owner, owner_id);
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(role);
	registry_run_as_owner(&ext,
						  psprintf("INSERT INTO %s.sandbox_secret_grants (name, grantee) "
								   "VALUES ($1, $2::pg_catalog.regrole) ON CONFLICT DO NOTHING",
								   ext.schema_quoted),
						  2, types, values, NULL, false);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * sandbox_revoke_secret(name, role) takes a grant back; true if there was
 * one.
 */
Datum
sandbox_revoke_secret(PG_FUNCTION_ARGS)
{
	char	   *name = required_text(fcinfo, 0, "name");
	Oid			role = role_arg(fcinfo, 1);
	ExtensionInfo ext;
	Oid			owner;
	char	   *owner_id;
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2];
	uint64		n;

	sandbox_extension_info(&ext, false);
	SPI_connect();
	if (!read_owner(&ext, name, &owner, &owner_id))
		raise_unknown(name);
	check_may_manage(name, owner, owner_id);
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(role);
	n = registry_run_as_owner(&ext,
							  psprintf("DELETE FROM %s.sandbox_secret_grants "
									   "WHERE name OPERATOR(pg_catalog.=) $1 "
									   "AND grantee::pg_catalog.oid OPERATOR(pg_catalog.=) $2",
									   ext.schema_quoted),
							  2, types, values, NULL, false);
	SPI_finish();
	PG_RETURN_BOOL(n > 0);
}

/*
 * sandbox_drop_secret(name) removes a secret and its grants; false if there
 * was no such secret.
 */
Datum
sandbox_drop_secret(PG_FUNCTION_ARGS)
{
	char	   *name = required_text(fcinfo, 0, "name");
	ExtensionInfo ext;
	Oid			owner;
	char	   *owner_id;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		found;

	sandbox_extension_info(&ext, false);
	SPI_connect();
	found = read_owner(&ext, name, &owner, &owner_id);
	if (found)
	{
		check_may_manage(name, owner, owner_id);
		values[0] = CStringGetTextDatum(name);
		registry_run_as_owner(&ext,
							  psprintf("DELETE FROM %s.sandbox_secrets WHERE name OPERATOR(pg_catalog.=) $1",
									   ext.schema_quoted),
							  1, types, values, NULL, false);
	}
	SPI_finish();
	PG_RETURN_BOOL(found);
}

/*
 * sandbox_list_secrets() shows the names of the secrets the caller owns or
 * may use (every secret, to a superuser): owner, the roles it is granted to
 * (to its owner and superusers; NULL for a secret one may only use), and
 * when it was created and last set.  Never a value.
 */
Datum
sandbox_list_secrets(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ExtensionInfo ext;
	Oid			types[3] = {OIDOID, TEXTOID, BOOLOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	char	   *current_id;
	char	   *sql;
	uint64		n;

	InitMaterializedSRF(fcinfo, 0);
	sandbox_extension_info(&ext, false);
	current_id = identity_current();
	values[0] = ObjectIdGetDatum(GetUserId());
	if (current_id)
		values[1] = CStringGetTextDatum(current_id);
	else
		nulls[1] = 'n';
	values[2] = BoolGetDatum(superuser());
	sql = psprintf("WITH s AS ("
				   " SELECT s.*, $3 OR (pg_catalog.pg_has_role($1, s.owner::pg_catalog.oid, 'USAGE')"
				   "   AND COALESCE(s.owner_id, ''::pg_catalog.text) OPERATOR(pg_catalog.=)"
				   "       COALESCE($2, ''::pg_catalog.text)) AS mine"
				   " FROM %s.sandbox_secrets s) "
				   "SELECT s.name, s.owner, "
				   " CASE WHEN s.mine THEN ARRAY(SELECT g.grantee FROM %s.sandbox_secret_grants g"
				   "   WHERE g.name OPERATOR(pg_catalog.=) s.name"
				   "   ORDER BY g.grantee::pg_catalog.text COLLATE pg_catalog.\"C\") END, "
				   " s.created_at, s.updated_at "
				   "FROM s WHERE s.mine OR EXISTS (SELECT 1 FROM %s.sandbox_secret_grants g"
				   "   WHERE g.name OPERATOR(pg_catalog.=) s.name"
				   "   AND pg_catalog.pg_has_role($1, g.grantee::pg_catalog.oid, 'USAGE')) "
				   "ORDER BY s.name COLLATE pg_catalog.\"C\"",
				   ext.schema_quoted, ext.schema_quoted, ext.schema_quoted);
	SPI_connect();
	n = registry_run_as_owner(&ext, sql, 3, types, values, nulls, true);
	for (uint64 i = 0; i < n; i++)
	{
		Datum		row[5];
		bool		rownulls[5];

		for (int c = 0; c < 5; c++)
			row[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &rownulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, rownulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/* ---------------------------------------------------------------------------
 * The C API (secrets.h)
 * ---------------------------------------------------------------------------
 */

/*
 * Check names for role and identity and, with want_values, read their
 * values into cxt (*out, a List of SecretValue in the order of names).
 * Returns 0, or the SQLSTATE of the problem described in *problem.
 */
static int
lookup(List *names, Oid role, const char *identity, bool want_values,
	   MemoryContext cxt, List **out, char **problem)
{
	ExtensionInfo ext;
	ListCell   *lc;
	Oid			types[3] = {TEXTARRAYOID, OIDOID, BOOLOID};
	Datum		values[3];
	char	   *sql;
	uint64		n;
	int			code = 0;
	List	   *result = NIL;
	MemoryContext caller = CurrentMemoryContext;

	*out = NIL;
	*problem = NULL;
	if (names == NIL)
		return 0;
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		ListCell   *prev;

		if (name == NULL || name[0] == '\0')
		{
			*problem = pstrdup("secret names may not be NULL or empty");
			return ERRCODE_NULL_VALUE_NOT_ALLOWED;
		}
		foreach(prev, names)
		{
			if (prev == lc)
				break;
			if (strcmp(lfirst(prev), name) == 0)
			{
				*problem = psprintf("secret \"%s\" is named twice", name);
				return ERRCODE_INVALID_PARAMETER_VALUE;
			}
		}
		if (name_problem(name) != NULL)
		{
			*problem = psprintf("\"%s\" is not a valid secret name: %s", name, name_problem(name));
			return ERRCODE_INVALID_PARAMETER_VALUE;
		}
	}
	if (!IsTransactionState())
	{
		*problem = pstrdup("secrets can be read only in a transaction");
		return ERRCODE_INVALID_TRANSACTION_STATE;
	}
	if (!sandbox_extension_info(&ext, true))
	{
		*problem = pstrdup("extension \"sandbox\" is not installed in this database (at the library's version)");
		return ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
	}

	values[0] = text_array_datum(names);
	values[1] = ObjectIdGetDatum(role);
	values[2] = BoolGetDatum(want_values);
	sql = psprintf("SELECT s.name, s.owner_id, "
				   " pg_catalog.pg_has_role($2, s.owner::pg_catalog.oid, 'USAGE'), "
				   " EXISTS (SELECT 1 FROM %s.sandbox_secret_grants g"
				   "   WHERE g.name OPERATOR(pg_catalog.=) s.name"
				   "   AND pg_catalog.pg_has_role($2, g.grantee::pg_catalog.oid, 'USAGE')), "
				   " CASE WHEN $3 THEN s.value END "
				   "FROM %s.sandbox_secrets s WHERE s.name OPERATOR(pg_catalog.=) ANY ($1)",
				   ext.schema_quoted, ext.schema_quoted);
	SPI_connect();
	n = registry_run_as_owner(&ext, sql, 3, types, values, NULL, true);
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		bool		found = false;
		bool		usable = false;
		char	   *value = NULL;

		for (uint64 i = 0; i < n && !found; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *row_name = SPI_getvalue(tup, desc, 1);
			bool		isnull;

			if (strcmp(row_name, name) != 0)
				continue;
			found = true;
			usable = superuser_arg(role) ||
				(DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) &&
				 identity_matches(SPI_getvalue(tup, desc, 2), identity)) ||
				DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
			if (usable && want_values)
				value = SPI_getvalue(tup, desc, 5);
		}
		if (!found)
		{
			*problem = MemoryContextStrdup(caller,
										   psprintf("secret \"%s\" does not exist", name));
			code = ERRCODE_UNDEFINED_OBJECT;
			break;
		}
		if (!usable)
		{
			const char *rolename = GetUserNameFromId(role, true);

			*problem = MemoryContextStrdup(caller,
										   psprintf("secret \"%s\" is not granted to role \"%s\"%s",
													name, rolename ? rolename : "?",
													identity ? " (nor owned by its user)" : ""));
			code = ERRCODE_INSUFFICIENT_PRIVILEGE;
			break;
		}
		if (want_values)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);
			SecretValue *sv = palloc(sizeof(SecretValue));

			sv->name = pstrdup(name);
			sv->value = pstrdup(value);
			result = lappend(result, sv);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	if (code != 0)
	{
		/* what was copied is dropped with cxt; nothing usable is returned */
		return code;
	}
	*out = result;
	return 0;
}

/* see secrets.h */
bool
secrets_usable_check(List *names, Oid role, const char *identity, char **problem)
{
	List	   *unused;

	return lookup(names, role, identity, false, CurrentMemoryContext, &unused, problem) == 0;
}

/* see secrets.h */
List *
secrets_load(List *names, Oid role, const char *identity, MemoryContext cxt, char **problem)
{
	List	   *result;

	if (lookup(names, role, identity, true, cxt, &result, problem) != 0)
		return NIL;
	return result;
}

/* see secrets.h */
List *
secrets_load_for_caller(List *names)
{
	List	   *result;
	char	   *problem;
	int			code = lookup(names, GetUserId(), identity_current(), true,
							  CurrentMemoryContext, &result, &problem);

	if (code != 0)
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s", problem),
				 code == ERRCODE_INSUFFICIENT_PRIVILEGE ?
				 errhint("A secret's owner grants it with sandbox_grant_secret(name, role).") :
				 code == ERRCODE_UNDEFINED_OBJECT ?
				 errhint("sandbox_list_secrets() shows the secrets you own or may use.") : 0));
	return result;
}

/* one string to replace, and its replacement's secret */
typedef struct Needle
{
	const char *s;
	size_t		len;
	const char *name;
} Needle;

/*
 * Longer needles first.
 */
static int
needle_cmp(const void *a, const void *b)
{
	const Needle *x = a;
	const Needle *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return 0;
}

/* see secrets.h */
char *
secrets_redact(const char *text, List *secret_values)
{
	Needle	   *needles;
	int			nneedles = 0;
	bool		first_byte[256] = {false};
	ListCell   *lc;
	size_t		tlen;
	size_t		i;
	size_t		copied = 0;
	StringInfoData out;
	bool		matched = false;

	if (text == NULL || secret_values == NIL)
		return (char *) text;
	needles = palloc(sizeof(Needle) * 2 * list_length(secret_values));
	foreach(lc, secret_values)
	{
		SecretValue *sv = lfirst(lc);
		StringInfoData esc;

		if (sv->value == NULL || sv->value[0] == '\0')
			continue;
		needles[nneedles].s = sv->value;
		needles[nneedles].len = strlen(sv->value);
		needles[nneedles++].name = sv->name;
		/* as it appears inside a JSON string: escape_json without its quotes */
		initStringInfo(&esc);
		escape_json(&esc, sv->value);
		if (esc.len >= 2 && (size_t) (esc.len - 2) != strlen(sv->value))
		{
			esc.data[esc.len - 1] = '\0';
			needles[nneedles].s = esc.data + 1;
			needles[nneedles].len = (size_t) esc.len - 2;
			needles[nneedles++].name = sv->name;
		}
	}
	if (nneedles == 0)
		return (char *) text;
	qsort(needles, nneedles, sizeof(Needle), needle_cmp);
	for (int k = 0; k < nneedles; k++)
		first_byte[(unsigned char) needles[k].s[0]] = true;

	tlen = strlen(text);
	initStringInfo(&out);
	i = 0;
	while (i < tlen)
	{
		int			hit = -1;

		if (first_byte[(unsigned char) text[i]])
		{
			for (int k = 0; k < nneedles; k++)
			{
				if (needles[k].len <= tlen - i &&
					memcmp(text + i, needles[k].s, needles[k].len) == 0)
				{
					hit = k;
					break;
				}
			}
		}
		if (hit < 0)
		{
			i++;
			continue;
		}
		matched = true;
		appendBinaryStringInfo(&out, text + copied, i - copied);
		appendStringInfo(&out, "[secret:%s]", needles[hit].name);
		i += needles[hit].len;
		copied = i;
	}
	if (!matched)
	{
		pfree(out.data);
		return (char *) text;
	}
	appendBinaryStringInfo(&out, text + copied, tlen - copied);
	return out.data;
}

/* see secrets.h */
char *
secrets_key_lookup(const char *setting_value)
{
	const char *name;
	ExtensionInfo ext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char	   *result = NULL;
	MemoryContext caller = CurrentMemoryContext;

	if (setting_value == NULL ||
		strncmp(setting_value, SECRETS_KEY_PREFIX, strlen(SECRETS_KEY_PREFIX)) != 0)
		return NULL;
	name = setting_value + strlen(SECRETS_KEY_PREFIX);
	if (name_problem(name) != NULL || !IsTransactionState() ||
		!sandbox_extension_info(&ext, true))
		return NULL;
	values[0] = CStringGetTextDatum(name);
	SPI_connect();
	if (registry_run_as_owner(&ext,
							  psprintf("SELECT s.owner::pg_catalog.oid, s.value FROM %s.sandbox_secrets s "
									   "WHERE s.name OPERATOR(pg_catalog.=) $1", ext.schema_quoted),
							  1, types, values, NULL, true) > 0)
	{
		bool		isnull;
		Oid			owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 1, &isnull));

		/* only a superuser's secret may stand for a key: no one else sets keys */
		if (superuser_arg(owner))
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

			result = v ? MemoryContextStrdup(caller, v) : NULL;
		}
	}
	SPI_finish();
	return result;
}

/* see secrets.h */
char *
secrets_env_json(const char *envs_json, List *secret_values, char **problem)
{
	StringInfoData buf;
	bool		first = true;
	ListCell   *lc;
	JsonbContainer *envs = NULL;

	*problem = NULL;
	if (envs_json != NULL)
	{
		Jsonb	   *j = json_parse_cstring(envs_json);

		if (j == NULL || !json_is_object(json_root(j)))
		{
			*problem = pstrdup("the environment is not a JSON object");
			return NULL;
		}
		envs = json_root(j);
	}
	foreach(lc, secret_values)
	{
		SecretValue *sv = lfirst(lc);

		if (envs && json_get(envs, sv->name) != NULL)
		{
			*problem = psprintf("secret \"%s\" has the name of a variable of envs", sv->name);
			return NULL;
		}
	}
	/* envs' own members, then the secrets */
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (envs != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(envs);
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				key = pnstrdup(v.val.string.val, v.val.string.len);
			else if (tok == WJB_VALUE && v.type == jbvString)
				json_append_kv_string(&buf, &first, key,
									  pnstrdup(v.val.string.val, v.val.string.len));
			else if (tok == WJB_VALUE)
			{
				*problem = psprintf("the environment variable \"%s\" is not a string", key);
				return NULL;
			}
		}
	}
	foreach(lc, secret_values)
	{
		SecretValue *sv = lfirst(lc);

		json_append_kv_string(&buf, &first, sv->name, sv->value);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* see secrets.h */
List *
secrets_names_with(List *names, const char *name)
{
	ListCell   *lc;

	if (name == NULL)
		return names;
	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return names;
	return lappend(names, (char *) name);
}
