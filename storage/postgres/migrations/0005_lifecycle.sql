-- The lifecycle of what a conversation wrote: erasing a visitor,
-- retention, and sessions that end by timing out.

-- Visitors whose erasure began and has not finished (the process died
-- half-way): the next EraseVisitor or retention sweep finishes them.
CREATE INDEX visitors_erasing ON visitors (id) WHERE erasing;

-- Sessions that ended by timing out (idle past their site's session
-- timeout): session.ended with reason "timeout" was written to the
-- webhook outbox in the same transaction as the row, so never twice.
CREATE TABLE sessions_timed_out (
    session_id  TEXT PRIMARY KEY,
    ended_at    TIMESTAMPTZ NOT NULL   -- the event's time: last activity plus the timeout
);

-- Sessions a socket kept open while the idle sweep's watermark passed
-- them: each pass looks at them again until they end or go on.
CREATE TABLE sessions_idle_held (
    session_id  TEXT PRIMARY KEY,
    held_at     TIMESTAMPTZ NOT NULL
);

-- Where the idle sweep stands: before "at", every session was looked at.
CREATE TABLE sweep_marks (
    name        TEXT PRIMARY KEY,      -- idle: the idle sweep's watermark
    at          TIMESTAMPTZ NOT NULL
);
