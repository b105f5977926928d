-- Uploaded files: one row per file in files, its bytes in file_chunks.
-- An upload writes its chunks first, each in its own statement as the
-- bytes arrive, then the file's row (after the quota check) in one last
-- transaction: a file exists once its row does. Chunks with no row are
-- what an upload cut by a crash leaves behind; they are never read, and
-- Files.DeleteOrphans removes them.

CREATE TABLE files (
    id          TEXT PRIMARY KEY,           -- ULID of the upload's start: the quota counts the file on its day
    site        TEXT NOT NULL,
    visitor_id  TEXT NOT NULL,              -- the uploader: only they (and admins) may read it
    session_id  TEXT NOT NULL,              -- the session it was sent in
    name        TEXT NOT NULL,              -- the cleaned original name, for display only, never a path
    type        TEXT NOT NULL,              -- the MIME type the content was sniffed as
    size        BIGINT NOT NULL,            -- bytes
    sha256      TEXT NOT NULL,              -- hex SHA-256 of the bytes
    chunk_size  INT NOT NULL,               -- bytes per chunk; the last may be shorter
    chunks      INT NOT NULL,               -- rows in file_chunks
    uploaded_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE files IS 'Uploaded files, one row each; the bytes are in file_chunks. A row is written once every chunk is stored.';
COMMENT ON COLUMN files.id IS 'ULID of the upload''s start; the daily quota counts the file on the UTC day of its ID';
COMMENT ON COLUMN files.chunk_size IS 'bytes per row of file_chunks; the last chunk may be shorter';
-- A visitor's files, oldest first; a day's quota is one range of it.
CREATE INDEX files_by_visitor ON files (visitor_id, id);

CREATE TABLE file_chunks (
    file_id     TEXT NOT NULL,              -- files.id (no foreign key: chunks are written before their file's row)
    n           INT NOT NULL,               -- the chunk's place in the file, from 0
    data        BYTEA NOT NULL,
    PRIMARY KEY (file_id, n)
);
COMMENT ON TABLE file_chunks IS 'The bytes of uploaded files, in chunks of files.chunk_size. Chunks whose file has no row in files belong to an upload in progress or cut by a crash.';
