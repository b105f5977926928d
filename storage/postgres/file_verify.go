package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// The checks of verifyFiles, each one pass over its tables.
const (
	// Files whose chunks are not 0..chunks-1 with size bytes in all
	// (octet_length reads a TOASTed value's size, not its bytes).
	verifyChunks = `SELECT f.id, f.chunks, f.size, count(c.n), COALESCE(sum(octet_length(c.data)), 0), COALESCE(max(c.n), -1)
		FROM files f LEFT JOIN file_chunks c ON c.file_id = f.id
		GROUP BY f.id, f.chunks, f.size
		HAVING count(c.n) <> f.chunks OR COALESCE(sum(octet_length(c.data)), 0) <> f.size OR COALESCE(max(c.n), -1) <> f.chunks - 1
		ORDER BY f.id LIMIT 1000`
	verifyOwners = `SELECT f.id, f.visitor_id FROM files f
		WHERE NOT EXISTS (SELECT 1 FROM visitors v WHERE v.id = f.visitor_id)
		ORDER BY f.id LIMIT 1000`
	countOrphans = `SELECT count(DISTINCT c.file_id) FROM file_chunks c
		WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.id = c.file_id)`
)

// verifyFiles checks the files on tx, Verify's snapshot, as
// storage.Store.Verify checks Badger's: every file's visitor has a row and
// all its chunks are stored, numbered from 0, with the file's size in all.
// It adds the files to r.Files, what is wrong to r.Problems and the files
// with chunks but no row (uploads in flight, or cut by a crash) to
// r.OrphanChunkFiles.
func verifyFiles(ctx context.Context, tx pgx.Tx, r *storage.VerifyReport) error {
	var files, orphans int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM files`).Scan(&files); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, countOrphans).Scan(&orphans); err != nil {
		return err
	}
	r.Files += files
	r.OrphanChunkFiles += orphans
	rows, _ := tx.Query(ctx, verifyChunks)
	var id string
	var chunks, stored, last int
	var size, bytes int64
	_, err := pgx.ForEachRow(rows, []any{&id, &chunks, &size, &stored, &bytes, &last}, func() error {
		r.Problemf("file %s: chunks 0..%d of %d bytes stored (%d chunks), its row says %d chunks of %d bytes", id, last, bytes, stored, chunks, size)
		return nil
	})
	if err != nil {
		return err
	}
	rows, _ = tx.Query(ctx, verifyOwners)
	var visitor string
	_, err = pgx.ForEachRow(rows, []any{&id, &visitor}, func() error {
		r.Problemf("file %s: visitor %s has no row", id, visitor)
		return nil
	})
	return err
}
