/*-------------------------------------------------------------------------
 *
 * tools.c
 *	  The agent's tools, one declaration each (see tools.h): run_command,
 *	  write_file, read_file, list_files, edit_file and run_code.
 *
 * A tool's functions only build requests and read answers; they never
 * throw on what a sandbox sends (a bad answer is a failed step) and never
 * decide about retries, reattaching or lost sandboxes: they say which it
 * is, and agent.c acts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "json_util.h"
#include "sandbox.h"
#include "sql_common.h"
#include "tools.h"

#define TOOL_FEED_BYTES 16384	/* of each stream, fed back to the model */
#define READ_FEED_BYTES 65536
#define LIST_MAX_ENTRIES 1000

/* ---------------------------------------------------------------------
 * Shared pieces
 * --------------------------------------------------------------------- */

/*
 * tool_arg returns a string argument of a call, or NULL.
 */
char *
tool_arg(LlmToolCall *tc, const char *name)
{
	if (tc == NULL || tc->input == NULL)
		return NULL;
	return json_get_string(&tc->input->root, name);
}

/*
 * tool_result_init prepares an empty outcome.
 */
void
tool_result_init(ToolResult *out)
{
	initStringInfo(&out->content);
	initStringInfo(&out->event);
	out->event_first = true;
	out->is_error = false;
	call_error_clear(&out->err);
}

/*
 * tool_failure_result answers a call with a failure: message, or the
 * error's description.
 */
void
tool_failure_result(ToolResult *out, CallError *err, const char *message)
{
	const char *what = message ? message : call_error_describe(err);

	resetStringInfo(&out->content);
	resetStringInfo(&out->event);
	out->event_first = true;
	appendStringInfo(&out->content, "error: %s", what);
	json_append_kv_string(&out->event, &out->event_first, "error", what);
	out->is_error = true;
}

/*
 * feed_cap keeps what the model sees of one output stream bounded: the
 * head and the tail, with a note of what was left out.
 */
static char *
feed_cap(const char *s, size_t len, size_t cap)
{
	size_t		half = cap / 2;

	if (len <= cap)
		return sandbox_bytes_to_cstring(s, len);
	return psprintf("%s\n[... %zu bytes omitted ...]\n%s",
					sandbox_bytes_to_cstring(s, half), len - cap,
					sandbox_bytes_to_cstring(s + len - half, half));
}

/*
 * append_event_output adds a command's stdout or stderr to a tool_result
 * event, kept to sandbox.event_output_bytes (cut on a character boundary);
 * "<key>_cut_bytes" says how much was left out.
 */
static void
append_event_output(StringInfo d, bool *first, const char *key, const char *data, size_t len)
{
	char	   *text = sandbox_bytes_to_cstring(data, len);
	size_t		tlen = strlen(text);
	size_t		keep = tlen;

	if (tlen > (size_t) sandbox_event_output_bytes)
	{
		keep = pg_mbcliplen(text, (int) tlen, sandbox_event_output_bytes);
		text[keep] = '\0';
	}
	json_append_kv_string(d, first, key, text);
	if (keep < tlen)
		json_append_kv_int(d, first, psprintf("%s_cut_bytes", key), (int64) (tlen - keep));
}

/*
 * file_step_failed classifies a failed /files or filesystem call: the
 * sandbox gone (E2B's proxy 502), or a failure the agent may retry.
 */
static ToolVerdict
file_step_failed(ToolResult *out)
{
	if (sandbox_gone(&out->err))
		return TOOL_SANDBOX_GONE;
	return TOOL_FAILED;
}

/* ---------------------------------------------------------------------
 * run_command
 * --------------------------------------------------------------------- */

/*
 * command_start sends `bash -l -c command` with the call's tag, so a
 * resumed run can find the process.
 */
static HttpRequest *
command_start(ToolStep *s)
{
	HttpRequest *req = e2b_start_request(&s->target, tool_arg(s->call, "command"),
										 tool_arg(s->call, "cwd"), NULL, s->timeout_ms,
										 s->tag, false);

	exec_state_init(s->exec, (size_t) sandbox_max_output_bytes);
	req->stream_fn = exec_state_feed;
	req->stream_arg = s->exec;
	return req;
}

/*
 * command_finish reads a command's end: its exit code and output, or why
 * it has none.  A command that never started may be sent again; one whose
 * stream broke while it ran is followed by pid (never started twice).
 */
static ToolVerdict
command_finish(ToolStep *s, HttpRequest *req, ToolResult *out)
{
	ExecState  *st = s->exec;
	bool		ok = exec_state_finish(req, st, &out->err);

	if (!ok && out->err.kind != CALL_DEADLINE)
	{
		if (out->err.kind == CALL_NOT_FOUND && out->err.status == 502)
			return TOOL_SANDBOX_GONE;
		if (!st->got_start)
		{
			/* following a process already (Connect): follow it again */
			if (s->reconnects > 0 || s->reattached)
				return TOOL_REATTACH;
			/* envd answered 200: the process may have started; never twice */
			if (req->status == 200)
				return TOOL_FIND;
			return TOOL_FAILED; /* no answer, or an error status: not started */
		}
		if (!st->got_end && out->err.kind != CALL_NOT_FOUND && out->err.kind != CALL_AUTH)
			return TOOL_REATTACH;
		if (out->err.kind == CALL_NOT_FOUND && out->err.status == 502)
			return TOOL_SANDBOX_GONE;
		tool_failure_result(out, &out->err,
							s->reconnects > 0 ?
							psprintf("the command's output stream broke and it could not be followed again (%s); it may or may not have finished",
									 out->err.message ? out->err.message : call_error_kind_name(out->err.kind)) :
							NULL);
		return TOOL_ANSWERED;
	}
	if (!ok)
		appendStringInfo(&out->content, "error: the command was stopped after %d ms (time limit)\n",
						 s->timeout_ms);
	else
		appendStringInfo(&out->content, "exit_code: %d\n", st->exit_code);
	appendStringInfo(&out->content, "--- stdout ---\n%s\n--- stderr ---\n%s",
					 feed_cap(st->out.data, st->out.len, TOOL_FEED_BYTES),
					 feed_cap(st->err.data, st->err.len, TOOL_FEED_BYTES));
	if (st->truncated)
		appendStringInfo(&out->content, "\n[output truncated at %d bytes]", sandbox_max_output_bytes);
	if (s->reconnects > 0)
		appendStringInfoString(&out->content, "\n[the output stream broke and was resumed: some output may be missing]");
	if (s->reattached)
		appendStringInfoString(&out->content, "\n[the worker stopped while this command ran; the resumed run followed the same process, so output printed before that is missing]");
	if (ok)
		json_append_kv_int(&out->event, &out->event_first, "exit_code", st->exit_code);
	else
		json_append_kv_string(&out->event, &out->event_first, "error", "timed out");
	append_event_output(&out->event, &out->event_first, "stdout", st->out.data, st->out.len);
	append_event_output(&out->event, &out->event_first, "stderr", st->err.data, st->err.len);
	json_append_kv_raw(&out->event, &out->event_first, "truncated", st->truncated ? "true" : "false");
	if (s->reconnects > 0)
		json_append_kv_raw(&out->event, &out->event_first, "stream_resumed", "true");
	if (s->reattached)
		json_append_kv_raw(&out->event, &out->event_first, "reattached", "true");
	out->is_error = !ok || st->exit_code != 0;
	return TOOL_ANSWERED;
}

/* ---------------------------------------------------------------------
 * write_file, read_file
 * --------------------------------------------------------------------- */

/*
 * write_start uploads the whole content.
 */
static HttpRequest *
write_start(ToolStep *s)
{
	char	   *content = tool_arg(s->call, "content");

	return e2b_write_file_request(&s->target, tool_arg(s->call, "path"), content, strlen(content));
}

/*
 * write_finish says how much was written; a 404 means the sandbox is gone
 * (/files creates the parents).
 */
static ToolVerdict
write_finish(ToolStep *s, HttpRequest *req, ToolResult *out)
{
	size_t		n = strlen(tool_arg(s->call, "content"));

	if (call_error_from_http(req, SERVICE_ENVD, &out->err))
		return out->err.kind == CALL_NOT_FOUND ? TOOL_SANDBOX_GONE : TOOL_FAILED;
	appendStringInfo(&out->content, "wrote %zu bytes to %s", n, tool_arg(s->call, "path"));
	json_append_kv_int(&out->event, &out->event_first, "bytes", n);
	json_append_kv_string(&out->event, &out->event_first, "path", tool_arg(s->call, "path"));
	return TOOL_ANSWERED;
}

/*
 * read_start downloads the file.
 */
static HttpRequest *
read_start(ToolStep *s)
{
	return e2b_read_file_request(&s->target, tool_arg(s->call, "path"));
}

/*
 * read_finish gives the model the file (its head and tail when large).
 */
static ToolVerdict
read_finish(ToolStep *s, HttpRequest *req, ToolResult *out)
{
	if (call_error_from_http(req, SERVICE_ENVD, &out->err))
		return file_step_failed(out);
	appendStringInfoString(&out->content, feed_cap(http_data(req), http_data_len(req), READ_FEED_BYTES));
	json_append_kv_int(&out->event, &out->event_first, "bytes", http_data_len(req));
	json_append_kv_string(&out->event, &out->event_first, "path", tool_arg(s->call, "path"));
	return TOOL_ANSWERED;
}

/* ---------------------------------------------------------------------
 * list_files
 * --------------------------------------------------------------------- */

/*
 * list_start asks envd for a directory's entries (depth 1 by default).
 */
static HttpRequest *
list_start(ToolStep *s)
{
	StringInfoData b;
	bool		first = true;
	int64		depth = 1;

	if (s->call->input)
		(void) json_get_int64(&s->call->input->root, "depth", &depth);
	depth = Max(1, Min(depth, 10));
	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	json_append_kv_string(&b, &first, "path", tool_arg(s->call, "path"));
	json_append_kv_int(&b, &first, "depth", depth);
	appendStringInfoChar(&b, '}');
	return e2b_rpc_request(&s->target, "filesystem.Filesystem/ListDir", b.data);
}

/*
 * list_finish writes one line per entry: its type, size and path (at
 * most LIST_MAX_ENTRIES, and says how many were left out).
 */
static ToolVerdict
list_finish(ToolStep *s, HttpRequest *req, ToolResult *out)
{
	Jsonb	   *j;
	JsonbContainer *entries;
	int			n;

	if (!e2b_parse_rpc(req, &j, &out->err))
	{
		if (out->err.kind == CALL_NOT_FOUND && !sandbox_gone(&out->err))
		{
			tool_failure_result(out, &out->err,
								psprintf("no such directory: %s", tool_arg(s->call, "path")));
			return TOOL_ANSWERED;
		}
		return file_step_failed(out);
	}
	entries = json_get_array(json_root(j), "entries");
	n = jarr_length(entries);
	for (int i = 0; i < n && i < LIST_MAX_ENTRIES; i++)
	{
		JsonbContainer *e = json_value_container(jarr_get(entries, i));
		char	   *type = json_get_string(e, "type");
		char	   *path = json_get_string(e, "path");
		int64		size = 0;

		(void) json_get_int64(e, "size", &size);
		appendStringInfo(&out->content, "%s\t" INT64_FORMAT "\t%s\n",
						 type && strstr(type, "DIR") ? "dir" : "file", size, path ? path : "?");
	}
	if (n > LIST_MAX_ENTRIES)
		appendStringInfo(&out->content, "[%d more entries not shown]\n", n - LIST_MAX_ENTRIES);
	if (n == 0)
		appendStringInfoString(&out->content, "(empty directory)\n");
	json_append_kv_string(&out->event, &out->event_first, "path", tool_arg(s->call, "path"));
	json_append_kv_int(&out->event, &out->event_first, "entries", n);
	return TOOL_ANSWERED;
}

/* ---------------------------------------------------------------------
 * edit_file: read, replace one unique string, write back
 * --------------------------------------------------------------------- */

/*
 * edit_start reads the file (step 0), then writes the edited content
 * (step 1).
 */
static HttpRequest *
edit_start(ToolStep *s)
{
	if (s->step == 0)
		return e2b_read_file_request(&s->target, tool_arg(s->call, "path"));
	return e2b_write_file_request(&s->target, tool_arg(s->call, "path"), *s->scratch, *s->scratch_len);
}

/*
 * count_occurrences counts the non-overlapping occurrences of needle in
 * hay (binary-safe), and where the first is.
 */
static int
count_occurrences(const char *hay, size_t len, const char *needle, size_t nlen, size_t *first)
{
	int			count = 0;
	size_t		pos = 0;

	while (pos + nlen <= len)
	{
		const char *hit = memmem(hay + pos, len - pos, needle, nlen);

		if (hit == NULL)
			break;
		if (count++ == 0)
			*first = hit - hay;
		pos = (hit - hay) + nlen;
	}
	return count;
}

/*
 * edit_finish checks that old_string occurs exactly once and builds the
 * new content (step 0), or reports the write (step 1).
 */
static ToolVerdict
edit_finish(ToolStep *s, HttpRequest *req, ToolResult *out)
{
	char	   *path = tool_arg(s->call, "path");

	if (call_error_from_http(req, SERVICE_ENVD, &out->err))
	{
		if (s->step == 0 && out->err.kind == CALL_NOT_FOUND && !sandbox_gone(&out->err))
		{
			tool_failure_result(out, &out->err, psprintf("no such file: %s", path));
			return TOOL_ANSWERED;
		}
		return file_step_failed(out);
	}
	if (s->step == 0)
	{
		char	   *old = tool_arg(s->call, "old_string");
		char	   *new = tool_arg(s->call, "new_string");
		size_t		len = http_data_len(req);
		size_t		at = 0;
		int			n = count_occurrences(http_data(req), len, old, strlen(old), &at);
		StringInfoData b;

		if (n != 1)
		{
			tool_failure_result(out, NULL,
								n == 0 ? psprintf("old_string was not found in %s", path) :
								psprintf("old_string occurs %d times in %s; include more of the text around it so that it is unique", n, path));
			return TOOL_ANSWERED;
		}
		initStringInfo(&b);
		appendBinaryStringInfo(&b, http_data(req), (int) at);
		appendStringInfoString(&b, new);
		appendBinaryStringInfo(&b, http_data(req) + at + strlen(old), (int) (len - at - strlen(old)));
		*s->scratch = b.data;
		*s->scratch_len = b.len;
		return TOOL_NEXT_STEP;
	}
	appendStringInfo(&out->content, "replaced 1 occurrence in %s (%zu bytes now)", path, *s->scratch_len);
	json_append_kv_string(&out->event, &out->event_first, "path", path);
	json_append_kv_int(&out->event, &out->event_first, "bytes", (int64) *s->scratch_len);
	return TOOL_ANSWERED;
}

/* ---------------------------------------------------------------------
 * run_code
 * --------------------------------------------------------------------- */

/*
 * code_start sends Python code to the sandbox's code interpreter.
 */
static HttpRequest *
code_start(ToolStep *s)
{
	HttpRequest *req = e2b_execute_request(&s->target, tool_arg(s->call, "code"), "python", NULL,
										   s->timeout_ms);

	code_state_init(s->code, (size_t) sandbox_max_output_bytes);
	req->stream_fn = code_state_feed;
	req->stream_arg = s->code;
	return req;
}

/*
 * code_finish gives the model the execution (results, output, error).
 */
static ToolVerdict
code_finish(ToolStep *s, HttpRequest *req, ToolResult *out)
{
	CodeState  *st = s->code;

	if (!code_state_finish(req, st, &out->err))
	{
		if (out->err.kind == CALL_DEADLINE || out->err.kind == CALL_PROTOCOL)
		{
			tool_failure_result(out, &out->err, NULL);
			return TOOL_ANSWERED;
		}
		return TOOL_FAILED;
	}
	appendStringInfoString(&out->content, code_state_json(st));
	json_append_kv_raw(&out->event, &out->event_first, "execution", code_state_json(st));
	out->is_error = st->error_json != NULL;
	return TOOL_ANSWERED;
}

/* ---------------------------------------------------------------------
 * The declarations
 * --------------------------------------------------------------------- */

#define PATH_PROP "\"path\":{\"type\":\"string\",\"description\":\"Absolute path, or relative to /home/user.\"}"

static const ToolDef tool_defs[] = {
	{
		"run_command",
		"Run a shell command in the sandbox (a Linux machine) and get its exit code, stdout and stderr.",
		"{\"type\":\"object\",\"properties\":{"
		"\"command\":{\"type\":\"string\",\"description\":\"The shell command or script, run with bash -l -c.\"},"
		"\"cwd\":{\"type\":\"string\",\"description\":\"Working directory (default /home/user).\"},"
		"\"timeout_ms\":{\"type\":\"integer\",\"description\":\"Time limit in milliseconds.\"}},"
		"\"required\":[\"command\"]}",
		{"command", NULL}, {false},
		RESUME_FOLLOW, true, command_start, command_finish
	},
	{
		"write_file",
		"Write a text file in the sandbox, creating parent directories.",
		"{\"type\":\"object\",\"properties\":{" PATH_PROP ","
		"\"content\":{\"type\":\"string\",\"description\":\"The whole content of the file.\"}},"
		"\"required\":[\"path\",\"content\"]}",
		{"path", "content", NULL}, {false, true},
		RESUME_REPEAT, true, write_start, write_finish
	},
	{
		"read_file",
		"Read a text file from the sandbox.",
		"{\"type\":\"object\",\"properties\":{" PATH_PROP "},\"required\":[\"path\"]}",
		{"path", NULL}, {false},
		RESUME_REPEAT, true, read_start, read_finish
	},
	{
		"list_files",
		"List a directory of the sandbox: one line per entry with its type, size and path.",
		"{\"type\":\"object\",\"properties\":{" PATH_PROP ","
		"\"depth\":{\"type\":\"integer\",\"description\":\"How deep to go (1 to 10, default 1).\"}},"
		"\"required\":[\"path\"]}",
		{"path", NULL}, {false},
		RESUME_REPEAT, true, list_start, list_finish
	},
	{
		"edit_file",
		"Edit a file in the sandbox: replace old_string, which must occur exactly once, with new_string.",
		"{\"type\":\"object\",\"properties\":{" PATH_PROP ","
		"\"old_string\":{\"type\":\"string\",\"description\":\"The exact text to replace; it must be unique in the file.\"},"
		"\"new_string\":{\"type\":\"string\",\"description\":\"The text to put in its place.\"}},"
		"\"required\":[\"path\",\"old_string\",\"new_string\"]}",
		{"path", "old_string", "new_string"}, {false, false, true},
		RESUME_INTERRUPTED, true, edit_start, edit_finish
	},
	{
		"run_code",
		"Run Python code in the sandbox's persistent code interpreter.",
		"{\"type\":\"object\",\"properties\":{"
		"\"code\":{\"type\":\"string\",\"description\":\"Python code; the value of the last expression is returned. State persists between calls.\"}},"
		"\"required\":[\"code\"]}",
		{"code", NULL}, {false},
		RESUME_INTERRUPTED, true, code_start, code_finish
	},
};

/*
 * tool_lookup finds a tool by name, or NULL.
 */
const ToolDef *
tool_lookup(const char *name)
{
	if (name == NULL)
		return NULL;
	for (int i = 0; i < (int) lengthof(tool_defs); i++)
		if (strcmp(tool_defs[i].name, name) == 0)
			return &tool_defs[i];
	return NULL;
}

/*
 * tool_names_default lists every built-in tool: what a run gets when its
 * `tools` column is NULL.
 */
List *
tool_names_default(void)
{
	List	   *names = NIL;

	for (int i = 0; i < (int) lengthof(tool_defs); i++)
		names = lappend(names, (char *) tool_defs[i].name);
	return names;
}

/*
 * tool_declarations turns tool names into what the model is told of them.
 */
List *
tool_declarations(List *names)
{
	List	   *decls = NIL;
	ListCell   *lc;

	foreach(lc, names)
	{
		const ToolDef *def = tool_lookup(lfirst(lc));
		LlmToolDecl *d;

		if (def == NULL)
			continue;
		d = palloc(sizeof(LlmToolDecl));
		d->name = def->name;
		d->description = def->description;
		d->schema = def->schema;
		decls = lappend(decls, d);
	}
	return decls;
}

/*
 * tool_names_text joins tool names for a message: "a, b, c".
 */
char *
tool_names_text(List *names)
{
	StringInfoData all;
	ListCell   *lc;

	initStringInfo(&all);
	foreach(lc, names)
		appendStringInfo(&all, "%s%s", all.len ? ", " : "", (char *) lfirst(lc));
	return all.data;
}

/*
 * tool_check checks a call against its tool and the run's tools: NULL when
 * it may run, else what to tell the model.
 */
char *
tool_check(const ToolDef *def, LlmToolCall *tc, List *allowed)
{
	bool		listed = false;
	ListCell   *lc;

	foreach(lc, allowed)
		if (def && strcmp(lfirst(lc), def->name) == 0)
			listed = true;
	if (def == NULL || !listed)
		return psprintf("unknown tool \"%s\"; the tools are %s", tc->name, tool_names_text(allowed));
	if (tc->input == NULL)
		return psprintf("the arguments of %s are not a JSON object: %s", tc->name,
						tc->raw_arguments ?
						sandbox_truncate_for_message(tc->raw_arguments, strlen(tc->raw_arguments), 2000) :
						"(none)");
	for (int i = 0; i < 3 && def->required[i]; i++)
	{
		char	   *v = json_get_string(&tc->input->root, def->required[i]);

		if (v == NULL || (v[0] == '\0' && !def->empty_ok[i]))
			return psprintf("%s needs a string argument \"%s\"", tc->name, def->required[i]);
		if (strcmp(def->name, "run_command") == 0 && strlen(v) > E2B_MAX_COMMAND_BYTES)
			return psprintf("the command is %zu bytes, more than a command line may hold (%d); write it to a file with write_file and run that file",
							strlen(v), E2B_MAX_COMMAND_BYTES);
	}
	return NULL;
}
