package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// sqlProfileChanges reads a visitor's audit list newest first, backwards
// along the primary key (explain_people_test.go).
const sqlProfileChanges = `SELECT at, changed_by, field, from_value, to_value FROM profile_changes
	WHERE visitor_id = $1 ORDER BY id DESC LIMIT $2`

// EditProfile applies e to the visitor's profile and records each field it
// changed, with e.By and e.At, in the visitor's audit list
// (ProfileChanges), in one transaction with the visitor's row locked. It
// returns the visitor as stored, a *storage.FieldError for notes past
// storage.MaxNotesLen, storage.ErrNotFound for an unknown visitor and
// storage.ErrErasing for one being erased.
func (s *Store) EditProfile(ctx context.Context, visitorID string, e storage.ProfileEdit) (*storage.Visitor, error) {
	if e.Notes != nil && len(*e.Notes) > storage.MaxNotesLen {
		return nil, &storage.FieldError{Field: "Notes", Msg: fmt.Sprintf("at most %d bytes", storage.MaxNotesLen)}
	}
	e.At = utc(e.At)
	var v *storage.Visitor
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		if v, err = getVisitor(ctx, tx, visitorID, true); err != nil {
			return err
		}
		if v.Erasing {
			return storage.ErrErasing
		}
		changes := v.ApplyProfile(e)
		if len(changes) == 0 {
			return nil
		}
		if err := putVisitor(ctx, tx, v); err != nil {
			return err
		}
		return insertChanges(ctx, tx, v.ID, changes)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: edit profile: %w", err)
	}
	return v, nil
}

// insertChanges appends changes to the visitor's audit list.
func insertChanges(ctx context.Context, q querier, visitorID string, changes []storage.ProfileChange) error {
	for i, id := range storage.ChangeIDs(changes) {
		c := changes[i]
		_, err := q.Exec(ctx, `INSERT INTO profile_changes (visitor_id, id, at, changed_by, field, from_value, to_value)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, visitorID, id, utc(c.At), c.By, c.Field, c.From, c.To)
		if err != nil {
			return err
		}
	}
	return nil
}

// ProfileChanges returns the visitor's audit list, newest first, at most
// limit entries (0: all).
func (s *Store) ProfileChanges(ctx context.Context, visitorID string, limit int) ([]storage.ProfileChange, error) {
	out, err := profileChangesIn(ctx, s.pool, visitorID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: profile changes: %w", err)
	}
	return out, nil
}

// profileChangesIn reads the visitor's audit list on q (an export's
// transaction too), newest first, at most limit entries (0: all); never
// nil.
func profileChangesIn(ctx context.Context, q querier, visitorID string, limit int) ([]storage.ProfileChange, error) {
	var max *int // NULL: LIMIT ALL
	if limit > 0 {
		max = &limit
	}
	rows, _ := q.Query(ctx, sqlProfileChanges, visitorID, max)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.ProfileChange, error) {
		var c storage.ProfileChange
		err := row.Scan(&c.At, &c.By, &c.Field, &c.From, &c.To)
		c.At = c.At.UTC()
		return c, err
	})
	if err != nil {
		return nil, err
	}
	return nonNilSlice(out), nil
}
