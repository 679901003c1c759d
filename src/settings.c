/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The configuration variables (GUCs) of the sandbox extension, and the
 *	  resolution of secrets.
 *
 * Every setting lives under the "sandbox." prefix.  Settings that hold a
 * secret, or that decide where a secret is sent, are PGC_SUSET (or
 * PGC_SIGHUP) and GUC_SUPERUSER_ONLY: a non-superuser can neither read nor
 * change them, so it can neither see an API key nor redirect it to a
 * server of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "settings.h"

/* E2B */
char	   *sandbox_e2b_api_key = NULL;
char	   *sandbox_e2b_api_url = NULL;
char	   *sandbox_e2b_domain = NULL;
char	   *sandbox_e2b_sandbox_url = NULL;
char	   *sandbox_template = NULL;
int			sandbox_sandbox_timeout = 300;
int			sandbox_http_timeout = 30000;
int			sandbox_connect_timeout = 10000;
int			sandbox_command_timeout = 60000;
int			sandbox_max_output_bytes = 1024 * 1024;
int			sandbox_max_response_bytes = 64 * 1024 * 1024;
char	   *sandbox_identity_function = NULL;
char	   *sandbox_key_file = NULL;
int			sandbox_max_prompt_bytes = 1024 * 1024;
int			sandbox_max_llm_response_bytes = 8 * 1024 * 1024;
int			sandbox_event_output_bytes = 64 * 1024;
int			sandbox_max_run_event_bytes = 16 * 1024 * 1024;
int			sandbox_live_output_interval = 250;
int			sandbox_max_live_output_bytes = 4 * 1024 * 1024;
int			sandbox_sql_tool_timeout_ms = 5000;
int			sandbox_sql_tool_max_bytes = 1048576;

/* LLM */
int			sandbox_llm_provider = LLM_PROVIDER_ANTHROPIC;
char	   *sandbox_llm_api_url = NULL;
char	   *sandbox_llm_api_key = NULL;
char	   *sandbox_llm_model = NULL;
int			sandbox_llm_max_tokens = 4096;
int			sandbox_llm_timeout = 300000;

/* worker */
char	   *sandbox_database = NULL;
int			sandbox_workers = 1;
int			sandbox_max_concurrent_runs = 20;
int			sandbox_max_turns = 20;
int			sandbox_run_timeout = 1800;
int			sandbox_max_sandbox_lifetime = 3600;
int			sandbox_max_attempts = 3;
int			sandbox_max_runs_per_owner = 0;
int			sandbox_max_artifacts = 100;
int			sandbox_artifact_max_bytes = 1024 * 1024;
int			sandbox_artifacts_max_bytes = 10 * 1024 * 1024;
bool		sandbox_llm_prompt_caching = true;
bool		sandbox_pause_waiting_sandboxes = false;
int			sandbox_max_user_priority = 100;
int			sandbox_llm_requests_per_minute = 0;
int			sandbox_llm_input_tokens_per_minute = 0;
double		sandbox_e2b_creates_per_second = 0;
int			sandbox_e2b_max_sandboxes = 0;
int			sandbox_lease_time = 30;
int			sandbox_reaper_interval = 60;
int			sandbox_retention = 0;

static const struct config_enum_entry llm_provider_options[] = {
	{"anthropic", LLM_PROVIDER_ANTHROPIC, false},
	{"openai", LLM_PROVIDER_OPENAI, false},
	{NULL, 0, false}
};


/*
 * check_key_source refuses an API key stored where every role can read it:
 * ALTER ROLE / ALTER DATABASE ... SET (pg_db_role_setting is readable by
 * PUBLIC, and so is pg_roles.rolconfig) and a function's SET clause
 * (pg_proc.proconfig).  Those are validated with PGC_S_TEST and applied
 * with the database/user sources.
 */
static bool
check_key_source(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (source == PGC_S_TEST || source == PGC_S_DATABASE || source == PGC_S_USER ||
		source == PGC_S_DATABASE_USER)
	{
		GUC_check_errdetail("A key stored with ALTER ROLE, ALTER DATABASE or a function's SET clause is readable by every role.");
		GUC_check_errhint("Use sandbox.key_file, the server's environment, or postgresql.conf.");
		return false;
	}
	return true;
}

/*
 * check_identity_function accepts '' or a schema-qualified function name:
 * an unqualified one would be looked up through each caller's search_path.
 */
static bool
check_identity_function(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0')
		return true;
	if (strchr(v, '.') == NULL || strchr(v, '(') != NULL)
	{
		GUC_check_errdetail("It must be a function name with its schema and no parentheses, such as auth.uid.");
		return false;
	}
	return true;
}

/*
 * settings_define registers every GUC of the extension.  It runs in each
 * process that loads the library: the postmaster when preloaded, otherwise
 * the backend that first calls one of our functions.
 */
void
settings_define(void)
{
	const int	secret = GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE;

	DefineCustomStringVariable("sandbox.e2b_api_key",
							   "API key for E2B (falls back to the server's E2B_API_KEY environment variable).",
							   "Only superusers can read or change it; it is never logged.",
							   &sandbox_e2b_api_key, "", PGC_SUSET, secret,
							   check_key_source, NULL, NULL);
	DefineCustomStringVariable("sandbox.key_file",
							   "File of API keys (E2B_API_KEY=..., ANTHROPIC_API_KEY=..., OPENAI_API_KEY=... lines), readable only by the server's OS user.",
							   "Used when the key settings are empty; unlike them, its contents never reach the server log.",
							   &sandbox_key_file, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("sandbox.e2b_api_url",
							   "Base URL of the E2B control-plane API.",
							   NULL, &sandbox_e2b_api_url, "https://api.e2b.app",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("sandbox.e2b_domain",
							   "E2B domain used to reach sandboxes (https://<port>-<id>.<domain>).",
							   NULL, &sandbox_e2b_domain, "e2b.app",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("sandbox.e2b_sandbox_url",
							   "If set, base URL for all sandbox traffic (envd and code interpreter), routed by the E2b-Sandbox-Id and E2b-Sandbox-Port headers.",
							   "Like E2B_SANDBOX_URL in the E2B SDKs; this is how a local sandboxd is reached.",
							   &sandbox_e2b_sandbox_url, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("sandbox.template",
							   "Default E2B template for new sandboxes.",
							   NULL, &sandbox_template, "base",
							   PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.sandbox_timeout",
							"Default lifetime of a new sandbox; E2B kills it when it passes.",
							NULL, &sandbox_sandbox_timeout, 300, 1, 86400,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.http_timeout",
							"Total time allowed for one unary HTTP call to E2B.",
							NULL, &sandbox_http_timeout, 30000, 100, 3600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.connect_timeout",
							"Time allowed to establish a connection (TCP and TLS).",
							NULL, &sandbox_connect_timeout, 10000, 100, 600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.command_timeout",
							"Default limit on a command's run time in a sandbox (0 = none).",
							"envd kills the command when it passes.",
							&sandbox_command_timeout, 60000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_output_bytes",
							"Most bytes of stdout (and, separately, of stderr) kept from one command; the rest is dropped and truncated is set.",
							NULL, &sandbox_max_output_bytes, 1024 * 1024, 1024, 256 * 1024 * 1024,
							PGC_USERSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_response_bytes",
							"Largest response body accepted from E2B (file reads, listings).",
							NULL, &sandbox_max_response_bytes, 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024,
							PGC_USERSET, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomStringVariable("sandbox.identity_function",
							   "Function (schema.name, no arguments) giving the current user's identity beside its role, such as auth.uid on Supabase.",
							   "Sandboxes and runs record it in owner_id, and only the same role with the same identity may use them.",
							   &sandbox_identity_function, "",
							   PGC_SUSET, 0, check_identity_function, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_prompt_bytes",
							"Largest prompt an agent run may have; a larger INSERT is refused.",
							NULL, &sandbox_max_prompt_bytes, 1024 * 1024, 1024, 256 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_llm_response_bytes",
							"Largest answer accepted from the model; a larger one fails the call.",
							NULL, &sandbox_max_llm_response_bytes, 8 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.event_output_bytes",
							"Most bytes of a tool's stdout (and, separately, stderr) kept in its tool_result event; the event says how much was cut.",
							NULL, &sandbox_event_output_bytes, 64 * 1024, 1024, 256 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_run_event_bytes",
							"Most bytes of event data one run attempt writes; past it, events keep only their kind and say what was cut.",
							NULL, &sandbox_max_run_event_bytes, 16 * 1024 * 1024, 64 * 1024, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.live_output_interval",
							"Least time between two tool_output events of a run (a running command's output as it comes).",
							NULL, &sandbox_live_output_interval, 250, 50, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_live_output_bytes",
							"Most bytes of live output (tool_output events) one run attempt writes; past it, events count what was dropped. 0 turns live output off.",
							NULL, &sandbox_max_live_output_bytes, 4 * 1024 * 1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomBoolVariable("sandbox.pause_waiting_sandboxes",
							 "Pause the sandbox of a run that waits for an approval (resumed when the run goes on), instead of keeping it running for the wait.",
							 NULL, &sandbox_pause_waiting_sandboxes, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.sql_tool_timeout",
							"Longest time one call of a SQL tool may take.",
							"A call that takes longer is canceled and the model is told so.",
							&sandbox_sql_tool_timeout_ms, 5000, 1, 3600000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.sql_tool_max_bytes",
							"Most bytes of rows (as JSON) one call of a SQL tool returns to the model.",
							"Rows beyond it are counted, not returned: the result says truncated.",
							&sandbox_sql_tool_max_bytes, 1048576, 1024, 64 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomEnumVariable("sandbox.llm_provider",
							 "LLM API spoken by the agent: anthropic (Messages) or openai (chat completions, any compatible server).",
							 NULL, &sandbox_llm_provider, LLM_PROVIDER_ANTHROPIC,
							 llm_provider_options, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("sandbox.llm_api_url",
							   "Base URL of the LLM API (default https://api.anthropic.com or https://api.openai.com/v1).",
							   NULL, &sandbox_llm_api_url, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("sandbox.llm_api_key",
							   "API key for the LLM provider (falls back to ANTHROPIC_API_KEY or OPENAI_API_KEY).",
							   "Only superusers can read or change it; it is never logged.",
							   &sandbox_llm_api_key, "", PGC_SIGHUP, secret,
							   check_key_source, NULL, NULL);
	DefineCustomStringVariable("sandbox.llm_model",
							   "Default model for agent runs.",
							   NULL, &sandbox_llm_model, "claude-sonnet-4-20250514",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.llm_max_tokens",
							"max_tokens sent with each LLM call.",
							NULL, &sandbox_llm_max_tokens, 4096, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.llm_timeout",
							"Time allowed for one LLM call.",
							NULL, &sandbox_llm_timeout, 300000, 1000, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	/* postmaster settings can only be defined while preloading */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomStringVariable("sandbox.database",
								   "Database the agent-run workers serve.",
								   NULL, &sandbox_database, "postgres",
								   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
		DefineCustomIntVariable("sandbox.workers",
								"Number of agent-run background workers (0 disables them).",
								NULL, &sandbox_workers, 1, 0, SANDBOX_MAX_WORKERS,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		/* several databases: variables and their parsing in launcher.c */
		DefineCustomStringVariable("sandbox.databases",
								   "Databases the agent-run workers serve: a comma-separated list, or * for every database that allows connections.",
								   "Empty: sandbox.database alone.  Otherwise a launcher starts sandbox.workers workers for each.",
								   &sandbox_databases, "",
								   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
		DefineCustomIntVariable("sandbox.launcher_interval",
								"How often the launcher looks for new databases, and again at databases without the extension.",
								NULL, &sandbox_launcher_interval, 10, 1, 3600,
								PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	}
	DefineCustomIntVariable("sandbox.max_concurrent_runs",
							"Most agent runs one worker drives at once (E2B's free tier allows 20 sandboxes).",
							NULL, &sandbox_max_concurrent_runs, 20, 1, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_turns",
							"Default limit on model turns in one agent run.",
							NULL, &sandbox_max_turns, 20, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.run_timeout",
							"Default deadline of one agent run.",
							NULL, &sandbox_run_timeout, 1800, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_sandbox_lifetime",
							"Longest E2B timeout the worker asks for a run's sandbox; longer runs extend it as they go.",
							"E2B's plans cap a sandbox's timeout (one hour on the smallest, 24 hours on Pro).",
							&sandbox_max_sandbox_lifetime, 3600, 10, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_attempts",
							"Attempts before a run whose worker died is marked failed.",
							NULL, &sandbox_max_attempts, 3, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.lease_time",
							"How long a claimed run's lease lasts; the worker renews it while the run is in flight.",
							NULL, &sandbox_lease_time, 30, 2, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.reaper_interval",
							"How often the worker lists live sandboxes and kills those no live run owns (0 disables).",
							NULL, &sandbox_reaper_interval, 60, 0, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomBoolVariable("sandbox.llm_prompt_caching",
							 "Ask Anthropic models to cache the system prompt, the tools and each run's conversation so far.",
							 "Each turn then reads the previous turn's prefix from the cache, at a tenth of the input price.",
							 &sandbox_llm_prompt_caching, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_artifacts",
							"Most files one run's artifacts globs collect; the rest are counted, not kept.",
							NULL, &sandbox_max_artifacts, 100, 0, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.artifact_max_bytes",
							"Largest file kept as an artifact; a larger one gets a row saying so, without content.",
							NULL, &sandbox_artifact_max_bytes, 1024 * 1024, 0, 256 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.artifacts_max_bytes",
							"Most bytes of artifacts one run keeps; files beyond get rows saying so, without content.",
							NULL, &sandbox_artifacts_max_bytes, 10 * 1024 * 1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_runs_per_owner",
							"Most runs one owner (role and identity) may have in flight at once; 0 = no limit.",
							"Claims also take turns across owners, so one owner's backlog never holds up another's runs.",
							&sandbox_max_runs_per_owner, 0, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.max_user_priority",
							"Non-superusers may give runs a priority from minus this to this.",
							NULL, &sandbox_max_user_priority, 100, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.llm_requests_per_minute",
							"Model requests per minute, across all workers of the cluster; 0 = no limit.",
							"Lowered for a while after the provider answers 429 or reports its own limits.",
							&sandbox_llm_requests_per_minute, 0, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.llm_input_tokens_per_minute",
							"Model input tokens per minute (estimated before a call, counted after), across all workers; 0 = no limit.",
							NULL, &sandbox_llm_input_tokens_per_minute, 0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("sandbox.e2b_creates_per_second",
							 "Sandbox creations per second, across all workers; 0 = no limit (E2B: 1 on Hobby, 5 on Pro).",
							 NULL, &sandbox_e2b_creates_per_second, 0, 0, 10000,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.e2b_max_sandboxes",
							"Runs' sandboxes alive at once, across all workers; 0 = no limit (E2B: 20 on Hobby, 100 on Pro).",
							NULL, &sandbox_e2b_max_sandboxes, 0, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sandbox.retention",
							"Finished runs and their events older than this are pruned (0 keeps them forever).",
							NULL, &sandbox_retention, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	MarkGUCPrefixReserved("sandbox");
}

/*
 * key_from_file returns the value of NAME=value in sandbox.key_file, or
 * NULL.  The file is read again when it changes (size or time), and
 * ignored, with a warning, when others than its owner may read it: the
 * point of the file is a key that no log and no other account ever sees.
 * Lines are NAME=value; blank lines and lines starting with # are skipped.
 */
static const char *
key_from_file(const char *name)
{
	static char *cached_path = NULL;
	static char *cached_text = NULL;
	static struct stat cached_st;
	static char value[1024];
	struct stat st;
	size_t		nlen = strlen(name);

	if (sandbox_key_file == NULL || sandbox_key_file[0] == '\0')
		return NULL;
	if (stat(sandbox_key_file, &st) != 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not read sandbox.key_file \"%s\": %m", sandbox_key_file)));
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("sandbox.key_file \"%s\" is ignored: others than its owner may read it", sandbox_key_file),
				 errhint("chmod 600 the file.")));
		return NULL;
	}
	if (cached_text == NULL || cached_path == NULL || strcmp(cached_path, sandbox_key_file) != 0 ||
		st.st_size != cached_st.st_size || st.st_mtime != cached_st.st_mtime ||
		st.st_ino != cached_st.st_ino)
	{
		FILE	   *f = AllocateFile(sandbox_key_file, "r");
		StringInfoData buf;
		char		chunk[1024];
		size_t		n;

		if (f == NULL)
		{
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not open sandbox.key_file \"%s\": %m", sandbox_key_file)));
			return NULL;
		}
		initStringInfo(&buf);
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && buf.len < 65536)
			appendBinaryStringInfo(&buf, chunk, n);
		FreeFile(f);
		if (cached_text)
		{
			memset(cached_text, 0, strlen(cached_text));
			pfree(cached_text);
		}
		if (cached_path)
			pfree(cached_path);
		cached_text = MemoryContextStrdup(TopMemoryContext, buf.data);
		cached_path = MemoryContextStrdup(TopMemoryContext, sandbox_key_file);
		memset(buf.data, 0, buf.len);
		pfree(buf.data);
		cached_st = st;
	}
	for (const char *line = cached_text; line && *line;)
	{
		const char *end = strchr(line, '\n');
		size_t		len = end ? (size_t) (end - line) : strlen(line);

		while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
			len--;
		if (len > nlen + 1 && strncmp(line, name, nlen) == 0 && line[nlen] == '=' &&
			len - nlen - 1 < sizeof(value))
		{
			memcpy(value, line + nlen + 1, len - nlen - 1);
			value[len - nlen - 1] = '\0';
			return value;
		}
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

/* keys from the secret store: the setting's text and the value it named */
static char *stored_from[SETTINGS_KEY_NUM];
static char *stored_value[SETTINGS_KEY_NUM];

/*
 * stored_key returns the value the secret store gave for a setting of the
 * form 'secret:NAME', while the setting still says so; NULL before it was
 * looked up (settings_store_key) or once the setting changed.
 */
static TimestampTz stored_at[SETTINGS_KEY_NUM];

SettingsKeyResolver settings_key_resolver = NULL;

static const char *
stored_key(SettingsKey which, const char *setting)
{
	/* in a transaction, look it up (again after a minute: it may change) */
	if (settings_key_resolver && IsTransactionState() &&
		(stored_from[which] == NULL || strcmp(stored_from[which], setting) != 0 ||
		 stored_value[which] == NULL ||
		 GetCurrentTimestamp() - stored_at[which] > 60 * USECS_PER_SEC))
		settings_store_key(which, setting, settings_key_resolver(setting));
	if (stored_from[which] && strcmp(stored_from[which], setting) == 0)
		return stored_value[which];
	return NULL;
}

/*
 * settings_refresh_keys looks up, in the caller's transaction, the key
 * settings that name secrets: the worker builds its requests outside
 * transactions, so it calls this in each database pass.
 */
void
settings_refresh_keys(void)
{
	if (sandbox_e2b_api_key && strncmp(sandbox_e2b_api_key, SETTINGS_SECRET_PREFIX,
										strlen(SETTINGS_SECRET_PREFIX)) == 0)
		(void) stored_key(SETTINGS_KEY_E2B, sandbox_e2b_api_key);
	if (sandbox_llm_api_key && strncmp(sandbox_llm_api_key, SETTINGS_SECRET_PREFIX,
									   strlen(SETTINGS_SECRET_PREFIX)) == 0)
		(void) stored_key(SETTINGS_KEY_LLM, sandbox_llm_api_key);
}

/*
 * settings_store_key keeps the value a secret gave for a key setting, in
 * memory only (never logged), until the setting changes.
 */
void
settings_store_key(SettingsKey which, const char *setting, const char *value)
{
	if (stored_value[which])
	{
		memset(stored_value[which], 0, strlen(stored_value[which]));
		pfree(stored_value[which]);
	}
	if (stored_from[which])
		pfree(stored_from[which]);
	stored_from[which] = MemoryContextStrdup(TopMemoryContext, setting);
	stored_value[which] = value ? MemoryContextStrdup(TopMemoryContext, value) : NULL;
	stored_at[which] = GetCurrentTimestamp();
}

/*
 * sandbox_e2b_key returns the E2B API key: the setting, else the key file,
 * else the server's environment, else NULL.  The result must never be
 * copied into a message.
 */
const char *
sandbox_e2b_key(void)
{
	const char *k;

	if (sandbox_e2b_api_key && strncmp(sandbox_e2b_api_key, SETTINGS_SECRET_PREFIX,
										strlen(SETTINGS_SECRET_PREFIX)) == 0)
		return stored_key(SETTINGS_KEY_E2B, sandbox_e2b_api_key);
	if (sandbox_e2b_api_key && sandbox_e2b_api_key[0])
		return sandbox_e2b_api_key;
	if ((k = key_from_file("E2B_API_KEY")) != NULL)
		return k;
	return getenv("E2B_API_KEY");
}

/*
 * sandbox_llm_key returns the LLM API key for the configured provider: the
 * setting, else the key file, else the provider's usual environment
 * variable, else NULL.
 */
const char *
sandbox_llm_key(void)
{
	const char *var = sandbox_llm_provider == LLM_PROVIDER_ANTHROPIC ?
		"ANTHROPIC_API_KEY" : "OPENAI_API_KEY";
	const char *k;

	if (sandbox_llm_api_key && strncmp(sandbox_llm_api_key, SETTINGS_SECRET_PREFIX,
									   strlen(SETTINGS_SECRET_PREFIX)) == 0)
		return stored_key(SETTINGS_KEY_LLM, sandbox_llm_api_key);
	if (sandbox_llm_api_key && sandbox_llm_api_key[0])
		return sandbox_llm_api_key;
	if ((k = key_from_file(var)) != NULL)
		return k;
	return getenv(var);
}

/*
 * sandbox_llm_url returns the LLM base URL: the setting, else the
 * provider's usual environment variable, else its public endpoint.
 * For Anthropic the base has no /v1; for OpenAI it includes it, as the
 * official SDKs do.
 */
const char *
sandbox_llm_url(void)
{
	const char *env;

	if (sandbox_llm_api_url && sandbox_llm_api_url[0])
		return sandbox_llm_api_url;
	if (sandbox_llm_provider == LLM_PROVIDER_ANTHROPIC)
	{
		env = getenv("ANTHROPIC_BASE_URL");
		return env && env[0] ? env : "https://api.anthropic.com";
	}
	env = getenv("OPENAI_BASE_URL");
	return env && env[0] ? env : "https://api.openai.com/v1";
}
