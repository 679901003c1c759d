/*-------------------------------------------------------------------------
 *
 * e2b.c
 *	  Requests to, and answers from, E2B: the control plane, envd and the
 *	  code interpreter.  See ../shared/docs/e2b-protocol.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "e2b.h"
#include "json_util.h"
#include "sandbox.h"
#include "stream.h"

/* how long envd may stay silent before we ask for a keepalive, seconds */
#define KEEPALIVE_INTERVAL_S 30
#define LOW_SPEED_TIME_S 90
/* extra time our side waits past a command's own deadline */
#define DEADLINE_GRACE_MS 5000

/*
 * trim_base returns url without trailing slashes.
 */
static char *
trim_base(const char *url)
{
	char	   *s = pstrdup(url);
	size_t		n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/*
 * e2b_valid_sandbox_id checks the shape of a sandbox id ([a-z0-9-]+, as
 * E2B validates it) before it goes into a URL.
 */
bool
e2b_valid_sandbox_id(const char *id)
{
	const char *p;

	if (id == NULL || id[0] == '\0' || strlen(id) > 128)
		return false;
	for (p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

/*
 * e2b_api_request creates a control-plane request carrying the API key.
 */
HttpRequest *
e2b_api_request(const char *method, const char *path)
{
	const char *key = sandbox_e2b_key();
	HttpRequest *req;

	if (key == NULL || key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no E2B API key is configured"),
				 errhint("Set sandbox.e2b_api_key in postgresql.conf, or E2B_API_KEY in the server's environment.")));
	req = http_request_new(method, psprintf("%s%s", trim_base(sandbox_e2b_api_url), path));
	http_add_header(req, "X-API-Key", key);
	http_add_header(req, "Accept", "application/json");
	return req;
}

/*
 * e2b_create_request builds POST /sandboxes.  metadata_json and envs_json
 * are JSON objects of strings (or NULL).
 */
HttpRequest *
e2b_create_request(const char *template_id, int timeout_s,
				   const char *metadata_json, const char *envs_json)
{
	return e2b_create_request_ex(template_id, timeout_s, metadata_json, envs_json, NULL);
}

/*
 * e2b_create_request_ex builds POST /sandboxes with the lifecycle and
 * network options of opts (NULL: none): autoPause, autoResume,
 * allow_internet_access and network, as the SDKs send them.
 */
HttpRequest *
e2b_create_request_ex(const char *template_id, int timeout_s,
					  const char *metadata_json, const char *envs_json,
					  const E2BCreateOptions *opts)
{
	HttpRequest *req = e2b_api_request("POST", "/sandboxes");
	StringInfoData b;
	bool		first = true;
	char	   *body;
	size_t		len;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	json_append_kv_string(&b, &first, "templateID", template_id);
	json_append_kv_int(&b, &first, "timeout", timeout_s);
	if (metadata_json)
		json_append_kv_raw(&b, &first, "metadata", metadata_json);
	if (envs_json)
		json_append_kv_raw(&b, &first, "envVars", envs_json);
	json_append_kv_raw(&b, &first, "secure", "true");
	if (opts)
	{
		if (opts->auto_pause)
			json_append_kv_raw(&b, &first, "autoPause", "true");
		if (opts->auto_resume)
			json_append_kv_raw(&b, &first, "autoResume", "{\"enabled\":true}");
		if (opts->allow_internet >= 0)
			json_append_kv_raw(&b, &first, "allow_internet_access",
							   opts->allow_internet ? "true" : "false");
		if (opts->network_json)
			json_append_kv_raw(&b, &first, "network", opts->network_json);
	}
	appendStringInfoChar(&b, '}');
	body = json_body_to_utf8(&b, &len);
	http_add_header(req, "Content-Type", "application/json");
	http_set_body(req, body, len);
	return req;
}

/*
 * e2b_parse_sandbox reads a Sandbox (create, connect) or SandboxDetail
 * (info) answer.
 */
bool
e2b_parse_sandbox(HttpRequest *req, E2BSandbox *out, CallError *err)
{
	Jsonb	   *j;
	JsonbContainer *root;

	memset(out, 0, sizeof(*out));
	if (call_error_from_http(req, SERVICE_E2B_API, err))
		return false;
	j = json_parse(http_data(req), http_data_len(req));
	root = json_root(j);
	if (!json_is_object(root))
	{
		call_error_set(err, CALL_PROTOCOL, "the answer could not be read (%s): %s",
					   j ? "it is not a JSON object" : json_parse_error(),
					   sandbox_truncate_for_message(http_data(req), http_data_len(req), 200));
		return false;
	}
	out->sandbox_id = json_get_string(root, "sandboxID");
	out->template_id = json_get_string(root, "templateID");
	out->alias = json_get_string(root, "alias");
	out->envd_version = json_get_string(root, "envdVersion");
	out->access_token = json_get_string(root, "envdAccessToken");
	out->domain = json_get_string(root, "domain");
	if (out->domain && out->domain[0] == '\0')
		out->domain = NULL;
	if (!e2b_valid_sandbox_id(out->sandbox_id))
	{
		call_error_set(err, CALL_PROTOCOL, "the answer has no valid sandboxID");
		return false;
	}
	return true;
}

/*
 * e2b_kill_request builds DELETE /sandboxes/{id}: 204 killed, 404 already gone.
 */
HttpRequest *
e2b_kill_request(const char *sandbox_id)
{
	return e2b_api_request("DELETE", psprintf("/sandboxes/%s", sandbox_id));
}

/*
 * e2b_timeout_request builds POST /sandboxes/{id}/timeout, which sets the
 * sandbox's remaining lifetime to timeout_s from now.
 */
HttpRequest *
e2b_timeout_request(const char *sandbox_id, int timeout_s)
{
	HttpRequest *req = e2b_api_request("POST", psprintf("/sandboxes/%s/timeout", sandbox_id));
	char	   *body = psprintf("{\"timeout\":%d}", timeout_s);

	http_add_header(req, "Content-Type", "application/json");
	http_set_body(req, body, strlen(body));
	return req;
}

/*
 * e2b_info_request builds GET /sandboxes/{id} (SandboxDetail).
 */
HttpRequest *
e2b_info_request(const char *sandbox_id)
{
	return e2b_api_request("GET", psprintf("/sandboxes/%s", sandbox_id));
}

/*
 * e2b_list_request builds GET /v2/sandboxes for sandboxes in the given
 * states ("running", "running,paused"; NULL means running) whose metadata
 * matches metadata_query ("k=v&k2=v2", unencoded), one page.
 */
HttpRequest *
e2b_list_request(const char *metadata_query, const char *next_token, int limit,
				 const char *states)
{
	StringInfoData path;

	initStringInfo(&path);
	appendStringInfo(&path, "/v2/sandboxes?state=%s&limit=%d",
					 http_urlencode(states ? states : "running"), limit);
	if (metadata_query && metadata_query[0])
		appendStringInfo(&path, "&metadata=%s", http_urlencode(metadata_query));
	if (next_token && next_token[0])
		appendStringInfo(&path, "&nextToken=%s", http_urlencode(next_token));
	return e2b_api_request("GET", path.data);
}

/*
 * e2b_pause_request builds POST /sandboxes/{id}/pause, which snapshots a
 * sandbox with its memory (processes frozen) and stops it: 204 paused, 409
 * already paused, 404 unknown.
 */
HttpRequest *
e2b_pause_request(const char *sandbox_id)
{
	HttpRequest *req = e2b_api_request("POST", psprintf("/sandboxes/%s/pause", sandbox_id));

	http_add_header(req, "Content-Type", "application/json");
	http_set_body(req, "{}", 2);
	return req;
}

/*
 * e2b_parse_pause reads a pause answer: *paused_now is true for 204, false
 * for 409 (already paused, as the SDKs read it); anything else fills err.
 */
bool
e2b_parse_pause(HttpRequest *req, bool *paused_now, CallError *err)
{
	*paused_now = false;
	if (!call_error_from_http(req, SERVICE_E2B_API, err))
	{
		*paused_now = true;
		return true;
	}
	return req->result == CURLE_OK && req->status == 409;
}

/*
 * e2b_resume_request builds POST /sandboxes/{id}/connect {"timeout"}: it
 * resumes a paused sandbox (201) or extends a running one's lifetime to at
 * least timeout_s from now (200).  The SQL functions use it for
 * sandbox_resume, auto-resume and sandbox_connect; the worker for resuming
 * a run's sandbox and extending it.
 */
HttpRequest *
e2b_resume_request(const char *sandbox_id, int timeout_s)
{
	HttpRequest *req = e2b_api_request("POST", psprintf("/sandboxes/%s/connect", sandbox_id));
	char	   *body = psprintf("{\"timeout\":%d}", timeout_s);

	http_add_header(req, "Content-Type", "application/json");
	http_set_body(req, body, strlen(body));
	return req;
}

/*
 * e2b_parse_resume reads a connect answer (a Sandbox, with the access token
 * and domain): *resumed is true for 201 (it was paused), false for 200 (it
 * was running).  Never throws.
 */
bool
e2b_parse_resume(HttpRequest *req, E2BSandbox *out, bool *resumed, CallError *err)
{
	*resumed = false;
	if (!e2b_parse_sandbox(req, out, err))
		return false;
	*resumed = req->status == 201;
	return true;
}

/*
 * e2b_metrics_request builds GET /sandboxes/{id}/metrics, from start_unix
 * (seconds; 0 = the whole series E2B keeps).
 */
HttpRequest *
e2b_metrics_request(const char *sandbox_id, int64 start_unix)
{
	if (start_unix > 0)
		return e2b_api_request("GET", psprintf("/sandboxes/%s/metrics?start=" INT64_FORMAT,
											   sandbox_id, start_unix));
	return e2b_api_request("GET", psprintf("/sandboxes/%s/metrics", sandbox_id));
}

/*
 * e2b_envd_request creates a request to a port of a running sandbox.
 * With sandbox.e2b_sandbox_url set, all sandbox traffic goes to that base
 * and is routed by headers (as E2B_SANDBOX_URL does in the SDKs);
 * otherwise to https://<port>-<id>.<domain>.
 */
HttpRequest *
e2b_envd_request(const E2BTarget *t, int port, const char *method,
				 const char *path, const char *content_type)
{
	HttpRequest *req;
	char	   *url;
	char		portbuf[16];

	if (!e2b_valid_sandbox_id(t->sandbox_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid sandbox id \"%s\"", t->sandbox_id ? t->sandbox_id : ""),
				 errhint("Sandbox ids are made of lowercase letters, digits and dashes.")));
	if (sandbox_e2b_sandbox_url && sandbox_e2b_sandbox_url[0])
		url = psprintf("%s%s", trim_base(sandbox_e2b_sandbox_url), path);
	else
		url = psprintf("https://%d-%s.%s%s", port, t->sandbox_id,
					   t->domain ? t->domain : sandbox_e2b_domain, path);
	req = http_request_new(method, url);
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	http_add_header(req, "E2b-Sandbox-Id", t->sandbox_id);
	http_add_header(req, "E2b-Sandbox-Port", portbuf);
	if (t->access_token && t->access_token[0])
		http_add_header(req, "X-Access-Token", t->access_token);
	if (content_type)
		http_add_header(req, "Content-Type", content_type);
	return req;
}

/*
 * e2b_rpc_request builds a unary Connect call, e.g. rpc =
 * "filesystem.Filesystem/ListDir".
 */
HttpRequest *
e2b_rpc_request(const E2BTarget *t, const char *rpc, const char *json)
{
	HttpRequest *req = e2b_envd_request(t, ENVD_PORT, "POST", psprintf("/%s", rpc),
										"application/json");
	char	   *body = pg_server_to_any(json, strlen(json), PG_UTF8);

	http_add_header(req, "Connect-Protocol-Version", "1");
	http_set_body(req, body, strlen(body));
	return req;
}

/*
 * e2b_parse_rpc reads a unary Connect answer into *out.
 */
bool
e2b_parse_rpc(HttpRequest *req, Jsonb **out, CallError *err)
{
	*out = NULL;
	if (call_error_from_http(req, SERVICE_ENVD, err))
		return false;
	*out = json_parse(http_data(req), http_data_len(req));
	if (*out == NULL)
	{
		call_error_set(err, CALL_PROTOCOL, "envd's answer could not be read (%s): %s", json_parse_error(),
					   sandbox_truncate_for_message(http_data(req), http_data_len(req), 200));
		return false;
	}
	return true;
}

/*
 * e2b_start_request builds process.Process/Start for `/bin/bash -l -c cmd`
 * (what the SDKs' commands.run sends).  timeout_ms > 0 becomes
 * Connect-Timeout-Ms, which makes envd kill the process at the deadline;
 * our own transfer timeout is a little longer.  tag (or NULL) names the
 * process for List; with_stdin keeps a stdin pipe open for SendInput.
 */
HttpRequest *
e2b_start_request(const E2BTarget *t, const char *cmd, const char *cwd,
				  const char *envs_json, int timeout_ms, const char *tag, bool with_stdin)
{
	HttpRequest *req = e2b_envd_request(t, ENVD_PORT, "POST", "/process.Process/Start",
										"application/connect+json");
	StringInfoData j;
	StringInfoData env;
	bool		first = true;
	char	   *utf8;
	size_t		len;
	char		buf[32];

	initStringInfo(&j);
	appendStringInfoString(&j, "{\"process\":{");
	json_append_kv_string(&j, &first, "cmd", "/bin/bash");
	json_append_kv_raw(&j, &first, "args", "");
	appendStringInfoString(&j, "[\"-l\",\"-c\",");
	json_append_string(&j, cmd);
	appendStringInfoChar(&j, ']');
	if (envs_json)
		json_append_kv_raw(&j, &first, "envs", envs_json);
	if (cwd)
		json_append_kv_string(&j, &first, "cwd", cwd);
	appendStringInfoChar(&j, '}');
	if (tag)
	{
		appendStringInfoString(&j, ",\"tag\":");
		json_append_string(&j, tag);
	}
	appendStringInfo(&j, ",\"stdin\":%s}", with_stdin ? "true" : "false");
	utf8 = json_body_to_utf8(&j, &len);

	initStringInfo(&env);
	connect_envelope(&env, utf8, len);
	http_set_body(req, env.data, env.len);
	http_add_header(req, "Connect-Protocol-Version", "1");
	snprintf(buf, sizeof(buf), "%d", KEEPALIVE_INTERVAL_S);
	http_add_header(req, "Keepalive-Ping-Interval", buf);
	if (timeout_ms > 0)
	{
		snprintf(buf, sizeof(buf), "%d", timeout_ms);
		http_add_header(req, "Connect-Timeout-Ms", buf);
		http_set_timeouts(req, sandbox_connect_timeout,
						  (long) timeout_ms + DEADLINE_GRACE_MS, LOW_SPEED_TIME_S);
	}
	else
		http_set_timeouts(req, sandbox_connect_timeout, 0, LOW_SPEED_TIME_S);
	return req;
}

/*
 * e2b_connect_request builds process.Process/Connect, which reattaches to a
 * running process by pid and streams the rest of its output (start event
 * first, as for Start; earlier output is not replayed).  Used when a
 * command's stream broke mid-way, and by sandbox_wait.  timeout_ms > 0
 * ends the stream with deadline_exceeded then, without killing the
 * process; 0 waits as long as the process runs.
 */
HttpRequest *
e2b_connect_request(const E2BTarget *t, int64 pid, int timeout_ms)
{
	HttpRequest *req = e2b_envd_request(t, ENVD_PORT, "POST", "/process.Process/Connect",
										"application/connect+json");
	char	   *json = psprintf("{\"process\":{\"pid\":" INT64_FORMAT "}}", pid);
	StringInfoData env;
	char		buf[32];

	initStringInfo(&env);
	connect_envelope(&env, json, strlen(json));
	http_set_body(req, env.data, env.len);
	http_add_header(req, "Connect-Protocol-Version", "1");
	snprintf(buf, sizeof(buf), "%d", KEEPALIVE_INTERVAL_S);
	http_add_header(req, "Keepalive-Ping-Interval", buf);
	if (timeout_ms > 0)
	{
		snprintf(buf, sizeof(buf), "%d", timeout_ms);
		http_add_header(req, "Connect-Timeout-Ms", buf);
		http_set_timeouts(req, sandbox_connect_timeout, (long) timeout_ms + DEADLINE_GRACE_MS,
						  LOW_SPEED_TIME_S);
	}
	else
		http_set_timeouts(req, sandbox_connect_timeout, 0, LOW_SPEED_TIME_S);
	return req;
}

/*
 * e2b_process_list_request builds process.Process/List: the processes
 * running in the sandbox, with their command, pid and tag.  For
 * sandbox_processes, and for the worker to find a run's command by tag.
 */
HttpRequest *
e2b_process_list_request(const E2BTarget *t)
{
	return e2b_rpc_request(t, "process.Process/List", "{}");
}

/*
 * e2b_parse_process_list reads a List answer into a List of E2BProcess
 * (pid, tag, cmd, args, cwd).  Never throws on a bad answer.
 */
bool
e2b_parse_process_list(HttpRequest *req, List **out, CallError *err)
{
	Jsonb	   *j;
	JsonbContainer *root;
	JsonbContainer *arr;

	*out = NIL;
	if (!e2b_parse_rpc(req, &j, err))
		return false;
	root = json_root(j);
	if (!json_is_object(root))
	{
		call_error_set(err, CALL_PROTOCOL, "envd's process list is not a JSON object");
		return false;
	}
	arr = json_get_array(root, "processes");
	if (arr == NULL)
		return true;			/* proto3 omits an empty list */
	for (int i = 0; i < jarr_length(arr); i++)
	{
		JsonbContainer *p = json_value_container(jarr_get(arr, i));
		JsonbContainer *config = json_get_object(p, "config");
		JsonbContainer *args = json_get_array(config, "args");
		E2BProcess *proc;
		int64		pid = -1;

		if (p == NULL || !json_get_int64(p, "pid", &pid) || pid <= 0)
		{
			call_error_set(err, CALL_PROTOCOL, "envd listed a process without a valid pid");
			return false;
		}
		proc = palloc0(sizeof(E2BProcess));
		proc->pid = pid;
		proc->tag = json_get_string(p, "tag");
		proc->cmd = json_get_string(config, "cmd");
		proc->cwd = json_get_string(config, "cwd");
		for (int k = 0; args && k < jarr_length(args); k++)
			proc->args = lappend(proc->args, json_value_string(jarr_get(args, k)));
		*out = lappend(*out, proc);
	}
	return true;
}

/*
 * e2b_send_input_request builds process.Process/SendInput: bytes for the
 * stdin of a process started with a stdin pipe.
 */
HttpRequest *
e2b_send_input_request(const E2BTarget *t, int64 pid, const char *data, size_t len)
{
	int			enclen = pg_b64_enc_len(len);
	char	   *b64 = palloc(enclen + 1);
	int			n = pg_b64_encode(data, len, b64, enclen);
	char	   *body;

	if (n < 0)
		elog(ERROR, "could not encode process input as base64");
	b64[n] = '\0';
	body = psprintf("{\"process\":{\"pid\":" INT64_FORMAT "},\"input\":{\"stdin\":\"%s\"}}",
					pid, b64);
	pfree(b64);
	return e2b_rpc_request(t, "process.Process/SendInput", body);
}

/*
 * e2b_close_stdin_request builds process.Process/CloseStdin: end of file on
 * a process's stdin (envd 0.5.2 and later).
 */
HttpRequest *
e2b_close_stdin_request(const E2BTarget *t, int64 pid)
{
	return e2b_rpc_request(t, "process.Process/CloseStdin",
						   psprintf("{\"process\":{\"pid\":" INT64_FORMAT "}}", pid));
}

/*
 * exec_state_resume prepares a state for the stream of a reattached
 * process: the output gathered so far is kept, the stream flags restart.
 */
void
exec_state_resume(ExecState *st)
{
	st->got_start = false;
	st->got_eos = false;
	st->bad_frame = false;
	st->protocol_error = NULL;
	st->eos_code = NULL;
	st->eos_message = NULL;
}

/*
 * e2b_signal_request builds process.Process/SendSignal (SIGNAL_SIGKILL or
 * SIGNAL_SIGTERM) for a pid.  Closing a stream does not stop a process, so
 * this is how a cancelled command is stopped.
 */
HttpRequest *
e2b_signal_request(const E2BTarget *t, int64 pid, const char *signal)
{
	char	   *body = psprintf("{\"process\":{\"pid\":" INT64_FORMAT "},\"signal\":\"%s\"}",
								pid, signal);

	return e2b_rpc_request(t, "process.Process/SendSignal", body);
}

/*
 * exec_state_init prepares an empty ExecState whose stdout and stderr are
 * each kept up to max_bytes.
 */
void
exec_state_init(ExecState *st, size_t max_bytes)
{
	memset(st, 0, sizeof(*st));
	st->max_bytes = max_bytes;
	initStringInfo(&st->out);
	initStringInfo(&st->err);
	st->pid = -1;
}

/*
 * append_capped appends to buf up to max bytes in all, noting truncation.
 */
static void
append_capped(StringInfo buf, const char *data, size_t len, size_t max, bool *truncated)
{
	if ((size_t) buf->len + len > max)
	{
		size_t		room = max > (size_t) buf->len ? max - buf->len : 0;

		*truncated = true;
		len = room;
	}
	if (len > 0)
		appendBinaryStringInfo(buf, data, len);
}

/*
 * append_base64 decodes a base64 string into buf (capped), and hands it to
 * the live sink, if any, as well.
 */
static bool
append_base64(StringInfo buf, const char *b64, size_t max, bool *truncated,
			  LiveSink *live, bool is_stderr)
{
	int			srclen = strlen(b64);
	int			dstlen = pg_b64_dec_len(srclen);
	char	   *dst = palloc(dstlen + 1);
	int			n = pg_b64_decode(b64, srclen, dst, dstlen);

	if (n < 0)
		return false;
	append_capped(buf, dst, n, max, truncated);
	if (live)
		live_append(live, is_stderr, dst, n);
	pfree(dst);
	return true;
}

/*
 * on_process_envelope handles one envelope of a Start/Connect stream.
 */
static bool
on_process_envelope(uint8 flags, const char *payload, size_t len, void *arg)
{
	ExecState  *st = (ExecState *) arg;
	Jsonb	   *j = json_parse(payload, len);
	JsonbContainer *root = json_root(j);
	JsonbContainer *ev;
	JsonbContainer *x;

	if (flags & CONNECT_FLAG_END_STREAM)
	{
		st->got_eos = true;
		if ((x = json_get_object(root, "error")) != NULL)
		{
			st->eos_code = json_get_string(x, "code");
			st->eos_message = json_get_string(x, "message");
			if (st->eos_code == NULL)
				st->eos_code = pstrdup("unknown");
		}
		return true;
	}
	if (!json_is_object(root))
	{
		st->protocol_error = psprintf("a stream message is not a JSON object: %s",
									  sandbox_truncate_for_message(payload, len, 200));
		return false;
	}
	ev = json_get_object(root, "event");
	if (ev == NULL)
		return true;			/* unknown message: ignore, as protojson does */
	if ((x = json_get_object(ev, "start")) != NULL)
	{
		int64		pid = -1;

		st->got_start = true;
		if (json_get_int64(x, "pid", &pid))
			st->pid = pid;
	}
	else if ((x = json_get_object(ev, "data")) != NULL)
	{
		char	   *s;
		bool		ok = true;

		if ((s = json_get_string(x, "stdout")) != NULL)
			ok = append_base64(&st->out, s, st->max_bytes, &st->truncated, st->live, false);
		else if ((s = json_get_string(x, "stderr")) != NULL)
			ok = append_base64(&st->err, s, st->max_bytes, &st->truncated, st->live, true);
		else if ((s = json_get_string(x, "pty")) != NULL)
			ok = append_base64(&st->out, s, st->max_bytes, &st->truncated, st->live, false);
		if (!ok)
		{
			st->protocol_error = pstrdup("process output is not valid base64");
			return false;
		}
	}
	else if ((x = json_get_object(ev, "end")) != NULL)
	{
		int64		code = 0;

		st->got_end = true;
		if (json_get_int64(x, "exitCode", &code))
			st->exit_code = (int) code;
		else
			st->exit_code = 0;	/* proto3 omits the default */
		(void) json_get_bool(x, "exited", &st->exited);
		st->end_status = json_get_string(x, "status");
		st->end_error = json_get_string(x, "error");
	}
	/* keepalive and unknown events need nothing */
	return true;
}

/*
 * exec_state_feed is the HttpStreamFn of a Start stream: it decodes every
 * complete envelope buffered so far.  A framing error stops the transfer.
 */
void
exec_state_feed(HttpRequest *req, void *arg)
{
	ExecState  *st = (ExecState *) arg;
	size_t		used = 0;
	StreamStatus s;

	if (st->bad_frame || st->protocol_error)
	{
		http_consume(req, http_data_len(req));
		return;
	}
	s = connect_decode(http_data(req), http_data_len(req), &used, on_process_envelope, st);
	http_consume(req, used);
	if (s == STREAM_BAD_FRAME)
	{
		st->bad_frame = true;
		req->abort_flag = true;
	}
	else if (s == STREAM_STOP)
		req->abort_flag = true;
}

/*
 * map_connect_code turns a Connect error code into a CallErrorKind.
 */
static CallErrorKind
map_connect_code(const char *code)
{
	if (strcmp(code, "deadline_exceeded") == 0)
		return CALL_DEADLINE;
	if (strcmp(code, "not_found") == 0)
		return CALL_NOT_FOUND;
	if (strcmp(code, "unauthenticated") == 0)
		return CALL_AUTH;
	if (strcmp(code, "permission_denied") == 0)
		return CALL_FORBIDDEN;
	if (strcmp(code, "resource_exhausted") == 0)
		return CALL_RATE_LIMIT;
	if (strcmp(code, "unavailable") == 0 || strcmp(code, "internal") == 0 ||
		strcmp(code, "unknown") == 0 || strcmp(code, "data_loss") == 0 ||
		strcmp(code, "aborted") == 0)
		return CALL_SERVER;
	if (strcmp(code, "canceled") == 0)
		return CALL_CANCELED;
	return CALL_CLIENT;
}

/*
 * exec_state_finish classifies a finished Start stream.  Returns true when
 * the process ran to its end and the stream closed properly; otherwise
 * fills err.  The output gathered so far stays in st either way.
 */
bool
exec_state_finish(HttpRequest *req, ExecState *st, CallError *err)
{
	bool		failed;

	/* decode what is left (the last read may have finished the stream) */
	if (http_data_len(req) > 0 && req->status >= 200 && req->status < 300)
		exec_state_feed(req, st);
	failed = call_error_from_http(req, SERVICE_ENVD, err);
	if (st->bad_frame)
	{
		call_error_set(err, CALL_PROTOCOL, "envd's stream broke the Connect envelope framing");
		return false;
	}
	if (st->protocol_error)
	{
		call_error_set(err, CALL_PROTOCOL, "%s", st->protocol_error);
		return false;
	}
	if (failed)
	{
		/* a transfer we aborted after the deadline is the deadline */
		if (err->kind == CALL_TIMEOUT && st->got_start)
			call_error_set(err, CALL_DEADLINE, "the command did not finish in time");
		return false;
	}
	if (strncmp(req->content_type, "application/connect+json", 24) != 0)
	{
		call_error_set(err, CALL_PROTOCOL, "envd answered with unsupported content type \"%s\"",
					   req->content_type);
		return false;
	}
	if (st->got_eos && st->eos_code)
	{
		CallErrorKind kind = map_connect_code(st->eos_code);

		if (kind == CALL_DEADLINE)
			call_error_set(err, kind, "the command did not finish in time (%s)",
						   st->eos_message ? st->eos_message : st->eos_code);
		else
			call_error_set(err, kind, "%s: %s", st->eos_code,
						   st->eos_message ? st->eos_message : "");
		err->code = st->eos_code;
		err->status = 0;		/* the HTTP status was 200: the error is in the stream */
		return false;
	}
	if (!st->got_eos)
	{
		call_error_set(err, CALL_PROTOCOL,
					   "the stream ended without its end-of-stream message (missing EndStreamResponse)");
		return false;
	}
	if (!st->got_start)
	{
		call_error_set(err, CALL_PROTOCOL, "the stream did not start with a start event");
		return false;
	}
	if (!st->got_end)
	{
		call_error_set(err, CALL_PROTOCOL, "the stream closed before the process's end event");
		return false;
	}
	return true;
}

/*
 * e2b_read_file_request builds GET /files?path=...
 */
HttpRequest *
e2b_read_file_request(const E2BTarget *t, const char *path)
{
	char	   *p = pg_server_to_any(path, strlen(path), PG_UTF8);

	return e2b_envd_request(t, ENVD_PORT, "GET",
							psprintf("/files?path=%s", http_urlencode(p)), NULL);
}

/*
 * e2b_write_file_request builds POST /files as multipart/form-data with the
 * field "file", which every envd version accepts.  The boundary is random
 * and checked against the content.
 */
HttpRequest *
e2b_write_file_request(const E2BTarget *t, const char *path, const char *data, size_t len)
{
	char	   *p = pg_server_to_any(path, strlen(path), PG_UTF8);
	HttpRequest *req;
	StringInfoData b;
	char		boundary[48];
	char	   *ct;

	for (;;)
	{
		uint64		r1 = pg_prng_uint64(&pg_global_prng_state);
		uint64		r2 = pg_prng_uint64(&pg_global_prng_state);

		snprintf(boundary, sizeof(boundary), "pgsandbox%016llx%016llx",
				 (unsigned long long) r1, (unsigned long long) r2);
		if (len < strlen(boundary) ||
			memmem(data, len, boundary, strlen(boundary)) == NULL)
			break;
	}
	ct = psprintf("multipart/form-data; boundary=%s", boundary);
	req = e2b_envd_request(t, ENVD_PORT, "POST",
						   psprintf("/files?path=%s", http_urlencode(p)), ct);
	initStringInfo(&b);
	appendStringInfo(&b, "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"", boundary);
	/* the filename is informative only (path= wins); keep it header-safe */
	for (const char *c = p; *c; c++)
		appendStringInfoChar(&b, (*c == '"' || *c == '\r' || *c == '\n') ? '_' : *c);
	appendStringInfoString(&b, "\"\r\nContent-Type: application/octet-stream\r\n\r\n");
	appendBinaryStringInfo(&b, data, len);
	appendStringInfo(&b, "\r\n--%s--\r\n", boundary);
	http_set_body(req, b.data, b.len);
	pfree(b.data);
	return req;
}

/*
 * e2b_execute_request builds the code interpreter's POST /execute.
 */
HttpRequest *
e2b_execute_request(const E2BTarget *t, const char *code, const char *language,
					const char *context_id, int timeout_ms)
{
	HttpRequest *req = e2b_envd_request(t, INTERPRETER_PORT, "POST", "/execute",
										"application/json");
	StringInfoData j;
	bool		first = true;
	char	   *body;
	size_t		len;

	initStringInfo(&j);
	appendStringInfoChar(&j, '{');
	json_append_kv_string(&j, &first, "code", code);
	if (context_id)
		json_append_kv_string(&j, &first, "context_id", context_id);
	else if (language)
		json_append_kv_string(&j, &first, "language", language);
	appendStringInfoChar(&j, '}');
	body = json_body_to_utf8(&j, &len);
	http_set_body(req, body, len);
	http_set_timeouts(req, sandbox_connect_timeout,
					  timeout_ms > 0 ? (long) timeout_ms : 0, LOW_SPEED_TIME_S);
	return req;
}

/*
 * code_state_init prepares an empty CodeState for one /execute stream.
 */
void
code_state_init(CodeState *st, size_t max_bytes)
{
	memset(st, 0, sizeof(*st));
	st->max_bytes = max_bytes;
	initStringInfo(&st->results);
	initStringInfo(&st->out);
	initStringInfo(&st->err);
}

/*
 * on_code_line handles one NDJSON message of /execute.
 */
static bool
on_code_line(const char *line, size_t len, void *arg)
{
	CodeState  *st = (CodeState *) arg;
	Jsonb	   *j = json_parse(line, len);
	JsonbContainer *root = json_root(j);
	char	   *type;

	if (!json_is_object(root))
	{
		st->protocol_error = psprintf("a line of the interpreter's stream could not be read (%s): %s",
									  j ? "it is not a JSON object" : json_parse_error(),
									  sandbox_truncate_for_message(line, len, 200));
		return false;
	}
	type = json_get_string(root, "type");
	if (type == NULL)
		return true;
	if (strcmp(type, "number_of_executions") == 0)
		(void) json_get_int64(root, "execution_count", &st->execution_count);
	else if (strcmp(type, "stdout") == 0 || strcmp(type, "stderr") == 0)
	{
		char	   *text = json_get_string(root, "text");

		if (text)
		{
			StringInfo	buf = type[3] == 'o' ? &st->out : &st->err;
			int			tlen = strlen(text);
			int			room = st->max_bytes > (size_t) buf->len ? st->max_bytes - buf->len : 0;

			if (st->live)
				live_append(st->live, type[3] == 'e', text, tlen);

			/* cut on a character boundary: these are already database text */
			if (tlen > room)
			{
				st->truncated = true;
				tlen = pg_mbcliplen(text, tlen, room);
			}
			appendBinaryStringInfo(buf, text, tlen);
		}
	}
	else if (strcmp(type, "result") == 0)
	{
		bool		is_main = false;
		char	   *rendered = JsonbToCString(NULL, root, len);

		(void) json_get_bool(root, "is_main_result", &is_main);
		if (is_main)
			st->main_text = json_get_string(root, "text");
		if ((size_t) st->results.len + strlen(rendered) > st->max_bytes * 4)
			st->truncated = true;
		else
		{
			if (st->nresults++ > 0)
				appendStringInfoChar(&st->results, ',');
			appendStringInfoString(&st->results, rendered);
		}
	}
	else if (strcmp(type, "error") == 0 || strcmp(type, "unexpected_end_of_execution") == 0)
	{
		StringInfoData e;
		bool		first = true;

		initStringInfo(&e);
		appendStringInfoChar(&e, '{');
		json_append_kv_string(&e, &first, "name",
							  type[0] == 'u' ? "UnexpectedEndOfExecution" : json_get_string(root, "name"));
		json_append_kv_string(&e, &first, "value", json_get_string(root, "value"));
		json_append_kv_string(&e, &first, "traceback", json_get_string(root, "traceback"));
		appendStringInfoChar(&e, '}');
		st->error_json = e.data;
	}
	else if (strcmp(type, "end_of_execution") == 0)
		st->got_end = true;
	return true;
}

/*
 * code_state_feed is the HttpStreamFn of /execute.
 */
void
code_state_feed(HttpRequest *req, void *arg)
{
	CodeState  *st = (CodeState *) arg;
	size_t		used = 0;

	if (st->protocol_error)
	{
		http_consume(req, http_data_len(req));
		return;
	}
	if (ndjson_decode(http_data(req), http_data_len(req), &used, false, on_code_line, st) == STREAM_STOP)
		req->abort_flag = true;
	http_consume(req, used);
}

/*
 * code_state_finish classifies a finished /execute stream.
 */
bool
code_state_finish(HttpRequest *req, CodeState *st, CallError *err)
{
	size_t		used = 0;

	if (req->status >= 200 && req->status < 300 && !st->protocol_error)
	{
		(void) ndjson_decode(http_data(req), http_data_len(req), &used, true, on_code_line, st);
		http_consume(req, used);
	}
	if (st->protocol_error)
	{
		call_error_clear(err);
		err->service = SERVICE_INTERPRETER;
		call_error_set(err, CALL_PROTOCOL, "%s", st->protocol_error);
		return false;
	}
	if (call_error_from_http(req, SERVICE_INTERPRETER, err))
	{
		if (err->kind == CALL_TIMEOUT)
			call_error_set(err, CALL_DEADLINE, "the code did not finish in time");
		return false;
	}
	if (!st->got_end)
	{
		call_error_set(err, CALL_PROTOCOL, "the execution stream ended without end_of_execution");
		return false;
	}
	return true;
}

/*
 * code_state_json renders the execution as the jsonb text that
 * sandbox_run_code returns.
 */
char *
code_state_json(CodeState *st)
{
	StringInfoData j;
	bool		first = true;

	initStringInfo(&j);
	appendStringInfoChar(&j, '{');
	json_append_kv_raw(&j, &first, "results", "");
	appendStringInfo(&j, "[%s]", st->results.data);
	json_append_kv_string(&j, &first, "stdout", st->out.data);
	json_append_kv_string(&j, &first, "stderr", st->err.data);
	json_append_kv_raw(&j, &first, "error", st->error_json ? st->error_json : "null");
	if (st->main_text)
		json_append_kv_string(&j, &first, "text", st->main_text);
	else
		json_append_kv_raw(&j, &first, "text", "null");
	json_append_kv_int(&j, &first, "execution_count", st->execution_count);
	json_append_kv_raw(&j, &first, "truncated", st->truncated ? "true" : "false");
	appendStringInfoChar(&j, '}');
	return j.data;
}
