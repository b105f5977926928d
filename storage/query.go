package storage

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Paging limits of the admin queries.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page is one page of a list: its items and the cursor of the next page,
// empty on the last one.
type Page[T any] struct {
	Items []T
	Next  string
}

// FieldError is a bad value in a query: Field names the query struct's
// field at fault (From, To, Limit, Cursor, Status, Flags), Msg says what
// is wrong with it. An HTTP layer maps the field to its own parameter.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "storage: " + e.Field + ": " + e.Msg }

// ErrBadCursor is wrapped by the FieldError of a cursor that was not made
// by this process for this query (forged, altered or from another filter).
var ErrBadCursor = errors.New("storage: bad cursor")

// checkPeriod validates a period [from, to); zero times are open ends.
func checkPeriod(from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		return &FieldError{"From", "is after to"}
	}
	return nil
}

// checkLimit returns the page size, DefaultLimit for 0.
func checkLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 0 || n > MaxLimit:
		return 0, &FieldError{"Limit", "must be between 1 and 500"}
	}
	return n, nil
}

// Cursors are opaque to clients: a kind, a fingerprint of the query's
// filters and the position (the suffix of the last index key consumed),
// sealed with an HMAC under a key that lives as long as the process. A
// cursor from another query, an altered one or one from before a restart
// is rejected rather than silently listing the wrong rows.
const (
	cursorUsers    byte = 'u'
	cursorVisitor  byte = 'v'
	cursorSessions byte = 's'
)

var cursorKey = func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}()

const cursorMACLen = 16

// fingerprint hashes a query's filters (not its limit or cursor).
func fingerprint(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func timeParam(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func encodeCursor(kind byte, fp uint64, suffix string) string {
	b := make([]byte, 0, 1+8+len(suffix)+cursorMACLen)
	b = append(b, kind)
	b = binary.BigEndian.AppendUint64(b, fp)
	b = append(b, suffix...)
	m := hmac.New(sha256.New, cursorKey)
	m.Write(b)
	b = m.Sum(b)[:len(b)+cursorMACLen]
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the position sealed in c, "" for an empty cursor.
func decodeCursor(c string, kind byte, fp uint64) (string, error) {
	if c == "" {
		return "", nil
	}
	bad := &FieldError{"Cursor", "is not a cursor of this list (it may have expired with a restart)"}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 1+8+suffixLen+cursorMACLen {
		return "", bad
	}
	body, mac := b[:len(b)-cursorMACLen], b[len(b)-cursorMACLen:]
	m := hmac.New(sha256.New, cursorKey)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)[:cursorMACLen]) {
		return "", bad
	}
	if body[0] != kind || binary.BigEndian.Uint64(body[1:9]) != fp {
		return "", bad
	}
	return string(body[9:]), nil
}

// upperBound is where a newest-first scan starts: just below the cursor's
// position, else just below to, else at the end.
func upperBound(cursor string, to time.Time) (bound string, inclusive bool) {
	switch {
	case cursor != "":
		return cursor, false
	case !to.IsZero():
		// Every suffix at time to is longer than timeKey(to), hence above it.
		return timeKey(to), true
	}
	return "\xff", true
}

// suffixTime decodes the time at the head of an index suffix.
func suffixTime(s []byte) time.Time {
	if len(s) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(s[:8]))).UTC()
}

// suffixID returns the session ID at the tail of an index suffix.
func suffixID(s []byte) string {
	if len(s) < suffixLen {
		return ""
	}
	return string(s[9:suffixLen])
}

// revScan walks the keys under one prefix from a bound downwards.
type revScan struct {
	it     *badger.Iterator
	prefix []byte
}

func newRevScan(txn *badger.Txn, prefix []byte) *revScan {
	return &revScan{
		it:     txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: prefix}),
		prefix: prefix,
	}
}

func (r *revScan) close() { r.it.Close() }

// seek positions at the greatest key at or (exclusive) below prefix+bound
// and returns its suffix.
func (r *revScan) seek(bound string, inclusive bool) ([]byte, bool) {
	k := append(append([]byte(nil), r.prefix...), bound...)
	r.it.Seek(k)
	if !inclusive && r.it.Valid() && bytes.Equal(r.it.Item().Key(), k) {
		r.it.Next()
	}
	return r.cur()
}

// next moves one key down.
func (r *revScan) next() ([]byte, bool) {
	r.it.Next()
	return r.cur()
}

func (r *revScan) cur() ([]byte, bool) {
	if !r.it.ValidForPrefix(r.prefix) {
		return nil, false
	}
	return r.it.Item().Key()[len(r.prefix):], true
}

// join intersects several index prefixes whose keys share the session
// suffix, newest first, by leapfrogging: each scan seeks to the greatest
// suffix at or below the candidate; when all agree the suffix is in every
// list. The cost follows the skips, not the lists' lengths.
type join struct {
	scans []*revScan
	bound string
	incl  bool
	first bool
}

func newJoin(txn *badger.Txn, prefixes [][]byte, bound string, inclusive bool) *join {
	j := &join{bound: bound, incl: inclusive, first: true}
	for _, p := range prefixes {
		j.scans = append(j.scans, newRevScan(txn, p))
	}
	return j
}

func (j *join) close() {
	for _, s := range j.scans {
		s.close()
	}
}

// next returns the next suffix present under every prefix.
func (j *join) next() (suffix []byte, ok bool) {
	var s []byte
	if j.first {
		j.first = false
		s, ok = j.scans[0].seek(j.bound, j.incl)
	} else {
		s, ok = j.scans[0].next()
	}
	if !ok {
		return nil, false
	}
	if len(j.scans) == 1 {
		return s, true
	}
	cand := string(s)
	for {
		agreed := true
		for _, sc := range j.scans[1:] {
			got, ok := sc.seek(cand, true)
			if !ok {
				return nil, false
			}
			if string(got) != cand {
				cand, agreed = string(got), false
				break
			}
		}
		if agreed {
			s, _ = j.scans[0].cur()
			return s, true
		}
		got, ok := j.scans[0].seek(cand, true)
		if !ok {
			return nil, false
		}
		cand = string(got)
	}
}
