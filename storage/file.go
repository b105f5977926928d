package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/oklog/ulid/v2"
)

// FileChunkSize is the size of the chunks Files.Put cuts a file into: big
// enough that a 100 MB file is 400 small transactions, small enough that
// a reader or writer holds a quarter MiB per file, never the file.
const FileChunkSize = 256 << 10

// File is the record of an uploaded file. Its bytes live in chunks beside
// it; the record is written last, so a record always has all its chunks.
type File struct {
	ID         string    `json:"id"`         // a ULID made from UploadedAt (the quota day is read from it)
	Site       string    `json:"site"`       // the site the visitor uploaded on
	VisitorID  string    `json:"visitor"`    // the uploader; only they (and admins) may read it
	SessionID  string    `json:"session"`    // the session the file was sent in
	Name       string    `json:"name"`       // the cleaned original name, for display only, never a path
	Type       string    `json:"type"`       // the MIME type the content was sniffed as
	Size       int64     `json:"size"`       // bytes, set by Put
	SHA256     string    `json:"sha256"`     // hex SHA-256 of the bytes, set by Put
	ChunkSize  int       `json:"chunkSize"`  // bytes per chunk (the last may be shorter), set by Put
	Chunks     int       `json:"chunks"`     // number of chunks, set by Put
	UploadedAt time.Time `json:"uploadedAt"` // when the upload started
}

// Validate reports whether the record can be stored.
func (f *File) Validate() error {
	switch {
	case !ValidID(f.ID):
		return errors.New("storage: file: id is not a ULID")
	case f.Site == "":
		return errors.New("storage: file: missing site")
	case f.VisitorID == "":
		return errors.New("storage: file: missing visitor")
	case f.SessionID == "":
		return errors.New("storage: file: missing session")
	case f.Name == "":
		return errors.New("storage: file: missing name")
	case f.Type == "":
		return errors.New("storage: file: missing type")
	case f.UploadedAt.IsZero():
		return errors.New("storage: file: missing uploadedAt")
	}
	return nil
}

// Ref is how a message names the file.
func (f *File) Ref() FileRef {
	return FileRef{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.Type, At: f.UploadedAt}
}

// Files keeps uploaded files in the store: the record under f/{file}, the
// bytes in chunks kept by the store's chunkStore (chunks.go; fc/{file}/{n}
// today) and the visitor's index entry (whose value is the file's size,
// for the quota) under vf/{visitor}/{file}.
//
// # Writes and crashes
//
// Put writes each chunk in its own small transaction as the bytes arrive
// (one commit in flight while the next chunk is read), then the record and
// the index entry together in one last transaction.
// Readers look files up by record, so until that last commit the file does
// not exist for anyone. If Put fails (a read error, a cut connection, the
// quota, a cancelled context) it deletes the chunks it wrote before it
// returns. If the process dies between the first chunk and the record,
// those chunks stay behind with no record: they are invisible (only
// DeleteOrphans and Verify list them) and cost only disk. DeleteOrphans,
// run at start-up before any upload can be in flight, removes them; file
// IDs are ULIDs, so it can also spare uploads younger than a cutoff.
//
// Use one Files per Store: commits that check the daily quota are
// serialised by its lock.
type Files struct {
	st   *Store
	db   *badger.DB
	bufs *ChunkBuffers

	// commitMu serialises the quota check with the record write: Badger
	// detects conflicts on keys read, not on keys a range scan would have
	// seen, so two commits of one visitor could both pass the check.
	commitMu sync.Mutex

	diskFull *atomic.Bool // the store's: refuse writes while the disk is nearly full (disk.go)
}

// NewFiles returns the file store of s.
func NewFiles(s *Store) *Files {
	return &Files{st: s, db: s.db, bufs: NewChunkBuffers(FileChunkSize), diskFull: &s.diskFull}
}

func fileKey(id string) []byte { return key("f", id) }

func visitorFileKey(visitorID, id string) []byte { return key("vf", visitorID, id) }

// Put stores the bytes of r, read to EOF, as the file f, and fills in f's
// Size, SHA256, ChunkSize and Chunks. The other fields must be set (see
// Validate). q caps the uploader's files and bytes for the UTC day of f.ID;
// the zero Quota caps nothing.
//
// It returns the error of r as it came (so callers can tell a cut
// connection from a too-large body), ErrQuotaExceeded when the file would
// pass q, or a store error. On any error nothing of the file remains.
func (fs *Files) Put(ctx context.Context, f *File, r io.Reader, q Quota) error {
	if err := f.Validate(); err != nil {
		return err
	}
	err := WriteFileChunks(ctx, f, r, fs.bufs, func(n int, b []byte, done func(error)) error {
		if fs.diskFull.Load() {
			return ErrDiskFull
		}
		return fs.st.chunks.write(f.ID, n, b, done)
	})
	if err != nil {
		return fs.abort(f.ID, err)
	}
	if err := fs.commit(ctx, f, q); err != nil {
		return fs.abort(f.ID, err)
	}
	return nil
}

// abort deletes what Put wrote of the file and returns err, joined with
// the delete's error if that failed too (DeleteOrphans cleans up then).
func (fs *Files) abort(id string, err error) error {
	if derr := fs.deleteChunks(id); derr != nil {
		return errors.Join(err, fmt.Errorf("storage: delete chunks of failed upload: %w", derr))
	}
	return err
}

// commit writes the record and the visitor's index entry after checking q.
func (fs *Files) commit(ctx context.Context, f *File, q Quota) error {
	uid, err := ulid.ParseStrict(f.ID)
	if err != nil {
		return fmt.Errorf("storage: put file: %w", err)
	}
	fs.commitMu.Lock()
	defer fs.commitMu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: put file: %w", err)
	}
	// update retries a conflict with a turn of the same visitor (both
	// read its record) and refuses while the disk is nearly full.
	err = fs.st.update(ctx, func(txn *badger.Txn) error {
		// Reading the visitor makes this commit conflict with an erase
		// that fences it meanwhile (fence, erase.go): a file never
		// outlives its visitor.
		var v Visitor
		if err := getJSON(txn, key("v", f.VisitorID), &v); err != nil {
			return err
		}
		if v.Erasing {
			return ErrErasing
		}
		if !q.Unlimited() {
			used, err := dayUsage(txn, f.VisitorID, ulid.Time(uid.Time()))
			if err != nil {
				return err
			}
			if !q.Allows(used, f.Size) {
				return ErrQuotaExceeded
			}
		}
		if err := putJSON(txn, fileKey(f.ID), f); err != nil {
			return err
		}
		var size [8]byte
		binary.BigEndian.PutUint64(size[:], uint64(f.Size))
		return txn.Set(visitorFileKey(f.VisitorID, f.ID), size[:])
	})
	if err != nil {
		return fmt.Errorf("storage: put file: %w", err)
	}
	return nil
}

// File returns the record of the file with the given ID, or ErrNotFound.
func (fs *Files) File(ctx context.Context, id string) (*File, error) {
	var f File
	err := fs.db.View(func(txn *badger.Txn) error { return getJSON(txn, fileKey(id), &f) })
	if err != nil {
		return nil, fmt.Errorf("storage: get file: %w", err)
	}
	return &f, nil
}

// Open returns a reader of f's bytes that seeks, loading one chunk at a
// time. It returns ErrNotFound for a file with no record. A read fails with
// ErrNotFound if the file is deleted while it is being read.
func (fs *Files) Open(ctx context.Context, f *File) (io.ReadSeekCloser, error) {
	if _, err := fs.File(ctx, f.ID); err != nil {
		return nil, err
	}
	return OpenFileChunks(f, fs.bufs, func(n int, buf []byte) ([]byte, error) {
		return fs.st.chunks.read(f.ID, n, buf)
	})
}

// Delete removes the file's record, index entry and chunks. It returns
// ErrNotFound if there is no record.
func (fs *Files) Delete(ctx context.Context, id string) error {
	err := fs.db.Update(func(txn *badger.Txn) error {
		var f File
		if err := getJSON(txn, fileKey(id), &f); err != nil {
			return err
		}
		if err := txn.Delete(fileKey(id)); err != nil {
			return err
		}
		return txn.Delete(visitorFileKey(f.VisitorID, id))
	})
	if err != nil {
		return fmt.Errorf("storage: delete file: %w", err)
	}
	if err := fs.deleteChunks(id); err != nil {
		return fmt.Errorf("storage: delete file: %w", err)
	}
	return nil
}

// deleteChunks removes every chunk of the file. It ignores any context:
// it cleans up after cancelled uploads too.
func (fs *Files) deleteChunks(id string) error {
	_, err := fs.st.chunks.delete(context.Background(), id)
	return err
}

// DeleteOrphans removes the chunks of files that have no record and whose
// ID is older than before (any age for a zero before): what an upload
// leaves behind when the process dies mid-way. At start-up, before any
// upload can be running, pass the zero time; later, a cutoff older than
// the longest upload. It returns how many files' chunks it removed.
func (fs *Files) DeleteOrphans(ctx context.Context, before time.Time) (int, error) {
	var orphans []string
	err := fs.st.chunks.files(ctx, func(id string) error {
		uid, err := ulid.ParseStrict(id)
		if err != nil || !(before.IsZero() || ulid.Time(uid.Time()).Before(before)) {
			return nil
		}
		_, err = fs.File(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			orphans = append(orphans, id)
		case err != nil:
			return err
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: delete orphan chunks: %w", err)
	}
	for _, id := range orphans {
		if err := fs.deleteChunks(id); err != nil {
			return 0, fmt.Errorf("storage: delete orphan chunks: %w", err)
		}
	}
	return len(orphans), nil
}

// VisitorFiles returns the records of the visitor's files, oldest first.
func (s *Store) VisitorFiles(ctx context.Context, visitorID string) ([]*File, error) {
	var files []*File
	err := s.db.View(func(txn *badger.Txn) (err error) {
		files, err = visitorFiles(txn, visitorID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: visitor files: %w", err)
	}
	return files, nil
}

// visitorFiles reads the records of the visitor's files, oldest first,
// skipping an index entry whose record is gone.
func visitorFiles(txn *badger.Txn, visitorID string) ([]*File, error) {
	fids, err := suffixesIn(txn, key("vf", visitorID, ""))
	if err != nil {
		return nil, err
	}
	var files []*File
	for _, fid := range fids {
		var f File
		switch err := getJSON(txn, fileKey(fid), &f); {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		files = append(files, &f)
	}
	return files, nil
}
