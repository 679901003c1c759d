-- variant "fillfactor": free space for HOT updates, nothing else.  The
-- in-flight index still has lease_until as its key, so every UPDATE that
-- renews or clears a lease (claim, each advance, renewals) stays non-HOT.
ALTER TABLE public.agent_runs SET (fillfactor = 70);
