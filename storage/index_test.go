package storage

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// funnelSums takes the funnel's counters out of a dump of keys and
// returns their counts, the shards of each cell summed.
func funnelSums(tb testing.TB, dump map[string]string) funnelTally {
	tb.Helper()
	sums := funnelTally{}
	for k, v := range dump {
		c, ok := parseFunnelKey([]byte(k))
		if !ok {
			continue
		}
		delete(dump, k)
		if sums[c] == nil {
			sums[c] = map[string]int64{}
		}
		if err := decodeFunnelCounts([]byte(v), sums[c]); err != nil {
			tb.Fatalf("%q: %v", k, err)
		}
	}
	return sums
}

// dumpKeys returns every key and value of the store whose key starts with one
// of the prefixes (all keys when none is given).
func dumpKeys(tb testing.TB, s *Store, prefixes ...string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := s.DB().View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := string(it.Item().KeyCopy(nil))
			if len(prefixes) > 0 && !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[k] = string(v)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestIndex_NoStaleEntries checks that after many turns the indexes hold
// exactly the entries of the sessions' final records: every turn moved
// them, none was left behind.
func TestIndex_NoStaleEntries(t *testing.T) {
	f := randomFixture(t, 3, 40, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	want := map[string]string{}
	mw := mapWriter(want)
	for _, s := range f.sessions {
		if err := indexSession(mw, nil, s); err != nil {
			t.Fatal(err)
		}
	}
	got := dumpKeys(t, f.s, "ia/", "iv/", "is/", "iq/", "iu/")
	if !maps.Equal(got, want) {
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("stale entry %q", k)
			}
		}
		for k := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("missing entry %q", k)
			}
		}
	}
}

type mapWriter map[string]string

func (m mapWriter) Set(k, v []byte) error { m[string(k)] = string(v); return nil }
func (m mapWriter) Delete(k []byte) error { delete(m, string(k)); return nil }

// TestBulk_MatchesWritePath loads the same visitors through CreateSession
// and RecordTurn in one store and through Bulk in another, and compares
// every key and value.
func TestBulk_MatchesWritePath(t *testing.T) {
	slow, fast := openQueryStore(t), openQueryStore(t)
	ctx := context.Background()
	bulk := fast.NewBulk()
	start := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	pool := []act{actChoice, actFile, actText, actInput("email", "email", "x@example.org"), actInput("text", "full_name", "Bo Li")}
	for i := range 25 {
		id := fmt.Sprintf("01JBBBBBBBBBBBBBBBBBBBBB%02d", i)
		v1, v2 := newVisitor(id, start), newVisitor(id, start)
		var sessions []BulkSession
		for j := range 1 + i%3 {
			sp := sessionSpec{start: start.Add(time.Duration(i*50+j*7) * time.Hour), acts: pool[:(i+j)%len(pool)]}
			if j == 1 {
				sp.goals, sp.tags, sp.reached = []string{"lead"}, []string{"vip"}, []string{"ask_name"}
			}
			s1 := newSession(v1, sp)
			s2 := *s1
			if err := slow.CreateSession(ctx, v1, s1); err != nil {
				t.Fatal(err)
			}
			turns := sessionTurns(s1, sp)
			for _, tr := range turns {
				cp := *tr
				cp.Messages = slices.Clone(tr.Messages)
				if _, _, _, err := slow.RecordTurn(ctx, &cp); err != nil {
					t.Fatal(err)
				}
			}
			sessions = append(sessions, BulkSession{Session: &s2, Turns: turns})
		}
		if err := bulk.Add(v2, sessions); err != nil {
			t.Fatal(err)
		}
	}
	if err := bulk.Close(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := dumpKeys(t, slow), dumpKeys(t, fast)
	// The funnel's counters are in the start's and the fold's shards on
	// the write path, all in the start's in bulk: their sums agree.
	if fa, fb := funnelSums(t, a), funnelSums(t, b); !reflect.DeepEqual(fa, fb) {
		t.Errorf("funnel counters:\n write path %v\n bulk       %v", fa, fb)
	}
	if len(a) != len(b) {
		t.Errorf("write path has %d keys, bulk %d", len(a), len(b))
	}
	for k, v := range a {
		if w, ok := b[k]; !ok {
			t.Errorf("bulk misses %q", k)
		} else if !bytes.Equal([]byte(v), []byte(w)) {
			t.Errorf("%q differs:\n write path %s\n bulk       %s", k, v, w)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Errorf("bulk has extra %q", k)
		}
	}
}

// TestIndex_Build drops the indexes (as in a store written before them),
// leaves a stale entry, and checks that BuildIndexes writes back exactly
// what the write path had written, once.
func TestIndex_Build(t *testing.T) {
	f := randomFixture(t, 5, 30, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	if n, err := f.s.BuildIndexes(ctx); err != nil || n != len(f.sessions) {
		t.Fatalf("first build on a store without the marker: %d, %v", n, err)
	}
	// Search terms no session holds: a platform ID and an edited name.
	ids := slices.Sorted(maps.Keys(f.visitors))
	if _, err := f.s.Identify(ctx, IdentifyRequest{Site: "demo", VisitorID: ids[0], UserID: "crm-build", Profile: ProfileEdit{By: ByIdentify, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	name := "Zora Quill"
	if _, err := f.s.EditProfile(ctx, ids[1], ProfileEdit{Name: &name, By: "admin", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	want := dumpKeys(t, f.s, "ia/", "iv/", "is/", "iq/", "iu/")
	if err := f.s.db.DropPrefix([]byte("ia/"), []byte("iv/"), []byte("is/"), []byte("iu/"), []byte("meta/indexes")); err != nil {
		t.Fatal(err)
	}
	if err := f.s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("ia/0/stale"), nil) }); err != nil {
		t.Fatal(err)
	}
	n, err := f.s.BuildIndexes(ctx)
	if err != nil || n != len(f.sessions) {
		t.Fatalf("rebuild: %d sessions, %v; want %d", n, err, len(f.sessions))
	}
	if got := dumpKeys(t, f.s, "ia/", "iv/", "is/", "iq/", "iu/"); !maps.Equal(got, want) {
		t.Errorf("rebuilt %d entries, want %d", len(got), len(want))
	}
	if n, err := f.s.BuildIndexes(ctx); n != 0 || err != nil {
		t.Errorf("second build: %d, %v; want nothing to do", n, err)
	}
}

// TestSameFacets checks the shortcut that lets most turns skip the facet
// index: it may say "same" only when the facet entries are the same, and
// every change of a field the entries depend on must be seen.
func TestSameFacets(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	base := Session{
		ID: "S1", Site: "demo", VisitorID: "V1", Bot: "demo", Version: "1", Channel: "web",
		StartedAt: at, LastActivityAt: at, HasResponses: true,
		State: State{Goals: []string{"lead"}, Tags: []string{"pricing"}, Reached: []string{"welcome", "menu"}},
	}
	changes := map[string]func(s *Session){
		"started":   func(s *Session) { s.StartedAt = at.Add(time.Second) },
		"responses": func(s *Session) { s.HasResponses = false },
		"visitor":   func(s *Session) { s.VisitorID = "V2" },
		"site":      func(s *Session) { s.Site = "other" },
		"channel":   func(s *Session) { s.Channel = "app" },
		"bot":       func(s *Session) { s.Bot = "sales" },
		"version":   func(s *Session) { s.Version = "2" },
		"goal":      func(s *Session) { s.State.Goals = append(slices.Clone(s.State.Goals), "demo") },
		"tag":       func(s *Session) { s.State.Tags = nil },
		"block":     func(s *Session) { s.State.Reached = append(slices.Clone(s.State.Reached), "bye") },
		"sentiment": func(s *Session) { s.State.Sentiment = &SessionSentiment{Label: SentimentNegative} },
		"unanswer":  func(s *Session) { s.State.UnansweredCount = 1 },
	}
	entries := func(s *Session) string {
		var b strings.Builder
		for _, f := range s.facets() {
			fmt.Fprintf(&b, "%q=%q\n", startKey(f, s), startValue(s))
		}
		return b.String()
	}
	for name, change := range changes {
		next := base
		change(&next)
		if sameFacets(&base, &next) {
			t.Errorf("%s changed, sameFacets says the facets are the same", name)
		}
		if entries(&base) == entries(&next) {
			t.Errorf("%s: the test's change does not move any facet entry", name)
		}
	}
	// What a plain turn changes leaves the facets alone.
	next := base
	next.LastActivityAt = at.Add(time.Minute)
	next.MessageCount = 9
	next.State.Current = "fallback"
	next.State.Goals = slices.Clone(base.State.Goals)
	if !sameFacets(&base, &next) || entries(&base) != entries(&next) {
		t.Error("a turn that changed no facet: sameFacets should say same")
	}
}
