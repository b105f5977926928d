package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// DeliveryLogKeep is how many attempts the delivery log keeps per
// endpoint; older ones are deleted as new ones are logged.
const DeliveryLogKeep = 100

// Outcomes of an attempt.
const (
	OutcomeDelivered = "delivered" // the endpoint answered 2xx: the event left the outbox
	OutcomeFailed    = "failed"    // it did not: the event is tried again later
	OutcomeGaveUp    = "gave_up"   // failed for a day while the endpoint took others: the event left the outbox
)

// Attempt is one delivery attempt of an event to an endpoint, as the
// delivery log keeps it (with the body, so it can be sent again).
type Attempt struct {
	ID      string    `json:"id"` // the log entry's ID (16 hex digits), for Resend
	EventID string    `json:"eventId"`
	Type    string    `json:"type"`
	Lane    string    `json:"session"`
	Visitor string    `json:"visitor,omitempty"`
	At      time.Time `json:"at"`      // when the attempt began
	Attempt int       `json:"attempt"` // 1 for the event's first
	Outcome string    `json:"outcome"`
	Status  int       `json:"status,omitempty"` // the HTTP status, 0 for none
	Error   string    `json:"error,omitempty"`
	TookMs  int64     `json:"tookMs"`
	NextAt  time.Time `json:"nextAt,omitzero"` // the next attempt, when failed
	Resent  bool      `json:"resent,omitempty"`
	Body    []byte    `json:"-"`
}

// EndpointState is what the dispatcher keeps of an endpoint across
// restarts.
type EndpointState struct {
	LastSuccessAt time.Time `json:"lastSuccessAt,omitzero"`
	LastFailureAt time.Time `json:"lastFailureAt,omitzero"`
	// FailingSince is the first failure since the last success; zero
	// while the endpoint takes its events.
	FailingSince time.Time `json:"failingSince,omitzero"`
	// PausedAt is when delivery to the endpoint was paused for failing a
	// day; zero while it is not.
	PausedAt time.Time `json:"pausedAt,omitzero"`
}

func logPrefix(endpoint string) []byte { return key("wl", endpoint, "") }

func stateKey(endpoint string) []byte { return key("ws", endpoint) }

// EndpointState returns the endpoint's stored state (zero when it has none).
func (s *Store) EndpointState(ctx context.Context, endpoint string) (EndpointState, error) {
	var st EndpointState
	err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, stateKey(endpoint), &st) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return st, fmt.Errorf("storage: endpoint state %s: %w", endpoint, err)
	}
	return st, nil
}

// SetEndpointState stores the endpoint's state.
func (s *Store) SetEndpointState(ctx context.Context, endpoint string, st EndpointState) error {
	if err := s.updateAnyway(ctx, func(txn *badger.Txn) error { return putJSON(txn, stateKey(endpoint), &st) }); err != nil {
		return fmt.Errorf("storage: set endpoint state %s: %w", endpoint, err)
	}
	return nil
}

// OutboxDone records an attempt at the entry e in one transaction: the
// entry leaves the outbox (delivered, gave up) or is stored with its
// updated Attempts, NextAt and FirstFailedAt (failed); the attempt is
// logged; st, if not nil, becomes the endpoint's state. An entry that is
// gone meanwhile (its visitor was erased) is neither logged nor written
// back.
func (s *Store) OutboxDone(ctx context.Context, e *OutboxEntry, a *Attempt, st *EndpointState) error {
	k := append(outboxPrefix(e.Endpoint), e.Key...)
	removed := false
	err := s.updateAnyway(ctx, func(txn *badger.Txn) error {
		removed = false
		exists := true
		if _, err := txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
			exists = false
		} else if err != nil {
			return err
		}
		if st != nil {
			if err := putJSON(txn, stateKey(e.Endpoint), st); err != nil {
				return err
			}
		}
		if !exists {
			return nil
		}
		if a.Outcome == OutcomeFailed {
			v, err := encodeEntry(e, e.Body)
			if err != nil {
				return err
			}
			if err := txn.Set(k, v); err != nil {
				return err
			}
		} else {
			if err := txn.Delete(k); err != nil {
				return err
			}
			if e.Visitor != "" {
				if err := txn.Delete(visitorKey(e.Visitor, k)); err != nil {
					return err
				}
			}
			removed = true
		}
		return s.logAttempt(txn, e.Endpoint, a)
	})
	if err != nil {
		return fmt.Errorf("storage: outbox done %s: %w", e.Endpoint, err)
	}
	if removed {
		s.ob.Left(e.Endpoint, 1)
	}
	return nil
}

// logAttempt appends a to the endpoint's log and trims it to
// DeliveryLogKeep.
func (s *Store) logAttempt(txn *badger.Txn, endpoint string, a *Attempt) error {
	seq := s.ob.nextSeq(time.Now())
	prefix := logPrefix(endpoint)
	a.ID = hex.EncodeToString(binary.BigEndian.AppendUint64(nil, seq))
	meta, err := json.Marshal(a)
	if err != nil {
		return err
	}
	k := seqKey(prefix, seq)
	if err := txn.Set(k, append(append(meta, '\n'), a.Body...)); err != nil {
		return err
	}
	if err := indexVisitor(txn, a.Visitor, k); err != nil {
		return err
	}
	keys := keysIn(txn, prefix)
	for len(keys) > DeliveryLogKeep { // the new one included
		if err := deleteLogged(txn, keys[0]); err != nil {
			return err
		}
		keys = keys[1:]
	}
	return nil
}

// deleteLogged deletes a logged attempt with its visitor index entry.
func deleteLogged(txn *badger.Txn, k []byte) error {
	item, err := txn.Get(k)
	if err != nil {
		return err
	}
	var a Attempt
	if err := item.Value(func(v []byte) error { return decodeAttempt(v, &a) }); err == nil && a.Visitor != "" {
		if err := txn.Delete(visitorKey(a.Visitor, k)); err != nil {
			return err
		}
	}
	return txn.Delete(k)
}

// DeliveryLog returns the endpoint's last attempts, newest first, at most
// limit.
func (s *Store) DeliveryLog(ctx context.Context, endpoint string, limit int) ([]Attempt, error) {
	prefix := logPrefix(endpoint)
	var out []Attempt
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true, PrefetchValues: true, PrefetchSize: min(limit, 100)})
		defer it.Close()
		for it.Seek(append(bytes.Clone(prefix), 0xff)); it.Valid() && len(out) < limit; it.Next() {
			var a Attempt
			if err := it.Item().Value(func(v []byte) error { return decodeAttempt(v, &a) }); err != nil {
				return err
			}
			out = append(out, a)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: delivery log %s: %w", endpoint, err)
	}
	return out, nil
}

func decodeAttempt(v []byte, a *Attempt) error {
	meta, body, _ := bytes.Cut(v, []byte{'\n'})
	if err := json.Unmarshal(meta, a); err != nil {
		return fmt.Errorf("storage: delivery log entry: %w", err)
	}
	a.Body = bytes.Clone(body)
	return nil
}

// ErrBacklogFull is returned by Resend when the endpoint's backlog is at
// its limit.
var ErrBacklogFull = errors.New("storage: the endpoint's backlog is full")

// Resend puts the event of the logged attempt id back into the endpoint's
// outbox, behind what waits there, with the same webhook-id and body. It
// returns ErrNotFound for an attempt the log no longer has and
// ErrBacklogFull at the backlog limit.
func (s *Store) Resend(ctx context.Context, endpoint, id string) (*OutboxEntry, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 8 {
		return nil, fmt.Errorf("storage: resend: %w", ErrNotFound)
	}
	var a Attempt
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(append(logPrefix(endpoint), raw...))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return decodeAttempt(v, &a) })
	})
	if err != nil {
		return nil, fmt.Errorf("storage: resend: %w", err)
	}
	r := s.ob.Reserve()
	if !r.Take(endpoint, s.ob.MaxBacklog(), false) {
		return nil, fmt.Errorf("storage: resend: %w", ErrBacklogFull)
	}
	seq := s.ob.nextSeq(time.Now())
	e := &OutboxEntry{Endpoint: endpoint, ID: a.EventID, Type: a.Type, Lane: a.Lane, Visitor: a.Visitor, At: a.At, Resent: true, Body: a.Body}
	k := seqKey(outboxPrefix(endpoint), seq)
	e.Key = string(k[len(k)-8:])
	v, err := encodeEntry(e, a.Body)
	if err == nil {
		err = s.update(ctx, func(txn *badger.Txn) error {
			if err := txn.Set(k, v); err != nil {
				return err
			}
			return indexVisitor(txn, e.Visitor, k)
		})
	}
	if err != nil {
		r.Release()
		return nil, fmt.Errorf("storage: resend: %w", err)
	}
	r.Committed()
	return e, nil
}
