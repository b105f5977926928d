-- The funnel's counters (funnel.go and counters.go in package postgres):
-- for every UTC day and hour, site and bot version, how many of the
-- sessions started then are stored with each funnel mark. The funnel of a
-- period reads its whole days and hours here and only the sessions of the
-- hours it cuts, instead of every session and block of the period.
--
-- Every writer of sessions adds its change in the transaction of the
-- change: a session's start ('s'), the turns' group commit ('t'), an erase
-- or the retention sweep ('x', negative). Each kind of writer has its own
-- rows (shard), so a start never waits for a turn's commit on the same
-- counter; a count is the sum of its shards, which parley check compares
-- with a recount of the sessions.

CREATE TABLE funnel_daily (
    day         DATE NOT NULL,         -- UTC day of the sessions' start
    site        TEXT NOT NULL,
    bot         TEXT NOT NULL,
    version     TEXT NOT NULL,
    kind        TEXT NOT NULL,         -- opened, converted (any goal reached), block, goal
    name        TEXT NOT NULL,         -- the block or goal; '' for opened and converted
    shard       TEXT NOT NULL,         -- the writer: s start, t turns, x erase and retention
    sessions    BIGINT NOT NULL,       -- this shard's share: sum the shards
    PRIMARY KEY (day, site, bot, version, kind, name, shard)
);
COMMENT ON TABLE funnel_daily IS 'funnel counters: sessions started per UTC day, site, bot version and mark (opened, converted, block, goal); sum over shard';

CREATE TABLE funnel_hourly (
    hour        TIMESTAMPTZ NOT NULL,  -- start of the UTC hour of the sessions' start
    site        TEXT NOT NULL,
    bot         TEXT NOT NULL,
    version     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    shard       TEXT NOT NULL,
    sessions    BIGINT NOT NULL,
    PRIMARY KEY (hour, site, bot, version, kind, name, shard)
);
COMMENT ON TABLE funnel_hourly IS 'funnel counters per UTC hour, as funnel_daily: the hours of a day a funnel period cuts';

-- A store of an older Parley: its sessions counted once, as started.
INSERT INTO funnel_hourly (hour, site, bot, version, kind, name, shard, sessions)
SELECT date_trunc('hour', s.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', s.site, s.bot, s.version, m.kind, m.name, 's', count(*)
FROM sessions s CROSS JOIN LATERAL (
    SELECT 'opened' AS kind, '' AS name
    UNION ALL SELECT 'converted', '' WHERE cardinality(s.goals) > 0
    UNION ALL SELECT DISTINCT 'block', b FROM unnest(s.reached) AS b
    UNION ALL SELECT DISTINCT 'goal', g FROM unnest(s.goals) AS g
) AS m
GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO funnel_daily (day, site, bot, version, kind, name, shard, sessions)
SELECT (hour AT TIME ZONE 'UTC')::date, site, bot, version, kind, name, shard, sum(sessions)
FROM funnel_hourly GROUP BY 1, 2, 3, 4, 5, 6, 7;
