-- Several Parley nodes on one database (owners.go): the nodes and which
-- of them owns each live session, the one node that writes its turns.

-- The Parley processes sharing this database. A node renews its lease
-- every few seconds; one whose lease has passed is dead for good (it
-- rejoins under a new ID), and its sessions may be taken over. The
-- database's clock is the only clock: nodes never compare their own.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,          -- random, made at each start
    name         TEXT NOT NULL,             -- host and process, for operators
    started_at   TIMESTAMPTZ NOT NULL,
    lease_until  TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE nodes IS 'Parley processes sharing this database; a node whose lease_until has passed is dead';

-- The owner of each live session: the node that holds its state and
-- alone records its turns. A row lives while the owner has a socket or
-- an upload of the session; other nodes forward to the owner over the
-- bus, and take the session over when the owner's lease has passed.
CREATE TABLE session_owners (
    session_id  TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL,
    since       TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE session_owners IS 'the node that owns each live session (several nodes); stale rows of dead nodes are taken over or removed';

-- A node's sessions: its release, its departure, the cleanup of a dead
-- node's rows.
CREATE INDEX session_owners_by_node ON session_owners (node_id);
