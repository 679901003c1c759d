/* sandbox--1.1.sql: E2B sandboxes and agent runs from PostgreSQL */

\echo Use "CREATE EXTENSION sandbox" to load this file. \quit

-- Every reference below is schema-qualified with @extschema@ or pg_catalog,
-- operators included (OPERATOR(pg_catalog.=)), so a caller's search_path can
-- never redirect the extension's own SQL: an operator a user created for an
-- exact type would otherwise beat pg_catalog's polymorphic one, even in the
-- index predicates, constraints and policies bound when this script runs.

------------------------------------------------------------------------------
-- Sandboxes created through this database
------------------------------------------------------------------------------

-- 'paused' came in 1.1, last, as ALTER TYPE ... ADD VALUE appends it in an upgrade
CREATE TYPE @extschema@.sandbox_state AS ENUM ('running', 'killed', 'expired', 'lost', 'paused');

CREATE TABLE @extschema@.sandboxes (
    sandbox_id   text PRIMARY KEY,
    owner        pg_catalog.regrole NOT NULL,
    run_id       uuid,
    template     text NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}',
    state        @extschema@.sandbox_state NOT NULL DEFAULT 'running',
    domain       text,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    killed_at    timestamptz,
    -- the owner's identity beside its role (sandbox.identity_function), or NULL
    owner_id     text,
    -- added in 1.1 after owner_id (an upgrade appends them here too): what
    -- E2B does at the timeout, whether traffic resumes it, when it paused
    on_timeout   text NOT NULL DEFAULT 'kill'
        CONSTRAINT sandboxes_on_timeout_valid
        CHECK (on_timeout OPERATOR(pg_catalog.=) ANY ('{kill,pause}'::text[])),
    auto_resume  boolean NOT NULL DEFAULT false,
    paused_at    timestamptz
);
COMMENT ON TABLE @extschema@.sandboxes IS
  'Every sandbox the extension created, with its owner role; written before any command runs in it.';
CREATE INDEX sandboxes_owner_running ON @extschema@.sandboxes (owner)
    WHERE state OPERATOR(pg_catalog.=) 'running'::@extschema@.sandbox_state;
CREATE INDEX sandboxes_run ON @extschema@.sandboxes (run_id) WHERE run_id IS NOT NULL;

-- Access tokens of sandboxes: readable by no one but the extension's owner.
CREATE TABLE @extschema@.sandbox_access (
    sandbox_id   text PRIMARY KEY REFERENCES @extschema@.sandboxes ON DELETE CASCADE,
    access_token text,
    envd_version text
);
REVOKE ALL ON @extschema@.sandbox_access FROM PUBLIC;

-- sandbox_identity() is the caller's identity (sandbox.identity_function),
-- which the row-level policies compare with owner_id.
CREATE FUNCTION @extschema@.sandbox_identity()
RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_identity' LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.sandbox_identity() IS
  'The current user''s identity beside its role (sandbox.identity_function), or NULL';
-- Every role may learn its own identity, and must: the row-level policies
-- call this function as the role that reads the tables.
GRANT EXECUTE ON FUNCTION @extschema@.sandbox_identity() TO PUBLIC;

ALTER TABLE @extschema@.sandboxes ENABLE ROW LEVEL SECURITY;
CREATE POLICY sandboxes_owner_read ON @extschema@.sandboxes FOR SELECT
  USING (pg_catalog.pg_has_role(owner, 'USAGE')
         AND COALESCE(owner_id, ''::text) OPERATOR(pg_catalog.=)
             COALESCE((SELECT @extschema@.sandbox_identity()), ''::text));
REVOKE ALL ON @extschema@.sandboxes FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.sandboxes', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sandbox_access', '');

------------------------------------------------------------------------------
-- Synchronous sandbox functions
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.sandbox_create(
    template       text    DEFAULT NULL,
    timeout_s      int     DEFAULT NULL,
    metadata       jsonb   DEFAULT '{}',
    envs           jsonb   DEFAULT '{}',
    on_timeout     text    DEFAULT 'kill',
    auto_resume    boolean DEFAULT false,
    allow_internet boolean DEFAULT NULL,
    network        jsonb   DEFAULT NULL,
    secrets        text[]  DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_create' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_create(text, int, jsonb, jsonb, text, boolean, boolean, jsonb, text[]) IS
  'Create an E2B sandbox owned by the current role and return its id';

CREATE FUNCTION @extschema@.sandbox_exec(
    sandbox_id text,
    command    text,
    cwd        text  DEFAULT NULL,
    envs       jsonb DEFAULT NULL,
    timeout_ms int   DEFAULT NULL,
    OUT stdout text, OUT stderr text, OUT exit_code int, OUT truncated boolean,
    OUT duration_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'sandbox_exec_in' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_exec(text, text, text, jsonb, int) IS
  'Run a shell command (bash -l -c) in a sandbox and wait for it';

CREATE FUNCTION @extschema@.sandbox_exec(
    command    text,
    envs       jsonb DEFAULT NULL,
    timeout_ms int   DEFAULT NULL,
    cwd        text  DEFAULT NULL,
    template   text  DEFAULT NULL,
    OUT stdout text, OUT stderr text, OUT exit_code int, OUT truncated boolean,
    OUT duration_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'sandbox_exec_once' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_exec(text, jsonb, int, text, text) IS
  'Create a sandbox, run one shell command in it, and kill it (always)';

CREATE FUNCTION @extschema@.sandbox_run_code(
    sandbox_id text,
    code       text,
    language   text DEFAULT 'python',
    context_id text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sandbox_run_code' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_run_code(text, text, text, text) IS
  'Run code in the sandbox''s code interpreter: {results, stdout, stderr, error, text}';

CREATE FUNCTION @extschema@.sandbox_write_file(sandbox_id text, path text, content bytea)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sandbox_write_file' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.sandbox_write_file(sandbox_id text, path text, content text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sandbox_write_file' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_write_file(text, text, bytea) IS
  'Write a file in a sandbox (parents created, existing file replaced); returns bytes written';

CREATE FUNCTION @extschema@.sandbox_read_file(sandbox_id text, path text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'sandbox_read_file' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.sandbox_read_file_text(sandbox_id text, path text)
RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_read_file_text' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_list_files(
    sandbox_id text, path text DEFAULT '/home/user', depth int DEFAULT 1,
    OUT name text, OUT path text, OUT type text, OUT size bigint, OUT mode int,
    OUT modified timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandbox_list_files' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_remove_file(sandbox_id text, path text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_remove_file' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_make_dir(sandbox_id text, path text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_make_dir' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_kill(sandbox_id text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_kill' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_set_timeout(sandbox_id text, timeout_s int)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_set_timeout' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_info(sandbox_id text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sandbox_info' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_list(
    metadata jsonb DEFAULT NULL, all_databases boolean DEFAULT false,
    OUT sandbox_id text, OUT template_id text, OUT alias text, OUT state text,
    OUT started_at timestamptz, OUT end_at timestamptz, OUT metadata jsonb,
    OUT owner pg_catalog.regrole)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandbox_list' LANGUAGE C VOLATILE;

-- Nothing is callable by PUBLIC: an administrator grants it (see
-- sandbox_grant_usage below and docs/sql-reference.md).
REVOKE EXECUTE ON FUNCTION
    @extschema@.sandbox_create(text, int, jsonb, jsonb, text, boolean, boolean, jsonb, text[]),
    @extschema@.sandbox_exec(text, text, text, jsonb, int),
    @extschema@.sandbox_exec(text, jsonb, int, text, text),
    @extschema@.sandbox_run_code(text, text, text, text),
    @extschema@.sandbox_write_file(text, text, bytea),
    @extschema@.sandbox_write_file(text, text, text),
    @extschema@.sandbox_read_file(text, text),
    @extschema@.sandbox_read_file_text(text, text),
    @extschema@.sandbox_list_files(text, text, int),
    @extschema@.sandbox_remove_file(text, text),
    @extschema@.sandbox_make_dir(text, text),
    @extschema@.sandbox_kill(text),
    @extschema@.sandbox_set_timeout(text, int),
    @extschema@.sandbox_info(text),
    @extschema@.sandbox_list(jsonb, boolean)
FROM PUBLIC;

------------------------------------------------------------------------------
-- Lifecycle beyond create and kill: pause, resume, adopt, hosts, metrics
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.sandbox_pause(sandbox_id text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_pause' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_pause(text) IS
  'Pause a sandbox (files and memory kept); true if paused now, false if it was paused already';

CREATE FUNCTION @extschema@.sandbox_resume(sandbox_id text, timeout_s int DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_resume' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_resume(text, int) IS
  'Resume a paused sandbox for timeout_s seconds; true if it was paused, false if it was running';

CREATE FUNCTION @extschema@.sandbox_connect(sandbox_id text, timeout_s int DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_connect' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_connect(text, int) IS
  'Record a sandbox created elsewhere as the current role''s (resuming it if paused); false if already recorded and running';

CREATE FUNCTION @extschema@.sandbox_host(sandbox_id text, port int)
RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_host' LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.sandbox_host(text, int) IS
  'The host E2B serves a port of the sandbox on: <port>-<id>.<domain>';

CREATE FUNCTION @extschema@.sandbox_metrics(
    sandbox_id text, since timestamptz DEFAULT NULL,
    OUT at timestamptz, OUT cpu_count int, OUT cpu_used_pct double precision,
    OUT mem_used bigint, OUT mem_total bigint, OUT disk_used bigint, OUT disk_total bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandbox_metrics' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_metrics(text, timestamptz) IS
  'CPU, memory and disk use of a sandbox as E2B samples them, oldest first';

------------------------------------------------------------------------------
-- Background processes
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.sandbox_spawn(
    sandbox_id text,
    command    text,
    cwd        text    DEFAULT NULL,
    envs       jsonb   DEFAULT NULL,
    tag        text    DEFAULT NULL,
    stdin      boolean DEFAULT false,
    timeout_ms int     DEFAULT 0)
RETURNS int
AS 'MODULE_PATHNAME', 'sandbox_spawn' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_spawn(text, text, text, jsonb, text, boolean, int) IS
  'Start a shell command (bash -l -c) in the background and return its pid';

CREATE FUNCTION @extschema@.sandbox_processes(
    sandbox_id text,
    OUT pid int, OUT command text, OUT args text[], OUT cwd text, OUT tag text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandbox_processes' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_processes(text) IS
  'The processes running in a sandbox: pid, command, arguments, directory and tag';

CREATE FUNCTION @extschema@.sandbox_signal(sandbox_id text, pid int, signal text DEFAULT 'SIGKILL')
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_signal' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_signal(text, int, text) IS
  'Send SIGKILL or SIGTERM to a process of a sandbox; false if there is no such process';

CREATE FUNCTION @extschema@.sandbox_send_stdin(sandbox_id text, pid int, data text)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_send_stdin' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.sandbox_send_stdin(sandbox_id text, pid int, data bytea)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_send_stdin' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_send_stdin(text, int, text) IS
  'Write to the stdin of a process started by sandbox_spawn(..., stdin => true)';

CREATE FUNCTION @extschema@.sandbox_close_stdin(sandbox_id text, pid int)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_close_stdin' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_close_stdin(text, int) IS
  'Close the stdin of a process (end of file)';

CREATE FUNCTION @extschema@.sandbox_wait(
    sandbox_id text, pid int, timeout_ms int DEFAULT NULL,
    OUT stdout text, OUT stderr text, OUT exit_code int, OUT running boolean,
    OUT truncated boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'sandbox_wait' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_wait(text, int, int) IS
  'Attach to a process and wait for its end (or timeout_ms): what it prints meanwhile, exit code, whether it still runs';

REVOKE EXECUTE ON FUNCTION
    @extschema@.sandbox_pause(text),
    @extschema@.sandbox_resume(text, int),
    @extschema@.sandbox_connect(text, int),
    @extschema@.sandbox_host(text, int),
    @extschema@.sandbox_metrics(text, timestamptz),
    @extschema@.sandbox_spawn(text, text, text, jsonb, text, boolean, int),
    @extschema@.sandbox_processes(text),
    @extschema@.sandbox_signal(text, int, text),
    @extschema@.sandbox_send_stdin(text, int, text),
    @extschema@.sandbox_send_stdin(text, int, bytea),
    @extschema@.sandbox_close_stdin(text, int),
    @extschema@.sandbox_wait(text, int, int)
FROM PUBLIC;

------------------------------------------------------------------------------
-- Agent runs: INSERT is the enqueue, the row is the status
------------------------------------------------------------------------------

CREATE TYPE @extschema@.agent_run_status AS ENUM
    ('pending', 'planning', 'executing', 'waiting', 'completed', 'failed', 'cancelled');

CREATE TABLE @extschema@.agent_runs (
    id            uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    prompt        text NOT NULL,
    status        @extschema@.agent_run_status NOT NULL DEFAULT 'pending',
    plan          jsonb,
    plan_version  int NOT NULL DEFAULT 0,
    result        jsonb,
    error         text,
    sandbox_id    text,
    -- per-run overrides (NULL = the sandbox.* setting)
    model         text,
    template      text,
    max_turns     int,
    timeout_s     int,
    priority      int NOT NULL DEFAULT 0,
    run_after     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    metadata      jsonb NOT NULL DEFAULT '{}',
    -- queue bookkeeping, written by the worker
    attempts      int NOT NULL DEFAULT 0,
    lease_until   timestamptz,
    deadline_at   timestamptz,
    worker_pid    int,
    last_seq      int NOT NULL DEFAULT 0,
    owner         pg_catalog.regrole NOT NULL DEFAULT (current_user)::pg_catalog.regrole,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at    timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    completed_at  timestamptz,
    -- usage
    llm_calls     int NOT NULL DEFAULT 0,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    -- added in 1.1 (an upgrade appends them here too)
    owner_id      text,
    -- what a rescued run does when its sandbox is gone: a fresh one, or fail
    on_sandbox_lost text NOT NULL DEFAULT 'restart'
        CONSTRAINT agent_runs_on_sandbox_lost_valid
        CHECK (on_sandbox_lost OPERATOR(pg_catalog.=) ANY ('{restart,fail}'::text[])),
    -- per-run instructions: added to the agent's system prompt, the tools the
    -- model gets (NULL = every built-in), environment variables of the sandbox
    system_prompt text,
    tools         text[],
    envs          jsonb,
    -- the workspace in and the outputs out (issue 11): secrets injected as
    -- environment variables, files and a git repository set up before the
    -- first turn, artifacts collected after the last, the final answer's JSON
    -- Schema, how long the sandbox outlives the run, spending caps
    secrets       text[],
    files         jsonb,
    repo          jsonb,
    artifacts     text[],
    result_schema jsonb,
    keep_sandbox  interval
        CONSTRAINT agent_runs_keep_sandbox_range
        CHECK (keep_sandbox IS NULL OR
               (keep_sandbox OPERATOR(pg_catalog.>=) '00:00:00'::interval
                AND keep_sandbox OPERATOR(pg_catalog.<=) '24:00:00'::interval)),
    max_cost_usd  numeric
        CONSTRAINT agent_runs_max_cost_positive
        CHECK (max_cost_usd IS NULL OR
               (max_cost_usd OPERATOR(pg_catalog.>) 0::numeric
                AND max_cost_usd OPERATOR(pg_catalog.<) 'Infinity'::numeric)),
    max_tokens    bigint
        CONSTRAINT agent_runs_max_tokens_positive
        CHECK (max_tokens IS NULL OR max_tokens OPERATOR(pg_catalog.>) 0::bigint),
    -- usage beyond input and output tokens, and what it cost (sandbox_model_prices)
    cost_usd      numeric NOT NULL DEFAULT 0,
    cache_read_tokens  bigint NOT NULL DEFAULT 0,
    cache_write_tokens bigint NOT NULL DEFAULT 0,
    -- the commit a repo run pushed
    commit_id     text,
    -- interactive runs (issue 12): which tool calls wait for a person and
    -- for how long, the call a waiting run waits on, how often it waited,
    -- and the run it continues (parent) in the thread it belongs to (no
    -- foreign key: a dump's data must load in any order, and a pruned
    -- parent leaves its continuation's history intact)
    approval      text[] NOT NULL DEFAULT '{never}',
    approval_timeout interval NOT NULL DEFAULT '01:00:00'
        CONSTRAINT agent_runs_approval_timeout_range
        CHECK (approval_timeout OPERATOR(pg_catalog.>=) '00:00:01'::interval
               AND approval_timeout OPERATOR(pg_catalog.<=) '24:00:00'::interval),
    approval_call text,
    approval_deadline timestamptz,
    waits         int NOT NULL DEFAULT 0,
    parent_id     uuid,
    thread_id     uuid,
    CONSTRAINT agent_runs_prompt_not_empty CHECK (pg_catalog.btrim(prompt) OPERATOR(pg_catalog.<>) ''::text),
    CONSTRAINT agent_runs_max_turns_positive CHECK (max_turns IS NULL OR
        (max_turns OPERATOR(pg_catalog.>=) 1 AND max_turns OPERATOR(pg_catalog.<=) 1000)),
    CONSTRAINT agent_runs_timeout_positive CHECK (timeout_s IS NULL OR
        (timeout_s OPERATOR(pg_catalog.>=) 1 AND timeout_s OPERATOR(pg_catalog.<=) 86400)),
    CONSTRAINT agent_runs_model_not_empty CHECK (model IS NULL OR pg_catalog.btrim(model) OPERATOR(pg_catalog.<>) ''::text),
    CONSTRAINT agent_runs_template_not_empty CHECK (template IS NULL OR pg_catalog.btrim(template) OPERATOR(pg_catalog.<>) ''::text),
    CONSTRAINT agent_runs_metadata_object CHECK (pg_catalog.jsonb_typeof(metadata) OPERATOR(pg_catalog.=) 'object'::text),
    CONSTRAINT agent_runs_attempts_nonnegative CHECK (attempts OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT agent_runs_finished_has_time CHECK
        ((status OPERATOR(pg_catalog.=) ANY ('{completed,failed,cancelled}'::@extschema@.agent_run_status[]))
         OPERATOR(pg_catalog.=) (completed_at IS NOT NULL))
)
-- room on each page for the worker's updates of a run (HOT updates), and a
-- vacuum after a fixed number of dead rows, however large the history
-- (bench/results/xmin.txt)
WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 2000);
COMMENT ON TABLE @extschema@.agent_runs IS
  'Agent runs: INSERT (prompt) enqueues, the background worker drives each run to completed, failed or cancelled.';

-- Rescuing is an index scan of in-flight rows only.
-- Claiming walks the owners with pending runs (one index probe each) and
-- takes each owner's best runs in turn, however many runs have finished.
CREATE INDEX agent_runs_claim ON @extschema@.agent_runs
    ((owner::pg_catalog.oid), (COALESCE(owner_id, ''::text) COLLATE pg_catalog."C"),
     priority DESC, run_after, created_at)
    WHERE status OPERATOR(pg_catalog.=) 'pending'::@extschema@.agent_run_status;
-- keyed by the worker, which lease renewals do not change (so they can be HOT)
CREATE INDEX agent_runs_in_flight ON @extschema@.agent_runs (worker_pid)
    WHERE status OPERATOR(pg_catalog.=) ANY ('{planning,executing}'::@extschema@.agent_run_status[]);
CREATE INDEX agent_runs_owner ON @extschema@.agent_runs (owner, created_at);
CREATE INDEX agent_runs_finished ON @extschema@.agent_runs (completed_at)
    WHERE completed_at IS NOT NULL;
-- waiting runs by when their call is rejected unanswered; threads, which
-- are linear: a run is continued at most once
CREATE INDEX agent_runs_approval_deadline ON @extschema@.agent_runs (approval_deadline)
    WHERE approval_deadline IS NOT NULL;
CREATE UNIQUE INDEX agent_runs_parent ON @extschema@.agent_runs (parent_id)
    WHERE parent_id IS NOT NULL;
CREATE INDEX agent_runs_thread ON @extschema@.agent_runs (thread_id, created_at)
    WHERE thread_id IS NOT NULL;

CREATE TABLE @extschema@.agent_run_events (
    run_id   uuid NOT NULL REFERENCES @extschema@.agent_runs ON DELETE CASCADE,
    seq      int NOT NULL,
    at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    attempt  int NOT NULL DEFAULT 0,
    kind     text NOT NULL,
    data     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, seq)
);
COMMENT ON TABLE @extschema@.agent_run_events IS
  'One row per step of a run (status change, LLM call, tool call and result, retry, error), gap-free seq per run.';
CREATE INDEX agent_run_events_at ON @extschema@.agent_run_events (at);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.agent_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.agent_run_events', '');

-- agent_runs_guard keeps users to what users may do: enqueue a run (the
-- queue columns are theirs to leave alone), cancel it, or change its
-- priority or schedule while it waits.  The worker and superusers are not
-- restricted.
CREATE FUNCTION @extschema@.agent_runs_guard() RETURNS trigger
AS 'MODULE_PATHNAME', 'agent_runs_guard' LANGUAGE C;
-- Internal: fires on agent_runs only (it checks), and no one may attach it
-- elsewhere (CREATE TRIGGER needs EXECUTE).
REVOKE EXECUTE ON FUNCTION @extschema@.agent_runs_guard() FROM PUBLIC;
CREATE TRIGGER agent_runs_guard BEFORE INSERT OR UPDATE ON @extschema@.agent_runs
    FOR EACH ROW EXECUTE FUNCTION @extschema@.agent_runs_guard();

-- agent_runs_notify sends NOTIFY agent_runs '{"id":..,"status":..}' on every
-- status change and wakes the worker when the transaction commits.
CREATE FUNCTION @extschema@.agent_runs_notify() RETURNS trigger
AS 'MODULE_PATHNAME', 'agent_runs_notify' LANGUAGE C;
REVOKE EXECUTE ON FUNCTION @extschema@.agent_runs_notify() FROM PUBLIC;
CREATE TRIGGER agent_runs_notify AFTER INSERT OR UPDATE OF status ON @extschema@.agent_runs
    FOR EACH ROW EXECUTE FUNCTION @extschema@.agent_runs_notify();

ALTER TABLE @extschema@.agent_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.agent_run_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_runs_owner ON @extschema@.agent_runs
    USING (pg_catalog.pg_has_role(owner, 'USAGE')
           AND COALESCE(owner_id, ''::text) OPERATOR(pg_catalog.=)
               COALESCE((SELECT @extschema@.sandbox_identity()), ''::text))
    WITH CHECK (pg_catalog.pg_has_role(owner, 'USAGE')
           AND COALESCE(owner_id, ''::text) OPERATOR(pg_catalog.=)
               COALESCE((SELECT @extschema@.sandbox_identity()), ''::text));
CREATE POLICY agent_run_events_owner ON @extschema@.agent_run_events FOR SELECT
    USING (EXISTS (SELECT 1 FROM @extschema@.agent_runs r
                    WHERE r.id OPERATOR(pg_catalog.=) run_id AND pg_catalog.pg_has_role(r.owner, 'USAGE')
                      AND COALESCE(r.owner_id, ''::text) OPERATOR(pg_catalog.=)
                          COALESCE((SELECT @extschema@.sandbox_identity()), ''::text)));
REVOKE ALL ON @extschema@.agent_runs, @extschema@.agent_run_events FROM PUBLIC;

------------------------------------------------------------------------------
-- Secrets, model prices and run artifacts (issue 11)
------------------------------------------------------------------------------

-- The secret store.  Values are read by no one through SQL but a superuser
-- (and the extension's owner, as which the functions below run): no
-- privilege on these tables is ever granted.  A secret's name is the
-- environment variable it becomes in a sandbox; sandbox_set_secret checks
-- names and values (docs/sql-reference.md#secrets).
CREATE TABLE @extschema@.sandbox_secrets (
    name       text PRIMARY KEY,
    owner      pg_catalog.regrole NOT NULL,
    owner_id   text,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.sandbox_secrets IS
  'Secrets injected into sandboxes as environment variables; readable by superusers only (sandbox_list_secrets() shows names)';
CREATE TABLE @extschema@.sandbox_secret_grants (
    name    text REFERENCES @extschema@.sandbox_secrets ON DELETE CASCADE ON UPDATE CASCADE,
    grantee pg_catalog.regrole NOT NULL,
    PRIMARY KEY (name, grantee)
);
COMMENT ON TABLE @extschema@.sandbox_secret_grants IS
  'Roles a secret''s owner let use it (sandbox_grant_secret)';
REVOKE ALL ON @extschema@.sandbox_secrets, @extschema@.sandbox_secret_grants FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sandbox_secrets', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sandbox_secret_grants', '');

-- Managing secrets (C, src/secrets.c): each checks the caller's role and
-- identity itself and runs its SQL as the extension's owner.
CREATE FUNCTION @extschema@.sandbox_set_secret(name text, value text)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_set_secret' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_set_secret(text, text) IS
  'Create a secret owned by the current role, or replace the value of one you own; pass the value as a bind parameter (a literal is in the statement log)';
CREATE FUNCTION @extschema@.sandbox_grant_secret(name text, role pg_catalog.regrole)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_grant_secret' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_grant_secret(text, pg_catalog.regrole) IS
  'Let a role (and the roles that have its privileges) use a secret you own';
CREATE FUNCTION @extschema@.sandbox_revoke_secret(name text, role pg_catalog.regrole)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_revoke_secret' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_revoke_secret(text, pg_catalog.regrole) IS
  'Take back a grant of a secret you own; true if there was one';
CREATE FUNCTION @extschema@.sandbox_drop_secret(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_drop_secret' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_drop_secret(text) IS
  'Remove a secret you own and its grants; false if there was no such secret';
CREATE FUNCTION @extschema@.sandbox_list_secrets(
    OUT name text, OUT owner pg_catalog.regrole, OUT granted_to pg_catalog.regrole[],
    OUT created_at timestamptz, OUT updated_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandbox_list_secrets' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_list_secrets() IS
  'The names of the secrets you own or may use (never their values), with their grants for those you own';
REVOKE EXECUTE ON FUNCTION
    @extschema@.sandbox_set_secret(text, text),
    @extschema@.sandbox_grant_secret(text, pg_catalog.regrole),
    @extschema@.sandbox_revoke_secret(text, pg_catalog.regrole),
    @extschema@.sandbox_drop_secret(text),
    @extschema@.sandbox_list_secrets()
FROM PUBLIC;

-- Prices per million tokens, matched by the longest model that is a prefix
-- of a run's model name ('claude-sonnet-4' prices 'claude-sonnet-4-20250514').
-- Editable by the administrator.  The rows shipped here are marked shipped;
-- a trigger unmarks any row written later (an edit, or a new model), and
-- pg_dump keeps only unmarked rows, so an edit survives a dump and restore
-- and a shipped row is not restored twice: CREATE EXTENSION makes the
-- shipped rows again, and a restored row replaces the shipped row of its
-- model (the trigger deletes it).  A shipped row deleted comes back after a
-- restore.  A later version's update script changes shipped rows with the
-- trigger disabled.
--
-- Sources, read 2026-11-30: Anthropic's pricing page
-- (https://platform.claude.com/docs/en/about-claude/pricing; 5-minute cache
-- writes, cache hits) and model pages (claude-sonnet-5); OpenAI's pricing
-- (https://developers.openai.com/api/docs/pricing, as quoted by
-- https://github.com/api-evangelist/posts, 2026-11-06; cache write: none).
CREATE TABLE @extschema@.sandbox_model_prices (
    model                text PRIMARY KEY,
    input_per_mtok       numeric NOT NULL,
    output_per_mtok      numeric NOT NULL,
    cache_write_per_mtok numeric,
    cache_read_per_mtok  numeric,
    shipped              boolean NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT sandbox_model_prices_model_not_empty
        CHECK (pg_catalog.btrim(model) OPERATOR(pg_catalog.<>) ''::text),
    CONSTRAINT sandbox_model_prices_nonnegative
        CHECK (input_per_mtok OPERATOR(pg_catalog.>=) 0::numeric
               AND input_per_mtok OPERATOR(pg_catalog.<) 'Infinity'::numeric
               AND output_per_mtok OPERATOR(pg_catalog.>=) 0::numeric
               AND output_per_mtok OPERATOR(pg_catalog.<) 'Infinity'::numeric
               AND (cache_write_per_mtok IS NULL OR
                    (cache_write_per_mtok OPERATOR(pg_catalog.>=) 0::numeric
                     AND cache_write_per_mtok OPERATOR(pg_catalog.<) 'Infinity'::numeric))
               AND (cache_read_per_mtok IS NULL OR
                    (cache_read_per_mtok OPERATOR(pg_catalog.>=) 0::numeric
                     AND cache_read_per_mtok OPERATOR(pg_catalog.<) 'Infinity'::numeric)))
);
COMMENT ON TABLE @extschema@.sandbox_model_prices IS
  'USD per million tokens by model name prefix (the longest matching prefix wins); cost_usd of runs';
INSERT INTO @extschema@.sandbox_model_prices
    (model, input_per_mtok, output_per_mtok, cache_write_per_mtok, cache_read_per_mtok, shipped, updated_at)
VALUES
    ('claude-opus-4',      15,    75,    18.75, 1.50,  true, '2026-11-30 00:00:00+00'),
    ('claude-opus-4-1',    15,    75,    18.75, 1.50,  true, '2026-11-30 00:00:00+00'),
    ('claude-opus-4-5',     5,    25,     6.25, 0.50,  true, '2026-11-30 00:00:00+00'),
    ('claude-opus-4-6',     5,    25,     6.25, 0.50,  true, '2026-11-30 00:00:00+00'),
    ('claude-opus-4-7',     5,    25,     6.25, 0.50,  true, '2026-11-30 00:00:00+00'),
    ('claude-opus-4-8',     5,    25,     6.25, 0.50,  true, '2026-11-30 00:00:00+00'),
    ('claude-opus-5',       5,    25,     6.25, 0.50,  true, '2026-11-30 00:00:00+00'),
    ('claude-sonnet-4',     3,    15,     3.75, 0.30,  true, '2026-11-30 00:00:00+00'),
    ('claude-sonnet-4-5',   3,    15,     3.75, 0.30,  true, '2026-11-30 00:00:00+00'),
    ('claude-sonnet-5',     2,    10,     2.50, 0.20,  true, '2026-11-30 00:00:00+00'),
    ('claude-3-7-sonnet',   3,    15,     3.75, 0.30,  true, '2026-11-30 00:00:00+00'),
    ('claude-3-5-haiku',    0.80,  4,     1.00, 0.08,  true, '2026-11-30 00:00:00+00'),
    ('claude-haiku-4-5',    1,     5,     1.25, 0.10,  true, '2026-11-30 00:00:00+00'),
    ('gpt-4o',              2.50, 10,     NULL, 1.25,  true, '2026-11-30 00:00:00+00'),
    ('gpt-4o-mini',         0.15,  0.60,  NULL, 0.075, true, '2026-11-30 00:00:00+00'),
    ('gpt-4.1',             2,     8,     NULL, 0.50,  true, '2026-11-30 00:00:00+00'),
    ('gpt-4.1-mini',        0.40,  1.60,  NULL, 0.10,  true, '2026-11-30 00:00:00+00'),
    ('gpt-4.1-nano',        0.10,  0.40,  NULL, 0.025, true, '2026-11-30 00:00:00+00'),
    ('o3',                  2,     8,     NULL, 0.50,  true, '2026-11-30 00:00:00+00'),
    ('o3-mini',             1.10,  4.40,  NULL, 0.55,  true, '2026-11-30 00:00:00+00'),
    ('o3-pro',             20,    80,     NULL, NULL,  true, '2026-11-30 00:00:00+00'),
    ('o4-mini',             1.10,  4.40,  NULL, 0.275, true, '2026-11-30 00:00:00+00');

-- sandbox_model_prices_mark: a row written after the shipped ones is the
-- administrator's (dumped), and replaces the shipped row of its model.
CREATE FUNCTION @extschema@.sandbox_model_prices_mark() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) '@extschema@.sandbox_model_prices'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'sandbox_model_prices_mark() fires only on @extschema@.sandbox_model_prices';
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        DELETE FROM @extschema@.sandbox_model_prices p
         WHERE p.model OPERATOR(pg_catalog.=) NEW.model AND p.shipped;
    ELSE
        NEW.updated_at := pg_catalog.now();
    END IF;
    NEW.shipped := false;
    RETURN NEW;
END;
$$;
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_model_prices_mark() FROM PUBLIC;
CREATE TRIGGER sandbox_model_prices_mark BEFORE INSERT OR UPDATE ON @extschema@.sandbox_model_prices
    FOR EACH ROW EXECUTE FUNCTION @extschema@.sandbox_model_prices_mark();
REVOKE ALL ON @extschema@.sandbox_model_prices FROM PUBLIC;
GRANT SELECT ON @extschema@.sandbox_model_prices TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sandbox_model_prices', 'WHERE NOT shipped');

-- Files a run collected after its last turn (agent_runs.artifacts) and its
-- repository's diff; cut says why content is missing or partial (a cap).
CREATE TABLE @extschema@.agent_run_artifacts (
    run_id     uuid NOT NULL REFERENCES @extschema@.agent_runs ON DELETE CASCADE,
    path       text NOT NULL,
    kind       text NOT NULL DEFAULT 'file'
        CONSTRAINT agent_run_artifacts_kind_valid
        CHECK (kind OPERATOR(pg_catalog.=) ANY ('{file,diff}'::text[])),
    content    bytea,
    size       bigint NOT NULL,
    sha256     text,
    cut        text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (run_id, path)
);
COMMENT ON TABLE @extschema@.agent_run_artifacts IS
  'Files collected from a run''s sandbox after its last turn, and its repository diff; cut says why content is missing or partial';
ALTER TABLE @extschema@.agent_run_artifacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_run_artifacts_owner ON @extschema@.agent_run_artifacts FOR SELECT
    USING (EXISTS (SELECT 1 FROM @extschema@.agent_runs r
                    WHERE r.id OPERATOR(pg_catalog.=) run_id AND pg_catalog.pg_has_role(r.owner, 'USAGE')
                      AND COALESCE(r.owner_id, ''::text) OPERATOR(pg_catalog.=)
                          COALESCE((SELECT @extschema@.sandbox_identity()), ''::text)));
REVOKE ALL ON @extschema@.agent_run_artifacts FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.agent_run_artifacts', '');

CREATE FUNCTION @extschema@.sandbox_cancel_run(run_id uuid)
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog
AS $$
    WITH c AS (
        UPDATE @extschema@.agent_runs SET status = 'cancelled'
         WHERE id OPERATOR(pg_catalog.=) run_id
           AND status::text OPERATOR(pg_catalog.=) ANY ('{pending,planning,executing,waiting}'::text[])
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM c);
$$;
COMMENT ON FUNCTION @extschema@.sandbox_cancel_run(uuid) IS
  'Cancel a run that has not finished; true if it was cancelled by this call';
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_cancel_run(uuid) FROM PUBLIC;

CREATE FUNCTION @extschema@.sandbox_worker_status(
    OUT worker int, OUT pid int, OUT state text, OUT started_at timestamptz,
    OUT runs_in_flight int, OUT requests_in_flight int,
    OUT runs_claimed bigint, OUT runs_completed bigint, OUT runs_failed bigint,
    OUT runs_cancelled bigint, OUT runs_rescued bigint, OUT http_requests bigint,
    OUT http_retries bigint, OUT sandboxes_created bigint, OUT sandboxes_killed bigint,
    OUT last_error text, OUT last_error_at timestamptz, OUT breakers jsonb,
    OUT database name)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandbox_worker_status' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_worker_status() IS
  'One row per agent-run worker of this database: pid, what it is doing, its counters and its circuit breakers';
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_worker_status() FROM PUBLIC;

------------------------------------------------------------------------------
-- Granting use to a role
------------------------------------------------------------------------------

-- sandbox_grant_usage gives a role what it needs to use the extension:
-- the functions, enqueueing, cancelling and reading its own runs, and
-- reading its own sandboxes.  Row-level security keeps each
-- role to its own sandboxes.
CREATE FUNCTION @extschema@.sandbox_grant_usage(role pg_catalog.regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    s text := pg_catalog.quote_ident(
        (SELECT n.nspname FROM pg_catalog.pg_extension e
           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
          WHERE e.extname OPERATOR(pg_catalog.=) 'sandbox'));
    r text := role::text;
BEGIN
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %s TO %s', s, r);
    EXECUTE pg_catalog.format('GRANT SELECT ON %s.sandboxes TO %s', s, r);
    EXECUTE pg_catalog.format('GRANT SELECT, INSERT ON %s.agent_runs TO %s', s, r);
    EXECUTE pg_catalog.format('GRANT UPDATE (status, priority, run_after, metadata, on_sandbox_lost, approval, approval_timeout) ON %s.agent_runs TO %s', s, r);
    EXECUTE pg_catalog.format('GRANT SELECT ON %s.sandbox_sql_tools, %s.sandbox_sql_tool_log TO %s', s, s, r);
    EXECUTE pg_catalog.format('GRANT SELECT ON %s.agent_run_events TO %s', s, r);
    EXECUTE pg_catalog.format('GRANT SELECT ON %s.agent_run_artifacts TO %s', s, r);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION
        %1$s.sandbox_create(text, int, jsonb, jsonb, text, boolean, boolean, jsonb, text[]),
        %1$s.sandbox_exec(text, text, text, jsonb, int),
        %1$s.sandbox_exec(text, jsonb, int, text, text),
        %1$s.sandbox_run_code(text, text, text, text),
        %1$s.sandbox_write_file(text, text, bytea),
        %1$s.sandbox_write_file(text, text, text),
        %1$s.sandbox_read_file(text, text),
        %1$s.sandbox_read_file_text(text, text),
        %1$s.sandbox_list_files(text, text, int),
        %1$s.sandbox_remove_file(text, text),
        %1$s.sandbox_make_dir(text, text),
        %1$s.sandbox_kill(text),
        %1$s.sandbox_set_timeout(text, int),
        %1$s.sandbox_info(text),
        %1$s.sandbox_list(jsonb, boolean),
        %1$s.sandbox_pause(text),
        %1$s.sandbox_resume(text, int),
        %1$s.sandbox_connect(text, int),
        %1$s.sandbox_host(text, int),
        %1$s.sandbox_metrics(text, timestamptz),
        %1$s.sandbox_spawn(text, text, text, jsonb, text, boolean, int),
        %1$s.sandbox_processes(text),
        %1$s.sandbox_signal(text, int, text),
        %1$s.sandbox_send_stdin(text, int, text),
        %1$s.sandbox_send_stdin(text, int, bytea),
        %1$s.sandbox_close_stdin(text, int),
        %1$s.sandbox_wait(text, int, int),
        %1$s.sandbox_cancel_run(uuid),
        %1$s.sandbox_worker_status(),
        %1$s.sandbox_set_secret(text, text),
        %1$s.sandbox_grant_secret(text, pg_catalog.regrole),
        %1$s.sandbox_revoke_secret(text, pg_catalog.regrole),
        %1$s.sandbox_drop_secret(text),
        %1$s.sandbox_list_secrets(),
        %1$s.sandbox_approve(uuid, text, boolean, text),
        %1$s.sandbox_continue_run(uuid, text),
        %1$s.sandbox_thread(uuid),
        %1$s.sandbox_register_tool(pg_catalog.regprocedure, text, boolean),
        %1$s.sandbox_unregister_tool(pg_catalog.regprocedure) TO %2$s', s, r);
END;
$$;
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_grant_usage(pg_catalog.regrole) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.sandbox_grant_usage(pg_catalog.regrole) IS
  'Grant a role the use of the sandbox functions and its own rows';

-- sandbox_limits() shows the provider limits the workers share (1.1).
CREATE FUNCTION @extschema@.sandbox_limits(
    OUT name text, OUT rate_per_s double precision, OUT capacity double precision,
    OUT available double precision, OUT blocked_until timestamptz,
    OUT taken bigint, OUT held bigint, OUT provider_waits bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandbox_limits' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_limits() IS
  'The provider limits all workers share: token buckets, waits a provider asked for, sandboxes held';
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_limits() FROM PUBLIC;

------------------------------------------------------------------------------
-- Interactive runs (issue 12): approvals, threads, SQL tools
------------------------------------------------------------------------------

-- sandbox_approve answers the tool call a waiting run waits on: approved
-- runs it, rejected tells the model (with the note).  Only the run's owner
-- (role and identity) may; true when this call decided it.
CREATE FUNCTION @extschema@.sandbox_approve(run_id uuid, call_id text, approved boolean,
                                            note text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_approve' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_approve(uuid, text, boolean, text) IS
  'Approve or reject the tool call a waiting run waits on (its owner only); true if this call decided it';
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_approve(uuid, text, boolean, text) FROM PUBLIC;

-- sandbox_continue_run enqueues a run that continues a finished run's
-- conversation in the same sandbox (kept alive by keep_sandbox), with the
-- same settings; the new run names its parent and shares its thread.
CREATE FUNCTION @extschema@.sandbox_continue_run(run_id uuid, message text)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    p @extschema@.agent_runs;
    child uuid;
BEGIN
    SELECT * INTO p FROM @extschema@.agent_runs r WHERE r.id OPERATOR(pg_catalog.=) run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
            MESSAGE = pg_catalog.format('agent run %s does not exist', run_id),
            HINT = 'A run can be continued only by its owner.';
    END IF;
    INSERT INTO @extschema@.agent_runs
        (prompt, parent_id, model, template, max_turns, timeout_s, priority, metadata,
         on_sandbox_lost, system_prompt, tools, envs, secrets, artifacts, result_schema,
         keep_sandbox, max_cost_usd, max_tokens, approval, approval_timeout)
    VALUES (message, p.id, p.model, p.template, p.max_turns, p.timeout_s, p.priority, p.metadata,
            p.on_sandbox_lost, p.system_prompt, p.tools, p.envs, p.secrets, p.artifacts,
            p.result_schema, p.keep_sandbox, p.max_cost_usd, p.max_tokens, p.approval,
            p.approval_timeout)
    RETURNING id INTO child;
    RETURN child;
END;
$$;
COMMENT ON FUNCTION @extschema@.sandbox_continue_run(uuid, text) IS
  'Enqueue a run that continues a finished run (same sandbox, same conversation); returns its id';
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_continue_run(uuid, text) FROM PUBLIC;

-- sandbox_thread reads the events of a run's whole thread (the run it
-- started from and every continuation), in order.
CREATE FUNCTION @extschema@.sandbox_thread(run uuid)
RETURNS TABLE (run_id uuid, seq int, at timestamptz, attempt int, kind text, data jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $$
    SELECT e.run_id, e.seq, e.at, e.attempt, e.kind, e.data
      FROM (SELECT COALESCE(t.thread_id, t.id) AS root FROM @extschema@.agent_runs t
             WHERE t.id OPERATOR(pg_catalog.=) sandbox_thread.run) x
      JOIN @extschema@.agent_runs r
        ON r.id OPERATOR(pg_catalog.=) x.root OR r.thread_id OPERATOR(pg_catalog.=) x.root
      JOIN @extschema@.agent_run_events e ON e.run_id OPERATOR(pg_catalog.=) r.id
     ORDER BY r.created_at, r.id, e.seq;
$$;
COMMENT ON FUNCTION @extschema@.sandbox_thread(uuid) IS
  'The events of a run''s thread (the first run and its continuations), in order';
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_thread(uuid) FROM PUBLIC;

-- SQL functions registered as tools: a run lists them by name in `tools`,
-- and the worker calls them as the run's owner (sandbox_register_tool).
CREATE TABLE @extschema@.sandbox_sql_tools (
    name          text PRIMARY KEY,
    fn            pg_catalog.regprocedure NOT NULL UNIQUE,
    description   text NOT NULL,
    input_schema  jsonb NOT NULL,
    read_only     boolean NOT NULL DEFAULT true,
    registered_by pg_catalog.regrole NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.sandbox_sql_tools IS
  'SQL functions that runs may use as tools (sandbox_register_tool); the model sees name, description and input_schema';
REVOKE ALL ON @extschema@.sandbox_sql_tools FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sandbox_sql_tools', '');

-- Every registration and removal, for the audit.
CREATE TABLE @extschema@.sandbox_sql_tool_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT pg_catalog.now(),
    action        text NOT NULL,
    name          text NOT NULL,
    fn            text NOT NULL,
    read_only     boolean,
    by_role       pg_catalog.regrole NOT NULL
);
COMMENT ON TABLE @extschema@.sandbox_sql_tool_log IS
  'Each sandbox_register_tool and sandbox_unregister_tool call: what, by whom, when';
REVOKE ALL ON @extschema@.sandbox_sql_tool_log FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sandbox_sql_tool_log', '');

CREATE FUNCTION @extschema@.sandbox_register_tool(fn pg_catalog.regprocedure,
                                                  description text DEFAULT NULL,
                                                  read_only boolean DEFAULT true)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sandbox_register_tool' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_register_tool(pg_catalog.regprocedure, text, boolean) IS
  'Make a SQL function a tool runs may list (its owner or a superuser only); returns the tool as the model sees it';
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_register_tool(pg_catalog.regprocedure, text, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.sandbox_unregister_tool(fn pg_catalog.regprocedure)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_unregister_tool' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_unregister_tool(pg_catalog.regprocedure) IS
  'Remove a SQL function from the tools (its owner or a superuser only); true if it was one';
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_unregister_tool(pg_catalog.regprocedure) FROM PUBLIC;
