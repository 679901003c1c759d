/*-------------------------------------------------------------------------
 *
 * e2b.h
 *	  The E2B protocol: the control-plane REST API, envd's Connect RPC and
 *	  /files endpoints, and the code interpreter's NDJSON.
 *
 * Each call is split into a builder that returns an HttpRequest and a
 * parser that reads the finished request into a struct or a CallError.
 * The synchronous SQL functions run the request in the backend; the worker
 * runs the same requests on its multi handle.  Parsers never throw on a
 * bad answer: they fill a CallError.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_E2B_H
#define SANDBOX_E2B_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "call_error.h"
#include "http.h"
#include "live.h"

#define ENVD_PORT 49983
#define INTERPRETER_PORT 49999

/* A sandbox as the control plane describes it. */
typedef struct E2BSandbox
{
	char	   *sandbox_id;
	char	   *template_id;
	char	   *alias;
	char	   *envd_version;
	char	   *access_token;	/* secret: never shown */
	char	   *domain;
} E2BSandbox;

/* What POST /sandboxes may carry beside template, timeout, metadata, envs. */
typedef struct E2BCreateOptions
{
	bool		auto_pause;		/* on timeout, pause instead of kill */
	bool		auto_resume;	/* traffic resumes a paused sandbox */
	int			allow_internet; /* -1: not sent, 0: false, 1: true */
	const char *network_json;	/* a JSON object passed through, or NULL */
} E2BCreateOptions;

/* A process as process.Process/List describes it. */
typedef struct E2BProcess
{
	int64		pid;
	char	   *tag;			/* or NULL */
	char	   *cmd;
	List	   *args;			/* of char * */
	char	   *cwd;			/* or NULL */
} E2BProcess;

/* Where to reach a running sandbox. */
typedef struct E2BTarget
{
	const char *sandbox_id;
	const char *access_token;
	const char *domain;
} E2BTarget;

/* A process's progress, fed from the Start (or Connect) stream. */
typedef struct ExecState
{
	size_t		max_bytes;
	StringInfoData out;
	StringInfoData err;
	bool		truncated;
	int64		pid;
	bool		got_start;
	bool		got_end;
	bool		got_eos;
	bool		bad_frame;
	char	   *protocol_error;
	int			exit_code;
	bool		exited;
	char	   *end_status;
	char	   *end_error;
	char	   *eos_code;
	char	   *eos_message;
	LiveSink   *live;			/* also hand the output here as it comes, or NULL */
} ExecState;

/* A code-interpreter execution, fed from the /execute NDJSON stream. */
typedef struct CodeState
{
	size_t		max_bytes;
	StringInfoData results;		/* JSON array elements, comma-separated */
	int			nresults;
	StringInfoData out;
	StringInfoData err;
	bool		truncated;
	char	   *main_text;
	char	   *error_json;		/* {"name","value","traceback"} or NULL */
	int64		execution_count;
	bool		got_end;
	char	   *protocol_error;
	LiveSink   *live;			/* also hand the output here as it comes, or NULL */
} CodeState;

/* control plane */
extern HttpRequest *e2b_api_request(const char *method, const char *path);
extern HttpRequest *e2b_create_request(const char *template_id, int timeout_s,
									   const char *metadata_json, const char *envs_json);
extern HttpRequest *e2b_create_request_ex(const char *template_id, int timeout_s,
										  const char *metadata_json, const char *envs_json,
										  const E2BCreateOptions *opts);
extern bool e2b_parse_sandbox(HttpRequest *req, E2BSandbox *out, CallError *err);
extern HttpRequest *e2b_kill_request(const char *sandbox_id);
extern HttpRequest *e2b_timeout_request(const char *sandbox_id, int timeout_s);
extern HttpRequest *e2b_info_request(const char *sandbox_id);
extern HttpRequest *e2b_list_request(const char *metadata_query, const char *next_token, int limit,
									 const char *states);
extern HttpRequest *e2b_pause_request(const char *sandbox_id);
extern bool e2b_parse_pause(HttpRequest *req, bool *paused_now, CallError *err);
extern HttpRequest *e2b_resume_request(const char *sandbox_id, int timeout_s);
extern bool e2b_parse_resume(HttpRequest *req, E2BSandbox *out, bool *resumed, CallError *err);
extern HttpRequest *e2b_metrics_request(const char *sandbox_id, int64 start_unix);

/* envd */
extern HttpRequest *e2b_envd_request(const E2BTarget *t, int port, const char *method,
									 const char *path, const char *content_type);
extern HttpRequest *e2b_rpc_request(const E2BTarget *t, const char *rpc, const char *json);
extern bool e2b_parse_rpc(HttpRequest *req, Jsonb **out, CallError *err);
/*
 * A command runs as one argument of /bin/bash -l -c; Linux refuses a single
 * argument longer than MAX_ARG_STRLEN (32 pages) with E2BIG.
 */
#define E2B_MAX_COMMAND_BYTES (128 * 1024 - 1)

extern HttpRequest *e2b_start_request(const E2BTarget *t, const char *cmd, const char *cwd,
									  const char *envs_json, int timeout_ms,
									  const char *tag, bool with_stdin);
extern HttpRequest *e2b_signal_request(const E2BTarget *t, int64 pid, const char *signal);
extern HttpRequest *e2b_connect_request(const E2BTarget *t, int64 pid, int timeout_ms);
extern HttpRequest *e2b_process_list_request(const E2BTarget *t);
extern bool e2b_parse_process_list(HttpRequest *req, List **out, CallError *err);
extern HttpRequest *e2b_send_input_request(const E2BTarget *t, int64 pid,
										   const char *data, size_t len);
extern HttpRequest *e2b_close_stdin_request(const E2BTarget *t, int64 pid);
extern void exec_state_resume(ExecState *st);
extern void exec_state_init(ExecState *st, size_t max_bytes);
extern void exec_state_feed(HttpRequest *req, void *arg);
extern bool exec_state_finish(HttpRequest *req, ExecState *st, CallError *err);
extern HttpRequest *e2b_read_file_request(const E2BTarget *t, const char *path);
extern HttpRequest *e2b_write_file_request(const E2BTarget *t, const char *path,
										   const char *data, size_t len);

/* code interpreter */
extern HttpRequest *e2b_execute_request(const E2BTarget *t, const char *code,
										const char *language, const char *context_id,
										int timeout_ms);
extern void code_state_init(CodeState *st, size_t max_bytes);
extern void code_state_feed(HttpRequest *req, void *arg);
extern bool code_state_finish(HttpRequest *req, CodeState *st, CallError *err);
extern char *code_state_json(CodeState *st);

extern bool e2b_valid_sandbox_id(const char *id);

#endif							/* SANDBOX_E2B_H */
