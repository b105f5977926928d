-- The people around the conversations: the agents who answer visitors
-- from the console and their signed-in consoles, the inbox's records of
-- the conversations a person took part in (status, assignee, notes), and
-- each visitor's profile changes (edits by an admin, verified identifies,
-- merges).

-- A person who answers visitors from the console.
CREATE TABLE agents (
    name            TEXT COLLATE "C" PRIMARY KEY,   -- the sign-in name: lower case letters, digits, . _ -; listed in byte order
    display_name    TEXT NOT NULL,                  -- what visitors and transcripts show
    secret_hash     TEXT NOT NULL,                  -- hex SHA-256 of the secret; the secret is never stored
    created_at      TIMESTAMPTZ NOT NULL,
    email           TEXT NOT NULL DEFAULT '',       -- where the agent hears of waiting conversations; '' for none
    sites           TEXT[] NOT NULL DEFAULT '{}'    -- the sites the agent answers; empty for every site
);

-- A signed-in console: the browser holds a random token in a cookie, the
-- table its SHA-256. Expired rows are dropped whenever an agent signs in.
CREATE TABLE console_sessions (
    token_hash      TEXT PRIMARY KEY,               -- hex SHA-256 of the cookie's token
    agent           TEXT NOT NULL,                  -- agents.name
    expires_at      TIMESTAMPTZ NOT NULL
);
-- Revoking an agent signs out its consoles; a sign-in drops the expired.
CREATE INDEX console_sessions_by_agent ON console_sessions (agent);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- The conversations waiting for or held by a person (the inbox's hand-over
-- list): few among all sessions, so a partial index.
CREATE INDEX sessions_handover ON sessions (id) WHERE handover IS NOT NULL;

-- The inbox's record of a conversation (a session) a person took part in:
-- the help-desk workflow around it. A session without a row is open and
-- unassigned. Erasing the session drops it.
CREATE TABLE conversations (
    session_id      TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    status          TEXT NOT NULL,                  -- open or resolved
    assignee        TEXT NOT NULL DEFAULT '',       -- an agent's sign-in name; '' for nobody
    read            JSONB NOT NULL DEFAULT '{}',    -- agent name -> the last message ID they have seen
    updated_at      TIMESTAMPTZ NOT NULL            -- when the row last changed
);
-- The inbox lists the open ones, oldest change first.
CREATE INDEX conversations_open ON conversations (updated_at, session_id) WHERE status <> 'resolved';

-- An agent's private note on a conversation, never shown to the visitor.
CREATE TABLE notes (
    session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id              TEXT NOT NULL,                  -- ULID of its time: notes sort by it
    agent           TEXT NOT NULL,                  -- the author's sign-in name
    agent_name      TEXT NOT NULL DEFAULT '',       -- the author's display name then
    text            TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, id)
);

-- One field of a visitor's profile changed: the audit list. A merge moves
-- the merged visitor's rows to the visitor it went into.
CREATE TABLE profile_changes (
    visitor_id      TEXT NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    id              TEXT NOT NULL,                  -- ULID of its time, increasing within a visitor: the list's order
    at              TIMESTAMPTZ NOT NULL,
    changed_by      TEXT NOT NULL,                  -- an admin's name, or identify (a verified Parley.identify)
    field           TEXT NOT NULL,                  -- name, email, phone, notes, platformId or merged
    from_value      TEXT NOT NULL,
    to_value        TEXT NOT NULL,
    PRIMARY KEY (visitor_id, id)
);
