package contract

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/parley-chat/parley/storage"
)

// FilesEngine is what the files suite tests: an engine's file store (the
// fileupload.Store methods and DeleteOrphans), the visitor records files
// need, and two test hooks that see below the API.
type FilesEngine interface {
	Put(ctx context.Context, f *storage.File, r io.Reader, q storage.Quota) error
	File(ctx context.Context, id string) (*storage.File, error)
	Open(ctx context.Context, f *storage.File) (io.ReadSeekCloser, error)
	Delete(ctx context.Context, id string) error
	DayUsage(ctx context.Context, visitorID string, t time.Time) (storage.FileUsage, error)
	DeleteOrphans(ctx context.Context, before time.Time) (int, error)

	CreateVisitor(ctx context.Context, v *storage.Visitor) error
	VisitorFiles(ctx context.Context, visitorID string) ([]*storage.File, error)

	// StoredFiles counts the file records and the chunks stored, with
	// or without a record: what a failed upload must leave unchanged.
	StoredFiles(tb testing.TB) (records, chunks int)
	// WriteOrphan stores n chunks of a file that has no record, as a
	// crash in the middle of an upload leaves them.
	WriteOrphan(tb testing.TB, id string, n int)
}

// fileDay is the suite's upload day, away from midnight.
var fileDay = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// filesEnv is an engine with one visitor, who uploads.
type filesEnv struct {
	FilesEngine
	visitor string
}

func newFilesEnv(t *testing.T, open func(testing.TB) FilesEngine) *filesEnv {
	t.Helper()
	e := &filesEnv{FilesEngine: open(t)}
	e.visitor = e.newVisitor(t)
	return e
}

// newVisitor creates a visitor and returns its ID.
func (e *filesEnv) newVisitor(t *testing.T) string {
	t.Helper()
	v := &storage.Visitor{ID: storage.NewID(fileDay), Site: "demo", CreatedAt: fileDay}
	if err := e.CreateVisitor(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	return v.ID
}

// file is a record of the env's visitor, uploaded at at.
func (e *filesEnv) file(at time.Time) *storage.File {
	return &storage.File{
		ID: storage.NewID(at), Site: "demo", VisitorID: e.visitor, SessionID: storage.NewID(fileDay),
		Name: "a.bin", Type: "application/octet-stream", UploadedAt: at,
	}
}

// expectStored checks the counts of records and chunks.
func (e *filesEnv) expectStored(t *testing.T, records, chunks int) {
	t.Helper()
	if r, c := e.StoredFiles(t); r != records || c != chunks {
		t.Errorf("stored %d records and %d chunks, want %d and %d", r, c, records, chunks)
	}
}

// randomBytes returns n bytes that are the same for the same n.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestFiles runs the files suite on the engine open returns (a fresh,
// empty one for each call).
func TestFiles(t *testing.T, open func(testing.TB) FilesEngine) {
	t.Run("PutOpen", func(t *testing.T) { testFilesPutOpen(t, open) })
	t.Run("PutFails", func(t *testing.T) { testFilesPutFails(t, open) })
	t.Run("Quota", func(t *testing.T) { testFilesQuota(t, open) })
	t.Run("QuotaRace", func(t *testing.T) { testFilesQuotaRace(t, open) })
	t.Run("Delete", func(t *testing.T) { testFilesDelete(t, open) })
	t.Run("UnknownID", func(t *testing.T) { testFilesUnknownID(t, open) })
	t.Run("Seek", func(t *testing.T) { testFilesSeek(t, open) })
	t.Run("DeleteOrphans", func(t *testing.T) { testFilesDeleteOrphans(t, open) })
}

func testFilesPutOpen(t *testing.T, open func(testing.TB) FilesEngine) {
	e := newFilesEnv(t, open)
	ctx := context.Background()
	const cs = storage.FileChunkSize
	var ids []string
	for i, size := range []int{0, 1, 4095, cs - 1, cs, cs + 1, 3*cs + 17} {
		data := randomBytes(size)
		// Nanoseconds: an engine that keeps less sets the record's
		// time to what it keeps, so the record read back equals it.
		f := e.file(fileDay.Add(time.Duration(i)*time.Second + 123456789))
		// One byte per read at first, to prove short reads fill chunks.
		body := io.MultiReader(iotest.OneByteReader(bytes.NewReader(data[:min(size, 10)])), bytes.NewReader(data[min(size, 10):]))
		if err := e.Put(ctx, f, body, storage.Quota{}); err != nil {
			t.Fatalf("size %d: put: %v", size, err)
		}
		ids = append(ids, f.ID)
		sum := sha256.Sum256(data)
		if got, want := f.SHA256, hex.EncodeToString(sum[:]); got != want {
			t.Errorf("size %d: sha256 %s, want %s", size, got, want)
		}
		if f.Size != int64(size) || f.ChunkSize != cs || f.Chunks != (size+cs-1)/cs {
			t.Errorf("size %d: got size %d, %d chunks of %d", size, f.Size, f.Chunks, f.ChunkSize)
		}
		got, err := e.File(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameFile(got, f) {
			t.Errorf("size %d: stored record %+v, want %+v", size, got, f)
		}
		r, err := e.Open(ctx, got)
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(r, data); err != nil {
			t.Errorf("size %d: %v", size, err)
		}
		// Seek and read across a chunk boundary.
		if size > cs+3 {
			if _, err := r.Seek(cs-3, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 6)
			if _, err := io.ReadFull(r, b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, data[cs-3:cs+3]) {
				t.Errorf("size %d: bytes across the boundary %x, want %x", size, b, data[cs-3:cs+3])
			}
		}
		r.Close()
	}
	e.expectStored(t, 7, 1+1+1+1+2+4)

	files, err := e.VisitorFiles(ctx, e.visitor)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.ID)
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Errorf("visitor files %v, want %v, oldest first", got, ids)
	}
	if files, err := e.VisitorFiles(ctx, storage.NewID(fileDay)); err != nil || len(files) != 0 {
		t.Errorf("files of a visitor with none: %v, %v", files, err)
	}
}

func testFilesPutFails(t *testing.T, open func(testing.TB) FilesEngine) {
	boom := errors.New("connection cut")
	for _, tc := range []struct {
		name string
		// prepare may change the record; it returns the body and the
		// context.
		prepare func(t *testing.T, e *filesEnv, f *storage.File) (io.Reader, context.Context)
		want    error // nil: any error
	}{
		{"ReadErrorHalfWay", func(t *testing.T, e *filesEnv, f *storage.File) (io.Reader, context.Context) {
			return io.MultiReader(bytes.NewReader(randomBytes(3*storage.FileChunkSize+5)), iotest.ErrReader(boom)), context.Background()
		}, boom},
		// A truncated multipart body reads as io.ErrUnexpectedEOF: Put
		// must not mistake it for the end of the file.
		{"UnexpectedEOF", func(t *testing.T, e *filesEnv, f *storage.File) (io.Reader, context.Context) {
			return io.MultiReader(bytes.NewReader(randomBytes(100)), iotest.ErrReader(io.ErrUnexpectedEOF)), context.Background()
		}, io.ErrUnexpectedEOF},
		{"Cancelled", func(t *testing.T, e *filesEnv, f *storage.File) (io.Reader, context.Context) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return bytes.NewReader(randomBytes(10)), ctx
		}, context.Canceled},
		{"CancelledHalfWay", func(t *testing.T, e *filesEnv, f *storage.File) (io.Reader, context.Context) {
			ctx, cancel := context.WithCancel(context.Background())
			r := io.MultiReader(bytes.NewReader(randomBytes(2*storage.FileChunkSize)),
				readerFunc(func([]byte) (int, error) { cancel(); return 0, io.EOF }),
				bytes.NewReader(randomBytes(storage.FileChunkSize)))
			return r, ctx
		}, context.Canceled},
		{"Invalid", func(t *testing.T, e *filesEnv, f *storage.File) (io.Reader, context.Context) {
			f.Name = ""
			return strings.NewReader("x"), context.Background()
		}, nil},
		{"BadID", func(t *testing.T, e *filesEnv, f *storage.File) (io.Reader, context.Context) {
			f.ID = "not-a-ulid"
			return strings.NewReader("x"), context.Background()
		}, nil},
		{"UnknownVisitor", func(t *testing.T, e *filesEnv, f *storage.File) (io.Reader, context.Context) {
			f.VisitorID = storage.NewID(fileDay)
			return bytes.NewReader(randomBytes(storage.FileChunkSize + 1)), context.Background()
		}, storage.ErrNotFound},
		{"ErasingVisitor", func(t *testing.T, e *filesEnv, f *storage.File) (io.Reader, context.Context) {
			v := &storage.Visitor{ID: storage.NewID(fileDay), Site: "demo", CreatedAt: fileDay, Erasing: true}
			if err := e.CreateVisitor(context.Background(), v); err != nil {
				t.Fatal(err)
			}
			f.VisitorID = v.ID
			return bytes.NewReader(randomBytes(10)), context.Background()
		}, storage.ErrErasing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFilesEnv(t, open)
			f := e.file(fileDay)
			body, ctx := tc.prepare(t, e, f)
			err := e.Put(ctx, f, body, storage.Quota{})
			switch {
			case err == nil:
				t.Fatal("stored the file")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			e.expectStored(t, 0, 0)
			if _, err := e.File(context.Background(), f.ID); !errors.Is(err, storage.ErrNotFound) && f.ID != "not-a-ulid" {
				t.Errorf("record after a failed put: %v, want ErrNotFound", err)
			}
		})
	}
}

// sameFile reports whether two records are equal, their times to the
// instant.
func sameFile(a, b *storage.File) bool {
	x, y := *a, *b
	x.UploadedAt, y.UploadedAt = time.Time{}, time.Time{}
	return x == y && a.UploadedAt.Equal(b.UploadedAt)
}

// readerFunc is a function as an io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

func testFilesQuota(t *testing.T, open func(testing.TB) FilesEngine) {
	e := newFilesEnv(t, open)
	ctx := context.Background()
	q := storage.Quota{Files: 3, Bytes: 1000}
	other := e.newVisitor(t)
	put := func(at time.Time, visitor string, n int) error {
		f := e.file(at)
		f.VisitorID = visitor
		return e.Put(ctx, f, bytes.NewReader(make([]byte, n)), q)
	}
	if err := put(fileDay, e.visitor, 600); err != nil {
		t.Fatal(err)
	}
	if err := put(fileDay.Add(time.Minute), e.visitor, 401); !errors.Is(err, storage.ErrQuotaExceeded) {
		t.Fatalf("bytes past the quota: got %v, want ErrQuotaExceeded", err)
	}
	if err := put(fileDay.Add(time.Minute), e.visitor, 400); err != nil {
		t.Fatalf("bytes up to the quota: %v", err)
	}
	if err := put(fileDay.Add(2*time.Minute), e.visitor, 0); err != nil {
		t.Fatal(err)
	}
	if err := put(fileDay.Add(3*time.Minute), e.visitor, 0); !errors.Is(err, storage.ErrQuotaExceeded) {
		t.Fatalf("a fourth file: got %v, want ErrQuotaExceeded", err)
	}
	// Another visitor and the next UTC day start afresh; the day ends
	// at midnight UTC.
	if err := put(fileDay, other, 1000); err != nil {
		t.Fatalf("other visitor: %v", err)
	}
	next := fileDay.Truncate(24 * time.Hour).Add(24 * time.Hour)
	if err := put(next, e.visitor, 1000); err != nil {
		t.Fatalf("next day: %v", err)
	}
	if err := put(next.Add(-time.Millisecond), e.visitor, 1); !errors.Is(err, storage.ErrQuotaExceeded) {
		t.Fatalf("the day's last millisecond: got %v, want ErrQuotaExceeded", err)
	}
	for _, tc := range []struct {
		visitor string
		at      time.Time
		want    storage.FileUsage
	}{
		{e.visitor, fileDay, storage.FileUsage{Files: 3, Bytes: 1000}},
		{e.visitor, next.Add(time.Hour), storage.FileUsage{Files: 1, Bytes: 1000}},
		{e.visitor, fileDay.Add(-24 * time.Hour), storage.FileUsage{}},
		{other, fileDay, storage.FileUsage{Files: 1, Bytes: 1000}},
		{storage.NewID(fileDay), fileDay, storage.FileUsage{}},
	} {
		u, err := e.DayUsage(ctx, tc.visitor, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if u != tc.want {
			t.Errorf("usage of %s on %s: %+v, want %+v", tc.visitor, tc.at, u, tc.want)
		}
	}
	u, _ := e.DayUsage(ctx, e.visitor, fileDay)
	if files, bytes := q.Remaining(u); files != 0 || bytes != 0 {
		t.Errorf("remaining %d files, %d bytes; want 0, 0", files, bytes)
	}
	// 5 records; the 4 non-empty files' chunks, nothing of the refused ones.
	e.expectStored(t, 5, 4)
}

// testFilesQuotaRace: uploads of one visitor racing for a quota only one
// of them fits; exactly one is stored, the others get ErrQuotaExceeded and
// leave nothing.
func testFilesQuotaRace(t *testing.T, open func(testing.TB) FilesEngine) {
	for _, q := range []storage.Quota{{Files: 1}, {Bytes: storage.FileChunkSize + 10}} {
		e := newFilesEnv(t, open)
		const racers = 6
		var wg sync.WaitGroup
		errs := make([]error, racers)
		start := make(chan struct{})
		for i := range racers {
			f := e.file(fileDay.Add(time.Duration(i) * time.Millisecond))
			wg.Go(func() {
				<-start
				errs[i] = e.Put(context.Background(), f, bytes.NewReader(randomBytes(storage.FileChunkSize+1)), q)
			})
		}
		close(start)
		wg.Wait()
		stored := 0
		for _, err := range errs {
			switch {
			case err == nil:
				stored++
			case !errors.Is(err, storage.ErrQuotaExceeded):
				t.Errorf("quota %+v: racer: %v, want nil or ErrQuotaExceeded", q, err)
			}
		}
		if stored != 1 {
			t.Errorf("quota %+v: %d racers stored their file, want 1", q, stored)
		}
		e.expectStored(t, 1, 2)
		if u, err := e.DayUsage(context.Background(), e.visitor, fileDay); err != nil || u.Files != 1 {
			t.Errorf("quota %+v: usage %+v, %v; want 1 file", q, u, err)
		}
	}
}

func testFilesDelete(t *testing.T, open func(testing.TB) FilesEngine) {
	e := newFilesEnv(t, open)
	ctx := context.Background()
	kept, f := e.file(fileDay), e.file(fileDay.Add(time.Second))
	for _, f := range []*storage.File{kept, f} {
		if err := e.Put(ctx, f, bytes.NewReader(randomBytes(2*storage.FileChunkSize+5)), storage.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.Open(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := e.Delete(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.File(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("file after delete: %v, want ErrNotFound", err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("reading a deleted file: %v, want ErrNotFound", err)
	}
	if _, err := e.Open(ctx, f); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("open after delete: %v, want ErrNotFound", err)
	}
	if err := e.Delete(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if files, err := e.VisitorFiles(ctx, e.visitor); err != nil || len(files) != 1 || files[0].ID != kept.ID {
		t.Errorf("visitor files after delete: %v, %v; want only the kept one", files, err)
	}
	if u, err := e.DayUsage(ctx, e.visitor, fileDay); err != nil || u.Files != 1 || u.Bytes != kept.Size {
		t.Errorf("usage after delete: %+v, %v; want the kept file's", u, err)
	}
	e.expectStored(t, 1, 3)
}

func testFilesUnknownID(t *testing.T, open func(testing.TB) FilesEngine) {
	e := newFilesEnv(t, open)
	ctx := context.Background()
	for _, id := range []string{storage.NewID(fileDay), "", "not-a-ulid", "x'; DROP TABLE files; --"} {
		if _, err := e.File(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("File(%q): %v, want ErrNotFound", id, err)
		}
		f := e.file(fileDay)
		f.ID, f.Size, f.Chunks, f.ChunkSize = id, 10, 1, storage.FileChunkSize
		if _, err := e.Open(ctx, f); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Open(%q): %v, want ErrNotFound", id, err)
		}
		if err := e.Delete(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Delete(%q): %v, want ErrNotFound", id, err)
		}
	}
}

func testFilesSeek(t *testing.T, open func(testing.TB) FilesEngine) {
	e := newFilesEnv(t, open)
	ctx := context.Background()
	data := randomBytes(storage.FileChunkSize + 100)
	f := e.file(fileDay)
	if err := e.Put(ctx, f, bytes.NewReader(data), storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	r, err := e.Open(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size := int64(len(data))
	for _, tc := range []struct {
		name   string
		offset int64
		whence int
		pos    int64 // the position after, -1 for an error
		rest   []byte
	}{
		{"End", 0, io.SeekEnd, size, nil},
		{"PastTheEnd", 10, io.SeekEnd, size + 10, nil},
		{"FarPastTheEnd", 1 << 40, io.SeekStart, 1 << 40, nil},
		{"LastBytes", -7, io.SeekEnd, size - 7, data[size-7:]},
		{"Start", 0, io.SeekStart, 0, data},
		{"Negative", -1, io.SeekStart, -1, nil},
		{"BadWhence", 0, 7, -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pos, err := r.Seek(tc.offset, tc.whence)
			if tc.pos < 0 {
				if err == nil {
					t.Fatalf("seek to %d (whence %d) = %d, want an error", tc.offset, tc.whence, pos)
				}
				return
			}
			if err != nil || pos != tc.pos {
				t.Fatalf("seek = %d, %v; want %d", pos, err, tc.pos)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, tc.rest) {
				t.Errorf("read after seek: %d bytes, %v; want %d", len(got), err, len(tc.rest))
			}
			// Reading again at the end: io.EOF, nothing else.
			if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Errorf("read at the end = %d, %v; want 0, io.EOF", n, err)
			}
		})
	}
}

func testFilesDeleteOrphans(t *testing.T, open func(testing.TB) FilesEngine) {
	e := newFilesEnv(t, open)
	ctx := context.Background()
	kept := e.file(fileDay)
	if err := e.Put(ctx, kept, bytes.NewReader(randomBytes(storage.FileChunkSize+1)), storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	// Chunks with no record, as a crash mid-upload leaves them: one old,
	// one from an upload that may still be running.
	old, young := storage.NewID(fileDay), storage.NewID(fileDay.Add(time.Hour))
	e.WriteOrphan(t, old, 3)
	e.WriteOrphan(t, young, 3)
	n, err := e.DeleteOrphans(ctx, fileDay.Add(time.Minute))
	if err != nil || n != 1 {
		t.Errorf("DeleteOrphans = %d, %v; want 1", n, err)
	}
	e.expectStored(t, 1, 2+3)
	// At start-up (no upload in flight): every orphan, whatever its age.
	if n, err := e.DeleteOrphans(ctx, time.Time{}); err != nil || n != 1 {
		t.Errorf("DeleteOrphans(zero) = %d, %v; want 1", n, err)
	}
	e.expectStored(t, 1, 2)
	r, err := e.Open(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, err := io.ReadAll(r); err != nil || int64(len(b)) != kept.Size {
		t.Errorf("kept file: %d bytes, %v", len(b), err)
	}
}
