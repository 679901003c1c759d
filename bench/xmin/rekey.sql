-- variant "rekey": only the in-flight index keyed on worker_pid instead of
-- lease_until (as in "tuned"), default fillfactor and autovacuum: how much
-- of "tuned" the index alone gives.
DROP INDEX public.agent_runs_in_flight;
CREATE INDEX agent_runs_in_flight ON public.agent_runs (worker_pid)
    WHERE status OPERATOR(pg_catalog.=) ANY ('{planning,executing}'::public.agent_run_status[]);
