-- The webhook outbox: an event waits here for each endpoint that wants
-- it, written in the same transaction as the change it reports, until it
-- is delivered (or dropped); the delivery log keeps the last attempts.
-- An endpoint is named "{site}/{id}".

CREATE TABLE webhook_outbox (
    endpoint        TEXT NOT NULL,
    seq             BIGINT NOT NULL,        -- the endpoint's order: only grows
    site            TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    type            TEXT NOT NULL,          -- session.started, message.created, ...
    lane            TEXT NOT NULL,          -- the session (or visitor) order is kept within
    visitor_id      TEXT NOT NULL DEFAULT '',
    at              TIMESTAMPTZ NOT NULL,
    attempts        INT NOT NULL DEFAULT 0,
    next_at         TIMESTAMPTZ,
    first_failed_at TIMESTAMPTZ,
    resent          BOOLEAN NOT NULL DEFAULT false,
    body            BYTEA NOT NULL,         -- the body as sent
    PRIMARY KEY (endpoint, seq)
);
CREATE INDEX webhook_outbox_by_visitor ON webhook_outbox (visitor_id);

CREATE TABLE webhook_log (
    endpoint    TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    attempt_id  TEXT NOT NULL,              -- 16 hex digits, for a resend
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    lane        TEXT NOT NULL,
    visitor_id  TEXT NOT NULL DEFAULT '',
    at          TIMESTAMPTZ NOT NULL,       -- when the attempt began
    attempt     INT NOT NULL,               -- 1 for the event's first
    outcome     TEXT NOT NULL,
    status      INT NOT NULL DEFAULT 0,     -- the HTTP status, 0 for none
    error       TEXT NOT NULL DEFAULT '',
    took_ms     BIGINT NOT NULL,
    next_at     TIMESTAMPTZ,
    resent      BOOLEAN NOT NULL DEFAULT false,
    body        BYTEA NOT NULL,
    PRIMARY KEY (endpoint, seq)
);
CREATE INDEX webhook_log_by_visitor ON webhook_log (visitor_id);

CREATE TABLE webhook_endpoints (
    endpoint        TEXT PRIMARY KEY,
    last_success_at TIMESTAMPTZ,
    last_failure_at TIMESTAMPTZ,
    failing_since   TIMESTAMPTZ,
    paused_at       TIMESTAMPTZ
);
