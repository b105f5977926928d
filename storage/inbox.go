package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Conversation states of the inbox.
const (
	ConversationOpen     = "open"
	ConversationResolved = "resolved"
)

// Conversation is what the inbox keeps of a session beyond the session
// itself: the help-desk workflow around it (cm/ keys). It is the console's
// record, not the conversation's state, so the console writes it directly.
type Conversation struct {
	Session  string            `json:"session"`
	Status   string            `json:"status"`             // ConversationOpen (default) or ConversationResolved
	Assignee string            `json:"assignee,omitempty"` // an agent's sign-in name
	Read     map[string]string `json:"read,omitempty"`     // agent → the last message ID they have seen
	// UpdatedAt is when the inbox record last changed.
	UpdatedAt time.Time `json:"updatedAt"`
}

// Note is a private note of an agent on a conversation, never shown to
// the visitor (cn/ keys).
type Note struct {
	ID        string    `json:"id"`
	Session   string    `json:"session"`
	Agent     string    `json:"agent"`
	AgentName string    `json:"agentName"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
}

// inboxPrefixes are the key prefixes of a session's inbox records, which
// an erase of its visitor deletes.
func inboxPrefixes(sid string) [][]byte {
	return [][]byte{key("ho", sid), key("cm", sid), key("co", sid), key("cn", sid, "")}
}

// Conversation returns the inbox record of the session: a new open one
// when it has none yet.
func (s *Store) Conversation(ctx context.Context, sid string) (*Conversation, error) {
	c := &Conversation{Session: sid, Status: ConversationOpen}
	err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, key("cm", sid), c) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("storage: conversation: %w", err)
	}
	return c, nil
}

// UpdateConversation changes the session's inbox record with fn in one
// transaction and returns it as stored; ErrNotFound when the session does
// not exist (an erased visitor's conversation cannot come back).
func (s *Store) UpdateConversation(ctx context.Context, sid string, now time.Time, fn func(c *Conversation)) (*Conversation, error) {
	var c Conversation
	err := s.update(ctx, func(txn *badger.Txn) error {
		if _, err := txn.Get(key("s", sid)); errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		c = Conversation{Session: sid, Status: ConversationOpen}
		if err := getJSON(txn, key("cm", sid), &c); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		fn(&c)
		c.UpdatedAt = now
		// co/ lists the open ones, so the inbox never reads the resolved.
		var err error
		if c.Status == ConversationResolved {
			err = txn.Delete(key("co", sid))
		} else {
			err = txn.Set(key("co", sid), nil)
		}
		if err != nil {
			return err
		}
		return putJSON(txn, key("cm", sid), &c)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: update conversation: %w", err)
	}
	return &c, nil
}

// AddNote stores a private note on the session; ErrNotFound when the
// session does not exist. The note's ID is assigned.
func (s *Store) AddNote(ctx context.Context, n *Note) error {
	n.ID = NewID(n.At)
	err := s.update(ctx, func(txn *badger.Txn) error {
		if _, err := txn.Get(key("s", n.Session)); errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return putJSON(txn, key("cn", n.Session, n.ID), n)
	})
	if err != nil {
		return fmt.Errorf("storage: add note: %w", err)
	}
	return nil
}

// Notes returns the session's notes, oldest first.
func (s *Store) Notes(ctx context.Context, sid string) ([]Note, error) {
	var out []Note
	err := s.db.View(func(txn *badger.Txn) (err error) {
		out, err = notesIn(ctx, txn, sid)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: notes: %w", err)
	}
	return out, nil
}

// notesIn reads the session's notes within txn, oldest first.
func notesIn(ctx context.Context, txn *badger.Txn, sid string) ([]Note, error) {
	var out []Note
	err := eachValue(ctx, txn, key("cn", sid, ""), func(_, v []byte) error {
		var n Note
		if err := json.Unmarshal(v, &n); err != nil {
			return err
		}
		out = append(out, n)
		return nil
	})
	return out, err
}

// Conversations returns the inbox records of every conversation a person
// took part in that is still open (co/ keys), oldest change first.
func (s *Store) Conversations(ctx context.Context) ([]Conversation, error) {
	var out []Conversation
	err := s.db.View(func(txn *badger.Txn) error {
		return eachKey(ctx, txn, []byte("co/"), func(k []byte) error {
			var c Conversation
			if err := getJSON(txn, key("cm", string(k[len("co/"):])), &c); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: conversations: %w", err)
	}
	slices.SortFunc(out, func(a, b Conversation) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	return out, nil
}

// inboxIn reads the session's inbox record (nil when it has none) and
// notes within txn, for an export.
func inboxIn(ctx context.Context, txn *badger.Txn, sid string) (*Conversation, []Note, error) {
	var conv *Conversation
	var c Conversation
	switch err := getJSON(txn, key("cm", sid), &c); {
	case err == nil:
		conv = &c
	case !errors.Is(err, ErrNotFound):
		return nil, nil, err
	}
	notes, err := notesIn(ctx, txn, sid)
	return conv, notes, err
}
