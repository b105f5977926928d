package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Senders of a message.
const (
	FromBot     = "bot"
	FromVisitor = "visitor"
	FromAgent   = "agent"
)

// Kinds of a message, as the Chatlayer seed's messageType.
const (
	KindBot    = "bot"    // a bot message or prompt
	KindText   = "text"   // free text from the visitor
	KindChoice = "choice" // a click on a choice option (an engagement)
	KindInput  = "input"  // an answer to an input block
	KindFile   = "file"   // an uploaded file
	KindAgent  = "agent"  // a person's reply from the console
)

// Message is one message of a session. Bot messages carry the prompt of
// the block that sent them; visitor messages carry what the visitor did.
type Message struct {
	ID        string    `json:"id"`
	SessionID string    `json:"session"`
	From      string    `json:"from"`
	Kind      string    `json:"kind"`
	At        time.Time `json:"at"`
	Text      string    `json:"text,omitempty"`
	Block     string    `json:"block,omitempty"`
	Image     string    `json:"image,omitempty"`
	ClientID  string    `json:"clientId,omitempty"`
	// Agent and AgentName name the person who wrote an agent's message:
	// the sign-in name and the name the visitor saw.
	Agent     string `json:"agent,omitempty"`
	AgentName string `json:"agentName,omitempty"`

	Options []Option      `json:"options,omitempty"` // a choice prompt
	Input   *InputPrompt  `json:"input,omitempty"`   // an input prompt
	Upload  *UploadPrompt `json:"upload,omitempty"`  // an upload prompt
	File    *FileRef      `json:"file,omitempty"`    // an uploaded file

	Option string `json:"option,omitempty"` // the option chosen, on a choice
	Value  string `json:"value,omitempty"`  // the normalised value, on an input

	// Trace is how the story came to a bot message (trace.go): for
	// admins, never sent to the visitor.
	Trace []Step `json:"trace,omitempty"`
	// Sentiment is the tone of a visitor's free text (nil when not
	// scored: the site switched it off).
	Sentiment *Sentiment `json:"sentiment,omitempty"`
	// Unanswered marks a visitor's free text that only the story's
	// fallback answered (a knowledge gap).
	Unanswered bool `json:"unanswered,omitempty"`
}

// Option is one button of a choice block.
type Option struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// InputPrompt asks for a typed value.
type InputPrompt struct {
	Kind        string `json:"kind"`
	Placeholder string `json:"placeholder,omitempty"`
}

// UploadPrompt asks for a file.
type UploadPrompt struct {
	Accept   []string `json:"accept"`
	MaxBytes int64    `json:"maxBytes"`
}

// FileRef names an uploaded file from a message or a session.
type FileRef struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Size  int64     `json:"size"`
	Type  string    `json:"type"`
	Block string    `json:"block,omitempty"`
	At    time.Time `json:"at"`
}

// Ack is the receipt for a stored visitor message.
type Ack struct {
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	Text string    `json:"text,omitempty"` // the message text as stored (an input normalised)
}

// Messages returns the session's messages, oldest first, at most limit
// (0 for all).
func (s *Store) Messages(ctx context.Context, sessionID string, limit int) ([]Message, error) {
	var msgs []Message
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := key("m", sessionID, "")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var m Message
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &m) }); err != nil {
				return err
			}
			msgs = append(msgs, m)
			if limit > 0 && len(msgs) == limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: messages: %w", err)
	}
	return msgs, nil
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Ack returns the stored ack for a client message ID in the session, or
// ErrNotFound.
func (s *Store) Ack(ctx context.Context, sessionID, clientID string) (Ack, error) {
	var a Ack
	err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, key("c", sessionID, clientID), &a) })
	if err != nil {
		return Ack{}, fmt.Errorf("storage: ack: %w", err)
	}
	return a, nil
}

// Acks returns the session's client-ID ledger: the ack of every client
// message ID stored in it, for the owner of a live session to answer
// resends from memory.
func (s *Store) Acks(ctx context.Context, sessionID string) (map[string]Ack, error) {
	acks := map[string]Ack{}
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := key("c", sessionID, "")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var a Ack
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &a) }); err != nil {
				return err
			}
			acks[string(it.Item().Key()[len(prefix):])] = a
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: acks: %w", err)
	}
	return acks, nil
}

// LatestMessages returns the session's newest messages, newest first, at
// most n: one page of keys read backwards, for a view that shows where a
// conversation stands (the inbox) without reading it all.
func (s *Store) LatestMessages(ctx context.Context, sessionID string, n int) ([]Message, error) {
	var msgs []Message
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := key("m", sessionID, "")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true, PrefetchValues: true, PrefetchSize: min(n, 64)})
		defer it.Close()
		for it.Seek(append(prefix, 0xff)); it.Valid() && len(msgs) < n; it.Next() {
			var m Message
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &m) }); err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: latest messages: %w", err)
	}
	return msgs, nil
}
