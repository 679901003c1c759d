/*-------------------------------------------------------------------------
 *
 * tools.h
 *	  The agent's tools, each declared in one place (tools.c): its name, its
 *	  JSON Schema, its argument checks, how each of its steps starts (an
 *	  HTTP request to the sandbox) and how its answer is read, and what a
 *	  resumed run does with a call whose outcome is unknown.  agent.c drives
 *	  the steps (retries, reattaching, a lost sandbox) without knowing any
 *	  tool; adding one is a change to tools.c alone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_TOOLS_H
#define SANDBOX_TOOLS_H

#include "pgcompat.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "e2b.h"
#include "llm.h"

/* What a resumed run does with a call that may have started. */
typedef enum ToolResume
{
	RESUME_REPEAT,				/* idempotent: do it again */
	RESUME_FOLLOW,				/* a command: follow its process by tag, or interrupted */
	RESUME_INTERRUPTED			/* at most once: report it interrupted */
} ToolResume;

/* What a finished step asks the agent to do. */
typedef enum ToolVerdict
{
	TOOL_ANSWERED,				/* the result is in the ToolResult */
	TOOL_FAILED,				/* out->err: retried if transient, else the answer */
	TOOL_REATTACH,				/* a command's stream broke after it started */
	TOOL_NEXT_STEP,				/* go on with the next step */
	TOOL_FIND,					/* it may have started: look for its process */
	TOOL_SANDBOX_GONE			/* the sandbox is not there any more */
} ToolVerdict;

/* One call in progress, as a tool's functions see it. */
typedef struct ToolStep
{
	LlmToolCall *call;
	E2BTarget	target;
	int			timeout_ms;
	int			step;			/* 0, 1, ... */
	const char *tag;			/* the envd tag of a command's process */
	ExecState  *exec;			/* a command's stream */
	CodeState  *code;			/* code's stream */
	char	  **scratch;		/* what a step leaves for the next one */
	size_t	   *scratch_len;
	int			reconnects;		/* times the stream was followed again */
	bool		reattached;		/* followed after a worker restart */
} ToolStep;

/* A step's outcome: what the model is sent and the event's fields. */
typedef struct ToolResult
{
	StringInfoData content;
	StringInfoData event;		/* "k": v pairs, without braces */
	bool		event_first;
	bool		is_error;
	CallError	err;
} ToolResult;

typedef struct ToolDef
{
	const char *name;
	const char *description;
	const char *schema;			/* JSON Schema of its input */
	const char *required[3];	/* string arguments it needs (NULL-ended) */
	bool		empty_ok[3];	/* ... that may be empty */
	ToolResume	resume;
	bool		retry_safe;		/* a failed step may be sent again */
	HttpRequest *(*start) (ToolStep *s);
	ToolVerdict (*finish) (ToolStep *s, HttpRequest *req, ToolResult *out);
} ToolDef;

extern const ToolDef *tool_lookup(const char *name);
extern List *tool_names_default(void);
extern char *tool_names_text(List *names);
extern List *tool_declarations(List *names);
extern char *tool_check(const ToolDef *def, LlmToolCall *tc, List *allowed);
extern char *tool_arg(LlmToolCall *tc, const char *name);
extern void tool_result_init(ToolResult *out);
extern void tool_failure_result(ToolResult *out, CallError *err, const char *message);

#endif							/* SANDBOX_TOOLS_H */
