/*-------------------------------------------------------------------------
 *
 * sql_sandbox.c
 *	  SQL functions for sandbox lifecycle and execution: sandbox_create,
 *	  sandbox_exec (in a sandbox, or one-shot), sandbox_run_code,
 *	  sandbox_kill, sandbox_set_timeout, sandbox_info and sandbox_list.
 *	  (Pause, resume, connect, hosts and metrics: sql_lifecycle.c;
 *	  background processes: sql_process.c.)
 *
 * They run synchronously in the caller's backend, never inside libcurl's
 * callbacks, so cancel and statement_timeout simply raise; a command that
 * was running when that happened is killed in the sandbox first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "json_util.h"
#include "registry.h"
#include "sandbox.h"
#include "secrets.h"
#include "sql_cleanup.h"
#include "sql_common.h"

PG_FUNCTION_INFO_V1(sandbox_create);
PG_FUNCTION_INFO_V1(sandbox_exec_in);
PG_FUNCTION_INFO_V1(sandbox_exec_once);
PG_FUNCTION_INFO_V1(sandbox_run_code);
PG_FUNCTION_INFO_V1(sandbox_kill);
PG_FUNCTION_INFO_V1(sandbox_set_timeout);
PG_FUNCTION_INFO_V1(sandbox_info);
PG_FUNCTION_INFO_V1(sandbox_list);

/* the result of one command */
typedef struct ExecResult
{
	ExecState	st;
	double		duration_ms;
} ExecResult;

/*
 * create_sandbox creates a sandbox and records it (owner = current role)
 * before returning its id.  If recording fails, the sandbox is killed.
 * secret_values (a List of SecretValue) join envs in its environment.
 */
static E2BSandbox *
create_sandbox(const char *template_id, int timeout_s, Jsonb *metadata, Jsonb *envs,
			   List *secret_values, const E2BCreateOptions *opts)
{
	char	   *meta_json = sandbox_metadata_json(metadata, NULL);
	char	   *env_json = string_map_to_json(envs, "envs", false);
	HttpRequest *req;
	E2BSandbox *sb = palloc0(sizeof(E2BSandbox));
	CallError	err;
	MemoryContext cxt = CurrentMemoryContext;
	ExtensionInfo ext;

	if (secret_values != NIL)
	{
		char	   *problem;

		env_json = secrets_env_json(env_json, secret_values, &problem);
		if (env_json == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s", problem),
					 errhint("A secret becomes the environment variable of its name: leave that name out of envs.")));
	}

	/* installed, and at the library's version: checked before E2B is asked */
	sandbox_extension_info(&ext, false);
	req = e2b_create_request_ex(template_id, timeout_s, meta_json, env_json, opts);

	http_perform_sync(req, NULL, NULL);
	if (!e2b_parse_sandbox(req, sb, &err))
	{
		/* a 403 to a valid key is E2B refusing a network option to the team */
		if (err.status == 403 && opts && opts->network_json)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("could not create a sandbox: E2B refused its network options"),
					 errdetail("%s", call_error_describe(&err)),
					 errhint("Leave out the network option E2B names; some are enabled per team.")));
		call_error_raise(&err, "create a sandbox", NULL);
	}

	PG_TRY();
	{
		registry_insert(sb, template_id, meta_json, timeout_s, NULL,
						opts && opts->auto_pause ? "pause" : "kill",
						opts && opts->auto_resume);
		cleanup_track_created(sb->sandbox_id);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		kill_sandbox_quietly(sb->sandbox_id);
		ReThrowError(edata);
	}
	PG_END_TRY();
	return sb;
}

/*
 * create_options reads sandbox_create's lifecycle and network arguments
 * (on_timeout, auto_resume, allow_internet, network) into opts.
 */
static void
create_options(FunctionCallInfo fcinfo, E2BCreateOptions *opts)
{
	char	   *on_timeout = arg_text_or_null(fcinfo, 4);

	memset(opts, 0, sizeof(*opts));
	opts->allow_internet = -1;
	if (on_timeout != NULL && strcmp(on_timeout, "pause") == 0)
		opts->auto_pause = true;
	else if (on_timeout != NULL && strcmp(on_timeout, "kill") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_timeout must be 'kill' or 'pause', not \"%s\"", on_timeout),
				 errhint("'kill' ends the sandbox at its timeout; 'pause' keeps its files and memory until sandbox_resume().")));
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
		opts->auto_resume = PG_GETARG_BOOL(5);
	if (PG_NARGS() > 6 && !PG_ARGISNULL(6))
		opts->allow_internet = PG_GETARG_BOOL(6) ? 1 : 0;
	if (PG_NARGS() > 7 && !PG_ARGISNULL(7))
	{
		Jsonb	   *network = PG_GETARG_JSONB_P(7);

		if (!JB_ROOT_IS_OBJECT(network) || JB_ROOT_IS_SCALAR(network))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("network must be a JSON object"),
					 errhint("For example: '{\"denyOut\": [\"0.0.0.0/0\"], \"allowOut\": [\"pypi.org\"]}'.")));
		opts->network_json = JsonbToCString(NULL, &network->root, VARSIZE(network));
	}
}

/*
 * sandbox_create(template, timeout_s, metadata, envs, on_timeout,
 * auto_resume, allow_internet, network, secrets) returns the id of a new
 * sandbox owned by the current role; the secrets it names (which the
 * caller must own or have been granted) are environment variables in it.
 */
Datum
sandbox_create(PG_FUNCTION_ARGS)
{
	char	   *template_id = arg_text_or_null(fcinfo, 0);
	int			timeout_s = PG_ARGISNULL(1) ? sandbox_sandbox_timeout : PG_GETARG_INT32(1);
	Jsonb	   *metadata = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	Jsonb	   *envs = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	E2BCreateOptions opts;
	E2BSandbox *sb;
	List	   *secret_values = NIL;

	if (template_id == NULL || template_id[0] == '\0')
		template_id = sandbox_template;
	check_timeout_s(timeout_s, "timeout_s");
	create_options(fcinfo, &opts);
	if (PG_NARGS() > 8 && !PG_ARGISNULL(8))
		/* a NULL element stays NULL: secrets_load_for_caller refuses it */
		secret_values = secrets_load_for_caller(text_array_list(PG_GETARG_DATUM(8), true));
	sb = create_sandbox(template_id, timeout_s, metadata, envs, secret_values, &opts);
	PG_RETURN_TEXT_P(cstring_to_text(sb->sandbox_id));
}

/*
 * run_command runs cmd in the sandbox and waits for it.  If the call is
 * cancelled (or fails) while the command runs, the command is killed with
 * SIGKILL before the error propagates: closing the stream alone would
 * leave it running.
 */
static void
run_command(const E2BTarget *t, const char *cmd, const char *cwd,
			const char *envs_json, int timeout_ms, ExecResult *res)
{
	HttpRequest *req = e2b_start_request(t, cmd, cwd, envs_json, timeout_ms, NULL, false);
	CallError	err;
	TimestampTz start = GetCurrentTimestamp();
	MemoryContext cxt = CurrentMemoryContext;

	exec_state_init(&res->st, (size_t) sandbox_max_output_bytes);
	cleanup_set_running(t, &res->st);
	PG_TRY();
	{
		http_perform_sync(req, exec_state_feed, &res->st);
		cleanup_clear_running();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		cleanup_clear_running();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (res->st.pid > 0 && !res->st.got_end)
			best_effort(e2b_signal_request(t, res->st.pid, "SIGNAL_SIGKILL"));
		ReThrowError(edata);
	}
	PG_END_TRY();
	res->duration_ms = (double) (GetCurrentTimestamp() - start) / 1000.0;

	if (!exec_state_finish(req, &res->st, &err))
	{
		/* the stream broke but the process may live on: stop it */
		if (res->st.pid > 0 && !res->st.got_end && err.kind != CALL_DEADLINE)
			best_effort(e2b_signal_request(t, res->st.pid, "SIGNAL_SIGKILL"));
		if (err.kind == CALL_DEADLINE)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("command in sandbox \"%s\" timed out after %d ms", t->sandbox_id, timeout_ms),
					 errdetail("envd stopped it: %s. %d bytes of stdout and %d of stderr had arrived.",
							   err.message, res->st.out.len, res->st.err.len),
					 errhint("Pass a larger timeout_ms, or 0 for no limit.")));
		raise_sandbox_call_error(&err, "run a command", t->sandbox_id);
	}
}

/*
 * exec_result_datum builds the (stdout, stderr, exit_code, truncated,
 * duration_ms) row.
 */
static Datum
exec_result_datum(FunctionCallInfo fcinfo, ExecResult *res)
{
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	desc = BlessTupleDesc(desc);
	values[0] = PointerGetDatum(sandbox_bytes_to_text(res->st.out.data, res->st.out.len));
	values[1] = PointerGetDatum(sandbox_bytes_to_text(res->st.err.data, res->st.err.len));
	values[2] = Int32GetDatum(res->st.exit_code);
	values[3] = BoolGetDatum(res->st.truncated);
	values[4] = Float8GetDatum(res->duration_ms);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * command_timeout returns the timeout_ms argument, or the default.
 */
static int
command_timeout(FunctionCallInfo fcinfo, int argno)
{
	int			t = PG_ARGISNULL(argno) ? sandbox_command_timeout : PG_GETARG_INT32(argno);

	if (t < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_ms must not be negative"),
				 errhint("Use 0 for no limit.")));
	return t;
}

/*
 * sandbox_exec(sandbox_id, command, cwd, envs, timeout_ms) runs a command
 * in an existing sandbox the caller may use.
 */
Datum
sandbox_exec_in(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	char	   *command = arg_text_required(fcinfo, 1, "command");
	char	   *cwd = arg_text_or_null(fcinfo, 2);
	char	   *envs = PG_ARGISNULL(3) ? NULL : string_map_to_json(PG_GETARG_JSONB_P(3), "envs", false);
	int			timeout_ms = command_timeout(fcinfo, 4);
	E2BTarget	t;
	ExecResult	res;

	check_command_length(command);
	registry_resolve(sandbox_id, &t);
	registry_touch(sandbox_id);
	run_command(&t, command, cwd, envs, timeout_ms, &res);
	return exec_result_datum(fcinfo, &res);
}

/*
 * sandbox_exec(command, envs, timeout_ms, cwd, template) creates a
 * sandbox, runs one command and kills the sandbox, also when the command
 * fails or the call is cancelled.  The sandbox's own E2B lifetime is kept
 * just above the command's, so even a backend that dies outright leaves
 * nothing running for long.
 */
Datum
sandbox_exec_once(PG_FUNCTION_ARGS)
{
	char	   *command = arg_text_required(fcinfo, 0, "command");
	char	   *envs = PG_ARGISNULL(1) ? NULL : string_map_to_json(PG_GETARG_JSONB_P(1), "envs", false);
	int			timeout_ms = command_timeout(fcinfo, 2);
	char	   *cwd = arg_text_or_null(fcinfo, 3);
	char	   *template_id = arg_text_or_null(fcinfo, 4);
	int			life_s;
	E2BSandbox *sb;
	E2BTarget	t;
	ExecResult	res;
	MemoryContext cxt = CurrentMemoryContext;
	bool		killed = false;

	check_command_length(command);
	if (template_id == NULL || template_id[0] == '\0')
		template_id = sandbox_template;
	life_s = timeout_ms > 0 ? Min(timeout_ms / 1000 + 60, 86400) : sandbox_sandbox_timeout;
	sb = create_sandbox(template_id, life_s, NULL, NULL, NIL, NULL);
	memset(&t, 0, sizeof(t));
	t.sandbox_id = sb->sandbox_id;
	t.access_token = sb->access_token;
	t.domain = sb->domain;

	PG_TRY();
	{
		cleanup_set_oneshot(sb->sandbox_id);
		run_command(&t, command, cwd, envs, timeout_ms, &res);
		cleanup_set_oneshot(NULL);
		/* normal path: kill, and say so in the registry */
		{
			HttpRequest *kreq = e2b_kill_request(sb->sandbox_id);
			CallError	err;

			http_perform_sync(kreq, NULL, NULL);
			killed = true;
			if (call_error_from_http(kreq, SERVICE_E2B_API, &err) && err.kind != CALL_NOT_FOUND)
				ereport(WARNING,
						(errmsg("could not kill sandbox \"%s\" after the command", sb->sandbox_id),
						 errdetail("%s", call_error_describe(&err)),
						 errhint("It expires on its own within %d seconds.", life_s)));
			registry_set_state(sb->sandbox_id, "killed");
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		cleanup_set_oneshot(NULL);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (!killed)
			kill_sandbox_quietly(sb->sandbox_id);
		ReThrowError(edata);
	}
	PG_END_TRY();
	return exec_result_datum(fcinfo, &res);
}

/*
 * sandbox_run_code(sandbox_id, code, language, context_id) runs code in the
 * sandbox's code interpreter and returns {results, stdout, stderr, error,
 * text, execution_count, truncated}.  An exception in the code is data
 * (the "error" key), not an SQL error.
 */
Datum
sandbox_run_code(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	char	   *code = arg_text_required(fcinfo, 1, "code");
	char	   *language = arg_text_or_null(fcinfo, 2);
	char	   *context_id = arg_text_or_null(fcinfo, 3);
	E2BTarget	t;
	HttpRequest *req;
	CodeState	st;
	CallError	err;

	registry_resolve(sandbox_id, &t);
	registry_touch(sandbox_id);
	req = e2b_execute_request(&t, code, language ? language : "python", context_id,
							  sandbox_command_timeout);
	code_state_init(&st, (size_t) sandbox_max_output_bytes);
	http_perform_sync(req, code_state_feed, &st);
	if (!code_state_finish(req, &st, &err))
	{
		if (err.kind == CALL_DEADLINE)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("code in sandbox \"%s\" timed out after %d ms", sandbox_id, sandbox_command_timeout),
					 errhint("Raise sandbox.command_timeout.")));
		/* E2B's proxy: nothing listens on the interpreter's port */
		if (err.status == 502 && err.message && strstr(err.message, "port is not open"))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("sandbox \"%s\" has no code interpreter", sandbox_id),
					 errdetail("%s", call_error_describe(&err)),
					 errhint("Create the sandbox from a template that has one, such as code-interpreter-v1.")));
		raise_sandbox_call_error(&err, "run code", sandbox_id);
	}
	PG_RETURN_JSONB_P(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														 CStringGetDatum(code_state_json(&st)))));
}

/*
 * sandbox_kill(sandbox_id) kills a sandbox; false, not an error, if it was
 * already gone (killed, expired or lost), so that a clean-up query over
 * many sandboxes never stops at one.
 */
Datum
sandbox_kill(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	E2BTarget	t;
	HttpRequest *req;
	CallError	err;
	bool		existed = true;

	if (!registry_lookup(sandbox_id, &t, false))
		PG_RETURN_BOOL(false);
	req = e2b_kill_request(sandbox_id);
	http_perform_sync(req, NULL, NULL);
	if (call_error_from_http(req, SERVICE_E2B_API, &err))
	{
		if (err.kind != CALL_NOT_FOUND)
			call_error_raise(&err, psprintf("kill sandbox \"%s\"", sandbox_id), NULL);
		existed = false;
	}
	registry_set_state(sandbox_id, existed ? "killed" : "expired");
	PG_RETURN_BOOL(existed);
}

/*
 * sandbox_set_timeout(sandbox_id, timeout_s) sets the sandbox's remaining
 * lifetime to timeout_s from now.
 */
Datum
sandbox_set_timeout(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	int			timeout_s;
	E2BTarget	t;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("timeout_s must not be null")));
	timeout_s = check_timeout_s(PG_GETARG_INT32(1), "timeout_s");
	registry_resolve(sandbox_id, &t);
	perform_or_raise(e2b_timeout_request(sandbox_id, timeout_s),
					 psprintf("set the timeout of sandbox \"%s\"", sandbox_id), NULL, SERVICE_E2B_API);
	registry_set_expiry(sandbox_id, timeout_s);
	PG_RETURN_VOID();
}

/*
 * sandbox_info(sandbox_id) returns E2B's description of the sandbox,
 * without its access token; a paused sandbox is described, not resumed.
 */
Datum
sandbox_info(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	E2BTarget	t;
	RegistryRow row;
	HttpRequest *req;
	CallError	err;
	Jsonb	   *j;

	registry_resolve_live(sandbox_id, &t, &row);
	req = e2b_info_request(sandbox_id);
	http_perform_sync(req, NULL, NULL);
	if (call_error_from_http(req, SERVICE_E2B_API, &err))
		call_error_raise(&err, psprintf("describe sandbox \"%s\"", sandbox_id), NULL);
	j = json_parse(http_data(req), http_data_len(req));
	if (!json_is_object(json_root(j)))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not describe sandbox \"%s\": unexpected answer from E2B API", sandbox_id),
				 errdetail("%s", sandbox_truncate_for_message(http_data(req), http_data_len(req), 200))));
	j = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(j),
										   CStringGetTextDatum("envdAccessToken")));
	PG_RETURN_JSONB_P(j);
}

/*
 * metadata_query builds E2B's metadata filter ("k=v&k2=v2", each part
 * URL-encoded) from our database tag plus the caller's jsonb filter.
 */
static char *
metadata_query(Jsonb *filter, bool all)
{
	StringInfoData q;

	initStringInfo(&q);
	if (!all)
		appendStringInfo(&q, "%s=%s", http_urlencode(METADATA_PREFIX "db"),
						 http_urlencode(sandbox_database_tag()));
	if (filter)
	{
		char	   *json = string_map_to_json(filter, "metadata", false);
		Jsonb	   *j = json_parse_cstring(json);
		JsonbIterator *it = JsonbIteratorInit(&j->root);
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				key = pnstrdup(v.val.string.val, v.val.string.len);
			else if (tok == WJB_VALUE)
				appendStringInfo(&q, "%s%s=%s", q.len ? "&" : "", http_urlencode(key),
								 http_urlencode(pnstrdup(v.val.string.val, v.val.string.len)));
		}
	}
	return q.data;
}

/*
 * sandbox_list(metadata, all_databases) lists running and paused sandboxes: those of
 * this database (by the pgsandbox_db metadata key), matching the optional
 * metadata filter.  Non-superusers see only sandboxes they may use;
 * all_databases (superuser only) lists the whole E2B account.
 */
Datum
sandbox_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *filter = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	bool		all = PG_NARGS() > 1 && !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	bool		su = superuser();
	char	   *query;
	char	   *token = NULL;
	int			pages = 0;

	if (all && !su)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may list every sandbox of the E2B account")));
	InitMaterializedSRF(fcinfo, 0);
	query = metadata_query(filter, all);

	do
	{
		HttpRequest *req = e2b_list_request(query, token, 100, "running,paused");
		CallError	err;
		Jsonb	   *j;
		JsonbContainer *arr;
		int			n;
		List	   *ids;
		List	   *owners;

		http_perform_sync(req, NULL, NULL);
		if (call_error_from_http(req, SERVICE_E2B_API, &err))
			call_error_raise(&err, "list sandboxes", NULL);
		j = json_parse(http_data(req), http_data_len(req));
		arr = json_root(j);
		if (!json_is_array(arr))
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not list sandboxes: unexpected answer from E2B API"),
					 errdetail("%s", sandbox_truncate_for_message(http_data(req), http_data_len(req), 200))));
		n = jarr_length(arr);
		/* the page's owners, in one query */
		ids = NIL;
		for (int i = 0; i < n; i++)
		{
			char	   *id = json_get_string(json_value_container(jarr_get(arr, i)), "sandboxID");

			if (id)
				ids = lappend(ids, id);
		}
		owners = registry_owners(ids);
		for (int i = 0; i < n; i++)
		{
			JsonbContainer *o = json_value_container(jarr_get(arr, i));
			char	   *id = json_get_string(o, "sandboxID");
			Datum		values[8];
			bool		nulls[8] = {0};
			char	   *s;
			Oid			owner = InvalidOid;
			ListCell   *lc;
			bool		visible = su;

			if (id == NULL)
				continue;
			foreach(lc, owners)
			{
				RegistryOwner *ro = lfirst(lc);

				if (strcmp(ro->sandbox_id, id) == 0)
				{
					owner = ro->owner;
					visible = visible || ro->usable;
					break;
				}
			}
			if (!visible)
				continue;
			values[0] = CStringGetTextDatum(id);
			s = json_get_string(o, "templateID");
			nulls[1] = s == NULL;
			values[1] = s ? CStringGetTextDatum(s) : (Datum) 0;
			s = json_get_string(o, "alias");
			nulls[2] = s == NULL;
			values[2] = s ? CStringGetTextDatum(s) : (Datum) 0;
			s = json_get_string(o, "state");
			nulls[3] = s == NULL;
			values[3] = s ? CStringGetTextDatum(s) : (Datum) 0;
			values[4] = parse_rfc3339(json_get_string(o, "startedAt"), &nulls[4]);
			values[5] = parse_rfc3339(json_get_string(o, "endAt"), &nulls[5]);
			{
				Jsonb	   *m = json_get_jsonb(o, "metadata");

				nulls[6] = m == NULL;
				values[6] = m ? JsonbPGetDatum(m) : (Datum) 0;
			}
			nulls[7] = !OidIsValid(owner);
			values[7] = ObjectIdGetDatum(owner);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		token = req->next_token[0] ? pstrdup(req->next_token) : NULL;
		CHECK_FOR_INTERRUPTS();
	} while (token != NULL && ++pages < 1000);

	return (Datum) 0;
}
