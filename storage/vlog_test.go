package storage_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// vlogFiles lists the store's value-log files.
func vlogFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestReclaimSpace: the value-log files that held erased files are
// rewritten and deleted; the files kept still read back whole.
func TestReclaimSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	s, dir := MustOpen(t)
	ctx := context.Background()
	fs := storage.NewFiles(s)
	var visitors []lcVisitor
	var kept []*storage.File
	for i := 0; i < 4; i++ {
		v := lcSeed(t, s, "demo", lcDay.Add(time.Duration(i)*time.Hour), "Big", "big@example.org", 1, false)
		visitors = append(visitors, v)
		for j := 0; j < 25; j++ {
			at := lcDay.Add(time.Duration(i)*time.Hour + time.Duration(j)*time.Second)
			f := &storage.File{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, SessionID: v.Sessions[0], Name: "x.bin", Type: "application/octet-stream", UploadedAt: at}
			if err := fs.Put(ctx, f, bytes.NewReader(randomBytes(1<<20+j)), storage.Quota{}); err != nil {
				t.Fatal(err)
			}
			if i == 3 {
				kept = append(kept, f)
			}
		}
	}
	before := vlogFiles(t, dir)
	for _, v := range visitors[:3] {
		if _, err := s.EraseVisitor(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.ReclaimSpace(ctx, false) // 75 MB erased: over the threshold
	if err != nil {
		t.Fatal(err)
	}
	after := vlogFiles(t, dir)
	if n == 0 || slices.Contains(after, before[0]) {
		t.Errorf("rewrote %d value-log files; before %v, after %v: want the first one gone", n, before, after)
	}
	for j, f := range kept {
		rc, err := fs.Open(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, randomBytes(1<<20+j)) {
			t.Fatalf("kept file %d after the GC: %v", j, err)
		}
	}
	assertSound(t, s)
}

// TestReclaimSpace_TurnsWait: turns written while ReclaimSpace holds
// Badger's writes wait and succeed.
func TestReclaimSpace_TurnsWait(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	v := lcSeed(t, s, "demo", lcDay, "Busy", "busy@example.org", 1, false)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for ; ; n++ {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			cid := "r" + strconv.Itoa(n)
			_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: v.Sessions[0], ClientID: cid, Messages: []storage.Message{
				{From: storage.FromVisitor, Kind: storage.KindText, At: lcDay.Add(time.Minute), Text: "still here", ClientID: cid}}})
			if err != nil {
				t.Errorf("turn during a reclaim: %v", err)
			}
		}
	}()
	for i := 0; i < 5; i++ {
		if _, err := s.ReclaimSpace(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	t.Logf("%d turns during 5 reclaims", <-done)
	assertSound(t, s)
}
