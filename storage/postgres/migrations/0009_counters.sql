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

-- Counting an older store's sessions takes longer than a statement may at
-- a million of them: no timeout in this step's transaction.
SET LOCAL statement_timeout = 0;

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

-- The Knowledge gaps report's counters (gaps.go and gapcount.go in package
-- postgres): every unanswered text keeps the question it asks
-- (storage.NormalizeGap, computed by Parley: a store of an older Parley
-- gets it when this Parley opens it), and gap_daily counts, per UTC day,
-- site, bot and question, the texts said that day and the sessions that
-- first asked it that day. The report reads a period's whole days here and
-- only the texts of the days it cuts, and for each question it lists the
-- few texts it shows.
ALTER TABLE gaps ADD COLUMN norm TEXT;                       -- the question: storage.NormalizeGap(text); NULL until Parley counted it
ALTER TABLE gaps ADD COLUMN is_first BOOLEAN NOT NULL DEFAULT false; -- the session's first text of this question
ALTER TABLE gaps ADD COLUMN first_at TIMESTAMPTZ;            -- when the session first asked this question
ALTER TABLE gaps ADD COLUMN site TEXT NOT NULL DEFAULT '';   -- the session's, as the report filters by
ALTER TABLE gaps ADD COLUMN bot TEXT NOT NULL DEFAULT '';
UPDATE gaps SET site = s.site, bot = s.bot FROM sessions s WHERE s.id = gaps.session_id;

-- A question's texts newest first: the texts a report row shows, the
-- last and first asked.
CREATE INDEX gaps_by_norm ON gaps (norm, at DESC, session_id DESC, n DESC) INCLUDE (site, bot);
-- A question's texts by when their session first asked it, and those
-- asked more than an hour after that (few: a session idles out in
-- minutes): the sessions that asked it before a period and again in it.
CREATE INDEX gaps_by_norm_first ON gaps (norm, first_at) INCLUDE (at, session_id, site, bot);
CREATE INDEX gaps_long_by_norm ON gaps (norm, at) INCLUDE (first_at, session_id, site, bot) WHERE at - first_at > interval '1 hour';

CREATE TABLE gap_daily (
    day         DATE NOT NULL,         -- UTC day the texts were said
    site        TEXT NOT NULL,
    bot         TEXT NOT NULL,
    norm        TEXT NOT NULL,         -- the question (gaps.norm)
    shard       TEXT NOT NULL,         -- the writer: s start, t turns, x erase; sum them
    texts       BIGINT NOT NULL,       -- unanswered texts said that day
    sessions    BIGINT NOT NULL,       -- sessions whose first text of the question was that day
    PRIMARY KEY (day, site, bot, norm, shard)
);
COMMENT ON TABLE gap_daily IS 'Knowledge gaps counters: unanswered texts per UTC day, site, bot and normalised question, and the sessions first asking it then; sum over shard';

-- The sessions search reads each found visitor's sessions by start from
-- this index: with their start in it, an index-only scan where the
-- table's pages are all visible (old sessions). Same name, same key.
DROP INDEX sessions_by_visitor_id;
CREATE INDEX sessions_by_visitor_id ON sessions (visitor_id, id) INCLUDE (started_at);
