package contract

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// GapsEngine is what the Knowledge gaps suite writes and reads: the
// writers of unanswered texts (a session's start with its opening, its
// turns, erase) and parley check's Verify, which compares an engine's
// counters with the texts.
type GapsEngine interface {
	StartSession(ctx context.Context, v *storage.Visitor, sess *storage.Session, opening *storage.Turn) error
	RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error)
	Session(ctx context.Context, id string) (*storage.Session, error)
	EraseVisitor(ctx context.Context, id string) (storage.EraseResult, error)
	Gaps(ctx context.Context, q storage.GapQuery) (*storage.GapReport, error)
	Verify(ctx context.Context) (*storage.VerifyReport, error)
}

// TestGaps runs the Knowledge gaps suite: over periods that start and end
// anywhere in a day (at a text's own time, a nanosecond either side of
// it, open at either end), of every site and bot, with pages small enough
// that questions asked as often tie at their end, the report equals the
// model (WantGaps) over sessions that ask questions again and again, some
// of them days apart, before and after erasing some of the visitors; and
// Verify finds the engine's counters sound. open returns a new, empty
// engine, closed when the test ends.
func TestGaps(t *testing.T, open func(testing.TB) GapsEngine) {
	ctx := context.Background()
	e := open(t)
	r := rand.New(rand.NewPCG(18, 2))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const days = 6
	texts := []string{"Pricing?", "pricing", "PRICING!!", "Do you ship to Austria?", "ship to austria", "Kann ich bar zahlen?",
		"😡", "refund", "Refund?", "opening hours"}
	var all []*storage.Session
	var ats []time.Time // when texts were said
	visitors := map[string]bool{}
	for range 60 {
		start := t0.Add(time.Duration(r.Int64N(int64(days) * int64(24*time.Hour)))).Truncate(time.Microsecond)
		v := &storage.Visitor{ID: storage.NewID(start), Site: []string{"demo", "demo", "other"}[r.IntN(3)], Channel: "web", CreatedAt: start}
		visitors[v.ID] = true
		for range 1 + r.IntN(2) {
			sess := &storage.Session{ID: storage.NewID(start), Site: v.Site, VisitorID: v.ID, Bot: []string{"demo", "sales"}[r.IntN(2)],
				Version: "1", Channel: "web", StartedAt: start}
			st := storage.State{Current: "welcome", Reached: []string{"welcome"}}
			opening := &storage.Turn{State: &st}
			if r.IntN(4) == 0 {
				// A question in the opening: the start writes it.
				m := storage.Message{ID: storage.NewID(start), From: storage.FromVisitor, Kind: storage.KindText, At: start, Text: texts[r.IntN(len(texts))]}
				opening.Gaps = storage.Unanswered(&st, &m, 0)
				opening.Messages = []storage.Message{m}
				ats = append(ats, start)
			}
			if err := e.StartSession(ctx, v, sess, opening); err != nil {
				t.Fatal(err)
			}
			at := start
			for i := range 1 + r.IntN(6) {
				// Minutes apart, sometimes more than a day.
				step := time.Duration(1+r.IntN(90)) * time.Minute
				if r.IntN(6) == 0 {
					step = time.Duration(20+r.IntN(40)) * time.Hour
				}
				at = at.Add(step)
				st := sess.State
				text := texts[r.IntN(len(texts))]
				if len(sess.Gaps) > 0 && r.IntN(2) == 0 {
					text = sess.Gaps[r.IntN(len(sess.Gaps))].Text // asked again
				}
				m := storage.Message{ID: storage.NewID(at), From: storage.FromVisitor, Kind: storage.KindText, At: at,
					Text: text, ClientID: fmt.Sprint("c", i)}
				turn := &storage.Turn{SessionID: sess.ID, Prev: sess, ClientID: m.ClientID, Touch: at, State: &st,
					Gaps: storage.Unanswered(&st, &m, len(sess.Gaps)), Messages: []storage.Message{m}}
				next, _, _, err := e.RecordTurn(ctx, turn)
				if err != nil {
					t.Fatal(err)
				}
				sess = next
				ats = append(ats, at)
			}
			all = append(all, sess)
			start = start.Add(time.Duration(r.IntN(30*60)) * time.Minute)
		}
	}
	check := func(t *testing.T) {
		t.Helper()
		var sessions []*storage.Session
		for _, s := range all {
			got, err := e.Session(ctx, s.ID)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			sessions = append(sessions, got)
		}
		var queries []storage.GapQuery
		span := int64(days+3) * int64(24*time.Hour)
		for range 80 {
			q := storage.GapQuery{Limit: []int{1, 2, 3, 50}[r.IntN(4)]}
			from := t0.Add(time.Duration(r.Int64N(span)) - 24*time.Hour)
			switch r.IntN(5) {
			case 0: // open at the start
				q.To = from
			case 1: // open at the end
				q.From = from
			default:
				q.From, q.To = from, from.Add(time.Duration(1+r.Int64N(span/2)))
			}
			if r.IntN(3) == 0 {
				q.Site = []string{"demo", "other"}[r.IntN(2)]
			}
			if r.IntN(3) == 0 {
				q.Bot = []string{"demo", "sales"}[r.IntN(2)]
			}
			queries = append(queries, q)
		}
		// From at a text of a question its session asked more than an
		// hour before, and either side of it.
		for _, s := range sessions {
			for i, g := range s.Gaps {
				if !slices.ContainsFunc(s.Gaps[:i], func(e storage.Gap) bool {
					return storage.NormalizeGap(e.Text) == storage.NormalizeGap(g.Text) && g.At.Sub(e.At) > time.Hour
				}) {
					continue
				}
				for _, d := range []time.Duration{-time.Nanosecond, 0, time.Nanosecond} {
					queries = append(queries, storage.GapQuery{From: g.At.Add(d), To: g.At.Add(d + 48*time.Hour), Limit: 50},
						storage.GapQuery{From: g.At.Add(d), Bot: s.Bot})
				}
			}
		}
		for _, at := range ats[:12] {
			for _, d := range []time.Duration{-time.Nanosecond, 0, time.Nanosecond} {
				queries = append(queries, storage.GapQuery{From: at.Add(d), To: t0.AddDate(0, 0, days+3), Limit: 3},
					storage.GapQuery{From: at.Add(d - 36*time.Hour), To: at.Add(d), Limit: 2, Site: "demo"})
			}
		}
		queries = append(queries, storage.GapQuery{}, storage.GapQuery{MaxScan: 7}, storage.GapQuery{MaxScan: 7, From: t0.AddDate(0, 0, 2)})
		compared := 0
		for _, q := range queries {
			got, err := e.Gaps(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got.Items == nil {
				got.Items = []storage.GapRow{}
			}
			want := WantGaps(sessions, q)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%+v:\n got %+v\nwant %+v", q, got, want)
			}
			if want.Texts > 0 {
				compared++
			}
		}
		if compared < len(queries)/2 {
			t.Fatalf("only %d of %d periods have texts: the model compares little", compared, len(queries))
		}
		rep, err := e.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rep.Problems {
			t.Errorf("verify: %s", p)
		}
	}
	check(t)
	t.Run("Erased", func(t *testing.T) {
		n := 0
		for _, vid := range slices.Sorted(maps.Keys(visitors)) {
			if n++; n%4 != 0 {
				continue
			}
			if _, err := e.EraseVisitor(ctx, vid); err != nil {
				t.Fatal(err)
			}
		}
		check(t)
	})
}
