/*-------------------------------------------------------------------------
 *
 * secrets.h
 *	  The secret store (`sandbox_secrets`, `sandbox_secret_grants`): who may
 *	  use a secret, its value for a sandbox's environment, and redaction of
 *	  values from text the extension stores or sends to the model.
 *
 * Every function here runs its SQL as the extension's owner under the
 * pinned search_path (registry_run_as_owner), needs an open transaction,
 * and never puts a value in a message.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_SECRETS_H
#define SANDBOX_SECRETS_H

#include "postgres.h"
#include "nodes/pg_list.h"

/* A secret's name (also its environment variable) and its value. */
typedef struct SecretValue
{
	char	   *name;
	char	   *value;
} SecretValue;

/* sandbox.e2b_api_key / sandbox.llm_api_key = 'secret:NAME' names a secret */
#define SECRETS_KEY_PREFIX "secret:"

/*
 * Whether every secret in names (a List of char *) may be used by role with
 * identity (a run's owner and owner_id; identity NULL = none): it exists,
 * and role has the privileges of its owner (and identity is the owner's),
 * or it is granted to a role whose privileges role has.  On false, *problem
 * is a sentence naming the first secret that is unknown, not usable, or
 * malformed (a NULL or empty name, a duplicate).  Raises no error of its own.
 */
extern bool secrets_usable_check(List *names, Oid role, const char *identity,
								 char **problem);

/*
 * The values of the secrets in names, as a List of SecretValue (in the order
 * of names) allocated in cxt, after the checks of secrets_usable_check; NIL
 * for names NIL.  On a problem returns NIL and sets *problem.
 */
extern List *secrets_load(List *names, Oid role, const char *identity,
						  MemoryContext cxt, char **problem);

/*
 * A copy of text with every occurrence of each value in secret_values (a
 * List of SecretValue), raw or JSON-escaped as it appears inside a JSON
 * string, replaced by "[secret:NAME]"; longest values first, so a value
 * containing another is replaced whole.  Returns text itself (not a copy)
 * when nothing matched, and NULL for NULL.  Encodings of a value (base64,
 * hex, URL-encoding, split across lines or chunks) are not caught.
 */
extern char *secrets_redact(const char *text, List *secret_values);

/*
 * The value of the secret that setting_value names as "secret:NAME", if a
 * superuser role owns it; NULL when setting_value is not of that form, the
 * secret does not exist or is owned by another role, the extension is not
 * installed, or no transaction is open.  Raises no error of its own.
 */
extern char *secrets_key_lookup(const char *setting_value);

/*
 * envs_json (a JSON object of strings, or NULL) with each secret of
 * secret_values added as a variable of its name: the environment of a
 * sandbox.  On a name that envs_json has too, returns NULL and sets *problem.
 */
extern char *secrets_env_json(const char *envs_json, List *secret_values,
							  char **problem);

/*
 * The values of the secrets in names (a text[] argument as a List of
 * char *) for the current role and identity: raises the error (unknown
 * secret, not granted) that secrets_load describes, with its errcode.
 */
extern List *secrets_load_for_caller(List *names);

/*
 * names (a List of char *) with name appended unless it is NULL or there
 * already: a run's secrets and its repository's.
 */
extern List *secrets_names_with(List *names, const char *name);

#endif							/* SANDBOX_SECRETS_H */
