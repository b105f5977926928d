package storage

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// MaxStateBytes caps a session record (state, variables, inputs), as the
// Chatlayer seed caps session data at 10 MB.
const MaxStateBytes = 10 << 20

// Session is one conversation of a visitor with a story.
type Session struct {
	ID        string `json:"id"`
	Site      string `json:"site"`
	VisitorID string `json:"visitor"`
	Bot       string `json:"bot"`
	Version   string `json:"version"`
	Channel   string `json:"channel"`
	Device    Device `json:"device"`
	Page      string `json:"page,omitempty"`
	// Lang is the visitor's language as a lower-case ISO 639 code ("en",
	// "de"; seed 004's preferredLanguage), "" when unknown; Locale the
	// language with its region ("de-ch"; seed 004's locale), or the
	// language alone. The widget sets both at the session's start, from
	// hello's lang, else the handshake's Accept-Language.
	Lang   string `json:"lang,omitempty"`
	Locale string `json:"locale,omitempty"`
	// Type is the story's declared type (lead, support, ...; seed 003's
	// types), "" when it declares none.
	Type string `json:"type,omitempty"`

	StartedAt         time.Time `json:"startedAt"`
	LastActivityAt    time.Time `json:"lastActivityAt"`
	LastInteractionAt time.Time `json:"lastInteractionAt"` // zero if the visitor never acted
	LastInputAt       time.Time `json:"lastInputAt"`
	LastFileAt        time.Time `json:"lastFileAt"`
	MessageCount      int       `json:"messageCount"`
	// LastMessageID is the ID of the session's latest message: the next
	// one's ID sorts after it (NextID), so the session's own sequence, not
	// the wall clock, orders its messages.
	LastMessageID string `json:"lastMessageId,omitempty"`

	// Flags for the admin filters. Engaged: a choice was clicked (seed 000's
	// engagement). HasInputs: a text, email or phone input was given.
	// HasFiles: a file was uploaded. HasResponses: the visitor sent anything.
	Engaged      bool `json:"engaged"`
	HasInputs    bool `json:"hasInputs"`
	HasFiles     bool `json:"hasFiles"`
	HasResponses bool `json:"hasResponses"`

	// raw is the JSON this record was read from or written as (see getCached).
	raw []byte
	// hostInRecord: raw carries host variables, as records written before
	// they had keys of their own did (hostvars.go).
	hostInRecord bool
	// size and stLen track the JSON size of the record and of its state
	// across turns that do not encode it (RecordTurn); 0 when unknown.
	size, stLen int

	Inputs []Input   `json:"inputs,omitempty"`
	Files  []FileRef `json:"files,omitempty"`
	// Gaps are the visitor's texts only the fallback answered, in order, at
	// most MaxSessionGaps: the Knowledge gaps report's entries (gaps.go).
	// Like Inputs they are appended by the turns that add them, never
	// written again with every turn's state.
	Gaps  []Gap `json:"gaps,omitempty"`
	State State `json:"state"`
}

// State is where the story stands, as the Chatlayer seed's session data.
type State struct {
	Current  string `json:"current,omitempty"`  // the block last run
	Previous string `json:"previous,omitempty"` // the block before it
	Pending  string `json:"pending,omitempty"`  // the block waiting for an answer
	Ended    bool   `json:"ended,omitempty"`

	Variables     map[string]string `json:"variables,omitempty"`
	HostVariables map[string]string `json:"hostVariables,omitempty"` // set by the host page: shown, never trusted
	Goals         []string          `json:"goals,omitempty"`
	Tags          []string          `json:"tags,omitempty"`
	Reached       []string          `json:"reached,omitempty"` // every block run, in first-run order

	LastMessageContent string `json:"lastMessageContent,omitempty"`
	LastMessageType    string `json:"lastMessageType,omitempty"` // intro, postback, text, input or upload

	// Sentiment is the session's tone and its last expression's
	// (sentiment.go); nil until a visitor text was scored.
	Sentiment *SessionSentiment `json:"sentiment,omitempty"`
	// UnansweredCount counts the visitor's texts only the fallback
	// answered; the session keeps the first MaxSessionGaps of them in Gaps.
	UnansweredCount int `json:"unansweredCount,omitempty"`
	// Handover is set while the conversation waits for or is held by a
	// person (handover.go): the story is paused.
	Handover *Handover `json:"handover,omitempty"`
}

// Input is a value the visitor gave an input block.
type Input struct {
	Block    string    `json:"block"`
	Variable string    `json:"variable"`
	Kind     string    `json:"kind"` // text, email, phone
	Value    string    `json:"value"`
	At       time.Time `json:"at"`
}

// Validate reports whether the record can be stored.
func (s *Session) Validate() error {
	switch {
	case s.ID == "":
		return errors.New("storage: session: missing id")
	case s.Site == "":
		return errors.New("storage: session: missing site")
	case s.VisitorID == "":
		return errors.New("storage: session: missing visitor")
	case s.StartedAt.IsZero():
		return errors.New("storage: session: missing startedAt")
	}
	return nil
}

// flags packs the filter flags into the bits the activity index uses.
func (s *Session) flags() byte {
	var f byte
	if s.Engaged {
		f |= FlagEngaged
	}
	if s.HasFiles {
		f |= FlagFiles
	}
	if s.HasInputs {
		f |= FlagInputs
	}
	return f
}

// CreateSession stores a new session for an existing or new visitor v,
// counts it in the usage report and indexes it. v is created when it does
// not exist yet, else its LastSeenAt moves on. It is StartSession with no
// opening turn.
func (s *Store) CreateSession(ctx context.Context, v *Visitor, sess *Session) error {
	return s.StartSession(ctx, v, sess, nil)
}

// StartSession stores a new session and its opening turn (the story's
// first messages and state; nil for none) in one transaction, so a crash
// can never leave a session without its opening. It counts the session in
// the usage report and indexes it; v is created when it does not exist
// yet, else its LastSeenAt moves on. On return sess and v hold what was
// stored, and the opening's messages their IDs. It returns ErrErasing for
// a visitor being erased, ErrMerged for one merged into another
// (MergedInto) and ErrTooLarge past MaxStateBytes.
func (s *Store) StartSession(ctx context.Context, v *Visitor, sess *Session, opening *Turn) error {
	if err := sess.Validate(); err != nil {
		return err
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if sess.LastActivityAt.IsZero() {
		sess.LastActivityAt = sess.StartedAt
	}
	var next Session
	var stored Visitor
	var res *Reservation // the webhook events of this attempt (outbox.go)
	if s.counts == nil {
		return fmt.Errorf("storage: create session: %w", errReadOnly)
	}
	var mark startMark
	err := s.update(ctx, func(txn *badger.Txn) error {
		res.Release()      // a retry writes them afresh
		var seen time.Time // the stored visitor's LastSeenAt; zero for a new one
		stored = Visitor{} // afresh on a retry
		switch err := getJSON(txn, key("v", v.ID), &stored); {
		case errors.Is(err, ErrNotFound):
			if into, err := getString(txn, key("vm", v.ID)); err != nil || into != "" {
				return cmp.Or(err, ErrMerged) // identify.go
			}
			stored = *v
		case err != nil:
			return err
		case stored.Erasing:
			return ErrErasing
		default:
			seen = stored.LastSeenAt
		}
		if sess.StartedAt.After(stored.LastSeenAt) {
			stored.LastSeenAt = sess.StartedAt
		}
		next = *sess
		if opening != nil {
			opening.SessionID = sess.ID
			if opening.State != nil {
				next.State = *opening.State
			}
			if _, err := applyTurn(txn, opening, &next, &stored); err != nil {
				return err
			}
		}
		b, err := marshalSession(&next)
		if err != nil {
			return err
		}
		if len(b) > MaxStateBytes {
			return ErrTooLarge
		}
		if err := txn.Set(key("s", sess.ID), b); err != nil {
			return err
		}
		if err := putHostVariables(txn, &Session{}, &next); err != nil { // hostvars.go
			return err
		}
		if err := putHandoverIndex(txn, &next, nil, next.State.Handover); err != nil { // handover.go
			return err
		}
		next.raw = b
		if err := putJSON(txn, key("v", v.ID), &stored); err != nil {
			return err
		}
		if err := indexSeen(txn, seen, &stored); err != nil { // retention.go
			return err
		}
		if err := txn.Set(key("vs", v.ID, sess.ID), nil); err != nil {
			return err
		}
		// Counted with other new sessions behind the start (startcount.go).
		mark = markOf(&next)
		if err := setJSON(txn, startMarkKey(sess.ID), &mark); err != nil {
			return err
		}
		if s.outboxOn() {
			var err error
			if res, err = s.enqueue(txn, sessionEvents(&next, opening)); err != nil {
				return err
			}
		}
		return indexSession(txn, nil, &next)
	})
	if err != nil {
		res.Release()
		return fmt.Errorf("storage: create session: %w", err)
	}
	res.Committed()
	s.counts.add(sess.ID, mark)
	*sess, *v = next, stored
	return nil
}

// Session returns the session with the given ID, or ErrNotFound.
func (s *Store) Session(ctx context.Context, id string) (*Session, error) {
	// Fold its committed turns first, so the answer is exact (indexer.go).
	if err := s.settleSession(ctx, id); err != nil {
		return nil, err
	}
	var sess *Session
	err := s.db.View(func(txn *badger.Txn) (err error) {
		if sess, err = getSession(txn, id, nil); err != nil {
			return err
		}
		return withLastMessage(txn, sess)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: get session: %w", err)
	}
	return sess, nil
}

// withLastMessage fills in LastMessageID of a session stored before it was
// kept: its latest message is its last key.
func withLastMessage(txn *badger.Txn, sess *Session) (err error) {
	if sess.LastMessageID == "" && sess.MessageCount > 0 {
		sess.LastMessageID, err = lastMessageID(txn, sess.ID)
	}
	return err
}

// LatestSession returns the visitor's most recently started session, or
// ErrNotFound if it has none.
func (s *Store) LatestSession(ctx context.Context, visitorID string) (*Session, error) {
	// Fold its visitor's committed turns first, so the answer is exact
	// (indexer.go).
	if err := s.settleVisitor(ctx, visitorID); err != nil {
		return nil, err
	}
	var sess *Session
	err := s.db.View(func(txn *badger.Txn) (err error) {
		prefix := key("vs", visitorID, "")
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: prefix})
		defer it.Close()
		// Seek past the last possible session ID under the prefix.
		it.Seek(append(prefix, 0xff))
		if !it.Valid() {
			return ErrNotFound
		}
		id := string(it.Item().Key()[len(prefix):])
		if sess, err = getSession(txn, id, nil); err != nil {
			return err
		}
		return withLastMessage(txn, sess)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: latest session: %w", err)
	}
	return sess, nil
}

// VisitorSessionIDs returns the IDs of the visitor's sessions, oldest first.
func (s *Store) VisitorSessionIDs(ctx context.Context, visitorID string) ([]string, error) {
	var ids []string
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := key("vs", visitorID, "")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ids = append(ids, string(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: visitor sessions: %w", err)
	}
	return ids, nil
}

// timeKey encodes t as 8 big-endian bytes of Unix nanoseconds, so keys sort by time.
func timeKey(t time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano()))
	return string(b[:])
}
