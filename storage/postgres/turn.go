package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// RecordTurn appends a turn to its session: its messages, its ack, its
// inputs and gaps, the session's new row and its visitor's rollups, in a
// group commit with the turns of other sessions (commit.go), committed
// when it returns.
//
// It returns the updated session, the ack of the turn's visitor message
// (zero when there is none) and dup=true when the client ID was already
// stored, in which case nothing is written and ack is the original one.
// It returns storage.ErrNotFound for an unknown session,
// storage.ErrErasing for a visitor being erased and storage.ErrTooLarge
// past storage.MaxStateBytes. When the database does not answer it
// returns an error within the statement timeout (Options), with nothing
// of the turn written.
func (s *Store) RecordTurn(ctx context.Context, t *storage.Turn) (sess *storage.Session, ack storage.Ack, dup bool, err error) {
	prev := t.Prev
	if prev == nil {
		// Without an owner, the turns of a session are serialised here and
		// the client ID checked against the acks.
		mu := &s.turns.locks[sessionStripe(t.SessionID)]
		mu.Lock()
		defer mu.Unlock()
		if t.ClientID != "" {
			switch a, err := getAck(ctx, s.pool, t.SessionID, t.ClientID); {
			case err == nil:
				sess, err := getSession(ctx, s.pool, t.SessionID)
				if err != nil {
					return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
				}
				return sess, a, true, nil
			case !errors.Is(err, storage.ErrNotFound):
				return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
			}
		}
		if prev, err = getSession(ctx, s.pool, t.SessionID); err != nil {
			return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	next, ack, err := storage.NextSession(t, prev)
	if err != nil {
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	w, err := newTurnWrite(t, prev, next, ack)
	if err != nil {
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	if err := s.enqueueTurn(w, t, next, prev); err != nil { // outbox.go
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	if err := s.turns.commits.write(ctx, w); err != nil {
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	return next, ack, false, nil
}

// turnStripes serialise RecordTurn calls without an owner per session.
const turnStripes = 64

func sessionStripe(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % turnStripes)
}

// turnSQL writes one turn as one statement, so a commit of many turns is
// one statement each in one batch, and each turn is all or nothing: the
// session's row is updated only when its visitor is not being erased,
// and every other write of the turn happens only when that update did
// (the data-modifying CTEs see s's rows). The visitor is the session's
// as stored, so a turn of a visitor merged into another (identify) rolls
// into the one it went into. It returns the number of sessions updated:
// 0 when the session is gone or its visitor is being erased.
var turnSQL = buildTurnSQL()

// turnSessionColumns are the session columns a turn sets: all but its ID
// and visitor (identify may have moved it to another visitor).
var turnSessionColumns = func() []string {
	var cols []string
	for c := range strings.SplitSeq(sessionColumns, ",") {
		c = strings.TrimSpace(c)
		if c != "id" && c != "visitor_id" {
			cols = append(cols, c)
		}
	}
	return cols
}()

// The parameters of turnSQL after the session's ($1 its ID, then
// turnSessionColumns).
const (
	pSeen = iota
	pInteraction
	pInput
	pFile
	pName
	pEmail
	pPhone
	pContact
	pText
	pVariables
	pSentiment
	pSentimentAt
	pMessages // 8 arrays: id … detail
	pAck      = pMessages + 8
	pInputs   = pAck + 4    // 6 arrays: n, block, variable, kind, value, at
	pGaps     = pInputs + 6 // 3 arrays: n, at, text
	pTerms    = pGaps + 3   // the visitor's new search words (query_users.go)
	pOutbox   = pTerms + 1  // 8 arrays (outbox.go)
	pEnd      = pOutbox + 8
)

func buildTurnSQL() string {
	base := 1 + len(turnSessionColumns)
	p := func(i int) string { return "$" + strconv.Itoa(base+1+i) }
	var b strings.Builder
	b.WriteString("WITH s AS (UPDATE sessions SET ")
	for i, c := range turnSessionColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = $%d", c, i+2)
	}
	b.WriteString(` WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM visitors e WHERE e.id = sessions.visitor_id AND e.erasing)
	RETURNING visitor_id),
v AS (UPDATE visitors SET
	last_seen_at = GREATEST(last_seen_at, COALESCE(` + p(pSeen) + `::timestamptz, last_seen_at)),
	last_interaction_at = ` + later("last_interaction_at", p(pInteraction)) + `,
	last_input_at = ` + later("last_input_at", p(pInput)) + `,
	last_file_at = ` + later("last_file_at", p(pFile)) + `,
	name = COALESCE(` + p(pName) + `::text, name),
	email = COALESCE(` + p(pEmail) + `::text, email),
	phone = COALESCE(` + p(pPhone) + `::text, phone),
	contact = COALESCE(` + p(pContact) + `::text, contact),
	last_message = COALESCE(` + p(pText) + `::text, last_message),
	variables = variables || COALESCE(` + p(pVariables) + `::jsonb, '{}'::jsonb),
	last_sentiment = CASE WHEN ` + p(pSentiment) + `::jsonb IS NOT NULL AND (last_sentiment IS NULL
		OR COALESCE((last_sentiment->>'at')::timestamptz, '0001-01-01T00:00:00Z'::timestamptz) < ` + p(pSentimentAt) + `::timestamptz)
		THEN ` + p(pSentiment) + `::jsonb ELSE last_sentiment END
	FROM s WHERE visitors.id = s.visitor_id
	RETURNING 1),
m AS (INSERT INTO messages (` + messageColumns + `)
	SELECT $1, u.* FROM unnest(` + arrays(p, pMessages, "text", "text", "text", "timestamptz", "text", "text", "text", "jsonb") + `) AS u
	WHERE EXISTS (SELECT 1 FROM s)),
a AS (INSERT INTO acks (session_id, client_id, message_id, at, text)
	SELECT $1, ` + p(pAck) + `::text, ` + p(pAck+1) + `::text, ` + p(pAck+2) + `::timestamptz, ` + p(pAck+3) + `::text
	WHERE ` + p(pAck) + `::text <> '' AND EXISTS (SELECT 1 FROM s)),
i AS (INSERT INTO inputs (session_id, n, block, variable, kind, value, at)
	SELECT $1, u.* FROM unnest(` + arrays(p, pInputs, "int", "text", "text", "text", "text", "timestamptz") + `) AS u
	WHERE EXISTS (SELECT 1 FROM s)),
g AS (INSERT INTO gaps (session_id, n, at, text)
	SELECT $1, u.* FROM unnest(` + arrays(p, pGaps, "int", "timestamptz", "text") + `) AS u
	WHERE EXISTS (SELECT 1 FROM s)),
t AS (INSERT INTO visitor_terms (term, visitor_id) SELECT u, s.visitor_id FROM unnest(` + p(pTerms) + `::text[]) AS u, s
	ON CONFLICT DO NOTHING),
o AS (` + outboxInsert(func(i int) string { return p(pOutbox + i) }) + ` WHERE EXISTS (SELECT 1 FROM s))
SELECT count(*) FROM s`)
	return b.String()
}

// later is the later of a nullable column and a nullable parameter.
func later(col, param string) string {
	return fmt.Sprintf("GREATEST(COALESCE(%[1]s, %[2]s::timestamptz), COALESCE(%[2]s::timestamptz, %[1]s))", col, param)
}

// arrays lists the parameters from the first on, cast to arrays of types.
func arrays(p func(int) string, first int, types ...string) string {
	var parts []string
	for i, t := range types {
		parts = append(parts, p(first+i)+"::"+t+"[]")
	}
	return strings.Join(parts, ", ")
}

// turnWrite is one turn's statement, ready to commit.
type turnWrite struct {
	session string
	args    []any
	// res is the outbox backlog the turn took (outbox.go).
	res *reservation
	err chan error
}

// newTurnWrite prepares turnSQL's arguments: next is the session after
// the turn, prev before it.
func newTurnWrite(t *storage.Turn, prev, next *storage.Session, ack storage.Ack) (*turnWrite, error) {
	sargs, err := sessionArgs(next, next.RecordBytes())
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, 1+len(turnSessionColumns)+pEnd)
	args = append(args, next.ID)
	args = append(args, sargs[1:2]...) // site
	args = append(args, sargs[3:]...)  // bot … record_bytes
	r := storage.TurnRollup(t, next)
	var vars, sentiment []byte
	if r.Variables != nil {
		if vars, err = json.Marshal(r.Variables); err != nil {
			return nil, err
		}
	}
	var sentimentAt any
	if r.Sentiment != nil {
		if sentiment, err = json.Marshal(r.Sentiment); err != nil {
			return nil, err
		}
		sentimentAt = utc(r.Sentiment.At)
	}
	args = append(args, orNull(utc(r.SeenAt)), orNull(utc(r.InteractionAt)), orNull(utc(r.InputAt)), orNull(utc(r.FileAt)),
		r.Name, r.Email, r.Phone, r.Contact, r.Text, vars, sentiment, sentimentAt)
	var msgs messageRows
	for i := range t.Messages {
		if err := msgs.add(&t.Messages[i]); err != nil {
			return nil, err
		}
	}
	args = append(args, msgs.args()...)
	cid := ""
	if t.ClientID != "" && ack.ID != "" {
		cid = t.ClientID
	}
	args = append(args, cid, ack.ID, utc(ack.At), ack.Text)
	args = append(args, inputArrays(len(prev.Inputs), t.Inputs)...)
	args = append(args, gapArrays(len(prev.Gaps), t.Gaps)...)
	args = append(args, rollupTerms(r))
	args = append(args, noEvents...)
	return &turnWrite{session: t.SessionID, args: args, err: make(chan error, 1)}, nil
}

// inputArrays are ins as turnSQL's input arrays, numbered from n.
func inputArrays(n int, ins []storage.Input) []any {
	ns, at := make([]int32, len(ins)), make([]any, len(ins))
	block, variable, kind, value := make([]string, len(ins)), make([]string, len(ins)), make([]string, len(ins)), make([]string, len(ins))
	for i, in := range ins {
		ns[i], block[i], variable[i], kind[i], value[i], at[i] = int32(n+i), in.Block, in.Variable, in.Kind, in.Value, utc(in.At)
	}
	return []any{ns, block, variable, kind, value, at}
}

// gapArrays are gaps as turnSQL's gap arrays, numbered from n.
func gapArrays(n int, gaps []storage.Gap) []any {
	ns, at, text := make([]int32, len(gaps)), make([]any, len(gaps)), make([]string, len(gaps))
	for i, g := range gaps {
		ns[i], at[i], text[i] = int32(n+i), utc(g.At), g.Text
	}
	return []any{ns, at, text}
}

// turnFailed explains a turn that updated no session: the session is
// gone, or its visitor is being erased.
func turnFailed(ctx context.Context, q querier, sid string) error {
	var erasing bool
	err := q.QueryRow(ctx, selectErasing, sid).Scan(&erasing)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return storage.ErrNotFound
	case err != nil:
		return err
	case erasing:
		return storage.ErrErasing
	}
	// Erased and stored again between the two reads: as good as gone.
	return storage.ErrNotFound
}

// LatestSession returns the visitor's most recently started session, or
// storage.ErrNotFound if it has none.
func (s *Store) LatestSession(ctx context.Context, visitorID string) (*storage.Session, error) {
	var id string
	err := s.pool.QueryRow(ctx, selectLatestSession, visitorID).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("postgres: latest session: %w", notFound(err))
	}
	sess, err := getSession(ctx, s.pool, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: latest session: %w", err)
	}
	return sess, nil
}

// VisitorSessionIDs returns the IDs of the visitor's sessions, oldest
// first.
func (s *Store) VisitorSessionIDs(ctx context.Context, visitorID string) ([]string, error) {
	rows, _ := s.pool.Query(ctx, selectVisitorSessions, visitorID)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: visitor sessions: %w", err)
	}
	return nilIfEmpty(ids), nil
}

// The turn path's reads: a failed turn's session and visitor (primary
// keys), a visitor's sessions in ID order (sessions_by_visitor_id).
const (
	selectErasing         = `SELECT COALESCE(v.erasing, false) FROM sessions s LEFT JOIN visitors v ON v.id = s.visitor_id WHERE s.id = $1`
	selectLatestSession   = `SELECT id FROM sessions WHERE visitor_id = $1 ORDER BY id DESC LIMIT 1`
	selectVisitorSessions = `SELECT id FROM sessions WHERE visitor_id = $1 ORDER BY id`
)
