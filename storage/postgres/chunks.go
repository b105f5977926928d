package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/parley-chat/parley/storage"
)

// The bytes of files, as rows of file_chunks (file_id, n, data): one
// statement per chunk, each its own transaction.

// The queries of file_chunks, each answered by its primary key
// (TestFiles_Explain) but deleteOrphans, which reads it all.
const (
	selectChunk   = `SELECT data FROM file_chunks WHERE file_id = $1 AND n = $2`
	countChunks   = `SELECT count(*) FROM file_chunks WHERE file_id = $1`
	deleteChunks  = `DELETE FROM file_chunks WHERE file_id = $1`
	deleteUnfiled = `DELETE FROM file_chunks WHERE file_id = $1
		AND NOT EXISTS (SELECT 1 FROM files WHERE id = $1)`
	deleteOrphans = `WITH gone AS (
		DELETE FROM file_chunks c WHERE ($1::text IS NULL OR c.file_id < $1)
		AND NOT EXISTS (SELECT 1 FROM files f WHERE f.id = c.file_id)
		RETURNING c.file_id)
		SELECT count(DISTINCT file_id) FROM gone`
)

// copyChunk is the statement writeChunk streams a chunk's row to: the
// form pgx's own CopyFrom sends, which CockroachDB also takes.
const copyChunk = `COPY file_chunks (file_id, n, data) FROM STDIN BINARY`

// writeChunk stores b as chunk n of the file, durably once it returns.
//
// It sends the row as COPY data straight from b through pgconn's pooled
// 64 KiB buffer: an INSERT's parameters would be copied into buffers
// that grow to the chunk's size and are dropped after each statement,
// twice the file's size in garbage per upload (TestFiles_StreamMemory).
func (fs *Files) writeChunk(ctx context.Context, id string, n int, b []byte) error {
	release, err := fs.chunkSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	conn, err := fs.st.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	_, err = conn.Conn().PgConn().CopyFrom(ctx, newChunkRow(id, n, b), copyChunk)
	return err
}

// chunkRow reads as one row of file_chunks in PostgreSQL's binary COPY
// format: the header, the tuple (the file ID as text, n as int4, the
// bytes as bytea) and the trailer, without copying the bytes.
type chunkRow struct {
	head []byte // the header and the tuple up to the bytes' length
	data []byte
	tail []byte
}

func newChunkRow(id string, n int, data []byte) *chunkRow {
	head := make([]byte, 0, 19+2+4+len(id)+8+4)
	head = append(head, "PGCOPY\n\xff\r\n\x00"...) // signature
	head = binary.BigEndian.AppendUint32(head, 0)  // flags
	head = binary.BigEndian.AppendUint32(head, 0)  // header extension
	head = binary.BigEndian.AppendUint16(head, 3)  // fields
	head = binary.BigEndian.AppendUint32(head, uint32(len(id)))
	head = append(head, id...)
	head = binary.BigEndian.AppendUint32(head, 4)
	head = binary.BigEndian.AppendUint32(head, uint32(n))
	head = binary.BigEndian.AppendUint32(head, uint32(len(data)))
	return &chunkRow{head: head, data: data, tail: []byte{0xff, 0xff}} // the trailer: -1 fields
}

func (r *chunkRow) Read(p []byte) (int, error) {
	k := 0
	for _, part := range []*[]byte{&r.head, &r.data, &r.tail} {
		c := copy(p[k:], *part)
		*part = (*part)[c:]
		k += c
	}
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}

// readChunk returns chunk n of the file, read into buf's backing array
// when it is large enough, or storage.ErrNotFound.
func (fs *Files) readChunk(ctx context.Context, id string, n int, buf []byte) ([]byte, error) {
	release, err := fs.chunkSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	dst := chunkBuf{buf[:0]}
	err = fs.st.pool.QueryRow(ctx, selectChunk, id, n).Scan(&dst)
	if err != nil {
		return nil, notFound(err)
	}
	return dst.b, nil
}

// chunkBuf scans a bytea into a buffer it reuses: pgx's own []byte target
// would allocate a chunk's worth on every read.
type chunkBuf struct{ b []byte }

// ScanBytes copies v, which pgx owns, into the buffer (pgtype.BytesScanner).
func (c *chunkBuf) ScanBytes(v []byte) error {
	c.b = append(c.b[:0], v...)
	return nil
}

// deleteUnfiledChunks removes the file's chunks unless the file has a row:
// a failed upload never takes the bytes of a stored file with it, even
// one whose ID it wrongly reused.
func deleteUnfiledChunks(ctx context.Context, q querier, id string) error {
	_, err := q.Exec(ctx, deleteUnfiled, id)
	return err
}

// DeleteOrphans removes the chunks of files that have no row and whose ID
// is older than before (any age for a zero before): what an upload leaves
// behind when its process dies mid-way. Pass the zero time only when no
// upload can be in flight on any node sharing the database; otherwise a
// cutoff older than the longest upload. It returns how many files' chunks
// it removed.
func (fs *Files) DeleteOrphans(ctx context.Context, before time.Time) (int, error) {
	// File IDs sort by time: below the smallest ID of before's
	// millisecond is older. The zero time sets no bound (NULL).
	var bound *string
	if !before.IsZero() {
		b := storage.MinID(before)
		bound = &b
	}
	var n int
	err := fs.st.pool.QueryRow(ctx, deleteOrphans, bound).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete orphan chunks: %w", err)
	}
	return n, nil
}
