package storage

import (
	"context"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Who changed a profile, besides an admin (named by ProfileEdit.By).
const (
	ByIdentify = "identify" // the host page, through a verified Parley.identify
)

// MaxNotesLen caps a visitor's notes in bytes.
const MaxNotesLen = 4000

// ProfileEdit is a change of a visitor's name, email, phone or notes: nil
// leaves a field as it is, an empty string clears it. The values are
// checked by the caller (the admin API validates them as inputs are).
type ProfileEdit struct {
	Name, Email, Phone, Notes *string
	By                        string    // who: an admin's name, or ByIdentify
	At                        time.Time // when
}

// ProfileChange is one field of a profile changed: the audit list.
type ProfileChange struct {
	At    time.Time `json:"at"`
	By    string    `json:"by"`
	Field string    `json:"field"` // name, email, phone, notes, platformId, merged
	From  string    `json:"from"`
	To    string    `json:"to"`
}

// changeKey is vp/{visitor}/{change}: the visitor's audit list, oldest first.
func changeKey(visitorID, changeID string) []byte { return key("vp", visitorID, changeID) }

// EditProfile applies e to the visitor's profile and records each field it
// changed, with e.By and e.At, in the visitor's audit list (ProfileChanges),
// in one transaction. The new values are at once the visitor's label and
// searchable in the overview. It returns the visitor as stored,
// ErrNotFound for an unknown visitor and ErrErasing for one being erased.
func (s *Store) EditProfile(ctx context.Context, visitorID string, e ProfileEdit) (*Visitor, error) {
	if e.Notes != nil && len(*e.Notes) > MaxNotesLen {
		return nil, &FieldError{"Notes", fmt.Sprintf("at most %d bytes", MaxNotesLen)}
	}
	// The record must hold the turns committed so far, or the fold that
	// follows would write the record read before this edit.
	if err := s.settleVisitor(ctx, visitorID); err != nil {
		return nil, err
	}
	var v Visitor
	err := s.update(ctx, func(txn *badger.Txn) error {
		v = Visitor{}
		switch err := getJSON(txn, key("v", visitorID), &v); {
		case err != nil:
			return err
		case v.Erasing:
			return ErrErasing
		}
		changed, err := applyProfile(txn, &v, e)
		if err != nil || !changed {
			return err
		}
		return putJSON(txn, key("v", visitorID), &v)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: edit profile: %w", err)
	}
	return &v, nil
}

// applyProfile changes v as e says and writes the audit entries and the
// search terms of the new values to txn. It reports whether v changed.
func applyProfile(txn *badger.Txn, v *Visitor, e ProfileEdit) (bool, error) {
	changes := v.ApplyProfile(e)
	if len(changes) == 0 {
		return false, nil
	}
	if err := putChanges(txn, v.ID, changes); err != nil {
		return false, err
	}
	return true, indexVisitorTerms(txn, v)
}

// ApplyProfile changes v as e says and returns the audit entries of the
// fields it changed (none when e changes nothing). The caller checks e's
// values (EditProfile's limits).
func (v *Visitor) ApplyProfile(e ProfileEdit) []ProfileChange {
	var changes []ProfileChange
	set := func(field string, to *string, cur *string) {
		if to == nil || *to == *cur {
			return
		}
		changes = append(changes, ProfileChange{At: e.At, By: e.By, Field: field, From: *cur, To: *to})
		*cur = *to
	}
	set("name", e.Name, &v.Name)
	set("email", e.Email, &v.Email)
	set("phone", e.Phone, &v.Phone)
	set("notes", e.Notes, &v.Notes)
	if len(changes) == 0 {
		return nil
	}
	v.fixContact(e)
	if e.Name != nil || e.Email != nil || e.Phone != nil {
		v.ProfileAt = laterOf(v.ProfileAt, e.At)
	}
	return changes
}

// fixContact keeps Contact, the label's first choice, the most recent of
// email and phone: an edited one wins, a cleared one gives way to the other.
func (v *Visitor) fixContact(e ProfileEdit) {
	switch {
	case e.Email != nil && *e.Email != "":
		v.Contact = v.Email
	case e.Phone != nil && *e.Phone != "":
		v.Contact = v.Phone
	case v.Contact != v.Email && v.Contact != v.Phone:
		// What Contact held was cleared.
		v.Contact = cmpOrString(v.Email, v.Phone)
	}
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// putChanges appends changes to the visitor's audit list.
func putChanges(txn *badger.Txn, visitorID string, changes []ProfileChange) error {
	for i, id := range ChangeIDs(changes) {
		if err := putJSON(txn, changeKey(visitorID, id), &changes[i]); err != nil {
			return err
		}
	}
	return nil
}

// ChangeIDs returns the audit list's IDs of changes: each sorts after
// the one before, so the list keeps the order they were made in.
func ChangeIDs(changes []ProfileChange) []string {
	ids := make([]string, len(changes))
	last := ""
	for i, c := range changes {
		last = NextID(c.At, last)
		ids[i] = last
	}
	return ids
}

// indexVisitorTerms adds the search words of the visitor's name, email,
// phone and platform ID. Like indexTerms it removes none: a search checks
// the visitor's current values (Visitor.Matches).
func indexVisitorTerms(w kvWriter, v *Visitor) error {
	for _, f := range []string{v.Name, v.Email, v.Phone, v.PlatformID} {
		for _, t := range contactTerms(f) {
			if err := w.Set(key("iq", escapeTerm(t), v.ID), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// ProfileChanges returns the visitor's audit list, newest first, at most
// limit entries (0: all).
func (s *Store) ProfileChanges(ctx context.Context, visitorID string, limit int) ([]ProfileChange, error) {
	var out []ProfileChange
	err := s.db.View(func(txn *badger.Txn) (err error) {
		out, err = profileChangesIn(txn, visitorID, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: profile changes: %w", err)
	}
	return out, nil
}

// profileChangesIn reads the visitor's audit list, newest first, at most
// limit entries (0: all); never nil.
func profileChangesIn(txn *badger.Txn, visitorID string, limit int) ([]ProfileChange, error) {
	out := []ProfileChange{}
	var err error
	eachKeyReverse(txn, key("vp", visitorID, ""), func(k []byte) bool {
		var c ProfileChange
		if err = getJSON(txn, k, &c); err != nil {
			return false
		}
		out = append(out, c)
		return limit <= 0 || len(out) < limit
	})
	return out, err
}
