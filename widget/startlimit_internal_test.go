package widget

import (
	"testing"
	"time"
)

func TestBuckets_RefillAndForget(t *testing.T) {
	b := buckets[string]{perMinute: 3}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		if _, ok := b.take("a", t0); !ok {
			t.Fatalf("take %d refused within the burst", i)
		}
	}
	wait, ok := b.take("a", t0)
	if ok || wait != 20*time.Second {
		t.Fatalf("past the burst: ok %v, wait %v; want refused, 20s (3 a minute)", ok, wait)
	}
	if _, ok := b.take("b", t0); !ok {
		t.Fatal("another key was refused")
	}
	if _, ok := b.take("a", t0.Add(20*time.Second)); !ok {
		t.Fatal("refused after the refill")
	}
	// A minute later every bucket is full again and forgotten, so the
	// map holds only keys active lately.
	b.take("c", t0.Add(2*time.Minute))
	if len(b.m) != 1 {
		t.Fatalf("%d buckets kept after a quiet minute, want only the new one", len(b.m))
	}
	off := buckets[string]{perMinute: -1}
	for range 100 {
		if _, ok := off.take("a", t0); !ok {
			t.Fatal("a disabled limit refused")
		}
	}
}
