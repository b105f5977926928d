package identity

import (
	"crypto/rand"
	"strings"

	"github.com/oklog/ulid/v2"
)

// NewVisitorID returns a new random, time-ordered ULID string: 48 bits of
// millisecond timestamp and 80 bits of crypto/rand entropy. It is safe for
// concurrent use.
func NewVisitorID() string {
	// crypto/rand.Reader never fails and is safe for concurrent use, so
	// MustNew cannot panic.
	return ulid.MustNew(ulid.Now(), rand.Reader).String()
}

// ValidVisitorID reports whether s is a well-formed ULID string in canonical
// form: 26 upper-case Crockford base32 characters whose value fits in 128
// bits. Lower-case spellings are rejected, so one visitor has one spelling.
func ValidVisitorID(s string) bool {
	if len(s) != ulid.EncodedSize {
		return false
	}
	// 26 base32 characters carry 130 bits; a first character above '7'
	// would overflow the 128-bit ULID.
	if s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(ulid.Encoding, s[i]) < 0 {
			return false
		}
	}
	return true
}
