package storage

import (
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Session flags, as bits of the activity index.
const (
	FlagEngaged byte = 1 << iota
	FlagFiles
	FlagInputs
)

// activityKey is the index entry of a session under one subset (mask) of
// its flags: ia/{mask}/{lastActivity}/{session}. A session is written under
// every subset of its flags, so the sessions having at least the flags F are
// exactly those under mask F, newest activity last, and one filter reads one
// key range.
func activityKey(mask byte, sess *Session) []byte {
	return key("ia", fmt.Sprintf("%d", mask), timeKey(sess.LastActivityAt), sess.ID)
}

// indexSession moves the session's index entries from old (nil for a new
// session) to next.
func indexSession(txn *badger.Txn, old, next *Session) error {
	if old != nil {
		if old.LastActivityAt.Equal(next.LastActivityAt) && old.flags() == next.flags() {
			return nil
		}
		for _, m := range subsets(old.flags()) {
			if err := txn.Delete(activityKey(m, old)); err != nil {
				return err
			}
		}
	}
	for _, m := range subsets(next.flags()) {
		if err := txn.Set(activityKey(m, next), []byte(next.VisitorID)); err != nil {
			return err
		}
	}
	return nil
}

// subsets returns every subset of the bits in f, including 0 and f.
func subsets(f byte) []byte {
	out := []byte{0}
	for sub := f; sub != 0; sub = (sub - 1) & f {
		out = append(out, sub)
	}
	return out
}
