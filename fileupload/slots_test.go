package fileupload

import (
	"context"
	"errors"
	"testing"
)

func TestSlots_Shares(t *testing.T) {
	s := newSlots(Limits{MaxConcurrent: 16, MaxConcurrentPerVisitor: 2, MaxConcurrentPerAddr: 3})
	ctx := context.Background()
	take := func(visitor, addr string) (func(), string) {
		t.Helper()
		release, err := s.acquire(ctx, visitor, addr)
		var e *Error
		if errors.As(err, &e) {
			return nil, e.Code
		}
		if err != nil {
			t.Fatal(err)
		}
		return release, ""
	}
	a1, _ := take("a", "192.0.2.1")
	a2, _ := take("a", "192.0.2.1")
	if _, code := take("a", "192.0.2.9"); code != "too_many_uploads" {
		t.Errorf("a visitor's third upload: %q, want too_many_uploads", code)
	}
	b1, _ := take("b", "192.0.2.1")
	if _, code := take("c", "192.0.2.1"); code != "too_many_uploads" {
		t.Errorf("an address's fourth upload: %q, want too_many_uploads", code)
	}
	// Another visitor at another address is not held up.
	d1, code := take("d", "198.51.100.7")
	if code != "" {
		t.Fatalf("another visitor: %q", code)
	}
	// A refused upload took nothing: giving back frees exactly.
	a1()
	if _, code := take("c", "192.0.2.1"); code != "" {
		t.Errorf("after a release: %q", code)
	}
	a2()
	b1()
	d1()
	if len(s.all) != 1 || s.visitors["c"] != 1 || len(s.visitors) != 1 || s.addrs["192.0.2.1"] != 1 || len(s.addrs) != 1 {
		t.Errorf("left: %d slots, visitors %v, addresses %v", len(s.all), s.visitors, s.addrs)
	}
}

func TestSlots_NoShare(t *testing.T) {
	// -1 switches the shares off: only the global cap counts.
	lim := Limits{MaxConcurrent: 4, MaxConcurrentPerVisitor: -1, MaxConcurrentPerAddr: -1}
	lim.setDefaults()
	s := newSlots(lim)
	for i := range 4 {
		if _, err := s.acquire(context.Background(), "a", "192.0.2.1"); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
}
