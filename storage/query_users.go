package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// UserQuery selects the user-sessions overview (seed 000): the visitors
// having at least one session whose last activity lies in [From, To) and
// that has every flag in Flags. With no flag, sessions without any
// interaction count too.
type UserQuery struct {
	From, To time.Time // zero: open
	Flags    byte      // FlagEngaged | FlagFiles | FlagInputs, all required
	// Q keeps the visitors whose ID starts with it, or whose name, email or
	// phone has words starting with each of its words.
	Q      string
	Limit  int    // 1..MaxLimit; 0 means DefaultLimit
	Cursor string // from the previous page's Next
}

// UserRow is one visitor of the overview.
type UserRow struct {
	Visitor *Visitor
	// LastActivityAt is the latest activity of the visitor's sessions that
	// match the query: the list's order, newest first.
	LastActivityAt time.Time
	// SessionID names that session; Session is its record (its inputs
	// and tags make the row a lead).
	SessionID string
	Session   *Session

	visitorID string // while the row is built, before Visitor is read
}

// maxSearchVisitors bounds the visitors a search considers.
const maxSearchVisitors = 2000

func (q *UserQuery) fingerprint() uint64 {
	return fingerprint(timeParam(q.From), timeParam(q.To), string('0'+q.Flags), normalizeQuery(q.Q))
}

// Users returns one page of the overview, newest activity first. It reads
// about one page of index keys: each visitor is listed at its newest
// matching session, and a session of a visitor already listed above it is
// skipped after one seek in the visitor's own index. Bad values return a
// *FieldError.
func (s *Store) Users(ctx context.Context, q UserQuery) (*Page[UserRow], error) {
	// Fold committed turns first, so the answer is exact (indexer.go).
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	fp := q.fingerprint()
	pos, err := decodeCursor(q.Cursor, cursorUsers, fp)
	if err != nil {
		return nil, err
	}
	page := &Page[UserRow]{}
	err = s.db.View(func(txn *badger.Txn) error {
		var rows []UserRow
		var err error
		if normalizeQuery(q.Q) != "" {
			rows, err = searchUsers(ctx, txn, &q, pos, limit+1)
		} else {
			rows, err = scanUsers(ctx, txn, &q, pos, limit+1)
		}
		if err != nil {
			return err
		}
		if len(rows) > limit {
			rows = rows[:limit]
			last := rows[limit-1]
			page.Next = encodeCursor(cursorUsers, fp, sessionSuffix(last.LastActivityAt, last.SessionID))
		}
		for i := range rows {
			var sess Session
			if err := getJSON(txn, key("s", rows[i].SessionID), &sess); err != nil {
				return fmt.Errorf("session %s: %w", rows[i].SessionID, err)
			}
			rows[i].Session = &sess
			if rows[i].Visitor != nil {
				continue
			}
			var v Visitor
			if err := getJSON(txn, key("v", rows[i].visitorID), &v); err != nil {
				return fmt.Errorf("visitor of session %s: %w", rows[i].SessionID, err)
			}
			rows[i].Visitor = &v
		}
		page.Items = rows
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: users: %w", err)
	}
	return page, nil
}

// scanUsers walks ia/{mask} newest first from the bound down to From and
// keeps each visitor at its newest matching session.
func scanUsers(ctx context.Context, txn *badger.Txn, q *UserQuery, pos string, n int) ([]UserRow, error) {
	mask := string('0' + q.Flags)
	bound, incl := upperBound(pos, q.To)
	sc := newRevScan(txn, key("ia", mask, ""))
	defer sc.close()
	own := newVisitorIndex(txn)
	defer own.close()

	var rows []UserRow
	seen := make(map[string]bool, n)
	for sfx, ok := sc.seek(bound, incl); ok && len(rows) < n; sfx, ok = sc.next() {
		t := suffixTime(sfx)
		if !q.From.IsZero() && t.Before(q.From) {
			break
		}
		vid, err := sc.it.Item().ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		if seen[string(vid)] {
			continue
		}
		seen[string(vid)] = true
		newest, ok := own.newest(string(vid), q.Flags, q.To)
		if !ok || newest != string(sfx) {
			// Listed above, at a newer session (on this page or before it).
			continue
		}
		rows = append(rows, UserRow{LastActivityAt: t, SessionID: suffixID(sfx), visitorID: string(vid)})
		if len(rows)%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return rows, nil
}

// searchUsers serves a query with Q: the candidates come from the search
// index, each placed at its newest matching session, then sorted.
func searchUsers(ctx context.Context, txn *badger.Txn, q *UserQuery, pos string, n int) ([]UserRow, error) {
	ids, err := searchVisitors(txn, q.Q, maxSearchVisitors)
	if err != nil {
		return nil, err
	}
	own := newVisitorIndex(txn)
	defer own.close()
	var rows []UserRow
	for _, id := range ids {
		sfx, ok := own.newest(id, q.Flags, q.To)
		if !ok || (pos != "" && sfx >= pos) {
			continue
		}
		t := suffixTime([]byte(sfx))
		if !q.From.IsZero() && t.Before(q.From) {
			continue
		}
		rows = append(rows, UserRow{LastActivityAt: t, SessionID: suffixID([]byte(sfx)), visitorID: id})
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b UserRow) int {
		return strings.Compare(sessionSuffix(b.LastActivityAt, b.SessionID), sessionSuffix(a.LastActivityAt, a.SessionID))
	})
	// Keep the candidates whose current values still match: search terms
	// are never removed, so an old email may point at a visitor.
	out := rows[:0]
	for _, r := range rows {
		var v Visitor
		if err := getJSON(txn, key("v", r.visitorID), &v); err != nil {
			return nil, err
		}
		if !v.Matches(q.Q) {
			continue
		}
		r.Visitor = &v
		out = append(out, r)
		if len(out) == n {
			break
		}
	}
	return out, nil
}

// visitorIndex answers "which is the visitor's newest session with the
// flags of mask before to" from the visitor's own entries in iv/: a seek,
// then a step past each newer session that lacks a flag.
type visitorIndex struct{ it *badger.Iterator }

func newVisitorIndex(txn *badger.Txn) *visitorIndex {
	return &visitorIndex{txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte("iv/")})}
}

func (x *visitorIndex) close() { x.it.Close() }

// newest returns the suffix of the visitor's newest session whose flags
// include mask and whose activity is before to (zero: any).
func (x *visitorIndex) newest(visitorID string, mask byte, to time.Time) (string, bool) {
	prefix := key("iv", visitorID, "")
	bound := "\xff"
	if !to.IsZero() {
		bound = timeKey(to)
	}
	for x.it.Seek(append(append([]byte(nil), prefix...), bound...)); x.it.ValidForPrefix(prefix); x.it.Next() {
		if hasFlags(x.it.Item(), mask) {
			return string(x.it.Item().Key()[len(prefix):]), true
		}
	}
	return "", false
}

// hasFlags reports whether an iv/ entry's flags include mask.
func hasFlags(item *badger.Item, mask byte) bool {
	if mask == 0 {
		return true
	}
	ok := false
	item.Value(func(v []byte) error {
		ok = len(v) == 1 && v[0]&mask == mask
		return nil
	})
	return ok
}

// searchVisitors returns up to max visitor IDs that may match q: those
// whose ID starts with q and those with a search term starting with q's
// longest word, the most recently created first (IDs are ULIDs), so a
// common name still finds the visitors of late. Callers check each with
// Visitor.Matches.
func searchVisitors(txn *badger.Txn, q string, max int) ([]string, error) {
	idPrefix, longest := SearchKeys(q)
	seen := map[string]bool{}
	var ids []string
	add := func(id string) bool {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
		return len(ids) < max
	}
	if idPrefix != "" {
		eachKeyReverse(txn, key("v", idPrefix), func(k []byte) bool { return add(string(k[2:])) })
	}
	if longest == "" || len(ids) >= max {
		return ids, nil
	}
	eachKeyReverse(txn, key("iq", escapeTerm(longest)), func(k []byte) bool {
		return add(string(k[bytesLastIndex(k, '/')+1:]))
	})
	return ids, nil
}

// eachKeyReverse calls fn with the keys under prefix, last first, while it
// returns true.
func eachKeyReverse(txn *badger.Txn, prefix []byte, fn func(k []byte) bool) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
	defer it.Close()
	for it.Seek(append(append([]byte(nil), prefix...), 0xff)); it.ValidForPrefix(prefix); it.Next() {
		if !fn(it.Item().Key()) {
			return
		}
	}
}

func bytesLastIndex(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// Matches reports whether the visitor answers the search q: its ID starts
// with q, or every word of q starts a word of its name, email, phone or
// platform ID (a phone number also matches by its digits alone).
func (v *Visitor) Matches(q string) bool {
	q = normalizeQuery(q)
	if q == "" {
		return true
	}
	if strings.HasPrefix(v.ID, strings.ToUpper(q)) {
		return true
	}
	var terms []string
	for _, f := range []string{v.Name, v.Email, v.Phone, v.PlatformID} {
		terms = append(terms, contactTerms(f)...)
	}
	words := queryWords(q)
	if len(words) == 0 {
		return false
	}
	for _, w := range words {
		if !slices.ContainsFunc(terms, func(t string) bool { return strings.HasPrefix(t, w) }) {
			return false
		}
	}
	return true
}

func normalizeQuery(q string) string { return strings.ToLower(strings.TrimSpace(q)) }

// queryWords splits a search like contactTerms splits a value; a query that
// looks like a phone number ("+49 30 12") is one word of its digits, and
// one with an '@' is one word that must start an email address.
func queryWords(q string) []string {
	if strings.Contains(q, "@") {
		return []string{q}
	}
	if d := digitsOf(q); len(d) >= 3 && strings.Trim(q, "0123456789+-()./ ") == "" {
		return []string{d}
	}
	return strings.FieldsFunc(q, func(r rune) bool { return !isWordRune(r) })
}

// isIDPrefix reports whether s could start a ULID (Crockford base32).
func isIDPrefix(s string) bool {
	if s == "" || len(s) > 26 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", r) {
			return false
		}
	}
	return true
}
