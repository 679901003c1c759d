/*-------------------------------------------------------------------------
 *
 * sql_common.h
 *	  Helpers shared by the SQL-callable functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_SQL_COMMON_H
#define SANDBOX_SQL_COMMON_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/jsonb.h"

#include "e2b.h"

#define METADATA_PREFIX "pgsandbox_"

extern char *string_map_to_json(Jsonb *j, const char *argname, bool reject_reserved);
extern char *arg_text_or_null(FunctionCallInfo fcinfo, int n);
extern char *arg_text_required(FunctionCallInfo fcinfo, int n, const char *argname);
extern bool sandbox_gone(const CallError *err);
extern void raise_sandbox_call_error(const CallError *err, const char *action,
									 const char *sandbox_id) pg_attribute_noreturn();
extern void perform_or_raise(HttpRequest *req, const char *action, const char *sandbox_id,
							 CallService service);
extern void best_effort(HttpRequest *req);
extern void kill_sandbox_quietly(const char *sandbox_id);
extern char *sandbox_metadata_json(Jsonb *user_metadata, const char *run_id);
extern int	check_timeout_s(int timeout_s, const char *argname);
extern void check_command_length(const char *command);
extern Datum parse_rfc3339(const char *s, bool *isnull);
extern Datum text_array_datum(List *strings);
extern List *text_array_list(Datum d, bool keep_nulls);
extern void notify_run_events(const char *run_id, int seq);

#endif							/* SANDBOX_SQL_COMMON_H */
