package storage

import (
	"bytes"
	"encoding/json"
	"errors"

	badger "github.com/dgraph-io/badger/v4"
)

// A session's host variables (State.HostVariables) are kept under keys of
// their own, hv/{session}/{name}, not in the session record: the host page
// sets them on every page view, and a change then writes the values that
// changed, not the whole session; nor does every later turn write them
// again. Records written before carry them in their JSON; they are read
// from there too, and moved to their keys by the session's next turn.

// hostVarsPrefix is the key prefix of a session's host variables.
func hostVarsPrefix(sessionID string) []byte { return key("hv", sessionID, "") }

// getSession reads the session id with its host variables. Like getCached
// it reuses prev when the stored record is the one prev was read from or
// written as (the host variables then are prev's: only the session's
// owner writes them, through RecordTurn).
func getSession(txn *badger.Txn, id string, prev *Session) (*Session, error) {
	item, err := txn.Get(key("s", id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var sess Session
	err = item.Value(func(b []byte) error {
		if prev != nil && prev.raw != nil && bytes.Equal(b, prev.raw) {
			sess = *prev
			return nil
		}
		sess.raw = bytes.Clone(b)
		if err := json.Unmarshal(sess.raw, &sess); err != nil {
			return err
		}
		return loadHostVariables(txn, &sess)
	})
	if err != nil {
		return nil, err
	}
	return &sess, nil
}

// loadHostVariables adds the session's host variables under hv/ to those
// its record was decoded with (none, but in records written before hv/).
func loadHostVariables(txn *badger.Txn, sess *Session) error {
	sess.hostInRecord = len(sess.State.HostVariables) > 0
	prefix := hostVarsPrefix(sess.ID)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		if sess.State.HostVariables == nil {
			sess.State.HostVariables = map[string]string{}
		}
		sess.State.HostVariables[string(it.Item().Key()[len(prefix):])] = string(v)
	}
	return nil
}

// putHostVariables writes what changed from old's host variables to
// next's: the values set or changed, the names gone deleted. When old's
// record still carried them in its JSON, every one is written, as next's
// record will not carry them.
func putHostVariables(w kvWriter, old, next *Session) error {
	before := old.State.HostVariables
	if old.hostInRecord {
		before = nil
	}
	for k, v := range next.State.HostVariables {
		if was, ok := before[k]; ok && was == v {
			continue
		}
		if err := w.Set(key("hv", next.ID, k), []byte(v)); err != nil {
			return err
		}
	}
	for k := range before {
		if _, ok := next.State.HostVariables[k]; !ok {
			if err := w.Delete(key("hv", next.ID, k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// marshalSession encodes the session record, without its host variables,
// which live under hv/.
func marshalSession(sess *Session) ([]byte, error) {
	rec := *sess
	rec.State.HostVariables = nil
	return json.Marshal(&rec)
}

// putNewSession writes a session record that is not stored yet, and its
// host variables under their keys.
func putNewSession(w kvWriter, sess *Session) error {
	b, err := marshalSession(sess)
	if err != nil {
		return err
	}
	if err := w.Set(key("s", sess.ID), b); err != nil {
		return err
	}
	return putHostVariables(w, &Session{}, sess)
}
