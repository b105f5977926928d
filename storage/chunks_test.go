package storage

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestChunkStore_Contract is what Files, erasure and Verify rely on of a
// chunkStore, checked on badgerChunks: another implementation (an object
// store) runs the same checks through checkChunkStore.
func TestChunkStore_Contract(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	checkChunkStore(t, s.chunks)
	// Nothing of the deleted files is left under fc/, whatever the
	// interface reports.
	if n := countKeys(t, s, "fc/"); n != 1 {
		t.Errorf("%d chunk keys left, want 1 (the kept file's)", n)
	}
}

// checkChunkStore writes three files' chunks, reads them back, lists them,
// deletes two and checks that only the third is left.
func checkChunkStore(t *testing.T, c chunkStore) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// IDs out of order, so that files must sort them.
	ids := []string{NewID(at.Add(2 * time.Second)), NewID(at), NewID(at.Add(time.Second))}
	rng := rand.New(rand.NewPCG(1, 2))
	data := map[string][][]byte{}
	for i, id := range ids {
		// Two full chunks and a short last one; the last file one chunk.
		sizes := []int{1000, 1000, 37}
		if i == 2 {
			sizes = []int{5}
		}
		done := make(chan error, len(sizes))
		for n, size := range sizes {
			b := make([]byte, size)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			data[id] = append(data[id], b)
			if err := c.write(id, n, b, func(err error) { done <- err }); err != nil {
				t.Fatal(err)
			}
		}
		for range sizes {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}

	for _, id := range ids {
		var total int64
		for n, want := range data[id] {
			// A buffer too small for the chunk: read must still return it whole.
			got, err := c.read(id, n, make([]byte, 0, 16))
			if err != nil {
				t.Fatalf("read %s/%d: %v", id, n, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("read %s/%d: the bytes differ from those written", id, n)
			}
			total += int64(len(want))
		}
		chunks, size, err := c.stat(ctx, id)
		if err != nil || chunks != len(data[id]) || size != total {
			t.Errorf("stat %s = %d chunks, %d bytes, %v; want %d, %d", id, chunks, size, err, len(data[id]), total)
		}
		if _, err := c.read(id, len(data[id]), nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("read past the last chunk of %s: %v, want ErrNotFound", id, err)
		}
	}

	sorted := slices.Sorted(slices.Values(ids))
	if got := listChunkFiles(t, c); !slices.Equal(got, sorted) {
		t.Errorf("files = %v, want %v", got, sorted)
	}

	for _, id := range ids[:2] {
		n, err := c.delete(ctx, id)
		if err != nil || n != len(data[id]) {
			t.Errorf("delete %s = %d, %v; want %d", id, n, err, len(data[id]))
		}
		if chunks, size, err := c.stat(ctx, id); err != nil || chunks != 0 || size != 0 {
			t.Errorf("stat %s after delete = %d chunks, %d bytes, %v", id, chunks, size, err)
		}
		if _, err := c.read(id, 0, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("read %s after delete: %v, want ErrNotFound", id, err)
		}
	}
	if got := listChunkFiles(t, c); !slices.Equal(got, ids[2:]) {
		t.Errorf("files after delete = %v, want %v", got, ids[2:])
	}
	if n, err := c.delete(ctx, ids[0]); err != nil || n != 0 {
		t.Errorf("second delete = %d, %v; want 0, nil", n, err)
	}
}

func listChunkFiles(t *testing.T, c chunkStore) []string {
	t.Helper()
	var ids []string
	if err := c.files(context.Background(), func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestChunkStore_Orphans: chunks with no record are found by Verify and
// removed by DeleteOrphans; a stored file's are kept and still read whole.
func TestChunkStore_Orphans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	at := time.Now().UTC()
	v := &Visitor{ID: NewID(at), Site: "s", CreatedAt: at}
	if err := s.CreateVisitor(ctx, v); err != nil {
		t.Fatal(err)
	}
	fs := NewFiles(s)
	kept := &File{ID: NewID(at), Site: "s", VisitorID: v.ID, SessionID: NewID(at), Name: "a.txt", Type: "text/plain", UploadedAt: at}
	body := bytes.Repeat([]byte("kept "), 100)
	if err := fs.Put(ctx, kept, bytes.NewReader(body), Quota{}); err != nil {
		t.Fatal(err)
	}
	orphan := NewID(at.Add(-time.Hour))
	done := make(chan error, 1)
	if err := s.chunks.write(orphan, 0, []byte("left by a crash"), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	r, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.OrphanChunkFiles != 1 || len(r.Problems) != 0 {
		t.Errorf("verify: %d orphan files, problems %v; want 1 and none", r.OrphanChunkFiles, r.Problems)
	}
	if n, err := fs.DeleteOrphans(ctx, time.Time{}); err != nil || n != 1 {
		t.Fatalf("DeleteOrphans = %d, %v; want 1", n, err)
	}
	if got := listChunkFiles(t, s.chunks); !slices.Equal(got, []string{kept.ID}) {
		t.Errorf("files with chunks after DeleteOrphans = %v, want only %s", got, kept.ID)
	}
	if r, err := s.Verify(ctx); err != nil || r.OrphanChunkFiles != 0 || r.Files != 1 || len(r.Problems) != 0 {
		t.Errorf("verify after: %+v, %v", r, err)
	}
}
