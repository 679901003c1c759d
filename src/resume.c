/*-------------------------------------------------------------------------
 *
 * resume.c
 *	  Rebuilding a run's conversation from its durable log, so that a new
 *	  attempt (after a killed worker, a crash, a SIGTERM release) continues
 *	  where the last one stopped instead of starting again.
 *
 * The log is the run's own events, each committed before the step that
 * follows it starts (agent.h's first rule):
 *	- llm_response (purpose "execute"): the model's turn, with "message",
 *	  the assistant message exactly as it was appended to the conversation;
 *	- tool_call: each call of that turn (id, name, input);
 *	- tool_result: each answer, with "content" and "is_error" as the model
 *	  was sent them;
 *	- sandbox_lost: the sandbox vanished; its "note" went to the model with
 *	  the next tool results;
 *	- approval: a person decided on the call the run waited on; "resumed"
 *	  after it says an attempt went on from there (so the call may have
 *	  started), none says it surely did not;
 *	- user_message: not an event but where a thread's next run begins
 *	  (queue.c adds it): that run's prompt is the user's next turn.
 * The first user message is not logged: it is made from the prompt and the
 * recorded plan, as on the first attempt.
 *
 * What the rebuild cannot know is whether the first unanswered call of the
 * last turn had started: agent.c decides per tool (a command is followed by
 * its tag, code is reported interrupted, file calls are repeated).  Later
 * calls of that turn never started: tools run one at a time, each after the
 * previous answer was committed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "json_util.h"
#include "resume.h"

/* the calls of one model turn and the answers found so far */
typedef struct TurnState
{
	List	   *calls;			/* LlmToolCall * */
	List	   *results;		/* LlmToolResult *, NULL until answered (same order) */
} TurnState;

/*
 * copy_cstr copies a string or NULL.
 */
static char *
copy_cstr(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

/*
 * resume_copy_history deep-copies a run's history into the current memory
 * context (the claim's copy lives only for one pass of the worker's loop).
 */
RunHistory *
resume_copy_history(const RunHistory *h)
{
	RunHistory *c = palloc0(sizeof(RunHistory));
	ListCell   *lc;

	*c = *h;
	c->plan_text = copy_cstr(h->plan_text);
	c->sandbox_id = copy_cstr(h->sandbox_id);
	c->access_token = copy_cstr(h->access_token);
	c->domain = copy_cstr(h->domain);
	c->envd_version = copy_cstr(h->envd_version);
	c->thread_prompt = copy_cstr(h->thread_prompt);
	c->log = NIL;
	foreach(lc, h->log)
	{
		RunLogEntry *e = lfirst(lc);
		RunLogEntry *n = palloc0(sizeof(RunLogEntry));

		n->seq = e->seq;
		n->kind = pstrdup(e->kind);
		if (e->data)
		{
			n->data = palloc(VARSIZE(e->data));
			memcpy(n->data, e->data, VARSIZE(e->data));
		}
		c->log = lappend(c->log, n);
	}
	return c;
}

/*
 * resume_forget_log frees the events read back once the conversation is
 * rebuilt (the rebuilt state holds copies), so a resumed run holds its
 * log's size only while it starts.
 */
void
resume_forget_log(RunHistory *h)
{
	ListCell   *lc;

	foreach(lc, h->log)
	{
		RunLogEntry *e = lfirst(lc);

		if (e->data)
			pfree(e->data);
		pfree(e->kind);
		pfree(e);
	}
	list_free(h->log);
	h->log = NIL;
}

/*
 * flush_turn appends the answers of a completed turn to the conversation
 * (with the note of a lost sandbox, if one is pending).  Returns false when
 * a call of the turn has no recorded answer.
 */
static bool
flush_turn(LlmConversation *conv, TurnState *t, char **note)
{
	List	   *results = NIL;
	ListCell   *lc;

	if (t->calls == NIL)
		return true;
	foreach(lc, t->results)
	{
		if (lfirst(lc) == NULL)
			return false;
		results = lappend(results, lfirst(lc));
	}
	llm_add_tool_results(conv, results, *note);
	*note = NULL;
	t->calls = NIL;
	t->results = NIL;
	return true;
}

/*
 * resume_rebuild rebuilds run->conv from run->history's log: the first
 * user message, then every turn with its answers.  The last turn's answers
 * are left in run->tool_results and its unanswered calls in
 * run->tool_queue (the first of them in *maybe_started: it may have begun
 * before the worker stopped); the model's turns and calls are counted.
 * Returns false, with *problem saying why, when the log cannot give the
 * conversation back (cut at sandbox.max_run_event_bytes, or written by a
 * version that logged less).
 */
bool
resume_rebuild(Run *run, const char *first_message, LlmToolCall **maybe_started,
			   char **problem)
{
	TurnState	turn = {NIL, NIL};
	char	   *note = NULL;
	ListCell   *lc;
	bool		user_last = false;

	*maybe_started = NULL;
	*problem = NULL;
	llm_add_user_text(&run->conv, first_message);
	foreach(lc, run->history->log)
	{
		RunLogEntry *e = lfirst(lc);
		JsonbContainer *d = e->data ? &e->data->root : NULL;
		JsonbValue *cut = d ? json_get(d, "cut") : NULL;

		if (d == NULL || !json_is_object(d))
			continue;
		if (cut && cut->type == jbvBool && cut->val.boolean)
		{
			*problem = psprintf("its event %d (%s) was cut at sandbox.max_run_event_bytes, so its conversation cannot be rebuilt",
								e->seq, e->kind);
			return false;
		}
		if (strcmp(e->kind, "llm_response") == 0)
		{
			char	   *purpose = json_get_string(d, "purpose");
			JsonbValue *msg = json_get(d, "message");
			LlmAnswer	a;

			if (purpose == NULL || strcmp(purpose, "execute") != 0)
				continue;
			if (msg == NULL || msg->type != jbvBinary)
			{
				*problem = psprintf("its event %d (the model's turn) does not hold the message (written by an older version)", e->seq);
				return false;
			}
			if (!flush_turn(&run->conv, &turn, &note))
			{
				*problem = psprintf("a tool call before event %d has no recorded result", e->seq);
				return false;
			}
			memset(&a, 0, sizeof(a));
			a.assistant_json = JsonbToCString(NULL, msg->val.binary.data, msg->val.binary.len);
			llm_add_assistant(&run->conv, &a);
			run->turns++;
			user_last = false;
		}
		else if (strcmp(e->kind, "tool_call") == 0)
		{
			LlmToolCall *tc = palloc0(sizeof(LlmToolCall));
			JsonbValue *input = json_get(d, "input");

			tc->id = json_get_string(d, "id");
			tc->name = json_get_string(d, "name");
			if (tc->id == NULL || tc->name == NULL)
			{
				*problem = psprintf("its event %d (a tool call) has no id or name", e->seq);
				return false;
			}
			if (input && input->type == jbvBinary && json_is_object(input->val.binary.data))
			{
				tc->input = JsonbValueToJsonb(input);
				tc->raw_arguments = JsonbToCString(NULL, &tc->input->root, 64);
			}
			else
				tc->raw_arguments = json_get_string(d, "raw_arguments");
			turn.calls = lappend(turn.calls, tc);
			turn.results = lappend(turn.results, NULL);
			run->tool_calls++;
		}
		else if (strcmp(e->kind, "tool_result") == 0)
		{
			char	   *id = json_get_string(d, "id");
			char	   *content = json_get_string(d, "content");
			JsonbValue *is_error = json_get(d, "is_error");
			ListCell   *c;
			ListCell   *r;

			if (id == NULL || content == NULL)
			{
				*problem = psprintf("its event %d (a tool result) does not hold what the model was sent (written by an older version)", e->seq);
				return false;
			}
			forboth(c, turn.calls, r, turn.results)
			{
				LlmToolCall *tc = lfirst(c);

				if (strcmp(tc->id, id) == 0 && lfirst(r) == NULL)
				{
					LlmToolResult *res = palloc0(sizeof(LlmToolResult));

					res->tool_call_id = pstrdup(id);
					res->content = content;
					res->is_error = is_error && is_error->type == jbvBool && is_error->val.boolean;
					lfirst(r) = res;
					break;
				}
			}
		}
		else if (strcmp(e->kind, "repo_cloned") == 0)
		{
			/* the commit a repository run's diff is taken against */
			run->repo_start = json_get_string(d, "commit");
		}
		else if (strcmp(e->kind, "sandbox_lost") == 0)
		{
			char	   *n = json_get_string(d, "note");

			if (n)
				note = n;
		}
		else if (strcmp(e->kind, "approval") == 0)
		{
			JsonbValue *v;

			run->decided_call = json_get_string(d, "call_id");
			v = json_get(d, "approved");
			run->decided_approved = v && v->type == jbvBool && v->val.boolean;
			v = json_get(d, "timed_out");
			run->decided_timed_out = v && v->type == jbvBool && v->val.boolean;
			run->decided_note = json_get_string(d, "note");
			run->decided_fresh = true;
		}
		else if (strcmp(e->kind, "resumed") == 0)
			run->decided_fresh = false;
		else if (strcmp(e->kind, "user_message") == 0)
		{
			char	   *text = json_get_string(d, "text");
			ListCell   *c;
			ListCell   *r;

			/* the earlier run's calls it never answered (a final_result call) */
			forboth(c, turn.calls, r, turn.results)
			{
				if (lfirst(r) == NULL)
				{
					LlmToolResult *res = palloc0(sizeof(LlmToolResult));

					res->tool_call_id = pstrdup(((LlmToolCall *) lfirst(c))->id);
					res->content = "(the run ended before this call was answered)";
					lfirst(r) = res;
				}
			}
			(void) flush_turn(&run->conv, &turn, &note);
			llm_add_user_text(&run->conv, text ? text : "");
			/* this run's own turns and calls count from here */
			run->turns = 0;
			run->tool_calls = 0;
			run->decided_call = NULL;
			user_last = true;
		}
	}

	/* a thread's next run that has not asked the model yet */
	if (user_last)
	{
		run->tool_results = NIL;
		run->tool_queue = NIL;
		run->awaiting_model = true;
		run->lost_note = note;
		return true;
	}

	/* the last turn: answered calls, then the rest in order */
	{
		ListCell   *c;
		ListCell   *r;

		run->tool_results = NIL;
		run->tool_queue = NIL;
		forboth(c, turn.calls, r, turn.results)
		{
			if (lfirst(r) != NULL && run->tool_queue == NIL)
				run->tool_results = lappend(run->tool_results, lfirst(r));
			else if (lfirst(r) == NULL)
				run->tool_queue = lappend(run->tool_queue, lfirst(c));
			else
			{
				/* answered after an unanswered one: not how tools run */
				*problem = "its tool results are out of order";
				return false;
			}
		}
		if (run->tool_queue != NIL)
			*maybe_started = linitial(run->tool_queue);
		else if (turn.calls == NIL && run->turns > 0)
		{
			*problem = "its last model turn asked for no tool, yet the run did not finish";
			return false;
		}
	}
	run->lost_note = note;
	return true;
}
