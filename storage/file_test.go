package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/storagetest"
)

// mustOpenFiles opens a store in a temp dir and returns it with its files.
func mustOpenFiles(tb testing.TB) (*storage.Store, *storage.Files) {
	tb.Helper()
	s, err := storage.Open(tb.TempDir(), storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	// A file needs its visitor (newFile's).
	v := &storage.Visitor{ID: "01HV0000000000000000000000", Site: "demo", CreatedAt: fileTestDay}
	if err := s.CreateVisitor(context.Background(), v); err != nil {
		tb.Fatal(err)
	}
	return s, storage.NewFiles(s)
}

// fileKeys counts the keys under the file prefixes f/, fc/ and vf/.
func fileKeys(tb testing.TB, s *storage.Store) map[string]int {
	tb.Helper()
	return storagetest.CountKeys(tb, s, "f/", "fc/", "vf/")
}

var fileTestDay = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newFile(at time.Time) *storage.File {
	return &storage.File{
		ID: storage.NewID(at), Site: "demo", VisitorID: "01HV0000000000000000000000", SessionID: "01HV0000000000000000000001",
		Name: "a.bin", Type: "application/octet-stream", UploadedAt: at,
	}
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestFiles_PutOpen(t *testing.T) {
	s, fs := mustOpenFiles(t)
	ctx := context.Background()
	const cs = storage.FileChunkSize
	for _, size := range []int{0, 1, 4095, cs - 1, cs, cs + 1, 3*cs + 17} {
		data := randomBytes(size)
		f := newFile(fileTestDay)
		// One byte per read at first, to prove short reads fill chunks.
		if err := fs.Put(ctx, f, io.MultiReader(iotest.OneByteReader(bytes.NewReader(data[:min(size, 10)])), bytes.NewReader(data[min(size, 10):])), storage.Quota{}); err != nil {
			t.Fatalf("size %d: put: %v", size, err)
		}
		sum := sha256.Sum256(data)
		if got, want := f.SHA256, hex.EncodeToString(sum[:]); got != want {
			t.Errorf("size %d: sha256 %s, want %s", size, got, want)
		}
		if f.Size != int64(size) || f.Chunks != (size+cs-1)/cs {
			t.Errorf("size %d: got size %d, %d chunks", size, f.Size, f.Chunks)
		}
		got, err := fs.File(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SHA256 != f.SHA256 || got.Size != f.Size || got.Name != f.Name {
			t.Errorf("size %d: stored record %+v, want %+v", size, got, f)
		}
		r, err := fs.Open(ctx, got)
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
	if got := fileKeys(t, s); got["f/"] != 7 || got["vf/"] != 7 {
		t.Errorf("keys %v, want 7 records and 7 index entries", got)
	}
}

func TestFiles_PutFails(t *testing.T) {
	t.Run("ReadError", func(t *testing.T) {
		s, fs := mustOpenFiles(t)
		boom := errors.New("connection cut")
		body := io.MultiReader(bytes.NewReader(randomBytes(3*storage.FileChunkSize)), iotest.ErrReader(boom))
		err := fs.Put(context.Background(), newFile(fileTestDay), body, storage.Quota{})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want the reader's error", err)
		}
		if got := fileKeys(t, s); len(got) != 0 {
			t.Errorf("left keys behind: %v", got)
		}
	})
	t.Run("UnexpectedEOF", func(t *testing.T) {
		// A truncated multipart body reads as io.ErrUnexpectedEOF: Put
		// must not mistake it for the end of the file.
		s, fs := mustOpenFiles(t)
		body := io.MultiReader(bytes.NewReader(randomBytes(100)), iotest.ErrReader(io.ErrUnexpectedEOF))
		err := fs.Put(context.Background(), newFile(fileTestDay), body, storage.Quota{})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
		}
		if got := fileKeys(t, s); len(got) != 0 {
			t.Errorf("left keys behind: %v", got)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		s, fs := mustOpenFiles(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := fs.Put(ctx, newFile(fileTestDay), bytes.NewReader(randomBytes(10)), storage.Quota{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if got := fileKeys(t, s); len(got) != 0 {
			t.Errorf("left keys behind: %v", got)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		_, fs := mustOpenFiles(t)
		f := newFile(fileTestDay)
		f.Name = ""
		if err := fs.Put(context.Background(), f, strings.NewReader("x"), storage.Quota{}); err == nil {
			t.Fatal("stored a file without a name")
		}
	})
}

func TestFiles_Quota(t *testing.T) {
	s, fs := mustOpenFiles(t)
	ctx := context.Background()
	q := storage.Quota{Files: 3, Bytes: 1000}
	put := func(at time.Time, visitor string, n int) error {
		f := newFile(at)
		f.VisitorID = visitor
		return fs.Put(ctx, f, bytes.NewReader(make([]byte, n)), q)
	}
	const v1, v2 = "01HV0000000000000000000000", "01HV0000000000000000000009"
	if err := s.CreateVisitor(ctx, &storage.Visitor{ID: v2, Site: "demo", CreatedAt: fileTestDay}); err != nil {
		t.Fatal(err)
	}
	if err := put(fileTestDay, v1, 600); err != nil {
		t.Fatal(err)
	}
	if err := put(fileTestDay.Add(time.Minute), v1, 401); !errors.Is(err, storage.ErrQuotaExceeded) {
		t.Fatalf("bytes past the quota: got %v, want ErrQuotaExceeded", err)
	}
	if err := put(fileTestDay.Add(time.Minute), v1, 400); err != nil {
		t.Fatalf("bytes up to the quota: %v", err)
	}
	if err := put(fileTestDay.Add(2*time.Minute), v1, 0); err != nil {
		t.Fatal(err)
	}
	if err := put(fileTestDay.Add(3*time.Minute), v1, 0); !errors.Is(err, storage.ErrQuotaExceeded) {
		t.Fatalf("a fourth file: got %v, want ErrQuotaExceeded", err)
	}
	// Another visitor and the next UTC day start afresh.
	if err := put(fileTestDay, v2, 1000); err != nil {
		t.Fatalf("other visitor: %v", err)
	}
	next := fileTestDay.Truncate(24 * time.Hour).Add(24 * time.Hour)
	if err := put(next, v1, 1000); err != nil {
		t.Fatalf("next day: %v", err)
	}
	u, err := fs.DayUsage(ctx, v1, fileTestDay)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u, (storage.FileUsage{Files: 3, Bytes: 1000}); got != want {
		t.Errorf("usage %+v, want %+v", got, want)
	}
	files, bytes := q.Remaining(u)
	if files != 0 || bytes != 0 {
		t.Errorf("remaining %d files, %d bytes; want 0, 0", files, bytes)
	}
	if got := fileKeys(t, s); got["f/"] != 5 || got["fc/"] != 4 {
		t.Errorf("keys %v: want 5 records and the 4 non-empty files' chunks, nothing of the refused ones", got)
	}
}

func TestFiles_Delete(t *testing.T) {
	s, fs := mustOpenFiles(t)
	ctx := context.Background()
	f := newFile(fileTestDay)
	if err := fs.Put(ctx, f, bytes.NewReader(randomBytes(2*storage.FileChunkSize+5)), storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	r, err := fs.Open(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := fs.Delete(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.File(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("file after delete: %v, want ErrNotFound", err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("reading a deleted file: %v, want ErrNotFound", err)
	}
	if _, err := fs.Open(ctx, f); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("open after delete: %v, want ErrNotFound", err)
	}
	if err := fs.Delete(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if got := fileKeys(t, s); len(got) != 0 {
		t.Errorf("left keys behind: %v", got)
	}
}

func TestFiles_DeleteOrphans(t *testing.T) {
	s, fs := mustOpenFiles(t)
	ctx := context.Background()
	kept := newFile(fileTestDay)
	if err := fs.Put(ctx, kept, bytes.NewReader(randomBytes(storage.FileChunkSize+1)), storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	// Chunks with no record, as a crash mid-upload leaves them: one old,
	// one from an upload that may still be running.
	old, young := storage.NewID(fileTestDay), storage.NewID(fileTestDay.Add(time.Hour))
	err := s.DB().Update(func(txn *badger.Txn) error {
		for _, id := range []string{old, young} {
			for n := range 3 {
				k := append([]byte("fc/"+id+"/"), 0, 0, 0, byte(n))
				if err := txn.Set(k, []byte("chunk")); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := fs.DeleteOrphans(ctx, fileTestDay.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("removed %d orphans, want 1", n)
	}
	if got := fileKeys(t, s); got["fc/"] != 2+3 {
		t.Errorf("keys %v: want the kept file's 2 chunks and the young upload's 3", got)
	}
	r, err := fs.Open(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || int64(len(b)) != kept.Size {
		t.Errorf("kept file: %d bytes, %v", len(b), err)
	}
}
