package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// TestWatchDisk_RefusesWrites: while the disk is under the reserve, turns,
// new sessions and uploads fail with ErrDiskFull and write nothing;
// erasure goes on; writes come back with the space.
func TestWatchDisk_RefusesWrites(t *testing.T) {
	s, _ := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := lcSeed(t, s, "demo", lcDay, "Ada", "ada@example.org", 1, false)
	other := lcSeed(t, s, "demo", lcDay, "Bob", "bob@example.org", 1, false)

	var free atomic.Uint64
	free.Store(1 << 30)
	changes := make(chan bool, 4)
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- s.WatchDisk(ctx, storage.DiskWatch{Reserve: 64 << 20, Interval: time.Millisecond,
			Free:     func() (uint64, error) { return free.Load(), nil },
			OnChange: func(full bool, _ uint64) { changes <- full }})
	}()
	waitFull := func(want bool) {
		t.Helper()
		select {
		case got := <-changes:
			if got != want || s.DiskFull() != want {
				t.Fatalf("disk full %v, want %v", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the watch never reported full=%v", want)
		}
	}

	free.Store(10 << 20)
	waitFull(true)
	before := dumpStore(t, s)
	turn := &storage.Turn{SessionID: v.Sessions[0], ClientID: "x1", Messages: []storage.Message{
		{From: storage.FromVisitor, Kind: storage.KindText, At: lcDay.Add(time.Hour), Text: "hello?", ClientID: "x1"}}}
	if _, _, _, err := s.RecordTurn(ctx, turn); !errors.Is(err, storage.ErrDiskFull) {
		t.Errorf("turn on a full disk: %v, want ErrDiskFull", err)
	}
	nv := &storage.Visitor{ID: storage.NewID(lcDay), Site: "demo", CreatedAt: lcDay, LastSeenAt: lcDay}
	ns := &storage.Session{ID: storage.NewID(lcDay), Site: "demo", VisitorID: nv.ID, StartedAt: lcDay}
	if err := s.CreateSession(ctx, nv, ns); !errors.Is(err, storage.ErrDiskFull) {
		t.Errorf("new session on a full disk: %v, want ErrDiskFull", err)
	}
	f := &storage.File{ID: storage.NewID(lcDay), Site: "demo", VisitorID: v.ID, SessionID: v.Sessions[0], Name: "a.pdf", Type: "application/pdf", UploadedAt: lcDay}
	if err := storage.NewFiles(s).Put(ctx, f, bytes.NewReader(make([]byte, 300_000)), storage.Quota{}); !errors.Is(err, storage.ErrDiskFull) {
		t.Errorf("upload on a full disk: %v, want ErrDiskFull", err)
	}
	after := dumpStore(t, s)
	if len(after) != len(before) {
		t.Errorf("refused writes changed the store: %d keys, then %d", len(before), len(after))
	}
	// Erasing frees space: it goes on.
	if _, err := s.EraseVisitor(ctx, other.ID); err != nil {
		t.Errorf("erase on a full disk: %v", err)
	}
	assertGone(t, s, other, nil)

	free.Store(70 << 20) // over the reserve, under the margin: still full
	time.Sleep(20 * time.Millisecond)
	if !s.DiskFull() {
		t.Error("writes resumed inside the margin")
	}
	free.Store(1 << 30)
	waitFull(false)
	if _, _, _, err := s.RecordTurn(ctx, turn); err != nil {
		t.Errorf("turn after space came back: %v", err)
	}
	assertSound(t, s)
	cancel()
	if err := <-watchErr; err != nil {
		t.Error(err)
	}
}

// TestWatchDisk_RealProbe reads the free space of the store's own disk.
func TestWatchDisk_RealProbe(t *testing.T) {
	s, _ := MustOpen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.WatchDisk(ctx, storage.DiskWatch{Reserve: 1}); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatal(err)
	}
	if s.DiskFull() {
		t.Error("a 1-byte reserve reads as full")
	}
}

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
