package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Refusal is a session start refused for a rate limit (the gateway's new
// visitors or new sessions per address or per visitor): no session was
// created, so the usage report counts it apart, as refused.
type Refusal struct {
	Site, Bot, Version, Channel string
	// Reason names the limit, as the gateway's metrics do.
	Reason string
	At     time.Time
}

// refusalCell is one refusal counter: an hour of one reason on one site,
// bot version and channel.
type refusalCell struct {
	site, hour, reason    string // hour: yyyymmddhh, UTC
	bot, version, channel string
}

func (c refusalCell) key() []byte {
	var b bytes.Buffer
	b.Write(key("ur", c.site, c.hour, ""))
	for i, p := range []string{c.reason, c.bot, c.version, c.channel} {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(p)
	}
	return b.Bytes()
}

// CountRefused counts a refused start. It only adds to a counter in
// memory: an attack refused thousands of times a second must not cost as
// many writes. FlushRefused (the gateway calls it every few seconds) and
// Close store the counts; the usage report adds those not stored yet.
func (s *Store) CountRefused(r Refusal) {
	c := refusalCell{
		site: r.Site, hour: r.At.UTC().Format("2006010215"), reason: r.Reason,
		bot: r.Bot, version: r.Version, channel: r.Channel,
	}
	s.refusedMu.Lock()
	if s.refused == nil {
		s.refused = make(map[refusalCell]uint64)
	}
	s.refused[c]++
	s.refusedMu.Unlock()
}

// FlushRefused adds the refusals counted since the last flush to their
// stored counters, in one transaction. On an error they stay counted in
// memory for the next flush.
func (s *Store) FlushRefused(ctx context.Context) error {
	s.refusedMu.Lock()
	defer s.refusedMu.Unlock()
	if len(s.refused) == 0 {
		return nil
	}
	err := s.update(ctx, func(txn *badger.Txn) error {
		for c, n := range s.refused {
			k := c.key()
			stored, err := getCounter(txn, k)
			if err != nil {
				return err
			}
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], stored+n)
			if err := txn.Set(k, b[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: flush refused: %w", err)
	}
	clear(s.refused)
	return nil
}

// getCounter reads a big-endian uint64 counter; a missing one is 0.
func getCounter(txn *badger.Txn, k []byte) (uint64, error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n uint64
	err = item.Value(func(b []byte) error {
		if len(b) == 8 {
			n = binary.BigEndian.Uint64(b)
		}
		return nil
	})
	return n, err
}

// refusedIn adds to r the refusals of the hours that overlap [r.From,
// r.To) and pass q's filters: the stored counters and those still in
// memory, read under refusedMu so a flush in between counts nothing twice.
func (s *Store) refusedIn(q *UsageQuery, r *UsageReport) error {
	if !r.From.Before(r.To) {
		return nil
	}
	first := r.From.Truncate(time.Hour).Format("2006010215")
	last := r.To.Add(-time.Nanosecond).Format("2006010215")
	days, reasons := map[string]int64{}, map[string]int64{}
	add := func(c refusalCell, n uint64) {
		if (q.Site != "" && c.site != q.Site) || c.hour < first || c.hour > last || !q.keeps(c.bot, c.version, c.channel) {
			return
		}
		r.Refused += int64(n)
		days[c.hour[:8]] += int64(n)
		reasons[c.reason] += int64(n)
	}
	s.refusedMu.Lock()
	defer s.refusedMu.Unlock()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("ur/")})
		defer it.Close()
		// Per site, seek to the period's first hour and stop after its last.
		if q.Site == "" {
			it.Rewind()
		} else {
			it.Seek(key("ur", q.Site, ""))
		}
		for it.Valid() {
			site, _, _ := strings.Cut(string(it.Item().Key()[3:]), "/")
			if q.Site != "" && site != q.Site {
				return nil
			}
			end := key("ur", site, last, "\xff")
			for it.Seek(key("ur", site, first)); it.Valid() && bytes.Compare(it.Item().Key(), end) < 0; it.Next() {
				c, ok := parseRefusalKey(it.Item().Key())
				if !ok {
					continue
				}
				if err := it.Item().Value(func(b []byte) error {
					if len(b) == 8 {
						add(c, binary.BigEndian.Uint64(b))
					}
					return nil
				}); err != nil {
					return err
				}
			}
			it.Seek(key("ur", site+"0")) // '0' follows '/': the next site
		}
		return nil
	})
	if err != nil {
		return err
	}
	for c, n := range s.refused {
		add(c, n)
	}
	finishRefused(r, days, reasons)
	return nil
}

// finishRefused fills the report's refusals per day (days: yyyymmdd) and
// per reason from the sums.
func finishRefused(r *UsageReport, days, reasons map[string]int64) {
	for _, d := range r.Days {
		r.RefusedDays = append(r.RefusedDays, Count{d.Key, days[strings.ReplaceAll(d.Key, "-", "")]})
	}
	r.RefusedReasons = byCount(reasons)
}

// parseRefusalKey reads ur/{site}/{hour}/{reason}\0{bot}\0{version}\0{channel}.
func parseRefusalKey(k []byte) (refusalCell, bool) {
	parts := strings.SplitN(string(k), "/", 4)
	if len(parts) != 4 || len(parts[2]) != 10 {
		return refusalCell{}, false
	}
	f := strings.Split(parts[3], "\x00")
	if len(f) != 4 {
		return refusalCell{}, false
	}
	return refusalCell{site: parts[1], hour: parts[2], reason: f[0], bot: f[1], version: f[2], channel: f[3]}, true
}
