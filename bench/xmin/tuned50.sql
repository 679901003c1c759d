-- variant "tuned50": "tuned" with fillfactor 50 instead of 70.
ALTER TABLE public.agent_runs SET (fillfactor = 50);
DROP INDEX public.agent_runs_in_flight;
CREATE INDEX agent_runs_in_flight ON public.agent_runs (worker_pid)
    WHERE status OPERATOR(pg_catalog.=) ANY ('{planning,executing}'::public.agent_run_status[]);
ALTER TABLE public.agent_runs SET (autovacuum_vacuum_scale_factor = 0.0,
                                   autovacuum_vacuum_threshold = 2000,
                                   autovacuum_vacuum_cost_delay = 0);
