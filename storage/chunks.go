package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/oklog/ulid/v2"
)

// chunkStore keeps the bytes of files, by file ID and chunk number, apart
// from their records: the one place that knows where those bytes live.
// Files.Put and Open, erasure, the orphan clean-up, Verify and bulk loads
// all go through it, so keeping files elsewhere (an object store) is one
// more implementation of this interface. The records stay in the store:
// a file exists once its record is written, whatever chunks are stored.
type chunkStore interface {
	// write starts storing b as chunk n of the file and calls done with
	// the result once it is durable. b must not change until then.
	write(id string, n int, b []byte, done func(error)) error
	// read returns chunk n of the file, read into buf's backing array when
	// it is large enough, or ErrNotFound.
	read(id string, n int, buf []byte) ([]byte, error)
	// delete removes every chunk of the file and returns how many there
	// were. It stops early only when ctx ends.
	delete(ctx context.Context, id string) (int, error)
	// files calls fn once with the ID of each file that has chunks stored,
	// in ID order. An ID may be malformed (a stray key).
	files(ctx context.Context, fn func(id string) error) error
	// stat returns how many chunks of the file are stored and their bytes.
	stat(ctx context.Context, id string) (chunks int, size int64, err error)
}

var _ chunkStore = (*badgerChunks)(nil)

// badgerChunks keeps chunks in the store itself, each under fc/{file}/{n}
// in its own small transaction: Badger puts values this size in its value
// log, out of the LSM tree (vlog.go reclaims them).
type badgerChunks struct {
	st *Store
}

// chunkPrefix is fc/{file}/, the prefix of every chunk of the file.
func chunkPrefix(id string) []byte { return key("fc", id, "") }

// chunkKey is fc/{file}/{n}, n as 4 big-endian bytes so chunks sort in order.
func chunkKey(id string, n int) []byte {
	return binary.BigEndian.AppendUint32(chunkPrefix(id), uint32(n))
}

func (c *badgerChunks) write(id string, n int, b []byte, done func(error)) error {
	txn := c.st.db.NewTransaction(true)
	if err := txn.Set(chunkKey(id, n), b); err != nil {
		txn.Discard()
		return err
	}
	txn.CommitWith(done)
	return nil
}

func (c *badgerChunks) read(id string, n int, buf []byte) ([]byte, error) {
	var b []byte
	err := c.st.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(id, n))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		b, err = item.ValueCopy(buf[:0])
		return err
	})
	return b, err
}

func (c *badgerChunks) delete(ctx context.Context, id string) (int, error) {
	return c.st.deletePrefix(ctx, chunkPrefix(id))
}

func (c *badgerChunks) files(ctx context.Context, fn func(id string) error) error {
	return c.st.db.View(func(txn *badger.Txn) error {
		prefix := []byte("fc/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			id := string(k[len(prefix):min(len(k), len(prefix)+ulid.EncodedSize)])
			if err := fn(id); err != nil {
				return err
			}
			// Skip the file's other chunks (stepping on, should a
			// stray key sort past them).
			if next := append(chunkPrefix(id), 0xff); bytes.Compare(next, k) > 0 {
				it.Seek(next)
			} else {
				it.Next()
			}
		}
		return nil
	})
}

func (c *badgerChunks) stat(ctx context.Context, id string) (chunks int, size int64, err error) {
	err = c.st.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: chunkPrefix(id)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			chunks++
			// Read the value: ValueSize is only an estimate in the value log.
			if err := it.Item().Value(func(b []byte) error { size += int64(len(b)); return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	return chunks, size, err
}
