/*-------------------------------------------------------------------------
 *
 * call_error.c
 *	  Classifying failed HTTP calls and reporting them.
 *
 * Messages quote the provider's answer (trimmed) and curl's error text,
 * never a request header, so no API key can reach a message.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "call_error.h"
#include "json_util.h"
#include "sandbox.h"

#define MAX_QUOTED 500

/*
 * call_error_clear resets err to "no error" (retry_after_ms -1: not given).
 */
void
call_error_clear(CallError *err)
{
	memset(err, 0, sizeof(*err));
	err->retry_after_ms = -1;
}

/*
 * call_error_set records an error of the given kind with a formatted
 * message, keeping the service already set.
 */
void
call_error_set(CallError *err, CallErrorKind kind, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	err->message = sandbox_vformat(fmt, ap);
	va_end(ap);
	err->kind = kind;
}

/*
 * extract_provider_message finds the human message and code in an error
 * body: {"message"}, {"error":{"message","type"|"code"}}, {"error":"..."},
 * {"code":..,"message"}; otherwise the raw body, trimmed.
 */
static void
extract_provider_message(HttpRequest *req, CallError *err)
{
	size_t		len = http_data_len(req);
	const char *data = http_data(req);
	Jsonb	   *j = len > 0 ? json_parse(data, Min(len, 65536)) : NULL;
	JsonbContainer *root = json_root(j);

	if (json_is_object(root))
	{
		JsonbContainer *e = json_get_object(root, "error");
		char	   *msg = NULL;
		char	   *code = NULL;
		int64		icode;

		if (e)
		{
			msg = json_get_string(e, "message");
			code = json_get_string(e, "type");
			if (code == NULL)
				code = json_get_string(e, "code");
		}
		if (msg == NULL)
			msg = json_get_string(root, "error");
		if (msg == NULL)
			msg = json_get_string(root, "message");
		if (msg == NULL)
			msg = json_get_string(root, "detail");
		if (code == NULL)
			code = json_get_string(root, "code");
		if (code == NULL)
			code = json_get_string(root, "error_code");
		if (code == NULL && json_get_int64(root, "code", &icode))
			code = psprintf(INT64_FORMAT, icode);
		if (msg)
		{
			err->message = sandbox_truncate_for_message(msg, strlen(msg), MAX_QUOTED);
			err->code = code;
			return;
		}
	}
	if (len > 0)
		err->message = sandbox_truncate_for_message(data, len, MAX_QUOTED);
	else
		err->message = psprintf("HTTP %ld with an empty body", req->status);
}

/*
 * call_error_from_http classifies a finished request.  Returns true when it
 * failed (err filled), false for a 2xx answer.
 */
bool
call_error_from_http(HttpRequest *req, CallService service, CallError *err)
{
	call_error_clear(err);
	err->service = service;
	err->status = req->status;
	err->retry_after_ms = http_retry_after_ms(req);

	if (req->result != CURLE_OK)
	{
		const char *what = req->errbuf[0] ? req->errbuf : curl_easy_strerror(req->result);

		if (req->too_large)
			call_error_set(err, CALL_TOO_LARGE, "the answer exceeded %zu bytes", req->max_body);
		else if (req->oom)
			call_error_set(err, CALL_TRANSPORT, "out of memory receiving the answer");
		else if (req->result == CURLE_OPERATION_TIMEDOUT)
			call_error_set(err, CALL_TIMEOUT, "%s", what);
		else if (req->result == CURLE_ABORTED_BY_CALLBACK || req->abort_flag)
			call_error_set(err, CALL_CANCELED, "the request was cancelled");
		else
			call_error_set(err, CALL_TRANSPORT, "%s", what);
		return true;
	}
	if (req->status >= 200 && req->status < 300)
		return false;

	extract_provider_message(req, err);
	if (req->status >= 300 && req->status < 400)
		err->kind = CALL_REDIRECT;
	else if (req->status == 403 && (service == SERVICE_ENVD || service == SERVICE_INTERPRETER))
		err->kind = CALL_FORBIDDEN;
	else if (req->status == 401 || req->status == 403)
		err->kind = CALL_AUTH;
	else if (req->status == 404)
		err->kind = CALL_NOT_FOUND;
	else if (req->status == 429)
		err->kind = CALL_RATE_LIMIT;
	else if (req->status == 408)
		err->kind = CALL_TIMEOUT;
	else if (req->status >= 500)
		err->kind = CALL_SERVER;
	else
		err->kind = CALL_CLIENT;

	/* E2B's proxy answers 502 "sandbox was not found" for a dead sandbox */
	if (req->status == 502 && (service == SERVICE_ENVD || service == SERVICE_INTERPRETER) &&
		err->message && strstr(err->message, "not found") != NULL)
		err->kind = CALL_NOT_FOUND;
	return true;
}

/*
 * call_error_retryable tells whether trying again later may succeed:
 * transport errors, timeouts, 429 and 5xx (529 included).
 */
bool
call_error_retryable(const CallError *err)
{
	switch (err->kind)
	{
		case CALL_TRANSPORT:
		case CALL_TIMEOUT:
		case CALL_RATE_LIMIT:
		case CALL_SERVER:
			return true;
		default:
			return false;
	}
}

/*
 * call_error_kind_name names an error kind for events and logs.
 */
const char *
call_error_kind_name(CallErrorKind kind)
{
	switch (kind)
	{
		case CALL_OK:
			return "ok";
		case CALL_TRANSPORT:
			return "transport";
		case CALL_TIMEOUT:
			return "timeout";
		case CALL_CANCELED:
			return "cancelled";
		case CALL_TOO_LARGE:
			return "too_large";
		case CALL_AUTH:
			return "auth";
		case CALL_FORBIDDEN:
			return "forbidden";
		case CALL_NOT_FOUND:
			return "not_found";
		case CALL_RATE_LIMIT:
			return "rate_limit";
		case CALL_SERVER:
			return "server";
		case CALL_CLIENT:
			return "client";
		case CALL_PROTOCOL:
			return "protocol";
		case CALL_REDIRECT:
			return "redirect";
		case CALL_DEADLINE:
			return "deadline";
	}
	return "unknown";
}

/*
 * call_service_name names the service a call went to, for messages.
 */
const char *
call_service_name(CallService service)
{
	switch (service)
	{
		case SERVICE_E2B_API:
			return "E2B API";
		case SERVICE_ENVD:
			return "sandbox (envd)";
		case SERVICE_INTERPRETER:
			return "code interpreter";
		case SERVICE_LLM:
			return "LLM API";
	}
	return "service";
}

/*
 * call_error_describe returns a one-line description for events and logs.
 */
char *
call_error_describe(const CallError *err)
{
	/* a 2xx status with a broken body says nothing about the failure */
	if (err->status >= 300)
	{
		char		num[16];
		bool		show_code;

		/* E2B repeats the status as its "code": say it once */
		snprintf(num, sizeof(num), "%ld", err->status);
		show_code = err->code != NULL && strcmp(err->code, num) != 0;
		return psprintf("%s answered HTTP %ld%s%s: %s",
						call_service_name(err->service), err->status,
						show_code ? " " : "", show_code ? err->code : "",
						err->message ? err->message : "");
	}
	return psprintf("%s: %s", call_service_name(err->service),
					err->message ? err->message : call_error_kind_name(err->kind));
}

/*
 * call_error_raise reports err as an ERROR.  action says what we were
 * doing ("create a sandbox", "run a command"); sandbox_id may be NULL.
 */
void
call_error_raise(const CallError *err, const char *action, const char *sandbox_id)
{
	const char *svc = call_service_name(err->service);
	char	   *where = sandbox_id ? psprintf(" in sandbox \"%s\"", sandbox_id) : pstrdup("");
	char	   *answer = call_error_describe(err);

	switch (err->kind)
	{
		case CALL_TRANSPORT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not %s%s: %s unreachable", action, where, svc),
					 errdetail("%s", answer),
					 err->service == SERVICE_LLM ?
					 errhint("Check sandbox.llm_api_url and that the server is running.") :
					 errhint("Check sandbox.e2b_api_url / sandbox.e2b_sandbox_url and that the service is running.")));
			break;
		case CALL_TIMEOUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not %s%s: %s timed out", action, where, svc),
					 errdetail("%s", answer),
					 errhint("Raise sandbox.http_timeout if the service is slow.")));
			break;
		case CALL_CANCELED:
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("could not %s%s: cancelled", action, where)));
			break;
		case CALL_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("could not %s%s: %s", action, where, err->message),
					 err->service == SERVICE_LLM ?
					 errhint("Raise sandbox.max_llm_response_bytes.") :
					 errhint("Raise sandbox.max_response_bytes.")));
			break;
		case CALL_AUTH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("could not %s%s: %s rejected the credentials", action, where, svc),
					 errdetail("%s", answer),
					 err->service == SERVICE_LLM ?
					 errhint("Set sandbox.llm_api_key (or the provider's API key variable in the server's environment).") :
					 errhint("Set sandbox.e2b_api_key (or E2B_API_KEY in the server's environment) to a valid key.")));
			break;
		case CALL_FORBIDDEN:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("could not %s%s: the sandbox refused access", action, where),
					 errdetail("%s", answer),
					 errhint("The sandbox's user may not use that path or resource; use one under /home/user or /tmp.")));
			break;
		case CALL_NOT_FOUND:
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 sandbox_id ?
					 errmsg("could not %s: sandbox \"%s\" does not exist or is no longer running", action, sandbox_id) :
					 errmsg("could not %s: it does not exist or is no longer running", action),
					 errdetail("%s", answer)));
			break;
		case CALL_RATE_LIMIT:
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not %s%s: %s rate or concurrency limit reached", action, where, svc),
					 errdetail("%s", answer),
					 err->service == SERVICE_LLM ?
					 errhint("Retry later.") :
					 errhint("Kill sandboxes you no longer need with sandbox_kill(), or retry later.")));
			break;
		case CALL_SERVER:
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not %s%s: %s failed", action, where, svc),
					 errdetail("%s", answer),
					 errhint("This is a server-side error; retrying may succeed.")));
			break;
		case CALL_CLIENT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not %s%s: %s refused the request", action, where, svc),
					 errdetail("%s", answer)));
			break;
		case CALL_REDIRECT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not %s%s: %s redirected to another origin", action, where, svc),
					 errdetail("%s", answer),
					 errhint("Redirects are followed only within one origin, so API keys are never sent elsewhere; point the URL setting at the final address.")));
			break;
		case CALL_DEADLINE:
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("could not %s%s: %s", action, where, err->message ? err->message : "deadline exceeded"),
					 errhint("Raise timeout_ms (or sandbox.command_timeout); 0 means no limit.")));
			break;
		case CALL_PROTOCOL:
		case CALL_OK:
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not %s%s: unexpected answer from %s", action, where, svc),
					 errdetail("%s", err->message ? err->message : "")));
			break;
	}
	pg_unreachable();
}
