package storage

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	badger "github.com/dgraph-io/badger/v4"
)

// The Knowledge gaps index holds every unanswered text by when it was said:
//
//	iu/{at}/{session}/{n} -> site\0bot\0text
//
// n is the text's place in the session's Gaps. A period of the
// report is one range of keys; the entries are derived from the session
// record like the other indexes, so BuildIndexes and erase (indexKeys)
// keep them whole.
func gapKey(sid string, n int, g Gap) []byte {
	return key("iu", timeKey(g.At), sid, strconv.Itoa(n))
}

func gapValue(s *Session, g Gap) []byte {
	return []byte(s.Site + "\x00" + s.Bot + "\x00" + g.Text)
}

// indexGaps writes the gap entries of the texts the session gained since
// old; should its list change otherwise (never on the turn path), it
// rewrites them all.
func indexGaps(w kvWriter, old, next *Session) error {
	after := next.Gaps
	keep := 0
	if old != nil {
		before := old.Gaps
		if old.Site == next.Site && old.Bot == next.Bot && len(before) <= len(after) &&
			slices.EqualFunc(before, after[:len(before)], func(a, b Gap) bool { return a.At.Equal(b.At) && a.Text == b.Text }) {
			keep = len(before)
		} else {
			for i, g := range before {
				if err := w.Delete(gapKey(old.ID, i, g)); err != nil {
					return err
				}
			}
		}
	}
	for i := keep; i < len(after); i++ {
		if err := w.Set(gapKey(next.ID, i, after[i]), gapValue(next, after[i])); err != nil {
			return err
		}
	}
	return nil
}

// NormalizeGap is the form unanswered texts are grouped by: lower case,
// letters and digits only, single spaces, at most 120 characters, so
// "Pricing?" and "  pricing " are one question. A text without a letter or
// digit (an emoji, "???") is its trimmed lower-case self.
func NormalizeGap(text string) string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	n := strings.Join(words, " ")
	if n == "" {
		n = strings.ToLower(strings.TrimSpace(text))
	}
	if r := []rune(n); len(r) > 120 {
		n = strings.TrimSpace(string(r[:120]))
	}
	return n
}

// DefaultGapScan is how many unanswered texts one Knowledge gaps report
// reads at most, newest first, unless the query says otherwise.
const DefaultGapScan = 200_000

// MaxGapSessions is how many sessions a report row links to.
const MaxGapSessions = 10

// GapQuery selects the Knowledge gaps report: the unanswered texts said in
// [From, To), of Site and Bot when set, grouped by NormalizeGap.
type GapQuery struct {
	From, To  time.Time
	Site, Bot string
	Limit     int // rows, 1..MaxLimit; 0 means DefaultLimit
	// MaxScan bounds the entries read, of any site and bot (0:
	// DefaultGapScan); past it the report covers the newest only and says
	// from when.
	MaxScan int
}

// GapRow is one group of the report: the same question, normalised.
type GapRow struct {
	Key      string    // the normalised text
	Text     string    // the group's most recent text as typed
	Count    int       // times asked
	Sessions int       // distinct sessions that asked it
	FirstAt  time.Time // first asked in the period
	LastAt   time.Time // last asked
	// SessionIDs are the sessions that asked it, most recent first, at
	// most MaxGapSessions.
	SessionIDs []string
}

// GapReport is the Knowledge gaps report, the most asked first.
type GapReport struct {
	Items  []GapRow
	Texts  int // unanswered texts in the period (read)
	Groups int // distinct questions among them
	// Truncated: more entries than MaxScan lay in the period; the
	// report covers the newest, said from Since on.
	Truncated bool
	Since     time.Time
}

// Gaps returns the Knowledge gaps report: the period's unanswered texts,
// grouped, the most frequent first (then the most recently asked). It
// reads the period's iu/ entries newest first. Bad values return a
// *FieldError.
func (s *Store) Gaps(ctx context.Context, q GapQuery) (*GapReport, error) {
	if err := s.settle(ctx); err != nil { // indexer.go: exact answers
		return nil, err
	}
	tally, err := NewGapTally(q)
	if err != nil {
		return nil, err
	}
	err = s.db.View(func(txn *badger.Txn) error {
		sc := newRevScan(txn, []byte("iu/"))
		defer sc.close()
		bound, incl := upperBound("", q.To)
		for sfx, ok := sc.seek(bound, incl); ok; sfx, ok = sc.next() {
			at, sid, ok := parseGapSuffix(sfx)
			if !ok {
				continue
			}
			if !q.From.IsZero() && at.Before(q.From) {
				break
			}
			if tally.read%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			var site, bot, text []byte
			err := sc.it.Item().Value(func(v []byte) error {
				var ok1, ok2 bool
				site, v, ok1 = bytes.Cut(v, []byte{0})
				bot, text, ok2 = bytes.Cut(v, []byte{0})
				if !ok1 || !ok2 {
					return fmt.Errorf("gap entry %q: bad value", sfx)
				}
				site, bot, text = bytes.Clone(site), bytes.Clone(bot), bytes.Clone(text)
				return nil
			})
			if err != nil {
				return err
			}
			if !tally.Add(at, sid, string(site), string(bot), string(text)) {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: gaps: %w", err)
	}
	return tally.Report(), nil
}

// GapTally makes the Knowledge gaps report of a query from the unanswered
// texts of its period, of any site and bot, read newest first: the rules
// of the report (grouping, MaxScan, the order) whichever engine reads the
// texts.
type GapTally struct {
	q       GapQuery
	limit   int
	maxScan int
	read    int // texts read, of any site and bot
	groups  map[string]*gapGroup
	rep     GapReport
}

// NewGapTally validates the query and returns its empty tally. Bad values
// return a *FieldError.
func NewGapTally(q GapQuery) (*GapTally, error) {
	limit, err := checkLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	if err := checkPeriod(q.From, q.To); err != nil {
		return nil, err
	}
	return &GapTally{q: q, limit: limit, maxScan: q.ScanLimit(), groups: map[string]*gapGroup{}}, nil
}

// ScanLimit is how many texts the report reads at most: MaxScan, or
// DefaultGapScan.
func (q GapQuery) ScanLimit() int { return cmp.Or(q.MaxScan, DefaultGapScan) }

// Add counts the text said at at in session sid, of site and bot, when
// the query keeps them. The texts come newest first. It returns false
// when the report had read its MaxScan texts already: the text is not
// counted, the report is truncated, and the reader stops.
func (t *GapTally) Add(at time.Time, sid, site, bot, text string) bool {
	if t.read == t.maxScan {
		t.rep.Truncated = true
		return false
	}
	t.read++
	t.rep.Since = at
	if (t.q.Site != "" && site != t.q.Site) || (t.q.Bot != "" && bot != t.q.Bot) {
		return true
	}
	t.rep.Texts++
	k := NormalizeGap(text)
	g := t.groups[k]
	if g == nil {
		g = &gapGroup{row: GapRow{Key: k, Text: text, LastAt: at}, seen: map[string]bool{}}
		t.groups[k] = g
	}
	g.add(at, sid)
	return true
}

// Report returns the report of the texts added.
func (t *GapTally) Report() *GapReport {
	rep := t.rep
	if !rep.Truncated {
		rep.Since = time.Time{}
	}
	rep.Groups = len(t.groups)
	rows := make([]GapRow, 0, len(t.groups))
	for _, g := range t.groups {
		rows = append(rows, g.row)
	}
	SortGapRows(rows)
	rep.Items = rows[:min(t.limit, len(rows))]
	return &rep
}

// SortGapRows puts rows in the report's order (compareGaps), whichever
// engine counted them.
func SortGapRows(rows []GapRow) { slices.SortFunc(rows, compareGaps) }

// compareGaps orders the report: most asked, then most recently asked,
// then by text.
func compareGaps(a, b GapRow) int {
	if c := cmp.Compare(b.Count, a.Count); c != 0 {
		return c
	}
	if c := b.LastAt.Compare(a.LastAt); c != 0 {
		return c
	}
	return strings.Compare(a.Key, b.Key)
}

// gapGroup gathers one question's texts, read newest first.
type gapGroup struct {
	row  GapRow
	seen map[string]bool
}

func (g *gapGroup) add(at time.Time, sid string) {
	g.row.Count++
	g.row.FirstAt = at
	if !g.seen[sid] {
		g.seen[sid] = true
		g.row.Sessions++
		if len(g.row.SessionIDs) < MaxGapSessions {
			g.row.SessionIDs = append(g.row.SessionIDs, sid)
		}
	}
}

// parseGapSuffix reads {at}/{session}/{n}, the part of an iu/ key after
// the prefix.
func parseGapSuffix(sfx []byte) (time.Time, string, bool) {
	if len(sfx) < suffixLen+2 || sfx[8] != '/' || sfx[suffixLen] != '/' {
		return time.Time{}, "", false
	}
	return suffixTime(sfx), string(sfx[9:suffixLen]), true
}

// A session keeps at most MaxSessionGaps unanswered texts for the report,
// each cut to MaxGapText characters, so that a visitor who types a
// thousand questions grows neither the session record nor the report
// without bound. The count (State.UnansweredCount) goes on, and the
// messages keep their whole text.
const (
	MaxSessionGaps = 50
	MaxGapText     = 500
)

// Unanswered marks the visitor's free text m as unanswered (only the
// story's fallback answered it) and counts it in the turn's state st. It
// returns the gap to record with the turn (Turn.Gaps), none past
// MaxSessionGaps; kept is how many the session has (len(Session.Gaps)).
func Unanswered(st *State, m *Message, kept int) []Gap {
	m.Unanswered = true
	st.UnansweredCount++
	if kept >= MaxSessionGaps {
		return nil
	}
	text := m.Text
	if r := []rune(text); len(r) > MaxGapText {
		text = string(r[:MaxGapText])
	}
	return []Gap{{At: m.At, Text: text}}
}
