-- variant "tuned": what we propose for sandbox--1.1.sql.
--
-- 1. Free space on each heap page for HOT updates.
ALTER TABLE public.agent_runs SET (fillfactor = 70);
-- 2. The in-flight index no longer has lease_until as its key: a lease is
--    renewed on every advance and every lease_time/3, and an indexed column
--    that changes makes the UPDATE non-HOT (a new entry in every index of the
--    table, and one more dead entry that rescue walks while the horizon is
--    held).  Keyed on worker_pid, which changes only together with status.
--    Rescue reads every in-flight row anyway (at most workers x
--    max_concurrent_runs) and sorts those by lease_until.
DROP INDEX public.agent_runs_in_flight;
CREATE INDEX agent_runs_in_flight ON public.agent_runs (worker_pid)
    WHERE status OPERATOR(pg_catalog.=) ANY ('{planning,executing}'::public.agent_run_status[]);
-- 3. Vacuum agent_runs after a fixed number of dead rows, not after 20 % of
--    a table that keeps every finished run (retention forever by default).
ALTER TABLE public.agent_runs SET (autovacuum_vacuum_scale_factor = 0.0,
                                   autovacuum_vacuum_threshold = 2000,
                                   autovacuum_vacuum_cost_delay = 0);
