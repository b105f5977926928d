package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
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
// uploads n bytes as a new file of that visitor.
func newUploader(tb testing.TB) (pgFiles, func(n int64) *storage.File) {
	p := openFiles(tb)
	at := time.Now().UTC()
	v := &storage.Visitor{ID: storage.NewID(at), Site: "demo", CreatedAt: at}
	if err := p.CreateVisitor(context.Background(), v); err != nil {
		tb.Fatal(err)
	}
	var seed byte
	return p, func(n int64) *storage.File {
		tb.Helper()
		at := time.Now()
		f := &storage.File{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, SessionID: storage.NewID(at),
			Name: "big.bin", Type: "application/octet-stream", UploadedAt: at}
		seed++
		r, sum := streamOf(n, seed)
		if err := p.Put(context.Background(), f, r, storage.Quota{}); err != nil {
			tb.Fatal(err)
		}
		if f.SHA256 != sum {
			tb.Fatalf("sha256 %s, want %s", f.SHA256, sum)
		}
		return f
	}
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
	p, upload := newUploader(t)
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
	// An eighth of the file: room for the pool's own work, while any
	// copy of the whole file, or of each chunk, fails.
	if limit := uint64(uploadSize / 8); up > limit || down > limit {
		t.Errorf("allocated %d bytes uploading, %d downloading; want each under %d", up, down, limit)
	}
}

// BenchmarkFiles_Put10MiB reports what one 10 MiB upload costs: time,
// throughput and bytes allocated.
func BenchmarkFiles_Put10MiB(b *testing.B) {
	_, upload := newUploader(b)
	upload(uploadSize)
	b.SetBytes(uploadSize)
	b.ReportAllocs()
	for b.Loop() {
		upload(uploadSize)
	}
}
