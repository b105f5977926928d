package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/oklog/ulid/v2"
)

// ErrQuotaExceeded is returned by Files.Put when the file would take the
// visitor past its daily quota.
var ErrQuotaExceeded = errors.New("storage: daily upload quota exceeded")

// Quota caps what one visitor may upload in one UTC day. A zero field caps
// nothing.
type Quota struct {
	Files int   // files per day
	Bytes int64 // bytes per day, all files together
}

// FileUsage is what a visitor uploaded in one UTC day.
type FileUsage struct {
	Files int
	Bytes int64
}

// Unlimited reports whether q caps nothing.
func (q Quota) Unlimited() bool { return q.Files <= 0 && q.Bytes <= 0 }

// Allows reports whether one more file of size bytes fits beside used.
func (q Quota) Allows(used FileUsage, size int64) bool {
	if q.Files > 0 && used.Files+1 > q.Files {
		return false
	}
	if q.Bytes > 0 && used.Bytes+size > q.Bytes {
		return false
	}
	return true
}

// Remaining returns how many more files and bytes fit beside used: -1 for
// an uncapped field, else at least 0.
func (q Quota) Remaining(used FileUsage) (files int, bytes int64) {
	files, bytes = -1, -1
	if q.Files > 0 {
		files = max(0, q.Files-used.Files)
	}
	if q.Bytes > 0 {
		bytes = max(0, q.Bytes-used.Bytes)
	}
	return files, bytes
}

// DayUsage returns what the visitor uploaded on the UTC day of t.
func (fs *Files) DayUsage(ctx context.Context, visitorID string, t time.Time) (FileUsage, error) {
	var u FileUsage
	err := fs.db.View(func(txn *badger.Txn) (err error) {
		u, err = dayUsage(txn, visitorID, t)
		return err
	})
	if err != nil {
		return FileUsage{}, fmt.Errorf("storage: file usage: %w", err)
	}
	return u, nil
}

// dayUsage sums the visitor's files of the UTC day of t. File IDs are
// ULIDs of the upload time, so the day's files are one key range of
// vf/{visitor}/, as long as the quota: a page of keys, never a scan.
func dayUsage(txn *badger.Txn, visitorID string, t time.Time) (FileUsage, error) {
	lo, hi := FileDay(t)
	from, to := visitorFileKey(visitorID, lo), visitorFileKey(visitorID, hi)
	var u FileUsage
	it := txn.NewIterator(badger.IteratorOptions{Prefix: key("vf", visitorID, ""), PrefetchValues: false})
	defer it.Close()
	for it.Seek(from); it.Valid(); it.Next() {
		item := it.Item()
		if string(item.Key()) >= string(to) {
			break
		}
		err := item.Value(func(b []byte) error {
			if len(b) == 8 {
				u.Bytes += int64(binary.BigEndian.Uint64(b))
			}
			return nil
		})
		if err != nil {
			return FileUsage{}, err
		}
		u.Files++
	}
	return u, nil
}

// FileDay returns the bounds of the IDs of the files uploaded on the UTC
// day of t, [from, to): file IDs are ULIDs of the upload time, and the
// quota counts a file on the day of its ID.
func FileDay(t time.Time) (from, to string) {
	day := t.UTC().Truncate(24 * time.Hour)
	return MinID(day), MinID(day.Add(24 * time.Hour))
}

// MinID is the smallest ULID of the millisecond of t: the IDs made at t
// or later sort at or above it, those made before below it.
func MinID(t time.Time) string {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(t)) // fails only past the year 10889
	return id.String()
}
