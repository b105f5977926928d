package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// CreateSession stores a new session for an existing or new visitor v and
// counts it in the usage report: StartSession with no opening turn.
func (s *Store) CreateSession(ctx context.Context, v *storage.Visitor, sess *storage.Session) error {
	return s.StartSession(ctx, v, sess, nil)
}

// StartSession stores a new session and its opening turn (the story's
// first messages and state; nil for none) in one transaction, so a crash
// can never leave a session without its opening. It counts the session
// in the usage report; v is created when it does not exist yet, else its
// LastSeenAt moves on. On return sess and v hold what was stored, and the
// opening's messages their IDs. It returns storage.ErrErasing for a
// visitor being erased, storage.ErrMerged for one merged into another,
// storage.ErrTooLarge past storage.MaxStateBytes and the records'
// validation errors.
func (s *Store) StartSession(ctx context.Context, v *storage.Visitor, sess *storage.Session, opening *storage.Turn) error {
	if err := sess.Validate(); err != nil {
		return err
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if sess.LastActivityAt.IsZero() {
		sess.LastActivityAt = sess.StartedAt
	}
	// Times as PostgreSQL keeps them, so what is returned reads back equal.
	sess.StartedAt, sess.LastActivityAt = utc(sess.StartedAt), utc(sess.LastActivityAt)
	sess.LastInteractionAt, sess.LastInputAt, sess.LastFileAt = utc(sess.LastInteractionAt), utc(sess.LastInputAt), utc(sess.LastFileAt)
	v.CreatedAt, v.LastSeenAt, v.LastInteractionAt = utc(v.CreatedAt), utc(v.LastSeenAt), utc(v.LastInteractionAt)
	v.LastInputAt, v.LastFileAt, v.ProfileAt = utc(v.LastInputAt), utc(v.LastFileAt), utc(v.ProfileAt)
	if opening != nil {
		atPrecision(opening)
	}
	var next storage.Session
	var stored *storage.Visitor
	var res *storage.Reservation // the webhook events (outbox.go)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		res.Release() // a retry takes them afresh
		var err error
		if stored, err = startVisitor(ctx, tx, v); err != nil {
			return err
		}
		if sess.StartedAt.After(stored.LastSeenAt) {
			stored.LastSeenAt = sess.StartedAt
		}
		next = *sess
		var ack storage.Ack
		if opening != nil {
			opening.SessionID = sess.ID
			if opening.State != nil {
				next.State = *opening.State
			}
			ack = storage.ApplyTurn(opening, &next)
			r := storage.TurnRollup(opening, &next)
			r.ApplyTo(stored)
		}
		size := next.RecordBytes()
		if size > storage.MaxStateBytes {
			return storage.ErrTooLarge
		}
		var b pgx.Batch
		if err := queueStart(&b, stored, &next, opening, ack, size); err != nil {
			return err
		}
		if res, err = s.enqueue(&b, storage.SessionEvents(&next, opening)); err != nil { // outbox.go
			return err
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		res.Release()
		return fmt.Errorf("postgres: create session: %w", err)
	}
	res.Committed()
	*sess, *v = next, *stored
	return nil
}

// startVisitor reads the visitor of a session starting, locked until the
// transaction ends, or inserts v for a new one (locked too, as a row the
// transaction wrote). It returns storage.ErrErasing for
// a visitor being erased and storage.ErrMerged for one merged into
// another.
func startVisitor(ctx context.Context, tx pgx.Tx, v *storage.Visitor) (*storage.Visitor, error) {
	stored, err := getVisitor(ctx, tx, v.ID, true)
	switch {
	case err == storage.ErrNotFound:
		var merged bool
		if err := tx.QueryRow(ctx, selectMerged, v.ID).Scan(&merged); err != nil {
			return nil, err
		}
		if merged {
			return nil, storage.ErrMerged
		}
		// Create it, unless a start on another connection just did: then
		// wait for that one and go on from its row, locked.
		args, err := visitorArgs(v)
		if err != nil {
			return nil, err
		}
		tag, err := tx.Exec(ctx, insertStartVisitor, args...)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 1 {
			nv := *v
			return &nv, nil
		}
		return startVisitor(ctx, tx, v)
	case err != nil:
		return nil, err
	case stored.Erasing:
		return nil, storage.ErrErasing
	}
	return stored, nil
}

// queueStart queues a new session's writes: its row, its opening's
// messages, ack, inputs and gaps, its visitor whole, the usage count and
// the funnel's counters.
func queueStart(b *pgx.Batch, v *storage.Visitor, sess *storage.Session, opening *storage.Turn, ack storage.Ack, size int) error {
	args, err := sessionArgs(sess, size)
	if err != nil {
		return err
	}
	b.Queue(upsertSession, args...)
	if opening != nil {
		var msgs messageRows
		for i := range opening.Messages {
			if err := msgs.add(&opening.Messages[i]); err != nil {
				return err
			}
		}
		if len(opening.Messages) > 0 {
			b.Queue(insertMessages, append([]any{sess.ID}, msgs.args()...)...)
		}
		if opening.ClientID != "" && ack.ID != "" {
			b.Queue(`INSERT INTO acks (session_id, client_id, message_id, at, text) VALUES ($1, $2, $3, $4, $5)`,
				sess.ID, opening.ClientID, ack.ID, utc(ack.At), ack.Text)
		}
	}
	// (The opening's inputs and gaps are the session's only ones.)
	if len(sess.Inputs) > 0 {
		b.Queue(`INSERT INTO inputs (session_id, n, block, variable, kind, value, at)
			SELECT $1, u.* FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) AS u`,
			append([]any{sess.ID}, inputArrays(0, sess.Inputs)...)...)
	}
	queueInsertGaps(b, sess) // gapcount.go: with the report's counters
	vargs, err := visitorArgs(v)
	if err != nil {
		return err
	}
	b.Queue(upsertVisitor, vargs...)
	queueVisitorTerms(b, v) // query_users.go: the search box
	b.Queue(`INSERT INTO usage_daily (site, day, bot, version, channel, sessions) VALUES ($1, $2::date, $3, $4, $5, 1)
		ON CONFLICT (site, day, bot, version, channel) DO UPDATE SET sessions = usage_daily.sessions + 1`,
		sess.Site, sess.StartedAt.UTC().Format(time.DateOnly), sess.Bot, sess.Version, sess.Channel)
	queueCountStart(b, sess) // counters.go: the funnel's
	return nil
}

// selectMerged reads whether a visitor was merged into another
// (visitor_merges' primary key).
const selectMerged = `SELECT EXISTS (SELECT 1 FROM visitor_merges WHERE from_id = $1)`

// inputArrays are ins as arrays (n, block, variable, kind, value, at),
// numbered from n.
func inputArrays(n int, ins []storage.Input) []any {
	ns, at := make([]int32, len(ins)), make([]any, len(ins))
	block, variable, kind, value := make([]string, len(ins)), make([]string, len(ins)), make([]string, len(ins)), make([]string, len(ins))
	for i, in := range ins {
		ns[i], block[i], variable[i], kind[i], value[i], at[i] = int32(n+i), in.Block, in.Variable, in.Kind, in.Value, utc(in.At)
	}
	return []any{ns, block, variable, kind, value, at}
}

// insertStartVisitor inserts a starting session's new visitor, unless a
// start on another connection just did.
const insertStartVisitor = `INSERT INTO visitors (` + visitorColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
	ON CONFLICT (id) DO NOTHING`
