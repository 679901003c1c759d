/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  The configuration variables (GUCs) of the sandbox extension and the
 *	  resolution of the API keys and URLs they name.
 *
 * This is the bottom layer: every other file may read a setting through
 * it, and it calls nothing of the extension.  settings.c defines them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_SETTINGS_H
#define SANDBOX_SETTINGS_H

#include "pgcompat.h"

/* most agent-run workers a cluster may run (sandbox.workers) */
#define SANDBOX_MAX_WORKERS 16

/* E2B connection settings (module.c) */
extern char *sandbox_e2b_api_key;
extern char *sandbox_e2b_api_url;
extern char *sandbox_e2b_domain;
extern char *sandbox_e2b_sandbox_url;
extern char *sandbox_template;
extern int	sandbox_sandbox_timeout;	/* seconds */
extern int	sandbox_http_timeout;	/* milliseconds, unary calls */
extern int	sandbox_connect_timeout;	/* milliseconds */
extern int	sandbox_command_timeout;	/* milliseconds, default per command */
extern int	sandbox_max_output_bytes;
extern int	sandbox_max_response_bytes;
extern char *sandbox_identity_function;
extern char *sandbox_key_file;
extern int	sandbox_max_prompt_bytes;
extern int	sandbox_max_llm_response_bytes;
extern int	sandbox_event_output_bytes;
extern int	sandbox_max_run_event_bytes;
extern int	sandbox_live_output_interval;
extern int	sandbox_max_live_output_bytes;
extern int	sandbox_sql_tool_timeout_ms;
extern int	sandbox_sql_tool_max_bytes;

/* LLM settings (module.c) */
extern int	sandbox_llm_provider;
extern char *sandbox_llm_api_url;
extern char *sandbox_llm_api_key;
extern char *sandbox_llm_model;
extern int	sandbox_llm_max_tokens;
extern int	sandbox_llm_timeout;	/* milliseconds per LLM call */

/* worker settings (module.c) */
extern char *sandbox_database;
extern char *sandbox_databases; /* launcher.c: '' = sandbox_database alone */
extern int	sandbox_launcher_interval;	/* seconds */
extern int	sandbox_workers;
extern int	sandbox_max_concurrent_runs;
extern int	sandbox_max_turns;
extern int	sandbox_run_timeout;	/* seconds */
extern int	sandbox_max_sandbox_lifetime;	/* seconds */
extern int	sandbox_max_attempts;
extern int	sandbox_max_runs_per_owner;
extern int	sandbox_max_artifacts;
extern int	sandbox_artifact_max_bytes;
extern int	sandbox_artifacts_max_bytes;
extern bool sandbox_llm_prompt_caching;
extern bool sandbox_pause_waiting_sandboxes;
extern int	sandbox_max_user_priority;
extern int	sandbox_llm_requests_per_minute;
extern int	sandbox_llm_input_tokens_per_minute;
extern double sandbox_e2b_creates_per_second;
extern int	sandbox_e2b_max_sandboxes;
extern int	sandbox_lease_time;		/* seconds */
extern int	sandbox_reaper_interval;	/* seconds */
extern int	sandbox_retention;		/* seconds, 0 = keep forever */

typedef enum LlmProvider
{
	LLM_PROVIDER_ANTHROPIC,
	LLM_PROVIDER_OPENAI
} LlmProvider;

/* A key setting may name a secret of the store: 'secret:NAME'. */
#define SETTINGS_SECRET_PREFIX "secret:"

typedef enum SettingsKey
{
	SETTINGS_KEY_E2B,
	SETTINGS_KEY_LLM,
	SETTINGS_KEY_NUM
} SettingsKey;

extern void settings_define(void);
extern void settings_store_key(SettingsKey which, const char *setting, const char *value);
extern void settings_refresh_keys(void);

/*
 * Looks up the value a key setting names ('secret:NAME'), in a
 * transaction; set at load by module.c (the secret store lives above the
 * settings, which call nothing of the extension themselves).
 */
typedef char *(*SettingsKeyResolver) (const char *setting);
extern SettingsKeyResolver settings_key_resolver;
extern const char *sandbox_e2b_key(void);
extern const char *sandbox_llm_key(void);
extern const char *sandbox_llm_url(void);

#endif							/* SANDBOX_SETTINGS_H */
