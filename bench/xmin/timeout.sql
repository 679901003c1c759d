-- variant "timeout": "tuned", plus what bounds the horizon itself (not a
-- table setting, a reference): sessions of this database that sit idle in a
-- transaction for 60 s are ended, so the held snapshot lives 60 s, not the
-- whole window.  (ALTER DATABASE; the worker is never idle in a transaction.)
ALTER TABLE public.agent_runs SET (fillfactor = 70);
DROP INDEX public.agent_runs_in_flight;
CREATE INDEX agent_runs_in_flight ON public.agent_runs (worker_pid)
    WHERE status OPERATOR(pg_catalog.=) ANY ('{planning,executing}'::public.agent_run_status[]);
ALTER TABLE public.agent_runs SET (autovacuum_vacuum_scale_factor = 0.0,
                                   autovacuum_vacuum_threshold = 2000,
                                   autovacuum_vacuum_cost_delay = 0);
ALTER DATABASE bench SET idle_in_transaction_session_timeout = '60s';
