package fileupload

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// slotWait is how long an upload waits for a free slot.
const slotWait = 10 * time.Second

// slots shares the uploads that may stream at once: a few per visitor
// and per client address, so one visitor or address cannot hold them all,
// and at most MaxConcurrent in all.
type slots struct {
	all                 chan struct{}
	perVisitor, perAddr int // <= 0: no share
	mu                  sync.Mutex
	visitors, addrs     map[string]int
}

func newSlots(lim Limits) *slots {
	return &slots{
		all:        make(chan struct{}, lim.MaxConcurrent),
		perVisitor: lim.MaxConcurrentPerVisitor, perAddr: lim.MaxConcurrentPerAddr,
		visitors: map[string]int{}, addrs: map[string]int{},
	}
}

// errTooMany is the 429 for a visitor or address past its share.
func errTooMany(who string, n int) *Error {
	return &Error{http.StatusTooManyRequests, "too_many_uploads",
		fmt.Sprintf("%s already has %d uploads running; send the next one when one has finished", who, n)}
}

// acquire takes a slot for an upload of visitor from addr: at once
// within their shares (else 429 too_many_uploads), then one of all the
// slots, waiting up to slotWait (else 503 busy). release gives it back.
func (s *slots) acquire(ctx context.Context, visitor, addr string) (release func(), err error) {
	if !s.take(s.visitors, visitor, s.perVisitor) {
		return nil, errTooMany("this visitor", s.perVisitor)
	}
	if !s.take(s.addrs, addr, s.perAddr) {
		s.give(s.visitors, visitor)
		return nil, errTooMany("this address", s.perAddr)
	}
	share := func() {
		s.give(s.visitors, visitor)
		s.give(s.addrs, addr)
	}
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case s.all <- struct{}{}:
		return func() { <-s.all; share() }, nil
	case <-t.C:
		share()
		return nil, errBusy
	case <-ctx.Done():
		share()
		return nil, errIncomplete
	}
}

// take counts one more upload of key in counts unless it has max.
func (s *slots) take(counts map[string]int, key string, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if max > 0 && counts[key] >= max {
		return false
	}
	counts[key]++
	return true
}

// give counts one upload of key less, forgetting keys at zero.
func (s *slots) give(counts map[string]int, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if counts[key]--; counts[key] <= 0 {
		delete(counts, key)
	}
}

// peerAddr is the default Config.ClientAddr: the TCP peer's address.
func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
