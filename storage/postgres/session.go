package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// sessionColumns are the sessions table's columns in the order scanSession
// reads them and sessionArgs writes them. Inputs and gaps are rows of
// their own tables (appendInputs, loadGaps).
const sessionColumns = `id, site, visitor_id, bot, version, channel, os, browser, mobile, is_bot,
	page, lang, locale, story_type, started_at, last_activity_at, last_interaction_at,
	last_input_at, last_file_at, message_count, last_message_id,
	engaged, has_inputs, has_files, has_responses,
	current_block, previous_block, pending_block, ended, variables, host_variables,
	goals, tags, reached, last_message_content, last_message_type,
	sentiment, sentiment_detail, unanswered_count, handover, files, record_bytes`

const sessionParams = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
	$21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42`

// upsertSession writes the session's row whole (not its inputs and gaps).
const upsertSession = `INSERT INTO sessions (` + sessionColumns + `) VALUES (` + sessionParams + `)
	ON CONFLICT (id) DO UPDATE SET
	site = excluded.site, visitor_id = excluded.visitor_id, bot = excluded.bot, version = excluded.version,
	channel = excluded.channel, os = excluded.os, browser = excluded.browser, mobile = excluded.mobile,
	is_bot = excluded.is_bot, page = excluded.page, lang = excluded.lang, locale = excluded.locale,
	story_type = excluded.story_type, started_at = excluded.started_at,
	last_activity_at = excluded.last_activity_at, last_interaction_at = excluded.last_interaction_at,
	last_input_at = excluded.last_input_at, last_file_at = excluded.last_file_at,
	message_count = excluded.message_count, last_message_id = excluded.last_message_id,
	engaged = excluded.engaged, has_inputs = excluded.has_inputs, has_files = excluded.has_files,
	has_responses = excluded.has_responses, current_block = excluded.current_block,
	previous_block = excluded.previous_block, pending_block = excluded.pending_block,
	ended = excluded.ended, variables = excluded.variables, host_variables = excluded.host_variables,
	goals = excluded.goals, tags = excluded.tags, reached = excluded.reached,
	last_message_content = excluded.last_message_content, last_message_type = excluded.last_message_type,
	sentiment = excluded.sentiment, sentiment_detail = excluded.sentiment_detail,
	unanswered_count = excluded.unanswered_count, handover = excluded.handover,
	files = excluded.files, record_bytes = excluded.record_bytes`

// sessionArgs are sess's values for upsertSession; recordBytes is the
// size the record counts against storage.MaxStateBytes.
func sessionArgs(sess *storage.Session, recordBytes int) ([]any, error) {
	st := &sess.State
	vars, err := json.Marshal(nonNilMap(st.Variables))
	if err != nil {
		return nil, err
	}
	host, err := json.Marshal(nonNilMap(st.HostVariables))
	if err != nil {
		return nil, err
	}
	files, err := json.Marshal(nonNilSlice(sess.Files))
	if err != nil {
		return nil, err
	}
	var label string
	var sentiment, handover []byte
	if st.Sentiment != nil {
		label = st.Sentiment.Label
		if sentiment, err = json.Marshal(st.Sentiment); err != nil {
			return nil, err
		}
	}
	if st.Handover != nil {
		if handover, err = json.Marshal(st.Handover); err != nil {
			return nil, err
		}
	}
	return []any{sess.ID, sess.Site, sess.VisitorID, sess.Bot, sess.Version, sess.Channel,
		sess.Device.OS, sess.Device.Browser, sess.Device.Mobile, sess.Device.Bot,
		sess.Page, sess.Lang, sess.Locale, sess.Type, utc(sess.StartedAt), utc(sess.LastActivityAt),
		orNull(utc(sess.LastInteractionAt)), orNull(utc(sess.LastInputAt)), orNull(utc(sess.LastFileAt)),
		sess.MessageCount, sess.LastMessageID,
		sess.Engaged, sess.HasInputs, sess.HasFiles, sess.HasResponses,
		st.Current, st.Previous, st.Pending, st.Ended, vars, host,
		nonNilSlice(st.Goals), nonNilSlice(st.Tags), nonNilSlice(st.Reached),
		st.LastMessageContent, st.LastMessageType,
		label, sentiment, st.UnansweredCount, handover, files, recordBytes}, nil
}

// scanSession reads a row of sessionColumns (without inputs and gaps).
func scanSession(row pgx.Row) (*storage.Session, error) {
	var sess storage.Session
	st := &sess.State
	var vars, host, sentiment, handover, files []byte
	var label string
	var recordBytes int
	err := row.Scan(&sess.ID, &sess.Site, &sess.VisitorID, &sess.Bot, &sess.Version, &sess.Channel,
		&sess.Device.OS, &sess.Device.Browser, &sess.Device.Mobile, &sess.Device.Bot,
		&sess.Page, &sess.Lang, &sess.Locale, &sess.Type, &sess.StartedAt, &sess.LastActivityAt,
		zeroTime{&sess.LastInteractionAt}, zeroTime{&sess.LastInputAt}, zeroTime{&sess.LastFileAt},
		&sess.MessageCount, &sess.LastMessageID,
		&sess.Engaged, &sess.HasInputs, &sess.HasFiles, &sess.HasResponses,
		&st.Current, &st.Previous, &st.Pending, &st.Ended, &vars, &host,
		&st.Goals, &st.Tags, &st.Reached, &st.LastMessageContent, &st.LastMessageType,
		&label, &sentiment, &st.UnansweredCount, &handover, &files, &recordBytes)
	if err != nil {
		return nil, notFound(err)
	}
	sess.StartedAt, sess.LastActivityAt = sess.StartedAt.UTC(), sess.LastActivityAt.UTC()
	for _, f := range []struct {
		b []byte
		v any
	}{{vars, &st.Variables}, {host, &st.HostVariables}, {sentiment, &st.Sentiment}, {handover, &st.Handover}, {files, &sess.Files}} {
		if f.b == nil {
			continue
		}
		if err := json.Unmarshal(f.b, f.v); err != nil {
			return nil, err
		}
	}
	// Empty as the Badger engine returns them: nil, not empty.
	if len(st.Variables) == 0 {
		st.Variables = nil
	}
	if len(st.HostVariables) == 0 {
		st.HostVariables = nil
	}
	st.Goals, st.Tags, st.Reached, sess.Files = nilIfEmpty(st.Goals), nilIfEmpty(st.Tags), nilIfEmpty(st.Reached), nilIfEmpty(sess.Files)
	return &sess, nil
}

// putSession writes the session's row whole.
func putSession(ctx context.Context, q querier, sess *storage.Session, recordBytes int) error {
	args, err := sessionArgs(sess, recordBytes)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, upsertSession, args...)
	return err
}

// getSession reads a session with its inputs and gaps, or
// storage.ErrNotFound.
func getSession(ctx context.Context, q querier, id string) (*storage.Session, error) {
	sess, err := scanSession(q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return nil, err
	}
	rows, _ := q.Query(ctx, `SELECT block, variable, kind, value, at FROM inputs WHERE session_id = $1 ORDER BY n`, id)
	sess.Inputs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Input, error) {
		var in storage.Input
		err := row.Scan(&in.Block, &in.Variable, &in.Kind, &in.Value, &in.At)
		in.At = in.At.UTC()
		return in, err
	})
	if err != nil {
		return nil, err
	}
	rows, _ = q.Query(ctx, `SELECT at, text FROM gaps WHERE session_id = $1 ORDER BY n`, id)
	sess.Gaps, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Gap, error) {
		var g storage.Gap
		err := row.Scan(&g.At, &g.Text)
		g.At = g.At.UTC()
		return g, err
	})
	if err != nil {
		return nil, err
	}
	sess.Inputs, sess.Gaps = nilIfEmpty(sess.Inputs), nilIfEmpty(sess.Gaps)
	return sess, nil
}

// appendInputs inserts the session's inputs from its n-th on (those a
// turn added).
func appendInputs(ctx context.Context, q querier, sid string, n int, ins []storage.Input) error {
	for i, in := range ins {
		if _, err := q.Exec(ctx, `INSERT INTO inputs (session_id, n, block, variable, kind, value, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			sid, n+i, in.Block, in.Variable, in.Kind, in.Value, utc(in.At)); err != nil {
			return err
		}
	}
	return nil
}

// Session returns the session with the given ID, or storage.ErrNotFound.
func (s *Store) Session(ctx context.Context, id string) (*storage.Session, error) {
	sess, err := getSession(ctx, s.pool, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: get session: %w", unavailable(err))
	}
	return sess, nil
}

// nonNilSlice is v, or an empty slice for nil, so it encodes as [] (or
// an empty array).
func nonNilSlice[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// nilIfEmpty is v, or nil when it is empty: records read back compare
// equal to records written.
func nilIfEmpty[T any](v []T) []T {
	if len(v) == 0 {
		return nil
	}
	return v
}
