/*-------------------------------------------------------------------------
 *
 * agent_internal.h
 *	  What the parts of the run state machine share.  agent.c (the machine)
 *	  uses agent_live.c (live output), agent_approval.c (a call that waits
 *	  for a person) and agent_sqlcall.c (a SQL tool's call); all four stage
 *	  their writes through agent_stage.c, which calls none of them.  Not for
 *	  the worker or anything else: they use agent.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_AGENT_INTERNAL_H
#define SANDBOX_AGENT_INTERNAL_H

#include "agent.h"
#include "sqltool.h"

/* agent_stage.c: staging a run's writes for the worker's next commit */
extern void agent_mark_dirty(Run *run);
extern void agent_stage_event(Run *run, const char *kind, const char *data);
extern void agent_stage_event_ex(Run *run, const char *kind, const char *data, bool counted);
extern void agent_stage_transition(Run *run, RunStatus to);
extern char *agent_stage_strdup(Run *run, const char *s);
extern void agent_add_tool_result(Run *run, LlmToolCall *tc, const char *content, bool is_error,
								  const char *event_json);
extern void agent_answer_error(Run *run, LlmToolCall *tc, const char *content, const char *error,
							   const char *flag);

/* agent_live.c */
extern void agent_live_attach(Run *run, RunOp *op, HttpRequest *req);
extern void agent_live_stage(Run *run, LlmToolCall *tc, bool final);
extern void agent_live_reset(Run *run);

/* agent_approval.c */
extern bool agent_needs_approval(Run *run, LlmToolCall *tc);
extern void agent_park(Run *run, LlmToolCall *tc);
extern void agent_answer_rejected(Run *run, LlmToolCall *tc);

/* agent_sqlcall.c */
extern const SqlTool *agent_sql_tool_named(List *tools, const char *name);

#endif							/* SANDBOX_AGENT_INTERNAL_H */
