package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Device is the visitor's software as its User-Agent names it.
type Device struct {
	OS      string `json:"os"`
	Browser string `json:"browser"`
	Mobile  bool   `json:"mobile"`
	Bot     bool   `json:"bot"`
}

// Visitor is one browser on one site. Its contact fields and dates are
// rollups of its sessions, kept current by every turn so the admin views
// never have to read the sessions to show a visitor.
type Visitor struct {
	ID      string `json:"id"`
	Site    string `json:"site"`
	Channel string `json:"channel"` // where it was first seen: "web"
	Device  Device `json:"device"`

	CreatedAt         time.Time `json:"createdAt"`
	LastSeenAt        time.Time `json:"lastSeenAt"`        // last session activity of any kind
	LastInteractionAt time.Time `json:"lastInteractionAt"` // last message, choice, input or file; zero if none
	LastInputAt       time.Time `json:"lastInputAt"`       // zero if none
	LastFileAt        time.Time `json:"lastFileAt"`        // zero if none

	// Name, Email and Phone are the latest values the visitor gave input
	// blocks: email and phone inputs by kind, name from a text input whose
	// variable name contains "name".
	Name        string            `json:"name,omitempty"`
	Email       string            `json:"email,omitempty"`
	Phone       string            `json:"phone,omitempty"`
	Contact     string            `json:"contact,omitempty"`     // the most recent of Email and Phone
	LastMessage string            `json:"lastMessage,omitempty"` // the last text the visitor sent
	Variables   map[string]string `json:"variables,omitempty"`
	// LastSentiment is the sentiment of the visitor's latest scored text,
	// in any of its sessions (rollSentiment).
	LastSentiment *Sentiment `json:"lastSentiment,omitempty"`

	// PlatformID is the host site's own user ID, set by a verified
	// identify (identify.go): the same person on any browser is this
	// visitor. Notes are an admin's, set by a profile edit (profile.go);
	// ProfileAt is when the name, email or phone were last set by an edit
	// or an identify rather than typed into the chat.
	PlatformID string    `json:"platformId,omitempty"`
	Notes      string    `json:"notes,omitempty"`
	ProfileAt  time.Time `json:"profileAt,omitzero"`

	// Erasing marks a visitor whose erasure has begun (fence, erase.go):
	// from then on nothing new is written for it, and a crash half-way
	// leaves the mark for the next erase or sweep to finish.
	Erasing bool `json:"erasing,omitempty"`

	raw []byte // the JSON this record was read from or written as (see getCached)
}

// Label is what the admin views call the visitor: the most recent email or
// phone input, else a name, else the ID.
func (v *Visitor) Label() string {
	switch {
	case v.Contact != "":
		return v.Contact
	case v.Name != "":
		return v.Name
	}
	return v.ID
}

// Validate reports whether the record can be stored.
func (v *Visitor) Validate() error {
	switch {
	case v.ID == "":
		return errors.New("storage: visitor: missing id")
	case v.Site == "":
		return errors.New("storage: visitor: missing site")
	case v.CreatedAt.IsZero():
		return errors.New("storage: visitor: missing createdAt")
	}
	return nil
}

// applyInput rolls an input value into the visitor's contact fields.
func (v *Visitor) applyInput(in Input) {
	switch in.Kind {
	case "email":
		v.Email = in.Value
		v.Contact = in.Value
	case "phone":
		v.Phone = in.Value
		v.Contact = in.Value
	case "text":
		if strings.Contains(strings.ToLower(in.Variable), "name") {
			v.Name = in.Value
		}
	}
	if !in.At.Before(v.LastInputAt) {
		v.LastInputAt = in.At
	}
	if in.Variable != "" {
		if v.Variables == nil {
			v.Variables = make(map[string]string)
		}
		v.Variables[in.Variable] = in.Value
	}
}

// CreateVisitor stores a new visitor. It returns an error if the ID exists.
func (s *Store) CreateVisitor(ctx context.Context, v *Visitor) error {
	if err := v.Validate(); err != nil {
		return err
	}
	err := s.update(ctx, func(txn *badger.Txn) error {
		if _, err := txn.Get(key("v", v.ID)); err == nil {
			return fmt.Errorf("visitor %s exists", v.ID)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if err := putJSON(txn, key("v", v.ID), v); err != nil {
			return err
		}
		return indexSeen(txn, time.Time{}, v) // retention.go
	})
	if err != nil {
		return fmt.Errorf("storage: create visitor: %w", err)
	}
	return nil
}

// Visitor returns the visitor with the given ID, or ErrNotFound.
func (s *Store) Visitor(ctx context.Context, id string) (*Visitor, error) {
	// Fold its committed turns first, so the answer is exact (indexer.go).
	if err := s.settleVisitor(ctx, id); err != nil {
		return nil, err
	}
	var v Visitor
	err := s.db.View(func(txn *badger.Txn) (err error) {
		v.raw, err = getCached(txn, key("v", id), nil, nil, &v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: get visitor: %w", err)
	}
	return &v, nil
}

// HasVisitor reports whether the visitor has a record. Unlike Visitor it
// folds no pending turns (existence does not depend on them), so the
// gateway's handshake stays cheap under load.
func (s *Store) HasVisitor(ctx context.Context, id string) (bool, error) {
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(key("v", id))
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("storage: has visitor: %w", err)
}
