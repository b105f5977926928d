package storage

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The admin lists' rules that do not depend on the engine: which values a
// query accepts, its cursors and the search's candidates. Both engines
// (this package's Badger one and package postgres) call these, so a page,
// a cursor and a FieldError are the same whichever store answers.
//
// A cursor seals the position of the previous page's last item: the time
// of the list's order (a session's start, or its last activity) and the
// session's ID. Cursors of the two engines are alike: a page read from one
// goes on in the other within the same process.

// Check validates the query's values and returns its page size. Bad values
// return a *FieldError.
func (q *SessionQuery) Check() (limit int, err error) {
	if limit, err = checkLimit(q.Limit); err != nil {
		return 0, err
	}
	if err := checkPeriod(q.From, q.To); err != nil {
		return 0, err
	}
	if err := checkStatus(q.Status); err != nil {
		return 0, err
	}
	switch q.Sentiment {
	case "", SentimentPositive, SentimentNeutral, SentimentNegative, SentimentUnknown:
	default:
		return 0, &FieldError{"Sentiment", "must be positive, neutral, negative or unknown"}
	}
	if q.Status != "" && q.Live == nil {
		return 0, &FieldError{"Status", "no live status available"}
	}
	return limit, nil
}

// After returns the position q.Cursor seals: the start and ID of the last
// session of the previous page, or the zero time and "" for the first
// page. A cursor of another list or filter returns a *FieldError.
func (q *SessionQuery) After() (time.Time, string, error) {
	return cursorPosition(q.Cursor, cursorSessions, q.fingerprint())
}

// NextCursor is the cursor of the page after the session that started at
// started with the given ID.
func (q *SessionQuery) NextCursor(started time.Time, id string) string {
	return encodeCursor(cursorSessions, q.fingerprint(), sessionSuffix(started, id))
}

// Check validates the query's values and returns its page size. Bad values
// return a *FieldError.
func (q *UserQuery) Check() (limit int, err error) {
	return checkActivityQuery(q.Limit, q.From, q.To, q.Flags)
}

// After returns the position q.Cursor seals: the last activity and
// session ID of the previous page's last visitor, or the zero time and ""
// for the first page. A cursor of another list or filter returns a
// *FieldError.
func (q *UserQuery) After() (time.Time, string, error) {
	return cursorPosition(q.Cursor, cursorUsers, q.fingerprint())
}

// NextCursor is the cursor of the page after the visitor listed at the
// session with the given last activity and ID.
func (q *UserQuery) NextCursor(lastActivity time.Time, sessionID string) string {
	return encodeCursor(cursorUsers, q.fingerprint(), sessionSuffix(lastActivity, sessionID))
}

// Check validates the query's values and returns its page size. Bad values
// return a *FieldError.
func (q *VisitorSessionQuery) Check() (limit int, err error) {
	return checkActivityQuery(q.Limit, q.From, q.To, q.Flags)
}

// After returns the position q.Cursor seals: the last activity and ID of
// the previous page's last session, or the zero time and "" for the first
// page. A cursor of another list or filter returns a *FieldError.
func (q *VisitorSessionQuery) After() (time.Time, string, error) {
	return cursorPosition(q.Cursor, cursorVisitor, q.fingerprint())
}

// NextCursor is the cursor of the page after the session with the given
// last activity and ID.
func (q *VisitorSessionQuery) NextCursor(lastActivity time.Time, id string) string {
	return encodeCursor(cursorVisitor, q.fingerprint(), sessionSuffix(lastActivity, id))
}

func (q *VisitorSessionQuery) fingerprint() uint64 {
	return fingerprint(q.VisitorID, timeParam(q.From), timeParam(q.To), string('0'+q.Flags))
}

// checkActivityQuery validates the values the overview and a visitor's
// sessions share.
func checkActivityQuery(limit int, from, to time.Time, flags byte) (int, error) {
	limit, err := checkLimit(limit)
	if err != nil {
		return 0, err
	}
	if err := checkPeriod(from, to); err != nil {
		return 0, err
	}
	if flags > FlagEngaged|FlagFiles|FlagInputs {
		return 0, &FieldError{"Flags", "unknown flag"}
	}
	return limit, nil
}

// cursorPosition decodes a cursor into the time and ID of its position.
func cursorPosition(c string, kind byte, fp uint64) (time.Time, string, error) {
	pos, err := decodeCursor(c, kind, fp)
	if err != nil || pos == "" {
		return time.Time{}, "", err
	}
	return suffixTime([]byte(pos)), suffixID([]byte(pos)), nil
}

// MaxSearchVisitors bounds the visitors a search considers.
const MaxSearchVisitors = maxSearchVisitors

// SearchTerms are the words a search finds the visitor by, besides its ID:
// those of its name, email, phone and platform ID, as Visitor.Matches
// reads them. An engine indexes them; Matches has the last word.
func SearchTerms(v *Visitor) []string {
	var terms []string
	for _, f := range []string{v.Name, v.Email, v.Phone, v.PlatformID} {
		terms = append(terms, contactTerms(f)...)
	}
	return terms
}

// SearchKeys are what an engine looks a search up by: idPrefix, a prefix
// of visitor IDs ("" when q cannot start one), and term, a prefix of the
// search terms (the query's longest word; "" for none). Candidates found
// either way are checked with Visitor.Matches.
func SearchKeys(q string) (idPrefix, term string) {
	q = normalizeQuery(q)
	if id := strings.ToUpper(q); isIDPrefix(id) {
		idPrefix = id
	}
	for _, w := range queryWords(q) {
		if len(w) > len(term) {
			term = w
		}
	}
	return idPrefix, term
}

// Check validates the funnel's query. Bad values return a *FieldError.
func (q FunnelQuery) Check() error {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return &FieldError{"From", "a funnel needs from and to"}
	case !q.From.Before(q.To):
		return &FieldError{"From", "is not before to"}
	case q.To.Sub(q.From) > maxFunnelDays*24*time.Hour:
		return &FieldError{"From", fmt.Sprintf("a funnel covers at most %d days", maxFunnelDays)}
	case q.Bot == "":
		return &FieldError{"Bot", "a funnel is of one bot"}
	}
	return nil
}

// Sort puts the funnel's lists in the report's order, byte order for
// names whatever a database's collation: blocks and goals by sessions,
// most first, then by name; versions by bot, then version.
func (f *Funnel) Sort() {
	byCount := func(a, b Count) int { return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Key, b.Key)) }
	slices.SortFunc(f.Blocks, byCount)
	slices.SortFunc(f.Goals, byCount)
	slices.SortFunc(f.Versions, func(a, b Conversion) int {
		return cmp.Or(strings.Compare(a.Bot, b.Bot), strings.Compare(a.Version, b.Version))
	})
}
