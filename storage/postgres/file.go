package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/storage"
)

// Files keeps uploaded files in PostgreSQL: the record as a row of files,
// the bytes as rows of file_chunks (chunks.go), storage.FileChunkSize
// each. It is the PostgreSQL twin of storage.Files, with the same methods,
// answers and errors.
//
// # Writes and crashes
//
// Put writes each chunk in its own statement (a COPY) as the bytes arrive
// (one in flight while the next chunk is read), so no transaction stays
// open for as long as a slow upload and an upload holds two chunks in
// memory, never the file. Then one short transaction locks the uploader's
// visitor row, checks the quota and inserts the file's row: uploads of
// one visitor commit one after the other, so two of them can never both
// pass a quota only one fits, whichever node they run on. Readers look
// files up by row, so until that commit the file does not exist for
// anyone. If Put fails it deletes the chunks it wrote before it returns;
// if the process dies mid-way the chunks stay behind with no row, and
// DeleteOrphans removes them.
//
// Chunk reads and writes take at most a quarter of the pool's connections
// at once (at least one; chunkConns), so uploads and downloads queue for
// the database rather than starve the turn path and the admin of
// connections. Use one Files per Store: the share is counted by each.
type Files struct {
	st     *Store
	bufs   *storage.ChunkBuffers
	chunks chan struct{} // a token per chunk query running
}

// NewFiles returns the file store of s.
func NewFiles(s *Store) *Files {
	return &Files{st: s, bufs: storage.NewChunkBuffers(storage.FileChunkSize),
		chunks: make(chan struct{}, chunkConns(s.pool.Config().MaxConns))}
}

// chunkConns is how many chunk queries may run at once on a pool of
// maxConns connections: a quarter of them, at least one.
func chunkConns(maxConns int32) int {
	return max(1, int(maxConns)/4)
}

// chunkSlot waits for a turn to run a chunk query and returns its release.
func (fs *Files) chunkSlot(ctx context.Context) (release func(), err error) {
	select {
	case fs.chunks <- struct{}{}:
		return func() { <-fs.chunks }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fileColumns are the files table's columns in the order scanFile reads
// them and Put writes them.
const fileColumns = `id, site, visitor_id, session_id, name, type, size, sha256, chunk_size, chunks, uploaded_at`

// The queries of files, each answered by an index (TestFiles_Explain).
const (
	lockUploader       = `SELECT erasing FROM visitors WHERE id = $1 FOR UPDATE`
	insertFile         = `INSERT INTO files (` + fileColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	selectFile         = `SELECT ` + fileColumns + ` FROM files WHERE id = $1`
	deleteFile         = `DELETE FROM files WHERE id = $1`
	selectVisitorFiles = `SELECT ` + fileColumns + ` FROM files WHERE visitor_id = $1 ORDER BY id`
)

// scanFile reads a row of fileColumns.
func scanFile(row pgx.Row) (*storage.File, error) {
	var f storage.File
	err := row.Scan(&f.ID, &f.Site, &f.VisitorID, &f.SessionID, &f.Name, &f.Type,
		&f.Size, &f.SHA256, &f.ChunkSize, &f.Chunks, &f.UploadedAt)
	if err != nil {
		return nil, notFound(err)
	}
	f.UploadedAt = f.UploadedAt.UTC()
	return &f, nil
}

// Put stores the bytes of r, read to EOF, as the file f, and fills in f's
// Size, SHA256, ChunkSize and Chunks. The other fields must be set (see
// storage.File.Validate). q caps the uploader's files and bytes for the
// UTC day of f.ID; the zero Quota caps nothing. UploadedAt is kept to the
// microsecond.
//
// It returns the error of r as it came (so callers can tell a cut
// connection from a too-large body), storage.ErrQuotaExceeded when the
// file would pass q, storage.ErrNotFound when the visitor has no record,
// storage.ErrErasing while it is being erased, or a store error. On any
// error nothing of the file remains.
func (fs *Files) Put(ctx context.Context, f *storage.File, r io.Reader, q storage.Quota) error {
	if err := f.Validate(); err != nil {
		return err
	}
	f.UploadedAt = utc(f.UploadedAt)
	err := storage.WriteFileChunks(ctx, f, r, fs.bufs, func(n int, b []byte, done func(error)) error {
		go func() { done(fs.writeChunk(ctx, f.ID, n, b)) }()
		return nil
	})
	if err == nil {
		err = fs.commit(ctx, f, q)
	}
	if err != nil {
		return fs.abort(f.ID, unavailable(err))
	}
	return nil
}

// abort deletes what Put wrote of the file and returns err, joined with
// the delete's error if that failed too (DeleteOrphans cleans up then).
// It runs on its own context: it cleans up after cancelled uploads too.
func (fs *Files) abort(id string, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if derr := deleteUnfiledChunks(ctx, fs.st.pool, id); derr != nil {
		return errors.Join(err, fmt.Errorf("postgres: delete chunks of failed upload: %w", derr))
	}
	return err
}

// commit inserts the file's row after checking the visitor and q, in one
// transaction holding the visitor's row lock.
func (fs *Files) commit(ctx context.Context, f *storage.File, q storage.Quota) error {
	uid, err := ulid.ParseStrict(f.ID)
	if err != nil {
		return fmt.Errorf("postgres: put file: %w", err)
	}
	err = pgx.BeginFunc(ctx, fs.st.pool, func(tx pgx.Tx) error {
		// The lock orders this commit after any other upload of the
		// visitor and after an erase that fences it (erasing), so a file
		// never outlives its visitor and the quota sum below is current.
		var erasing bool
		if err := tx.QueryRow(ctx, lockUploader, f.VisitorID).Scan(&erasing); err != nil {
			return notFound(err)
		}
		if erasing {
			return storage.ErrErasing
		}
		if !q.Unlimited() {
			used, err := dayUsage(ctx, tx, f.VisitorID, ulid.Time(uid.Time()))
			if err != nil {
				return err
			}
			if !q.Allows(used, f.Size) {
				return storage.ErrQuotaExceeded
			}
		}
		// The chunks must all be there: DeleteOrphans run on another
		// node with too late a cutoff may have taken them meanwhile.
		var chunks int
		if err := tx.QueryRow(ctx, countChunks, f.ID).Scan(&chunks); err != nil {
			return err
		}
		if chunks != f.Chunks {
			return fmt.Errorf("%d of the file's %d chunks are stored", chunks, f.Chunks)
		}
		_, err := tx.Exec(ctx, insertFile,
			f.ID, f.Site, f.VisitorID, f.SessionID, f.Name, f.Type, f.Size, f.SHA256, f.ChunkSize, f.Chunks, f.UploadedAt)
		if isUniqueViolation(err) {
			err = storage.ErrExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: put file: %w", err)
	}
	return nil
}

// File returns the record of the file with the given ID, or
// storage.ErrNotFound.
func (fs *Files) File(ctx context.Context, id string) (*storage.File, error) {
	f, err := scanFile(fs.st.pool.QueryRow(ctx, selectFile, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: get file: %w", unavailable(err))
	}
	return f, nil
}

// Open returns a reader of f's bytes that seeks, loading one chunk at a
// time on ctx. It returns storage.ErrNotFound for a file with no record.
// A read fails with storage.ErrNotFound if the file is deleted while it is
// being read.
func (fs *Files) Open(ctx context.Context, f *storage.File) (io.ReadSeekCloser, error) {
	if _, err := fs.File(ctx, f.ID); err != nil {
		return nil, err
	}
	return storage.OpenFileChunks(f, fs.bufs, func(n int, buf []byte) ([]byte, error) {
		return fs.readChunk(ctx, f.ID, n, buf)
	})
}

// Delete removes the file's row and chunks in one transaction. It returns
// storage.ErrNotFound if there is no row.
func (fs *Files) Delete(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, fs.st.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, deleteFile, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		_, err = tx.Exec(ctx, deleteChunks, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete file: %w", err)
	}
	return nil
}

// VisitorFiles returns the records of the visitor's files, oldest first.
func (s *Store) VisitorFiles(ctx context.Context, visitorID string) ([]*storage.File, error) {
	rows, _ := s.pool.Query(ctx, selectVisitorFiles, visitorID)
	files, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.File, error) { return scanFile(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: visitor files: %w", err)
	}
	return nilIfEmpty(files), nil
}
