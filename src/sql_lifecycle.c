/*-------------------------------------------------------------------------
 *
 * sql_lifecycle.c
 *	  SQL functions for a sandbox's life beyond create and kill:
 *	  sandbox_pause, sandbox_resume, sandbox_connect (adopt a sandbox
 *	  created elsewhere), sandbox_host and sandbox_metrics.
 *
 * A paused sandbox keeps its files and memory and is recorded as 'paused';
 * every function that needs it running refuses it (registry.c), or resumes
 * it first when it was created with auto_resume.  The functions here work
 * on a paused sandbox as it is.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "identity.h"
#include "json_util.h"
#include "registry.h"
#include "sandbox.h"
#include "sql_common.h"

PG_FUNCTION_INFO_V1(sandbox_pause);
PG_FUNCTION_INFO_V1(sandbox_resume);
PG_FUNCTION_INFO_V1(sandbox_connect);
PG_FUNCTION_INFO_V1(sandbox_host);
PG_FUNCTION_INFO_V1(sandbox_metrics);

/*
 * timeout_arg reads an optional timeout_s argument: NULL means
 * sandbox.sandbox_timeout.
 */
static int
timeout_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return sandbox_sandbox_timeout;
	return check_timeout_s(PG_GETARG_INT32(n), "timeout_s");
}

/*
 * sandbox_pause(sandbox_id) pauses a sandbox with its memory: true when it
 * was paused now, false when it was paused already.
 */
Datum
sandbox_pause(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	E2BTarget	t;
	RegistryRow row;
	HttpRequest *req;
	CallError	err;
	bool		paused_now;

	registry_resolve_live(sandbox_id, &t, &row);
	req = e2b_pause_request(sandbox_id);
	http_perform_sync(req, NULL, NULL);
	if (!e2b_parse_pause(req, &paused_now, &err))
		call_error_raise(&err, psprintf("pause sandbox \"%s\"", sandbox_id), NULL);
	registry_set_paused(sandbox_id);
	PG_RETURN_BOOL(paused_now);
}

/*
 * sandbox_resume(sandbox_id, timeout_s) resumes a paused sandbox for
 * timeout_s seconds (default sandbox.sandbox_timeout): true when it was
 * paused, false when it was running (its lifetime is then only extended).
 */
Datum
sandbox_resume(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	int			timeout_s = timeout_arg(fcinfo, 1);
	E2BTarget	t;
	RegistryRow row;

	registry_resolve_live(sandbox_id, &t, &row);
	PG_RETURN_BOOL(registry_resume(sandbox_id, timeout_s));
}

/*
 * refuse_foreign_sandbox refuses, for non-superusers, to adopt a sandbox
 * whose E2B metadata says the extension made it for something else: an
 * agent run's sandbox (pgsandbox_run), another database's
 * (pgsandbox_db), or one of this database's that has no row here (its
 * creator's transaction rolled back, so it is being killed) unless it was
 * created by this very role and no identity function is in use.
 */
static void
refuse_foreign_sandbox(const char *sandbox_id, JsonbContainer *meta)
{
	char	   *run = json_get_string(meta, METADATA_PREFIX "run");
	char	   *db = json_get_string(meta, METADATA_PREFIX "db");
	char	   *owner = json_get_string(meta, METADATA_PREFIX "owner");

	if (superuser())
		return;
	if (run != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for sandbox \"%s\"", sandbox_id),
				 errdetail("It is the sandbox of an agent run."),
				 errhint("Only superusers may adopt a run's sandbox.")));
	if (db != NULL && strcmp(db, sandbox_database_tag()) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for sandbox \"%s\"", sandbox_id),
				 errdetail("It was created by the sandbox extension of another database."),
				 errhint("Only superusers may adopt another database's sandbox.")));
	if (db != NULL &&
		(owner == NULL || strcmp(owner, GetUserNameFromId(GetUserId(), false)) != 0 ||
		 identity_current() != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for sandbox \"%s\"", sandbox_id),
				 errdetail("It was created in this database by another role, and its creation was rolled back."),
				 errhint("Only superusers may adopt it.")));
}

/*
 * sandbox_connect(sandbox_id, timeout_s) records a sandbox created
 * elsewhere (an SDK, the E2B dashboard, another tool) as the current
 * role's, resuming it if it is paused.  Returns true when it recorded or
 * resumed it, false when the caller had it recorded and running already.
 * Refused when another role or identity owns the row, and (for
 * non-superusers) for the extension's own sandboxes of runs and of other
 * databases.
 */
Datum
sandbox_connect(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	int			timeout_s = timeout_arg(fcinfo, 1);
	RegistryRow row;
	char	   *owner_id;
	char	   *current_id;
	HttpRequest *req;
	CallError	err;
	E2BSandbox	info;
	E2BSandbox	sb;
	Jsonb	   *j;
	JsonbContainer *root;
	JsonbContainer *meta;
	JsonbContainer *lifecycle;
	char	   *meta_json;
	char	   *on_timeout;
	bool		auto_resume = false;
	bool		resumed;

	if (!e2b_valid_sandbox_id(sandbox_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid sandbox id \"%s\"", sandbox_id),
				 errhint("Sandbox ids are made of lowercase letters, digits and dashes.")));
	current_id = identity_current();
	if (registry_find(sandbox_id, &row, &owner_id))
	{
		if (!superuser() &&
			!(has_privs_of_role(GetUserId(), row.owner) && identity_matches(owner_id, current_id)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for sandbox \"%s\"", sandbox_id),
					 errdetail("It is recorded in this database as another role's or another user's."),
					 errhint("Only its owner, and superusers, may connect to it.")));
		if (strcmp(row.state, "running") != 0 && strcmp(row.state, "paused") != 0)
			registry_raise_gone(sandbox_id, &row);
		/* recorded: resume it if paused (E2B may have paused it), else extend */
		resumed = registry_resume(sandbox_id, timeout_s);
		PG_RETURN_BOOL(resumed || strcmp(row.state, "paused") == 0);
	}

	/* not recorded: what E2B knows of it decides whether it may be taken */
	req = e2b_info_request(sandbox_id);
	http_perform_sync(req, NULL, NULL);
	if (!e2b_parse_sandbox(req, &info, &err))
		call_error_raise(&err, psprintf("look up sandbox \"%s\"", sandbox_id), NULL);
	j = json_parse(http_data(req), http_data_len(req));
	root = json_root(j);
	meta = json_get_object(root, "metadata");
	refuse_foreign_sandbox(sandbox_id, meta);
	lifecycle = json_get_object(root, "lifecycle");
	on_timeout = json_get_string(lifecycle, "onTimeout");
	if (on_timeout == NULL || strcmp(on_timeout, "pause") != 0)
		on_timeout = "kill";
	(void) json_get_bool(lifecycle, "autoResume", &auto_resume);
	meta_json = meta ? JsonbToCString(NULL, meta, 0) : pstrdup("{}");

	/* resume (or extend) it, and take the token and domain it answers with */
	req = e2b_resume_request(sandbox_id, timeout_s);
	http_perform_sync(req, NULL, NULL);
	if (!e2b_parse_resume(req, &sb, &resumed, &err))
		call_error_raise(&err, psprintf("connect to sandbox \"%s\"", sandbox_id), NULL);
	if (sb.access_token == NULL)
		sb.access_token = info.access_token;
	if (sb.domain == NULL)
		sb.domain = info.domain;
	if (sb.envd_version == NULL)
		sb.envd_version = info.envd_version;
	registry_insert(&sb, info.template_id ? info.template_id : "unknown", meta_json,
					timeout_s, NULL, on_timeout, auto_resume);
	PG_RETURN_BOOL(true);
}

/*
 * sandbox_host(sandbox_id, port) returns the host E2B serves the port of
 * the sandbox on, <port>-<id>.<domain>: the sandbox's domain as E2B
 * reported it, else sandbox.e2b_domain.
 */
Datum
sandbox_host(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	E2BTarget	t;
	RegistryRow row;
	int			port;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("port must not be null")));
	port = PG_GETARG_INT32(1);
	if (port < 1 || port > 65535)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("port must be between 1 and 65535, not %d", port)));
	registry_resolve_live(sandbox_id, &t, &row);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%d-%s.%s", port, sandbox_id,
											  t.domain ? t.domain : sandbox_e2b_domain)));
}

/*
 * json_get_float8 reads a JSON number as a double; false when absent or
 * not a number.
 */
static bool
json_get_float8(JsonbContainer *c, const char *key, double *out)
{
	JsonbValue *v = json_get(c, key);

	if (v == NULL || v->type != jbvNumeric)
		return false;
	*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
	return true;
}

/*
 * put_int64 sets a bigint column from a JSON integer, or NULL.
 */
static void
put_int64(JsonbContainer *o, const char *key, Datum *value, bool *isnull)
{
	int64		n;

	*isnull = !json_get_int64(o, key, &n);
	*value = Int64GetDatum(*isnull ? 0 : n);
}

/*
 * sandbox_metrics(sandbox_id, since) returns E2B's samples of the
 * sandbox's CPU, memory and disk use, oldest first, from since (default:
 * all E2B keeps).  The series starts empty: E2B samples every few seconds.
 */
Datum
sandbox_metrics(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	int64		start = 0;
	bool		future = false;
	E2BTarget	t;
	RegistryRow row;
	HttpRequest *req;
	CallError	err;
	Jsonb	   *j;
	JsonbContainer *arr;

	if (!PG_ARGISNULL(1))
	{
		TimestampTz since = PG_GETARG_TIMESTAMPTZ(1);

		if (TIMESTAMP_NOT_FINITE(since))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("since must be a finite time")));
		start = (int64) timestamptz_to_time_t(since);
		if (start < 1)
			start = 1;
		/* E2B refuses a range that starts after its end (now): nothing */
		future = since > GetCurrentTimestamp();
	}
	registry_resolve_live(sandbox_id, &t, &row);
	InitMaterializedSRF(fcinfo, 0);
	if (future)
		return (Datum) 0;
	req = e2b_metrics_request(sandbox_id, start);
	http_perform_sync(req, NULL, NULL);
	if (call_error_from_http(req, SERVICE_E2B_API, &err))
		call_error_raise(&err, psprintf("read the metrics of sandbox \"%s\"", sandbox_id), NULL);
	j = json_parse(http_data(req), http_data_len(req));
	arr = json_root(j);
	if (!json_is_array(arr))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not read the metrics of sandbox \"%s\": unexpected answer from E2B API", sandbox_id),
				 errdetail("%s", sandbox_truncate_for_message(http_data(req), http_data_len(req), 200))));
	for (int i = 0; i < jarr_length(arr); i++)
	{
		JsonbContainer *o = json_value_container(jarr_get(arr, i));
		Datum		values[7];
		bool		nulls[7] = {0};
		int64		n;
		double		pct;

		if (!json_is_object(o))
			continue;
		values[0] = parse_rfc3339(json_get_string(o, "timestamp"), &nulls[0]);
		if (nulls[0] && json_get_int64(o, "timestampUnix", &n))
		{
			values[0] = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t) n));
			nulls[0] = false;
		}
		nulls[1] = !json_get_int64(o, "cpuCount", &n) || n < PG_INT32_MIN || n > PG_INT32_MAX;
		values[1] = Int32GetDatum(nulls[1] ? 0 : (int32) n);
		nulls[2] = !json_get_float8(o, "cpuUsedPct", &pct);
		values[2] = Float8GetDatum(nulls[2] ? 0 : pct);
		put_int64(o, "memUsed", &values[3], &nulls[3]);
		put_int64(o, "memTotal", &values[4], &nulls[4]);
		put_int64(o, "diskUsed", &values[5], &nulls[5]);
		put_int64(o, "diskTotal", &values[6], &nulls[6]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
