package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// visitorColumns are the visitors table's columns in the order scanVisitor
// reads them and visitorArgs writes them.
const visitorColumns = `id, site, channel, os, browser, mobile, is_bot,
	created_at, last_seen_at, last_interaction_at, last_input_at, last_file_at,
	name, email, phone, contact, last_message, variables, last_sentiment,
	platform_id, notes, profile_at, erasing`

// upsertVisitor writes the whole record: the row is the visitor's rollup,
// recomputed by its writer (storage's rules: Visitor.applyInput and the
// turn's rollups), never summed in SQL.
const upsertVisitor = `INSERT INTO visitors (` + visitorColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
	ON CONFLICT (id) DO UPDATE SET
	site = excluded.site, channel = excluded.channel, os = excluded.os, browser = excluded.browser,
	mobile = excluded.mobile, is_bot = excluded.is_bot, created_at = excluded.created_at,
	last_seen_at = excluded.last_seen_at, last_interaction_at = excluded.last_interaction_at,
	last_input_at = excluded.last_input_at, last_file_at = excluded.last_file_at,
	name = excluded.name, email = excluded.email, phone = excluded.phone, contact = excluded.contact,
	last_message = excluded.last_message, variables = excluded.variables,
	last_sentiment = excluded.last_sentiment, platform_id = excluded.platform_id,
	notes = excluded.notes, profile_at = excluded.profile_at, erasing = excluded.erasing`

// visitorArgs are v's values for upsertVisitor.
func visitorArgs(v *storage.Visitor) ([]any, error) {
	vars, err := json.Marshal(nonNilMap(v.Variables))
	if err != nil {
		return nil, err
	}
	var sentiment []byte
	if v.LastSentiment != nil {
		if sentiment, err = json.Marshal(v.LastSentiment); err != nil {
			return nil, err
		}
	}
	return []any{v.ID, v.Site, v.Channel, v.Device.OS, v.Device.Browser, v.Device.Mobile, v.Device.Bot,
		utc(v.CreatedAt), utc(v.LastSeenAt), orNull(utc(v.LastInteractionAt)), orNull(utc(v.LastInputAt)), orNull(utc(v.LastFileAt)),
		v.Name, v.Email, v.Phone, v.Contact, v.LastMessage, vars, sentiment,
		v.PlatformID, v.Notes, orNull(utc(v.ProfileAt)), v.Erasing}, nil
}

// scanVisitor reads a row of visitorColumns.
func scanVisitor(row pgx.Row) (*storage.Visitor, error) {
	var v storage.Visitor
	var vars, sentiment []byte
	err := row.Scan(&v.ID, &v.Site, &v.Channel, &v.Device.OS, &v.Device.Browser, &v.Device.Mobile, &v.Device.Bot,
		&v.CreatedAt, &v.LastSeenAt, zeroTime{&v.LastInteractionAt}, zeroTime{&v.LastInputAt}, zeroTime{&v.LastFileAt},
		&v.Name, &v.Email, &v.Phone, &v.Contact, &v.LastMessage, &vars, &sentiment,
		&v.PlatformID, &v.Notes, zeroTime{&v.ProfileAt}, &v.Erasing)
	if err != nil {
		return nil, notFound(err)
	}
	v.CreatedAt, v.LastSeenAt = v.CreatedAt.UTC(), v.LastSeenAt.UTC()
	if err := json.Unmarshal(vars, &v.Variables); err != nil {
		return nil, err
	}
	if len(v.Variables) == 0 {
		v.Variables = nil
	}
	if sentiment != nil {
		if err := json.Unmarshal(sentiment, &v.LastSentiment); err != nil {
			return nil, err
		}
	}
	return &v, nil
}

// putVisitor writes v whole.
func putVisitor(ctx context.Context, q querier, v *storage.Visitor) error {
	args, err := visitorArgs(v)
	if err != nil {
		return err
	}
	if _, err = q.Exec(ctx, upsertVisitor, args...); err != nil {
		return err
	}
	return addVisitorTerms(ctx, q, v) // query_users.go: the search box
}

// getVisitor reads a visitor, or storage.ErrNotFound. With forUpdate the
// row is locked until the transaction ends.
func getVisitor(ctx context.Context, q querier, id string, forUpdate bool) (*storage.Visitor, error) {
	sql := `SELECT ` + visitorColumns + ` FROM visitors WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	return scanVisitor(q.QueryRow(ctx, sql, id))
}

// CreateVisitor stores a new visitor. It returns storage.ErrExists if the
// ID is taken.
func (s *Store) CreateVisitor(ctx context.Context, v *storage.Visitor) error {
	if err := v.Validate(); err != nil {
		return err
	}
	args, err := visitorArgs(v)
	if err != nil {
		return fmt.Errorf("postgres: create visitor: %w", err)
	}
	sql := `INSERT INTO visitors (` + visitorColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`
	if _, err := s.pool.Exec(ctx, sql, args...); err != nil {
		if isUniqueViolation(err) {
			err = storage.ErrExists
		}
		return fmt.Errorf("postgres: create visitor: %w", err)
	}
	if err := addVisitorTerms(ctx, s.pool, v); err != nil { // query_users.go
		return fmt.Errorf("postgres: create visitor: %w", err)
	}
	return nil
}

// Visitor returns the visitor with the given ID, or storage.ErrNotFound.
func (s *Store) Visitor(ctx context.Context, id string) (*storage.Visitor, error) {
	v, err := getVisitor(ctx, s.pool, id, false)
	if err != nil {
		return nil, fmt.Errorf("postgres: get visitor: %w", err)
	}
	return v, nil
}

// HasVisitor reports whether the visitor has a record.
func (s *Store) HasVisitor(ctx context.Context, id string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM visitors WHERE id = $1)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("postgres: has visitor: %w", err)
	}
	return ok, nil
}

// nonNilMap is m, or an empty map for nil, so it encodes as {}.
func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
