package storage

import (
	"bytes"
	"encoding/binary"
	"errors"

	badger "github.com/dgraph-io/badger/v4"
)

// countSession adds sess to the per-day usage counter of its bot, version
// and channel. Callers hold usageMu, so the read-modify-write never conflicts.
func countSession(txn *badger.Txn, sess *Session) error {
	k := usageKey(sess.Site, sess.StartedAt.UTC().Format("20060102"), sess.Bot, sess.Version, sess.Channel)
	var n uint64
	item, err := txn.Get(k)
	switch {
	case err == nil:
		if err := item.Value(func(b []byte) error {
			if len(b) == 8 {
				n = binary.BigEndian.Uint64(b)
			}
			return nil
		}); err != nil {
			return err
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n+1)
	return txn.Set(k, b[:])
}

func usageKey(site, day, bot, version, channel string) []byte {
	var b bytes.Buffer
	b.Write(key("u", site, day, ""))
	b.WriteString(bot)
	b.WriteByte(0)
	b.WriteString(version)
	b.WriteByte(0)
	b.WriteString(channel)
	return b.Bytes()
}
