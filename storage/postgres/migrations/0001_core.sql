-- Visitors, sessions, messages, inputs, acks and the usage counters: what
-- a conversation writes. Times are timestamptz; a time that has not
-- happened yet (a visitor who never typed) is NULL.

CREATE TABLE visitors (
    id                  TEXT PRIMARY KEY,           -- ULID
    site                TEXT NOT NULL,
    channel             TEXT NOT NULL DEFAULT '',   -- where it was first seen: web
    os                  TEXT NOT NULL DEFAULT '',
    browser             TEXT NOT NULL DEFAULT '',
    mobile              BOOLEAN NOT NULL DEFAULT false,
    is_bot              BOOLEAN NOT NULL DEFAULT false,
    created_at          TIMESTAMPTZ NOT NULL,
    last_seen_at        TIMESTAMPTZ NOT NULL,       -- last session activity of any kind
    last_interaction_at TIMESTAMPTZ,                -- last message, choice, input or file
    last_input_at       TIMESTAMPTZ,
    last_file_at        TIMESTAMPTZ,
    name                TEXT NOT NULL DEFAULT '',
    email               TEXT NOT NULL DEFAULT '',
    phone               TEXT NOT NULL DEFAULT '',
    contact             TEXT NOT NULL DEFAULT '',   -- the most recent of email and phone
    last_message        TEXT NOT NULL DEFAULT '',
    variables           JSONB NOT NULL DEFAULT '{}',
    last_sentiment      JSONB,                      -- {"name", "score", "at"}
    platform_id         TEXT NOT NULL DEFAULT '',   -- the host site's user ID (identify)
    notes               TEXT NOT NULL DEFAULT '',
    profile_at          TIMESTAMPTZ,
    erasing             BOOLEAN NOT NULL DEFAULT false
);
-- The users overview, newest first; retention's sweep by site.
CREATE INDEX visitors_by_seen ON visitors (last_seen_at DESC, id DESC);
CREATE INDEX visitors_by_site_seen ON visitors (site, last_seen_at);

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,           -- ULID
    site                TEXT NOT NULL,
    visitor_id          TEXT NOT NULL,
    bot                 TEXT NOT NULL,
    version             TEXT NOT NULL DEFAULT '',
    channel             TEXT NOT NULL DEFAULT '',
    os                  TEXT NOT NULL DEFAULT '',
    browser             TEXT NOT NULL DEFAULT '',
    mobile              BOOLEAN NOT NULL DEFAULT false,
    is_bot              BOOLEAN NOT NULL DEFAULT false,
    page                TEXT NOT NULL DEFAULT '',
    lang                TEXT NOT NULL DEFAULT '',
    locale              TEXT NOT NULL DEFAULT '',
    story_type          TEXT NOT NULL DEFAULT '',
    started_at          TIMESTAMPTZ NOT NULL,
    last_activity_at    TIMESTAMPTZ NOT NULL,
    last_interaction_at TIMESTAMPTZ,
    last_input_at       TIMESTAMPTZ,
    last_file_at        TIMESTAMPTZ,
    message_count       INT NOT NULL DEFAULT 0,
    last_message_id     TEXT NOT NULL DEFAULT '',
    engaged             BOOLEAN NOT NULL DEFAULT false, -- a choice was clicked
    has_inputs          BOOLEAN NOT NULL DEFAULT false,
    has_files           BOOLEAN NOT NULL DEFAULT false,
    has_responses       BOOLEAN NOT NULL DEFAULT false, -- the visitor sent anything
    -- Where the story stands.
    current_block       TEXT NOT NULL DEFAULT '',
    previous_block      TEXT NOT NULL DEFAULT '',
    pending_block       TEXT NOT NULL DEFAULT '',
    ended               BOOLEAN NOT NULL DEFAULT false,
    variables           JSONB NOT NULL DEFAULT '{}',
    host_variables      JSONB NOT NULL DEFAULT '{}',    -- set by the host page: shown, never trusted
    goals               TEXT[] NOT NULL DEFAULT '{}',
    tags                TEXT[] NOT NULL DEFAULT '{}',
    reached             TEXT[] NOT NULL DEFAULT '{}',   -- every block run, in first-run order
    last_message_content TEXT NOT NULL DEFAULT '',
    last_message_type   TEXT NOT NULL DEFAULT '',
    sentiment           TEXT NOT NULL DEFAULT '',       -- positive, neutral, negative; '' unknown
    sentiment_detail    JSONB,                          -- mean, min, scored, last
    unanswered_count    INT NOT NULL DEFAULT 0,
    handover            JSONB,                          -- waiting for or held by a person
    files               JSONB NOT NULL DEFAULT '[]',    -- the session's uploaded files, as messages name them
    record_bytes        INT NOT NULL DEFAULT 0          -- the record's size, against MaxStateBytes
);
-- The overview by start and by last activity (a visitor's sessions:
-- sessions_by_visitor_id below).
CREATE INDEX sessions_by_start ON sessions (started_at DESC, id DESC);
CREATE INDEX sessions_by_activity ON sessions (last_activity_at DESC, id DESC);

-- Every message, in the session's own order (IDs sort).
CREATE TABLE messages (
    session_id  TEXT NOT NULL,
    id          TEXT NOT NULL,
    sender      TEXT NOT NULL,              -- bot, visitor or agent
    kind        TEXT NOT NULL,              -- bot, text, choice, input, file, agent
    at          TIMESTAMPTZ NOT NULL,
    text        TEXT NOT NULL DEFAULT '',
    block       TEXT NOT NULL DEFAULT '',
    client_id   TEXT NOT NULL DEFAULT '',
    detail      JSONB NOT NULL DEFAULT '{}', -- options, prompts, file, trace, sentiment, ...
    PRIMARY KEY (session_id, id)
);

-- What the visitor typed into input blocks, one row each.
CREATE TABLE inputs (
    session_id  TEXT NOT NULL,
    n           INT NOT NULL,               -- its place in the session, from 0
    block       TEXT NOT NULL,
    variable    TEXT NOT NULL,
    kind        TEXT NOT NULL,              -- text, email, phone
    value       TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, n)
);

-- The visitor's texts only the story's fallback answered (knowledge gaps).
CREATE TABLE gaps (
    session_id  TEXT NOT NULL,
    n           INT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (session_id, n)
);

-- The ack of each client message ID: a send repeated with the same ID
-- stores nothing and gets the first ack.
CREATE TABLE acks (
    session_id  TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    text        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, client_id)
);

-- Sessions started per day, bot, version and channel: the usage report.
CREATE TABLE usage_daily (
    site        TEXT NOT NULL,
    day         DATE NOT NULL,
    bot         TEXT NOT NULL,
    version     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    sessions    BIGINT NOT NULL,
    PRIMARY KEY (site, day, bot, version, channel)
);

-- Session starts refused for a rate limit, per hour.
CREATE TABLE refused_hourly (
    site        TEXT NOT NULL,
    hour        TIMESTAMPTZ NOT NULL,
    reason      TEXT NOT NULL,
    bot         TEXT NOT NULL,
    version     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    starts      BIGINT NOT NULL,
    PRIMARY KEY (site, hour, reason, bot, version, channel)
);

-- A visitor merged into another by a verified identify: the browser's
-- visitor and the user's visitor it went into.
CREATE TABLE visitor_merges (
    from_id     TEXT PRIMARY KEY,
    into_id     TEXT NOT NULL,
    merged_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX visitor_merges_by_into ON visitor_merges (into_id);
-- The visitor of each site's user (identify's platform ID).
CREATE UNIQUE INDEX visitors_by_platform_id ON visitors (site, platform_id) WHERE platform_id <> '';
-- A visitor's sessions in ID order: its latest (the widget's resume).
CREATE INDEX sessions_by_visitor_id ON sessions (visitor_id, id);
-- The webhook outbox's order (webhook_outbox.seq): one sequence, so two
-- nodes writing events for the same endpoint never take the same seq.
CREATE SEQUENCE webhook_outbox_seq;
-- The usage report over every site: its days and hours.
CREATE INDEX usage_daily_by_day ON usage_daily (day);
CREATE INDEX refused_hourly_by_hour ON refused_hourly (hour);
