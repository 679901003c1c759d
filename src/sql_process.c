/*-------------------------------------------------------------------------
 *
 * sql_process.c
 *	  SQL functions for background processes in a sandbox: sandbox_spawn,
 *	  sandbox_processes, sandbox_signal, sandbox_send_stdin,
 *	  sandbox_close_stdin and sandbox_wait.
 *
 * A spawned process is started through envd's process.Process/Start like
 * sandbox_exec's commands, but the stream is closed as soon as envd says
 * which pid it got: the process lives on (envd ties it to no stream, only
 * to Connect-Timeout-Ms when one is given), as the SDKs' background
 * commands do.  sandbox_wait attaches with process.Process/Connect, which
 * streams what the process prints from then on (envd keeps no earlier
 * output), and never stops the process when the wait ends or is cancelled.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "registry.h"
#include "sandbox.h"
#include "sql_common.h"

PG_FUNCTION_INFO_V1(sandbox_spawn);
PG_FUNCTION_INFO_V1(sandbox_processes);
PG_FUNCTION_INFO_V1(sandbox_signal);
PG_FUNCTION_INFO_V1(sandbox_send_stdin);
PG_FUNCTION_INFO_V1(sandbox_close_stdin);
PG_FUNCTION_INFO_V1(sandbox_wait);

/* the most bytes one sandbox_send_stdin call sends (one envd message) */
#define MAX_STDIN_BYTES (16 * 1024 * 1024)

/*
 * pid_arg reads a pid argument, which must be positive.
 */
static int
pid_arg(FunctionCallInfo fcinfo, int n)
{
	int			pid;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pid must not be null")));
	pid = PG_GETARG_INT32(n);
	if (pid <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pid must be positive, not %d", pid)));
	return pid;
}

/*
 * raise_no_such_process raises the error for a pid envd does not know: it
 * never ran, or it has exited (envd forgets a process when it ends).
 */
static void
pg_attribute_noreturn()
raise_no_such_process(const char *sandbox_id, int pid, const CallError *err)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("no such process %d in sandbox \"%s\"", pid, sandbox_id),
			 errdetail("%s", call_error_describe(err)),
			 errhint("The process may have exited already; sandbox_processes() lists those running.")));
}

/*
 * process_missing reports whether a failed call to envd means the pid is
 * unknown (not that the sandbox itself is gone).
 */
static bool
process_missing(const CallError *err)
{
	return err->kind == CALL_NOT_FOUND && !sandbox_gone(err);
}

/*
 * spawn_feed decodes a Start stream until its start event, then stops the
 * transfer: the pid is all sandbox_spawn waits for.
 */
static void
spawn_feed(HttpRequest *req, void *arg)
{
	ExecState  *st = (ExecState *) arg;

	exec_state_feed(req, st);
	if (st->got_start && st->pid > 0)
		req->abort_flag = true;
}

/*
 * sandbox_spawn(sandbox_id, command, cwd, envs, tag, stdin, timeout_ms)
 * starts `/bin/bash -l -c command` in the background and returns its pid.
 * timeout_ms > 0 makes envd kill it then; 0 (the default) lets it run as
 * long as the sandbox.  With stdin, sandbox_send_stdin can write to it.
 */
Datum
sandbox_spawn(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	char	   *command = arg_text_required(fcinfo, 1, "command");
	char	   *cwd = arg_text_or_null(fcinfo, 2);
	char	   *envs = PG_ARGISNULL(3) ? NULL : string_map_to_json(PG_GETARG_JSONB_P(3), "envs", false);
	char	   *tag = arg_text_or_null(fcinfo, 4);
	bool		with_stdin = !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	int			timeout_ms = PG_ARGISNULL(6) ? 0 : PG_GETARG_INT32(6);
	E2BTarget	t;
	HttpRequest *req;
	ExecState	st;
	CallError	err;

	check_command_length(command);
	if (timeout_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_ms must not be negative"),
				 errhint("Use 0 for no limit.")));
	if (tag != NULL && strlen(tag) > 256)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tag must be at most 256 bytes")));
	registry_resolve(sandbox_id, &t);
	registry_touch(sandbox_id);
	req = e2b_start_request(&t, command, cwd, envs, timeout_ms, tag, with_stdin);
	/* a background command's stream is read up to its start event only */
	exec_state_init(&st, 64 * 1024);
	http_perform_sync(req, spawn_feed, &st);
	if (st.got_start && st.pid > 0 && !st.bad_frame && st.protocol_error == NULL)
		PG_RETURN_INT32((int32) st.pid);
	if (!exec_state_finish(req, &st, &err))
		raise_sandbox_call_error(&err, "start a process", sandbox_id);
	/* the stream ended properly but without a pid */
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("could not start a process in sandbox \"%s\": envd reported no pid", sandbox_id)));
	PG_RETURN_NULL();			/* not reached */
}

/*
 * shell_command returns the script of a process started as `bash [-l] -c
 * script` (by sandbox_exec, sandbox_spawn, the SDKs' commands.run), else
 * its executable.
 */
static const char *
shell_command(const E2BProcess *p)
{
	int			n = list_length(p->args);
	const char *cmd = p->cmd ? p->cmd : "";
	size_t		len = strlen(cmd);

	if ((strcmp(cmd, "bash") == 0 || (len >= 5 && strcmp(cmd + len - 5, "/bash") == 0)) &&
		n >= 2 && n <= 3)
	{
		const char *c = list_nth(p->args, n - 2);
		const char *l = n == 3 ? list_nth(p->args, 0) : "-l";

		if (c && strcmp(c, "-c") == 0 && l && strcmp(l, "-l") == 0 && list_nth(p->args, n - 1))
			return list_nth(p->args, n - 1);
	}
	return p->cmd;
}

/*
 * sandbox_processes(sandbox_id) lists the processes running in the
 * sandbox: pid, command (a shell command's script, or the executable),
 * args, cwd and tag.
 */
Datum
sandbox_processes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	E2BTarget	t;
	HttpRequest *req;
	CallError	err;
	List	   *procs;
	ListCell   *lc;

	registry_resolve(sandbox_id, &t);
	registry_touch(sandbox_id);
	InitMaterializedSRF(fcinfo, 0);
	req = e2b_process_list_request(&t);
	http_perform_sync(req, NULL, NULL);
	if (!e2b_parse_process_list(req, &procs, &err))
		raise_sandbox_call_error(&err, "list processes", sandbox_id);
	foreach(lc, procs)
	{
		E2BProcess *p = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {0};
		const char *command = shell_command(p);

		if (p->pid > PG_INT32_MAX)
			continue;
		values[0] = Int32GetDatum((int32) p->pid);
		nulls[1] = command == NULL;
		values[1] = command ? PointerGetDatum(sandbox_bytes_to_text(command, strlen(command))) : (Datum) 0;
		values[2] = text_array_datum(p->args);
		nulls[3] = p->cwd == NULL;
		values[3] = p->cwd ? CStringGetTextDatum(p->cwd) : (Datum) 0;
		nulls[4] = p->tag == NULL;
		values[4] = p->tag ? CStringGetTextDatum(p->tag) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * sandbox_signal(sandbox_id, pid, signal) sends SIGKILL or SIGTERM (the
 * only signals envd delivers) to a process and its group; false when
 * there is no such process.
 */
Datum
sandbox_signal(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	int			pid = pid_arg(fcinfo, 1);
	char	   *signal = arg_text_or_null(fcinfo, 2);
	const char *envd_signal;
	E2BTarget	t;
	HttpRequest *req;
	CallError	err;

	if (signal == NULL || pg_strcasecmp(signal, "SIGKILL") == 0)
		envd_signal = "SIGNAL_SIGKILL";
	else if (pg_strcasecmp(signal, "SIGTERM") == 0)
		envd_signal = "SIGNAL_SIGTERM";
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signal must be 'SIGKILL' or 'SIGTERM', not \"%s\"", signal),
				 errhint("envd delivers only those two signals.")));
	registry_resolve(sandbox_id, &t);
	registry_touch(sandbox_id);
	req = e2b_signal_request(&t, pid, envd_signal);
	http_perform_sync(req, NULL, NULL);
	if (call_error_from_http(req, SERVICE_ENVD, &err))
	{
		if (process_missing(&err))
			PG_RETURN_BOOL(false);
		raise_sandbox_call_error(&err, psprintf("signal process %d", pid), sandbox_id);
	}
	PG_RETURN_BOOL(true);
}

/*
 * raise_stdin_error raises a failed SendInput or CloseStdin: an unknown
 * pid, a process without a stdin pipe, or the call's own error.
 */
static void
pg_attribute_noreturn()
raise_stdin_error(const CallError *err, const char *sandbox_id, int pid, const char *action)
{
	if (process_missing(err))
		raise_no_such_process(sandbox_id, pid, err);
	if ((err->code && strcmp(err->code, "failed_precondition") == 0) ||
		(err->message && strstr(err->message, "stdin") != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("process %d in sandbox \"%s\" has no open stdin", pid, sandbox_id),
				 errdetail("%s", call_error_describe(err)),
				 errhint("Start it with sandbox_spawn(..., stdin => true); after sandbox_close_stdin() it stays closed.")));
	raise_sandbox_call_error(err, action, sandbox_id);
}

/*
 * sandbox_send_stdin(sandbox_id, pid, data) writes data (text, sent as
 * UTF-8, or bytea, sent as is) to the stdin of a process started with
 * stdin => true.
 */
Datum
sandbox_send_stdin(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	int			pid = pid_arg(fcinfo, 1);
	bytea	   *data;
	const char *bytes;
	size_t		len;
	E2BTarget	t;
	HttpRequest *req;
	CallError	err;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("data must not be null")));
	data = PG_GETARG_BYTEA_PP(2);
	bytes = VARDATA_ANY(data);
	len = VARSIZE_ANY_EXHDR(data);
	if (get_fn_expr_argtype(fcinfo->flinfo, 2) == TEXTOID)
	{
		bytes = pg_server_to_any(bytes, (int) len, PG_UTF8);
		if (bytes != VARDATA_ANY(data))
			len = strlen(bytes);
	}
	if (len > MAX_STDIN_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("data is too long: %zu bytes", len),
				 errdetail("One call sends at most %d bytes.", MAX_STDIN_BYTES),
				 errhint("Send it in several calls, or write it to a file with sandbox_write_file().")));
	registry_resolve(sandbox_id, &t);
	registry_touch(sandbox_id);
	req = e2b_send_input_request(&t, pid, bytes, len);
	http_perform_sync(req, NULL, NULL);
	if (call_error_from_http(req, SERVICE_ENVD, &err))
		raise_stdin_error(&err, sandbox_id, pid, psprintf("write to the stdin of process %d", pid));
	PG_RETURN_VOID();
}

/*
 * sandbox_close_stdin(sandbox_id, pid) closes a process's stdin: it reads
 * end of file.
 */
Datum
sandbox_close_stdin(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	int			pid = pid_arg(fcinfo, 1);
	E2BTarget	t;
	HttpRequest *req;
	CallError	err;

	registry_resolve(sandbox_id, &t);
	registry_touch(sandbox_id);
	req = e2b_close_stdin_request(&t, pid);
	http_perform_sync(req, NULL, NULL);
	if (call_error_from_http(req, SERVICE_ENVD, &err))
		raise_stdin_error(&err, sandbox_id, pid, psprintf("close the stdin of process %d", pid));
	PG_RETURN_VOID();
}

/*
 * sandbox_wait(sandbox_id, pid, timeout_ms) attaches to a running process
 * and returns (stdout, stderr, exit_code, running, truncated): when it
 * exits, its exit code and what it printed while attached; at timeout_ms
 * (default sandbox.command_timeout, 0 = no limit), running = true and
 * what it printed so far.  The process is never stopped by the wait, not
 * even when the wait is cancelled.
 */
Datum
sandbox_wait(PG_FUNCTION_ARGS)
{
	char	   *sandbox_id = arg_text_required(fcinfo, 0, "sandbox_id");
	int			pid = pid_arg(fcinfo, 1);
	int			timeout_ms = PG_ARGISNULL(2) ? sandbox_command_timeout : PG_GETARG_INT32(2);
	E2BTarget	t;
	HttpRequest *req;
	ExecState	st;
	CallError	err;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {0};
	bool		running = false;

	if (timeout_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_ms must not be negative"),
				 errhint("Use 0 for no limit.")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	registry_resolve(sandbox_id, &t);
	registry_touch(sandbox_id);
	req = e2b_connect_request(&t, pid, timeout_ms);
	exec_state_init(&st, (size_t) sandbox_max_output_bytes);
	/* no PG_TRY: a cancel just closes the stream, and the process runs on */
	http_perform_sync(req, exec_state_feed, &st);
	if (!exec_state_finish(req, &st, &err))
	{
		if (err.kind == CALL_DEADLINE)
			running = true;
		else if (process_missing(&err))
			raise_no_such_process(sandbox_id, pid, &err);
		else
			raise_sandbox_call_error(&err, psprintf("wait for process %d", pid), sandbox_id);
	}
	desc = BlessTupleDesc(desc);
	values[0] = PointerGetDatum(sandbox_bytes_to_text(st.out.data, st.out.len));
	values[1] = PointerGetDatum(sandbox_bytes_to_text(st.err.data, st.err.len));
	nulls[2] = running;
	values[2] = Int32GetDatum(running ? 0 : st.exit_code);
	values[3] = BoolGetDatum(running);
	values[4] = BoolGetDatum(st.truncated);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}
