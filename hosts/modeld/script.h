/*
 * script.h - the deterministic "model".
 *
 * Planning call (no tools): "Plan:\n1. ...\n" with one step per bash or
 * python block of the first user message and a final "Report the output".
 *
 * Execution call (tools declared): the first user message's blocks become a
 * list of planned tool calls (bash -> run_command; python -> write_file of
 * /home/user/program_<k>.py, then run_command "python3 <that file>"; k counts
 * python blocks from 1; ```tool NAME -> NAME with the block's JSON object as
 * its input).  With p tool results already in the conversation,
 * the answer is planned call p+1 (or, with `parallel`, all remaining ones),
 * else the final answer "Done. The last tool returned:\n<last result>".
 * Directives then adjust the answer (loop, empty, max_tokens,
 * bad_tool_args), then hostile_* and huge (see hostile.h) shape it.
 * With echo_system, a text answer ends with "System prompt:\n<system>".
 *
 * A continued conversation (U, the last user message with text, is not the
 * first user message): an execution call's blocks are U's, and p counts the
 * tool results after U only; `recall` makes the final answer list the tool
 * results before U and the number of messages.  The planning call always
 * plans the first user message.
 */
#ifndef MODELD_SCRIPT_H
#define MODELD_SCRIPT_H

#include "chat.h"

/* Fills `r` (zeroed by the caller) with the answer to `c` under `d`,
 * including ids and usage.  Returns 0 or -1 when out of memory. */
int script_answer(const chat_t *c, const directives_t *d, reply_t *r);

/* Checks the prompt's tool blocks (a tool name; input a JSON object).
 * Returns 0, or -1 with a client-facing message naming the block in err
 * (answered as 400). */
int script_check(const chat_t *c, char *err, size_t errsz);

#endif
