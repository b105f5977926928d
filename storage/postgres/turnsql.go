package postgres

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/storage"
)

// turnSQL writes a round of turns, each of another session and visitor,
// as one statement: every table gets the round's rows at once (arrays,
// unnest), so a commit costs a few statements, not a few per turn. Each
// turn is still all or nothing: its session's row is updated only when
// the visitor is not being erased, and its other rows are written only
// for the sessions that update returned (s). The visitor updated is the
// session's as stored, so a turn of a visitor merged into another
// (identify) rolls into the one it went into; the funnel's counters get
// the marks the turn added (counters.go). It returns the ord of each
// turn written; a turn missing is of a session gone or a visitor being
// erased.
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

// sessionColumnType is a session column's type, for its array parameter;
// text[] columns travel as JSON arrays (arrays of arrays must be
// rectangular).
func sessionColumnType(c string) string {
	switch c {
	case "mobile", "is_bot", "engaged", "has_inputs", "has_files", "has_responses", "ended":
		return "bool"
	case "started_at", "last_activity_at", "last_interaction_at", "last_input_at", "last_file_at":
		return "timestamptz"
	case "message_count", "unanswered_count", "record_bytes":
		return "int"
	case "variables", "host_variables", "sentiment_detail", "handover", "files", "goals", "tags", "reached":
		return "jsonb"
	}
	return "text"
}

func isTextArray(c string) bool { return c == "goals" || c == "tags" || c == "reached" }

// The array parameters of turnSQL, in order: the sessions ($1 IDs, $2
// ords, then one per turnSessionColumns), then the rest from pRollups on.
const (
	pRollups  = iota          // 13 arrays: ord, seen … sentimentAt
	pMessages = pRollups + 13 // 9 arrays: session_id, id … detail
	pAcks     = pMessages + 9 // 5 arrays: session_id, client_id, message_id, at, text
	pInputs   = pAcks + 5     // 7 arrays: session_id, n, block, variable, kind, value, at
	pGaps     = pInputs + 7   // 7 arrays: session_id, then gapColumns' (gapcount.go)
	pTerms    = pGaps + 7     // 2 arrays: session_id, term: the visitor's new search words (query_users.go)
	pOutbox   = pTerms + 2    // 9 arrays: session_id, then outboxRows's (enqueue.go)
	pFunnel   = pOutbox + 9   // 4 arrays: ord, kind, name, n: the funnel's counts (counters.go)
	pEnd      = pFunnel + 4
)

func buildTurnSQL() string {
	base := 2 + len(turnSessionColumns)
	p := func(i int) string { return "$" + strconv.Itoa(base+1+i) }
	var cols, params, sets []string
	for i, c := range turnSessionColumns {
		cols = append(cols, c)
		params = append(params, fmt.Sprintf("$%d::%s[]", i+3, sessionColumnType(c)))
		if isTextArray(c) {
			sets = append(sets, fmt.Sprintf("%s = ARRAY(SELECT jsonb_array_elements_text(u.%s))", c, c))
		} else {
			sets = append(sets, fmt.Sprintf("%s = u.%s", c, c))
		}
	}
	return `WITH u AS (SELECT * FROM unnest($1::text[], $2::int[], ` + strings.Join(params, ", ") + `)
		AS u(id, ord, ` + strings.Join(cols, ", ") + `)),
s AS (UPDATE sessions SET ` + strings.Join(sets, ", ") + ` FROM u
	WHERE sessions.id = u.id AND NOT EXISTS (SELECT 1 FROM visitors e WHERE e.id = sessions.visitor_id AND e.erasing)
	RETURNING sessions.id, sessions.visitor_id, u.ord, sessions.site, sessions.bot, sessions.version, sessions.started_at),
r AS (SELECT * FROM unnest(` + arrays(p, pRollups, "int", "timestamptz", "timestamptz", "timestamptz", "timestamptz",
		"text", "text", "text", "text", "text", "jsonb", "jsonb", "timestamptz") + `)
	AS r(ord, seen, interaction, input, file, name, email, phone, contact, text, vars, sentiment, sentiment_at)),
v AS (UPDATE visitors SET
	last_seen_at = GREATEST(visitors.last_seen_at, COALESCE(r.seen, visitors.last_seen_at)),
	last_interaction_at = ` + later("visitors.last_interaction_at", "r.interaction") + `,
	last_input_at = ` + later("visitors.last_input_at", "r.input") + `,
	last_file_at = ` + later("visitors.last_file_at", "r.file") + `,
	name = COALESCE(r.name, visitors.name),
	email = COALESCE(r.email, visitors.email),
	phone = COALESCE(r.phone, visitors.phone),
	contact = COALESCE(r.contact, visitors.contact),
	last_message = COALESCE(r.text, visitors.last_message),
	variables = visitors.variables || COALESCE(r.vars, '{}'::jsonb),
	last_sentiment = CASE WHEN r.sentiment IS NOT NULL AND (visitors.last_sentiment IS NULL
		OR COALESCE((visitors.last_sentiment->>'at')::timestamptz, '0001-01-01T00:00:00Z'::timestamptz) < r.sentiment_at)
		THEN r.sentiment ELSE visitors.last_sentiment END
	FROM s JOIN r ON r.ord = s.ord WHERE visitors.id = s.visitor_id
	RETURNING 1),
m AS (INSERT INTO messages (` + messageColumns + `)
	SELECT * FROM unnest(` + arrays(p, pMessages, "text", "text", "text", "text", "timestamptz", "text", "text", "text", "jsonb") + `)
		AS m(session_id, id, sender, kind, at, text, block, client_id, detail)
	WHERE m.session_id IN (SELECT id FROM s)),
a AS (INSERT INTO acks (session_id, client_id, message_id, at, text)
	SELECT * FROM unnest(` + arrays(p, pAcks, "text", "text", "text", "timestamptz", "text") + `) AS a(session_id, client_id, message_id, at, text)
	WHERE a.session_id IN (SELECT id FROM s)),
i AS (INSERT INTO inputs (session_id, n, block, variable, kind, value, at)
	SELECT * FROM unnest(` + arrays(p, pInputs, "text", "int", "text", "text", "text", "text", "timestamptz") + `) AS i(session_id, n, block, variable, kind, value, at)
	WHERE i.session_id IN (SELECT id FROM s)),
g AS (INSERT INTO gaps (session_id, n, at, text, norm, is_first, first_at, site, bot)
	SELECT g.*, s.site, s.bot FROM unnest(` + arrays(p, pGaps, append([]string{"text"}, gapTypes...)...) + `)
		AS g(session_id, n, at, text, norm, is_first, first_at)
	JOIN s ON s.id = g.session_id
	RETURNING at, site, bot, norm, is_first),
` + addGapCounts(shardTurn, "") + `,
t AS (INSERT INTO visitor_terms (term, visitor_id)
	SELECT t.term, s.visitor_id FROM unnest(` + arrays(p, pTerms, "text", "text") + `) AS t(session_id, term) JOIN s ON s.id = t.session_id
	ON CONFLICT DO NOTHING),
o AS (INSERT INTO webhook_outbox (seq, ` + outboxColumns + `)
	SELECT nextval('webhook_outbox_seq'), endpoint, site, event_id, type, lane, visitor_id, at, body FROM (
		SELECT o.* FROM unnest(` + arrays(p, pOutbox, "text", "text", "text", "text", "text", "text", "text", "timestamptz", "bytea") + `)
			WITH ORDINALITY AS o(session_id, endpoint, site, event_id, type, lane, visitor_id, at, body, n)
		WHERE o.session_id IN (SELECT id FROM s) ORDER BY o.n) ordered),
f AS (SELECT ` + sqlHour("s.started_at") + ` AS hour, s.site, s.bot, s.version, d.kind, d.name, d.n
	FROM unnest(` + arrays(p, pFunnel, "int", "text", "text", "int") + `) AS d(ord, kind, name, n) JOIN s ON s.ord = d.ord),
` + addCounts(shardTurn) + `
SELECT ord FROM s`
}

// later is the later of a nullable column and a nullable value.
func later(col, val string) string {
	return fmt.Sprintf("GREATEST(COALESCE(%[1]s, %[2]s), COALESCE(%[2]s, %[1]s))", col, val)
}

// arrays lists the parameters from the first on, cast to arrays of types.
func arrays(p func(int) string, first int, types ...string) string {
	var parts []string
	for i, t := range types {
		parts = append(parts, p(first+i)+"::"+t+"[]")
	}
	return strings.Join(parts, ", ")
}

// turnWrite is one turn's rows, ready to commit.
type turnWrite struct {
	session, visitor string
	node             string // storage.Turn.Node: commit only under its lease
	cols             []any  // turnSessionColumns' values
	rollup           []any  // seen … sentimentAt (pRollups' arrays but ord)
	msgs             messageRows
	ack              []any // client_id, message_id, at, text; nil for none
	inputBase        int
	inputs           []storage.Input
	gaps             *gapColumns // the texts it adds (gapcount.go)
	terms            []string    // the visitor's new search words
	events           []any       // outboxRows's arrays; nil for none (enqueue.go)
	marks            markDeltas  // the funnel's counts the turn changes (counters.go)
	// res is the outbox backlog the turn took (enqueue.go).
	res *storage.Reservation
	err chan error
}

// newTurnWrite prepares a turn's rows: next is the session after the
// turn, prev before it.
func newTurnWrite(t *storage.Turn, prev, next *storage.Session, ack storage.Ack) (*turnWrite, error) {
	sargs, err := sessionArgs(next, next.RecordBytes())
	if err != nil {
		return nil, err
	}
	w := &turnWrite{session: t.SessionID, visitor: prev.VisitorID, node: t.Node, err: make(chan error, 1),
		inputBase: len(prev.Inputs), inputs: t.Inputs, gaps: newGapColumns(prev.Gaps, t.Gaps)}
	// sessionArgs' order is sessionColumns': id, site, visitor_id, bot, ….
	w.cols = append(append(make([]any, 0, len(turnSessionColumns)), sargs[1]), sargs[3:]...)
	for i, c := range turnSessionColumns {
		if isTextArray(c) {
			if w.cols[i], err = json.Marshal(w.cols[i]); err != nil {
				return nil, err
			}
		}
	}
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
	w.terms = rollupTerms(r) // query_users.go
	w.marks.move(prev, next)
	w.rollup = []any{orNull(utc(r.SeenAt)), orNull(utc(r.InteractionAt)), orNull(utc(r.InputAt)), orNull(utc(r.FileAt)),
		r.Name, r.Email, r.Phone, r.Contact, r.Text, jsonOrNull(vars), jsonOrNull(sentiment), sentimentAt}
	for i := range t.Messages {
		if err := w.msgs.add(&t.Messages[i]); err != nil {
			return nil, err
		}
	}
	if t.ClientID != "" && ack.ID != "" {
		w.ack = []any{t.ClientID, ack.ID, utc(ack.At), ack.Text}
	}
	return w, nil
}

// jsonOrNull is a JSON document as a jsonb[] element, nil as NULL.
func jsonOrNull(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// roundArgs are turnSQL's arguments for a round of turns, each of another
// session and visitor; a turn's ord is its index in the round.
func roundArgs(round []*turnWrite) []any {
	n := len(round)
	args := make([]any, 2+len(turnSessionColumns)+pEnd)
	ids, ords := make([]string, n), make([]int32, n)
	cols := make([][]any, len(turnSessionColumns))
	for c := range cols {
		cols[c] = make([]any, n)
	}
	rollups := make([][]any, 12)
	for c := range rollups {
		rollups[c] = make([]any, n)
	}
	var msgs [9][]any
	var acks [5][]any
	var inputs [7][]any
	var gaps [7][]any
	var terms [2][]any
	var events [9][]any
	var marks [4][]any
	for k, w := range round {
		ids[k], ords[k] = w.session, int32(k)
		for c, v := range w.cols {
			cols[c][k] = v
		}
		for c, v := range w.rollup {
			rollups[c][k] = v
		}
		for j := range w.msgs.ids {
			row := []any{w.session, w.msgs.ids[j], w.msgs.senders[j], w.msgs.kinds[j], w.msgs.ats[j],
				w.msgs.texts[j], w.msgs.blocks[j], w.msgs.clients[j], string(w.msgs.details[j])}
			for c, v := range row {
				msgs[c] = append(msgs[c], v)
			}
		}
		if w.ack != nil {
			acks[0] = append(acks[0], w.session)
			for c, v := range w.ack {
				acks[c+1] = append(acks[c+1], v)
			}
		}
		for j, in := range w.inputs {
			row := []any{w.session, int32(w.inputBase + j), in.Block, in.Variable, in.Kind, in.Value, utc(in.At)}
			for c, v := range row {
				inputs[c] = append(inputs[c], v)
			}
		}
		for j := range w.gaps.ns {
			g := w.gaps
			row := []any{w.session, g.ns[j], g.at[j], g.text[j], g.norm[j], g.first[j], g.firstAt[j]}
			for c, v := range row {
				gaps[c] = append(gaps[c], v)
			}
		}
		for _, term := range w.terms {
			terms[0], terms[1] = append(terms[0], w.session), append(terms[1], term)
		}
		for j, kind := range w.marks.kinds {
			row := []any{int32(k), kind, w.marks.names[j], w.marks.ns[j]}
			for c, v := range row {
				marks[c] = append(marks[c], v)
			}
		}
		if w.events != nil {
			for j := range w.events[0].([]string) {
				events[0] = append(events[0], w.session)
				for c, arr := range w.events {
					events[c+1] = append(events[c+1], elem(arr, j))
				}
			}
		}
	}
	args[0], args[1] = ids, ords
	for c := range cols {
		args[2+c] = cols[c]
	}
	base := 2 + len(turnSessionColumns)
	args[base+pRollups] = ords
	for c := range rollups {
		args[base+pRollups+1+c] = rollups[c]
	}
	for _, part := range []struct {
		at   int
		cols [][]any
	}{{pMessages, msgs[:]}, {pAcks, acks[:]}, {pInputs, inputs[:]}, {pGaps, gaps[:]}, {pTerms, terms[:]}, {pOutbox, events[:]}, {pFunnel, marks[:]}} {
		for c, v := range part.cols {
			args[base+part.at+c] = nonNilSlice(v)
		}
	}
	return args
}

// elem is the j-th element of one of outboxRows's arrays.
func elem(arr any, j int) any {
	switch a := arr.(type) {
	case []string:
		return a[j]
	case []any:
		return a[j]
	case [][]byte:
		return a[j]
	}
	panic(fmt.Sprintf("postgres: outbox array of %T", arr))
}

// rounds splits a commit's turns into rounds in which no session or
// visitor comes twice (one statement updates a row once), keeping each
// session's turns in their order.
func rounds(batch []*turnWrite) [][]*turnWrite {
	var out [][]*turnWrite
	var seen []map[string]bool
	for _, w := range batch {
		// After the last round holding this turn's session or visitor.
		k := 0
		for i := len(out) - 1; i >= 0; i-- {
			if seen[i][w.session] || seen[i]["v/"+w.visitor] {
				k = i + 1
				break
			}
		}
		if k == len(out) {
			out, seen = append(out, nil), append(seen, map[string]bool{})
		}
		out[k] = append(out[k], w)
		seen[k][w.session], seen[k]["v/"+w.visitor] = true, true
	}
	return out
}
