package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	badger "github.com/dgraph-io/badger/v4"
)

// Session flags, as bits of the activity index.
const (
	FlagEngaged byte = 1 << iota
	FlagFiles
	FlagInputs
)

// kvWriter is what index maintenance writes to: a transaction on the turn
// path, a write batch on the bulk path.
type kvWriter interface {
	Set(k, v []byte) error
	Delete(k []byte) error
}

// The secondary indexes. Every key ends in a suffix of the session's time
// (8 bytes, big-endian Unix nanoseconds), '/', and its ID, so a range of
// one prefix is a time range, newest last, and several prefixes can be
// joined on their suffixes (see join in query.go).
//
//	ia/{mask}/{lastActivity}/{session}    -> visitor
//	iv/{visitor}/{lastActivity}/{session} -> flags (one byte)
//	is/{facet}/{started}/{session}        -> visitor\0site\0bot\0version\0channel
//	iq/{term}/{visitor}                   -> nil
//
// ia holds a session under every subset (mask) of its flags, so the
// sessions having at least the flags F are exactly those under mask F: the
// user-sessions overview reads one range. iv holds each session once under
// its visitor, with its flags: a visitor's sessions, and the overview's
// check that a visitor was listed already (a few keys of one visitor,
// filtered on the flags, instead of eight entries per session). is holds a session
// under each facet of facets(), ordered by start: the sessions dashboard,
// the usage report's partial days. iq maps the words of names, emails and
// phone numbers the visitor typed to the visitor, for the search box.

const suffixLen = 8 + 1 + 26

func sessionSuffix(t time.Time, id string) string { return timeKey(t) + "/" + id }

// activityKey is the overview's entry of a session under one subset (mask)
// of its flags.
func activityKey(mask byte, sess *Session) []byte {
	return key("ia", strconv.Itoa(int(mask)), timeKey(sess.LastActivityAt), sess.ID)
}

// visitorActivityKey is the visitor's own entry of a session.
func visitorActivityKey(sess *Session) []byte {
	return key("iv", sess.VisitorID, timeKey(sess.LastActivityAt), sess.ID)
}

// startKey is the dashboard's entry of a session under one facet.
func startKey(facet string, sess *Session) []byte {
	return key("is", facet, timeKey(sess.StartedAt), sess.ID)
}

// Facets of a session: the dashboard's equality filters. Values are
// path-escaped so that '/' only ever separates key parts.
const (
	facetAll       = "all"
	facetResponses = "resp=1"
	facetSilent    = "resp=0"
	facetAnyGoal   = "goal"
	facetForms     = "in=1"
)

func facet(name, value string) string { return name + "=" + url.PathEscape(value) }

// facets lists the dashboard facets the session is indexed under.
func (s *Session) facets() []string {
	f := []string{facetAll, facet("site", s.Site), facet("ch", s.Channel), facet("bot", s.Bot), facet("ver", s.Version)}
	if s.HasResponses {
		f = append(f, facetResponses)
	} else {
		f = append(f, facetSilent)
	}
	if s.HasInputs {
		f = append(f, facetForms)
	}
	if s.Type != "" {
		f = append(f, facet("type", s.Type))
	}
	if s.Lang != "" {
		f = append(f, facet("lang", s.Lang))
	}
	if len(s.State.Goals) > 0 {
		f = append(f, facetAnyGoal)
	}
	for _, g := range s.State.Goals {
		f = append(f, facet("goal", g))
	}
	for _, t := range s.State.Tags {
		f = append(f, facet("tag", t))
	}
	for _, b := range s.State.Reached {
		f = append(f, facet("blk", b))
	}
	f = append(f, s.insightFacets()...) // insight.go
	slices.Sort(f)
	return slices.Compact(f)
}

// startValue is the value of every is/ entry: enough to count a session in
// the usage report and to know its visitor without reading the record.
func startValue(s *Session) []byte {
	return []byte(strings.Join([]string{s.VisitorID, s.Site, s.Bot, s.Version, s.Channel}, "\x00"))
}

// indexSession moves the session's index entries from old (nil for a new
// session) to next.
func indexSession(w kvWriter, old, next *Session) error {
	if err := indexActivity(w, old, next); err != nil {
		return err
	}
	if err := indexFacets(w, old, next); err != nil {
		return err
	}
	if err := indexGaps(w, old, next); err != nil { // gaps.go
		return err
	}
	return indexTerms(w, old, next)
}

// indexActivity rewrites the ia and iv entries when the session's last
// activity or flags changed.
func indexActivity(w kvWriter, old, next *Session) error {
	if old != nil {
		if old.LastActivityAt.Equal(next.LastActivityAt) && old.flags() == next.flags() {
			return nil
		}
		for _, m := range subsets(old.flags()) {
			if err := w.Delete(activityKey(m, old)); err != nil {
				return err
			}
		}
		if err := w.Delete(visitorActivityKey(old)); err != nil {
			return err
		}
	}
	for _, m := range subsets(next.flags()) {
		if err := w.Set(activityKey(m, next), []byte(next.VisitorID)); err != nil {
			return err
		}
	}
	return w.Set(visitorActivityKey(next), []byte{next.flags()})
}

// indexFacets adds the facets the session gained and drops those it lost.
// The start time never changes, so a turn usually writes nothing here.
func indexFacets(w kvWriter, old, next *Session) error {
	if old != nil && sameFacets(old, next) {
		return nil
	}
	var before []string
	if old != nil {
		before = old.facets()
	}
	after := next.facets()
	moved := old != nil && (!old.StartedAt.Equal(next.StartedAt) || !bytes.Equal(startValue(old), startValue(next)))
	for _, f := range before {
		if moved || !slices.Contains(after, f) {
			if err := w.Delete(startKey(f, old)); err != nil {
				return err
			}
		}
	}
	val := startValue(next)
	for _, f := range after {
		if moved || !slices.Contains(before, f) {
			if err := w.Set(startKey(f, next), val); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameFacets reports whether old and next have the same facets, start and
// start value, so that a turn which changed none of them (most turns do
// not) skips building and comparing the two facet lists.
func sameFacets(old, next *Session) bool {
	return old.StartedAt.Equal(next.StartedAt) && old.HasResponses == next.HasResponses && old.HasInputs == next.HasInputs &&
		old.Type == next.Type && old.Lang == next.Lang &&
		old.VisitorID == next.VisitorID && old.Site == next.Site && old.Channel == next.Channel &&
		old.Bot == next.Bot && old.Version == next.Version &&
		slices.Equal(old.State.Goals, next.State.Goals) && slices.Equal(old.State.Tags, next.State.Tags) &&
		slices.Equal(old.State.Reached, next.State.Reached) && sameInsightFacets(old, next)
}

// indexTerms adds the search words of the inputs given since old. Terms are
// never removed: a search checks the visitor's current values, so a stale
// term only costs one read.
func indexTerms(w kvWriter, old, next *Session) error {
	from := 0
	if old != nil {
		from = min(len(old.Inputs), len(next.Inputs))
	}
	for _, in := range next.Inputs[from:] {
		for _, t := range inputTerms(in) {
			if err := w.Set(key("iq", escapeTerm(t), next.VisitorID), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// inputTerms returns the search words of an input that feeds the visitor's
// name, email or phone.
func inputTerms(in Input) []string {
	switch in.Kind {
	case "email", "phone":
		return contactTerms(in.Value)
	case "text":
		if strings.Contains(strings.ToLower(in.Variable), "name") {
			return contactTerms(in.Value)
		}
	}
	return nil
}

// contactTerms splits a name, email or phone number into lower-case words a
// search prefix can match: the whole value, its words, and for anything
// with digits the digits alone, so "+49 30 1234" is found by "4930".
func contactTerms(v string) []string {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return nil
	}
	terms := []string{v}
	terms = append(terms, strings.FieldsFunc(v, func(r rune) bool { return !isWordRune(r) })...)
	if d := digitsOf(v); len(d) >= 3 {
		terms = append(terms, d)
	}
	for i, t := range terms {
		if len(t) > 64 {
			terms[i] = t[:64]
		}
	}
	slices.Sort(terms)
	return slices.Compact(terms)
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// escapeTerm makes a search term a key part: no '/' inside, and the
// escape of a prefix is a prefix of the escape.
func escapeTerm(t string) string { return url.PathEscape(t) }

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// subsets returns every subset of the bits in f, including 0 and f.
func subsets(f byte) []byte {
	out := []byte{0}
	for sub := f; sub != 0; sub = (sub - 1) & f {
		out = append(out, sub)
	}
	return out
}

// indexesBuilt holds the version of the index layout the store's ia/,
// iv/, is/ and iq/ entries follow; BuildIndexes rebuilds them when it
// differs (a store written before the admin indexes, or with an older
// layout).
var indexesBuilt = []byte("meta/indexes")

const indexLayout = "3" // 3: the facets in=1, type= and lang=

// BuildIndexes makes the admin indexes complete, once per store and layout:
// if the store's marker is not the current layout it drops ia/, iv/, is/,
// iq/ and iu/ and writes the entries of every session again; likewise the
// funnel's counters (fc/, meta/funnel: funnel_counts.go). It returns how
// many sessions it indexed (0 when nothing was due). Run it before serving:
// DropPrefix blocks writes while it runs.
func (s *Store) BuildIndexes(ctx context.Context) (int, error) {
	n, err := s.buildIndexes(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := s.buildFunnelCounts(ctx); err != nil {
		return 0, fmt.Errorf("storage: build funnel counters: %w", err)
	}
	return n, nil
}

// buildIndexes is BuildIndexes without the funnel's counters.
func (s *Store) buildIndexes(ctx context.Context) (int, error) {
	var have []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(indexesBuilt)
		if err != nil {
			return err
		}
		have, err = item.ValueCopy(nil)
		return err
	})
	switch {
	case err == nil && string(have) == indexLayout:
		return 0, nil
	case err != nil && !errors.Is(err, badger.ErrKeyNotFound):
		return 0, fmt.Errorf("storage: build indexes: %w", err)
	}
	if err := s.db.DropPrefix([]byte("ia/"), []byte("iv/"), []byte("is/"), []byte("iq/"), []byte("iu/")); err != nil {
		return 0, fmt.Errorf("storage: build indexes: %w", err)
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	err = s.db.View(func(txn *badger.Txn) error {
		return eachSession(ctx, txn, func(sess *Session) error {
			n++
			return indexSession(wb, nil, sess)
		})
	})
	if err == nil {
		err = s.db.View(func(txn *badger.Txn) error { return indexEditedTerms(ctx, txn, wb) })
	}
	if err == nil {
		err = wb.Set(indexesBuilt, []byte(indexLayout))
	}
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return 0, fmt.Errorf("storage: build indexes: %w", err)
	}
	return n, nil
}

// eachSession calls fn with every session record, in ID order.
func eachSession(ctx context.Context, txn *badger.Txn, fn func(*Session) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("s/"), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		var sess Session
		if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &sess) }); err != nil {
			return fmt.Errorf("session %s: %w", it.Item().Key(), err)
		}
		if err := fn(&sess); err != nil {
			return err
		}
	}
	return nil
}

// indexEditedTerms writes the search terms of what no session's inputs
// hold: platform IDs and values set by a profile edit or an identify
// (profile.go).
func indexEditedTerms(ctx context.Context, txn *badger.Txn, w kvWriter) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("v/"), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		var v Visitor
		if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
			return fmt.Errorf("visitor %s: %w", it.Item().Key(), err)
		}
		if v.PlatformID == "" && v.ProfileAt.IsZero() {
			continue
		}
		if err := indexVisitorTerms(w, &v); err != nil {
			return err
		}
	}
	return nil
}
