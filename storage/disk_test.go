package storage_test

import (
	"bytes"
	"context"
	"errors"
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
