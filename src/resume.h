/*-------------------------------------------------------------------------
 *
 * resume.h
 *	  Rebuilding a run's conversation from its events, for a new attempt
 *	  that resumes where the last one stopped.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_RESUME_H
#define SANDBOX_RESUME_H

#include "agent.h"

extern RunHistory *resume_copy_history(const RunHistory *h);
extern void resume_forget_log(RunHistory *h);
extern bool resume_rebuild(Run *run, const char *first_message, LlmToolCall **maybe_started,
						   char **problem);

#endif							/* SANDBOX_RESUME_H */
