/*-------------------------------------------------------------------------
 *
 * workspace.h
 *	  A run's workspace: what goes into its sandbox before the first model
 *	  turn (files, a git repository on a new branch) and what comes out
 *	  after the last (the repository's diff, a commit pushed, artifacts).
 *
 * workspace.c only builds the steps (files to write, commands to run, the
 * files to read back) and reads their output; agent.c runs them, one at a
 * time, like tool calls.  Inputs are checked at INSERT (workspace_check_*)
 * so that a mistake is an error there, not a run failing later.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_WORKSPACE_H
#define SANDBOX_WORKSPACE_H

#include "pgcompat.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#define WORKSPACE_HOME "/home/user"
#define WORKSPACE_REPO "/home/user/repo"

typedef enum WsStepKind
{
	WS_WRITE,					/* write data to path */
	WS_COMMAND,					/* run command (envs_json: its environment) */
	WS_READ						/* read path back (an artifact) */
} WsStepKind;

typedef enum WsPurpose
{
	WSP_FILE,					/* an input file */
	WSP_CLONE,					/* clone the repository */
	WSP_DIFF,					/* the repository's diff */
	WSP_PUSH,					/* commit and push */
	WSP_LIST,					/* find the artifacts */
	WSP_ARTIFACT				/* read one artifact */
} WsPurpose;

typedef struct WsStep
{
	WsStepKind	kind;
	WsPurpose	purpose;
	char	   *path;
	char	   *name;			/* WS_READ: the artifact's path, as listed
								 * (relative to /home/user) */
	char	   *data;
	size_t		len;
	char	   *command;
	char	   *envs_json;		/* JSON object of strings, or NULL */
	int64		size;			/* WS_READ: the size the listing gave */
} WsStep;

/* The repository a run works on (agent_runs.repo). */
typedef struct WsRepo
{
	char	   *url;
	char	   *ref;			/* or NULL */
	char	   *branch;
	int			depth;			/* 0 = full */
	char	   *secret;			/* a secret's name: the password, or NULL */
	bool		push;
} WsRepo;

/* One collected artifact, to be written. */
typedef struct WsArtifact
{
	char	   *path;
	char	   *kind;			/* file, diff */
	char	   *content;		/* NULL when cut */
	size_t		len;
	int64		size;
	char	   *cut;			/* why it is missing or partial, or NULL */
} WsArtifact;

extern char *workspace_check_files(Jsonb *files);
extern char *workspace_check_repo(Jsonb *repo);
extern char *workspace_check_globs(List *globs);
extern bool workspace_parse_repo(const char *json, const char *run_id, WsRepo *out);
extern List *workspace_input_steps(const char *files_json, const WsRepo *repo);
extern List *workspace_output_steps(const WsRepo *repo, const char *start_commit,
									const char *commit_message, List *globs);
extern char *workspace_clone_commit(const char *stdout_text);
extern List *workspace_listed_files(const char *stdout_text, int64 *left_out);
extern char *workspace_strip_credentials(const char *url);

#endif							/* SANDBOX_WORKSPACE_H */
