package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// TestEraseVisitor_Gaps: a visitor's unanswered texts leave the Knowledge
// gaps report, its index and its sentiment with the visitor, and another
// visitor's stay.
func TestEraseVisitor_Gaps(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	say := func(sess *storage.Session, text string) {
		t.Helper()
		st := sess.State
		m := storage.Message{From: storage.FromVisitor, Kind: storage.KindText, At: sess.StartedAt.Add(1e9), Text: text, ClientID: "c1"}
		st.Sentiment = &storage.SessionSentiment{Label: storage.SentimentNegative, Scored: 1, Last: storage.Sentiment{Label: storage.SentimentNegative, Score: -0.6, At: m.At}}
		m.Sentiment = &storage.Sentiment{Label: storage.SentimentNegative, Score: -0.6}
		gaps := storage.Unanswered(&st, &m, 0)
		if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: "c1", Messages: []storage.Message{m}, State: &st, Gaps: gaps}); err != nil {
			t.Fatal(err)
		}
	}
	gone := mustSession(t, s, "01JGONEAAAAAAAAAAAAAAAAAAA", lcDay)
	kept := mustSession(t, s, "01JKEPTAAAAAAAAAAAAAAAAAAA", lcDay.Add(1e9))
	say(gone, "Where is my refund???")
	say(kept, "pricing?")
	rep, err := s.Gaps(ctx, storage.GapQuery{})
	if err != nil || rep.Texts != 2 {
		t.Fatalf("before: %+v, %v", rep, err)
	}
	if _, err := s.EraseVisitor(ctx, gone.VisitorID); err != nil {
		t.Fatal(err)
	}
	rep, err = s.Gaps(ctx, storage.GapQuery{})
	if err != nil || rep.Texts != 1 || rep.Items[0].Key != "pricing" {
		t.Errorf("after: %+v, %v; want only the other visitor's question", rep, err)
	}
	for k, v := range dumpStore(t, s) {
		if strings.Contains(k, gone.ID) || strings.Contains(string(v), "refund") {
			t.Errorf("key %q (%.60q) survived the erase", k, v)
		}
	}
	p, err := s.Sessions(ctx, storage.SessionQuery{Unanswered: true, Sentiment: storage.SentimentNegative})
	if err != nil || len(p.Items) != 1 || p.Items[0].Session.ID != kept.ID {
		t.Errorf("dashboard after erase: %+v, %v", p, err)
	}
	assertSound(t, s)
}

// TestIdentify_MergeKeepsLatestSentiment: when a browser's visitor is
// merged into its user's, the user keeps the later of the two latest
// sentiments.
func TestIdentify_MergeKeepsLatestSentiment(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	feel := func(vid string, at time.Time, label string) {
		t.Helper()
		sess := mustSession(t, s, vid, at)
		st := sess.State
		st.Sentiment = &storage.SessionSentiment{Label: label, Scored: 1, Last: storage.Sentiment{Label: label, Score: 0.5, At: at.Add(time.Second)}}
		if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &st, Touch: at.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	const user, browser = "01JUSERAAAAAAAAAAAAAAAAAAA", "01JBROWSERAAAAAAAAAAAAAAAA"
	feel(user, lcDay, storage.SentimentNegative)
	feel(browser, lcDay.Add(time.Hour), storage.SentimentPositive)
	for _, vid := range []string{user, browser} {
		if _, err := s.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: vid, UserID: "crm-7",
			Profile: storage.ProfileEdit{By: storage.ByIdentify, At: lcDay.Add(2 * time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	into, err := s.PlatformVisitor(ctx, "demo", "crm-7")
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Visitor(ctx, into)
	if err != nil {
		t.Fatal(err)
	}
	if v.LastSentiment == nil || v.LastSentiment.Label != storage.SentimentPositive {
		t.Errorf("merged visitor's latest sentiment %+v, want the browser's later positive one", v.LastSentiment)
	}
}
