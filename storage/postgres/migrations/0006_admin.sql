-- The admin views' indexes (query_*.go, gaps.go, funnel.go in package
-- postgres) and the search box's terms. Each index names the query that
-- reads it; explain_test.go checks that the query still does.

-- A visitor's sessions by last activity: its sessions list, and the users
-- overview's check that a visitor is listed at its newest matching
-- session (the flags are included so that check reads the index alone).
CREATE INDEX sessions_by_visitor_activity ON sessions (visitor_id, last_activity_at DESC, id DESC)
    INCLUDE (engaged, has_files, has_inputs);

-- The users overview with a flag asked for: the sessions having it, by
-- last activity, so a rare flag reads a page of its own sessions.
CREATE INDEX sessions_engaged_by_activity ON sessions (last_activity_at DESC, id DESC) WHERE engaged;
CREATE INDEX sessions_files_by_activity ON sessions (last_activity_at DESC, id DESC) WHERE has_files;
CREATE INDEX sessions_inputs_by_activity ON sessions (last_activity_at DESC, id DESC) WHERE has_inputs;

-- The sessions dashboard and the funnel of one bot, by start.
CREATE INDEX sessions_by_bot_start ON sessions (bot, started_at DESC, id DESC);

-- The Knowledge gaps report: the period's unanswered texts, newest first.
CREATE INDEX gaps_by_at ON gaps (at DESC, session_id DESC, n DESC);

-- The search box: the lower-case words of each visitor's name, email,
-- phone and platform ID (storage.SearchTerms), for a prefix search.
-- Rows are only ever added: a search checks the visitor's current values,
-- so a word of an old email costs one row read, never a wrong answer.
CREATE TABLE visitor_terms (
    term        TEXT COLLATE "C" NOT NULL, -- byte order: a prefix is a range
    visitor_id  TEXT NOT NULL,
    PRIMARY KEY (term, visitor_id)
);
COMMENT ON TABLE visitor_terms IS 'search words of visitors (name, email, phone, platform ID); checked against the visitor row at search time';
-- An erase or a merge drops the visitor's words.
CREATE INDEX visitor_terms_by_visitor ON visitor_terms (visitor_id);
