-- What several nodes sharing this store agree on: the admin's failed
-- sign-ins per client address (signin_failures.go), so the budget holds
-- across the nodes, and which node runs each periodic job (jobs.go).

-- Failed sign-ins per client address (an IPv6 client by its /64): a
-- token bucket kept as the time the address has its whole budget back.
-- Each failure counted moves clear_at one step (the window / the burst)
-- later, from now at the earliest; an address whose clear_at is more than
-- the window less one step ahead has no failure left and is answered 429.
-- Updated in one statement per failure, with the database's clock, so
-- concurrent failures on any node never share the last one. Rows past
-- their clear_at say nothing and are deleted by the maintenance job.
CREATE TABLE signin_failures (
    address      TEXT PRIMARY KEY,       -- the client address, as the admin counts it
    clear_at     TIMESTAMPTZ NOT NULL,   -- when the address has its whole budget back
    failures     BIGINT NOT NULL,        -- failures counted (answered 401) since the row was made
    refused      BIGINT NOT NULL,        -- failures refused (answered 429) since the row was made
    last_refused BOOLEAN NOT NULL,       -- whether the latest failure was refused
    last_at      TIMESTAMPTZ NOT NULL    -- the latest failure
);
-- The maintenance job's delete of the rows that say nothing any more.
CREATE INDEX signin_failures_by_clear_at ON signin_failures (clear_at);
COMMENT ON TABLE signin_failures IS 'failed admin and agent sign-ins per client address: the cluster-wide budget (10 a minute)';

-- Leases of the periodic jobs (the retention, idle and orphan sweeps,
-- each webhook endpoint's delivery): the node holding a job's lease runs
-- it, renewing the lease while it does; a lease not renewed by expires_at
-- is free, and the next node to ask takes the job over. Taken and renewed
-- by one conditional INSERT … ON CONFLICT with the database's clock.
CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,        -- retention, idle, orphans, webhook:{site}/{id}, …
    holder      TEXT NOT NULL,           -- the node: its host name and a random ID made at its start
    taken_at    TIMESTAMPTZ NOT NULL,    -- when this holder took the job
    renewed_at  TIMESTAMPTZ NOT NULL,    -- its latest renewal
    expires_at  TIMESTAMPTZ NOT NULL     -- free after this unless renewed
);
COMMENT ON TABLE job_leases IS 'which node runs each periodic job; a lease past expires_at is free';
