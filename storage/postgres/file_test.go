package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
)

// uploadSize is the memory tests' upload: the default per-file cap.
const uploadSize = 10 << 20

// streamOf returns n random bytes as a reader that holds none of them,
// and their SHA-256.
func streamOf(n int64, seed byte) (io.Reader, string) {
	h := sha256.New()
	io.Copy(h, io.LimitReader(rand.NewChaCha8([32]byte{seed}), n))
	return io.LimitReader(rand.NewChaCha8([32]byte{seed}), n), hex.EncodeToString(h.Sum(nil))
}

// newUploader opens a store with a visitor and returns a function that
// uploads n bytes as a new file of that visitor, failing the test on an
// error, and one that returns the error (for other goroutines).
func newUploader(tb testing.TB, opts postgres.Options) (p pgFiles, upload func(n int64) *storage.File, put func(n int64) (*storage.File, error)) {
	p = openFilesWith(tb, opts)
	at := time.Now().UTC()
	v := &storage.Visitor{ID: storage.NewID(at), Site: "demo", CreatedAt: at}
	if err := p.CreateVisitor(context.Background(), v); err != nil {
		tb.Fatal(err)
	}
	var seed atomic.Uint32
	put = func(n int64) (*storage.File, error) {
		at := time.Now()
		f := &storage.File{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, SessionID: storage.NewID(at),
			Name: "big.bin", Type: "application/octet-stream", UploadedAt: at}
		r, sum := streamOf(n, byte(seed.Add(1)))
		if err := p.Put(context.Background(), f, r, storage.Quota{}); err != nil {
			return nil, err
		}
		if f.SHA256 != sum {
			return nil, fmt.Errorf("sha256 %s, want %s", f.SHA256, sum)
		}
		return f, nil
	}
	upload = func(n int64) *storage.File {
		tb.Helper()
		f, err := put(n)
		if err != nil {
			tb.Fatal(err)
		}
		return f
	}
	return p, upload, put
}

// allocated returns the bytes the process allocated while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFiles_StreamMemory: an upload and a download of a 10 MiB file
// allocate a small part of it: the file streams through chunk by chunk
// (two chunk buffers, reused from upload to upload), never held whole.
func TestFiles_StreamMemory(t *testing.T) {
	p, upload, _ := newUploader(t, postgres.Options{})
	ctx := context.Background()
	upload(uploadSize) // warm up: connections, prepared statements, buffers

	var f *storage.File
	up := allocated(func() { f = upload(uploadSize) })
	var n int64
	down := allocated(func() {
		r, err := p.Open(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if n, err = io.CopyBuffer(io.Discard, r, make([]byte, 32<<10)); err != nil {
			t.Fatal(err)
		}
	})
	if n != uploadSize {
		t.Fatalf("read %d bytes, want %d", n, uploadSize)
	}
	t.Logf("10 MiB file: upload allocated %d KiB, download %d KiB", up>>10, down>>10)
	if raceDetector {
		return
	}
	// A quarter of the file: room for the driver's pooled read buffers
	// (a download's megabyte is four of them, allocated once, whatever the
	// file's size), while any copy of the whole file, or of each chunk,
	// fails.
	if limit := uint64(uploadSize / 4); up > limit || down > limit {
		t.Errorf("allocated %d bytes uploading, %d downloading; want each under %d", up, down, limit)
	}
}

// TestFiles_ChunkConns: uploads and downloads together run at most a
// quarter of the pool's connections' chunk queries at once (one of four
// here), leaving the rest to turns and the admin.
func TestFiles_ChunkConns(t *testing.T) {
	p, upload, put := newUploader(t, postgres.Options{MaxConns: 4})
	ctx := context.Background()
	var files []*storage.File
	for range 2 {
		files = append(files, upload(4*storage.FileChunkSize))
	}
	stop := make(chan struct{})
	most := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				most <- n
				return
			default:
			}
			var k int
			err := p.conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE application_name = current_setting('application_name') AND state = 'active'
				AND (query LIKE 'COPY file_chunks%' OR query LIKE 'SELECT data FROM file_chunks%')`).Scan(&k)
			if err != nil {
				t.Error(err)
			}
			n = max(n, k)
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := put(8 * storage.FileChunkSize); err != nil {
				t.Error(err)
			}
		})
	}
	for _, f := range files {
		wg.Go(func() {
			r, err := p.Open(ctx, f)
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			if _, err := io.Copy(io.Discard, r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(stop)
	if n := <-most; n > 1 {
		t.Errorf("%d chunk queries ran at once on a pool of 4, want at most 1", n)
	}
}

// TestFiles_ChunksTakenMidUpload: when an upload's chunks vanish before
// its commit (DeleteOrphans on another node with a cutoff later than the
// upload's start), the upload fails and stores no file without its bytes.
func TestFiles_ChunksTakenMidUpload(t *testing.T) {
	p, _, _ := newUploader(t, postgres.Options{})
	ctx := context.Background()
	at := time.Now().Add(-time.Minute)
	v := &storage.Visitor{ID: storage.NewID(at), Site: "demo", CreatedAt: at}
	if err := p.CreateVisitor(ctx, v); err != nil {
		t.Fatal(err)
	}
	f := &storage.File{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, SessionID: storage.NewID(at),
		Name: "a.bin", Type: "application/octet-stream", UploadedAt: at}
	var swept int
	sweep := readerFunc(func([]byte) (int, error) {
		n, err := p.DeleteOrphans(ctx, time.Time{})
		if err != nil {
			t.Error(err)
		}
		swept += n
		return 0, io.EOF
	})
	body := io.MultiReader(bytes.NewReader(make([]byte, 3*storage.FileChunkSize)), sweep, bytes.NewReader(make([]byte, 10)))
	if err := p.Put(ctx, f, body, storage.Quota{}); err == nil {
		t.Fatal("stored a file whose chunks were deleted")
	}
	if swept != 1 {
		t.Errorf("the sweep took %d files' chunks, want 1", swept)
	}
	if records, chunks := p.StoredFiles(t); records != 0 || chunks != 0 {
		t.Errorf("left %d records and %d chunks", records, chunks)
	}
}

// readerFunc is a function as an io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// BenchmarkFiles_Put10MiB reports what one 10 MiB upload costs: time,
// throughput and bytes allocated.
func BenchmarkFiles_Put10MiB(b *testing.B) {
	_, upload, _ := newUploader(b, postgres.Options{})
	upload(uploadSize)
	b.SetBytes(uploadSize)
	b.ReportAllocs()
	for b.Loop() {
		upload(uploadSize)
	}
}

// TestStore_VerifyFiles: Verify's file checks: a sound store has no problems; a file missing a
// chunk, one whose chunks are misnumbered, one whose visitor is gone and
// chunks with no file are each reported.
func TestStore_VerifyFiles(t *testing.T) {
	p, upload, _ := newUploader(t, postgres.Options{})
	ctx := context.Background()
	files := []*storage.File{upload(0), upload(3 * storage.FileChunkSize), upload(2*storage.FileChunkSize + 1), upload(10), upload(100)}
	verify := func() *storage.VerifyReport {
		t.Helper()
		r, err := p.st.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := verify(); r.Files != 5 || len(r.Problems) != 0 || r.OrphanChunkFiles != 0 {
		t.Fatalf("sound store: %+v", r)
	}

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := p.conn.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`DELETE FROM file_chunks WHERE file_id = $1 AND n = 1`, files[1].ID)
	exec(`UPDATE file_chunks SET n = 5 WHERE file_id = $1 AND n = 2`, files[2].ID)
	exec(`UPDATE file_chunks SET data = 'shorter' WHERE file_id = $1`, files[3].ID)
	exec(`UPDATE files SET visitor_id = 'gone' WHERE id = $1`, files[4].ID)
	p.WriteOrphan(t, storage.NewID(time.Now()), 2)

	r := verify()
	if r.Files != 5 || r.OrphanChunkFiles != 1 {
		t.Errorf("report %+v: want 5 files and 1 orphan", r)
	}
	for _, want := range []string{
		"file " + files[1].ID + ": chunks 0..2 of",
		"file " + files[2].ID + ": chunks 0..5 of",
		"file " + files[3].ID + ": chunks 0..0 of 7 bytes",
		"file " + files[4].ID + ": visitor gone has no row",
	} {
		found := false
		for _, p := range r.Problems {
			found = found || strings.HasPrefix(p, want)
		}
		if !found {
			t.Errorf("no problem %q in %q", want, r.Problems)
		}
	}
	if len(r.Problems) != 4 {
		t.Errorf("%d problems, want 4: %q", len(r.Problems), r.Problems)
	}
}
