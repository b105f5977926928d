package storage

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	idMu      sync.Mutex
	idEntropy = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a ULID for t. IDs made in the same millisecond still sort
// in the order they were made, which keeps a session's messages in order.
func NewID(t time.Time) string {
	idMu.Lock()
	defer idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), idEntropy).String()
}

// ValidID reports whether s is a well-formed ULID.
func ValidID(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil
}

// NextID returns a ULID for t that sorts after prev (a ULID, or "" for
// none): a session's messages are keyed by ID, and their order must be the
// order they were recorded in even when the clock steps back. When t is not
// past prev's millisecond the new ID keeps prev's time and steps its random
// part up by a random amount, so it still says roughly when it was made.
func NextID(t time.Time, prev string) string {
	p, err := ulid.ParseStrict(prev)
	if err != nil || ulid.Timestamp(t) > p.Time() {
		return NewID(t)
	}
	var step [4]byte
	rand.Read(step[:])
	// Add 1 + step to the 128-bit big-endian number; a carry out of the
	// random part moves the time on by a millisecond, which keeps the order.
	carry := uint32(step[0])<<24 | uint32(step[1])<<16 | uint32(step[2])<<8 | uint32(step[3])
	sum := uint64(carry) + 1
	for i := len(p) - 1; i >= 0 && sum > 0; i-- {
		sum += uint64(p[i])
		p[i] = byte(sum)
		sum >>= 8
	}
	return p.String()
}
