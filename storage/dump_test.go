package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/storagetest"
)

func openTemp(tb testing.TB) *storage.Store {
	tb.Helper()
	st, err := storage.Open(tb.TempDir(), storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// SameRecords fails unless a and b hold the same keys with the same
// values, the copy's own mark and index-layout marks aside, and the
// funnel's counters (built afresh in the copy: Copy's Verify checks them).
func sameRecords(tb testing.TB, a, b *storage.Store) {
	tb.Helper()
	da, db := storagetest.Dump(tb, a, ""), storagetest.Dump(tb, b, "")
	n := 0
	for k, va := range da {
		if strings.HasPrefix(k, "meta/") || storagetest.FunnelCounter(k) {
			continue
		}
		n++
		vb, ok := db[k]
		switch {
		case !ok:
			tb.Errorf("%q missing from the copy", k)
		case !bytes.Equal(va, vb):
			tb.Errorf("%q differs:\n%s\n%s", k, va, vb)
		}
	}
	for k := range db {
		if _, ok := da[k]; !ok && !strings.HasPrefix(k, "meta/") && !storagetest.FunnelCounter(k) {
			tb.Errorf("%q only in the copy", k)
		}
	}
	// The fixture wrote every kind of record the copy carries.
	seen := storagetest.CountKeys(tb, a, recordPrefixes...)
	for _, p := range recordPrefixes {
		if seen[p] == 0 {
			tb.Errorf("the source has no %s keys: nothing of them was compared", p)
		}
	}
	if n < 100 {
		tb.Fatalf("only %d keys compared", n)
	}
}

// recordPrefixes are the key prefixes of what a copy carries, indexes too.
var recordPrefixes = []string{"v/", "s/", "vs/", "m/", "c/", "hv/", "vm/", "vma/", "vp/", "pu/", "ho/", "u/", "ur/",
	"ia/", "iv/", "is/", "iq/", "iu/", "vl/", "uf/", "uh/", "f/", "vf/", "fc/", "wq/", "wl/", "ws/", "wv/", "ag/", "cm/", "co/", "cn/", "se/"}

// A Badger store copied into another holds the same keys with the same
// values (records, indexes, counters), and both check clean.
func TestCopy_BadgerToBadger(t *testing.T) {
	ctx := context.Background()
	src, dst := openTemp(t), openTemp(t)
	storagetest.Populate(t, src, storagetest.Fill{Visitors: 30, Seed: 1})
	r, err := storage.Copy(ctx, src, dst, "badger:src", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Visitors < 30 || r.Resumed || r.To.Sessions == 0 || r.To.Messages == 0 || r.To.Acks == 0 {
		t.Fatalf("report %+v, from %+v, to %+v", r, r.From, r.To)
	}
	sameRecords(t, src, dst)

	// Run again: it says done and checks again.
	if r, err = storage.Copy(ctx, src, dst, "badger:src", io.Discard); err != nil || !r.Resumed || r.Visitors != 0 {
		t.Fatalf("again: %+v, %v", r, err)
	}
	// From another source: refused.
	if _, err := storage.Copy(ctx, src, dst, "badger:other", io.Discard); !errors.Is(err, storage.ErrNotEmpty) {
		t.Fatalf("another source: %v", err)
	}
}

// A store with records and no mark is refused; nothing is written.
func TestCopy_RefusesNonEmpty(t *testing.T) {
	ctx := context.Background()
	src, dst := openTemp(t), openTemp(t)
	storagetest.Populate(t, src, storagetest.Fill{Visitors: 3, Seed: 2})
	storagetest.Populate(t, dst, storagetest.Fill{Visitors: 1, Seed: 3})
	before := storagetest.Dump(t, dst, "")
	if _, err := storage.Copy(ctx, src, dst, "badger:src", io.Discard); !errors.Is(err, storage.ErrNotEmpty) {
		t.Fatalf("got %v", err)
	}
	if after := storagetest.Dump(t, dst, ""); len(after) != len(before) {
		t.Fatalf("%d keys before, %d after", len(before), len(after))
	}
}

// A copy stopped half-way and run again gives the same store as one run.
func TestCopy_Resume(t *testing.T) {
	ctx := context.Background()
	src, dst := openTemp(t), openTemp(t)
	storagetest.Populate(t, src, storagetest.Fill{Visitors: 20, Seed: 4})
	stop := &stopAfter{Dumper: src, n: 7}
	if _, err := storage.Copy(ctx, stop, dst, "badger:src", io.Discard); !errors.Is(err, errStopped) {
		t.Fatalf("first run: %v", err)
	}
	mark, empty, err := dst.CopyMark(ctx)
	if err != nil || empty || mark == nil || mark.Visitors != 7 || mark.Done {
		t.Fatalf("mark %+v, empty %v, %v", mark, empty, err)
	}
	var log strings.Builder
	r, err := storage.Copy(ctx, src, dst, "badger:src", &log)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Resumed || r.Visitors != r.To.Visitors-7 || !strings.Contains(log.String(), "going on") {
		t.Fatalf("report %+v, log %q", r, log.String())
	}
	sameRecords(t, src, dst)
}

// A copy stopped before its first visitor has its mark already: the
// next run goes on, not refuses the store as someone else's.
func TestCopy_StoppedAtOnce(t *testing.T) {
	ctx := context.Background()
	src, dst := openTemp(t), openTemp(t)
	storagetest.Populate(t, src, storagetest.Fill{Visitors: 10, Seed: 6})
	if _, err := storage.Copy(ctx, &stopAfter{Dumper: src}, dst, "badger:src", io.Discard); !errors.Is(err, errStopped) {
		t.Fatalf("first run: %v", err)
	}
	if mark, _, err := dst.CopyMark(ctx); err != nil || mark == nil || mark.Visitors != 0 || mark.Source != "badger:src" {
		t.Fatalf("mark %+v, %v", mark, err)
	}
	if r, err := storage.Copy(ctx, src, dst, "badger:src", io.Discard); err != nil || !r.Resumed {
		t.Fatalf("%+v, %v", r, err)
	}
	sameRecords(t, src, dst)
}

// A difference between the stores fails the copy with the counts.
func TestCopy_CountsDiffer(t *testing.T) {
	ctx := context.Background()
	src, dst := openTemp(t), openTemp(t)
	storagetest.Populate(t, src, storagetest.Fill{Visitors: 5, Seed: 5})
	_, err := storage.Copy(ctx, dropSessions{src}, dst, "badger:src", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "sessions: ") || !strings.Contains(err.Error(), "in the destination") {
		t.Fatalf("got %v", err)
	}
}

var errStopped = errors.New("stopped")

// stopAfter fails the dump after n visitors, as a kill would stop it.
type stopAfter struct {
	storage.Dumper
	n int
}

func (s *stopAfter) DumpVisitors(ctx context.Context, after string, fn func(*storage.VisitorDump) error) error {
	return s.Dumper.DumpVisitors(ctx, after, func(d *storage.VisitorDump) error {
		if s.n == 0 {
			return errStopped
		}
		s.n--
		return fn(d)
	})
}

// dropSessions loses every visitor's last session on the way.
type dropSessions struct{ storage.Dumper }

func (s dropSessions) DumpVisitors(ctx context.Context, after string, fn func(*storage.VisitorDump) error) error {
	return s.Dumper.DumpVisitors(ctx, after, func(d *storage.VisitorDump) error {
		if len(d.Sessions) > 1 {
			d.Sessions = d.Sessions[:len(d.Sessions)-1]
		}
		return fn(d)
	})
}
