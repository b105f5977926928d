package postgres

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestRows_RoundTrip: a visitor and a session, every field set, read back
// equal to what was written (times at Precision).
func TestRows_RoundTrip(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, postgrestest.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 12, 6, 10, 0, 0, 123456789, time.UTC)
	v := &storage.Visitor{
		ID: storage.NewID(at), Site: "shop", Channel: "web",
		Device:    storage.Device{OS: "Linux", Browser: "Chrome", Mobile: true},
		CreatedAt: at, LastSeenAt: at.Add(time.Minute), LastInteractionAt: at.Add(2 * time.Second),
		Name: "Ada", Email: "ada@example.com", Contact: "ada@example.com", LastMessage: "hi",
		Variables:     map[string]string{"name": "Ada"},
		LastSentiment: &storage.Sentiment{Label: "positive", Score: 0.6, At: at},
		PlatformID:    "u-1", Notes: "vip", ProfileAt: at,
	}
	if err := st.CreateVisitor(ctx, v); err != nil {
		t.Fatal(err)
	}
	got, err := st.Visitor(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *v
	want.CreatedAt, want.LastSeenAt, want.LastInteractionAt, want.ProfileAt = utc(at), utc(v.LastSeenAt), utc(v.LastInteractionAt), utc(at)
	want.LastSentiment = &storage.Sentiment{Label: "positive", Score: 0.6, At: at} // JSON keeps nanoseconds
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("visitor:\n got %+v\nwant %+v", got, &want)
	}

	// A rewrite replaces the row whole.
	v.Name, v.Erasing = "Ada L.", true
	if err := putVisitor(ctx, st.pool, v); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Visitor(ctx, v.ID); err != nil || got.Name != "Ada L." || !got.Erasing {
		t.Errorf("visitor after putVisitor: %+v, %v", got, err)
	}
	if err := st.CreateVisitor(ctx, v); !errors.Is(err, storage.ErrExists) {
		t.Errorf("CreateVisitor of a taken ID: %v, want ErrExists", err)
	}

	sess := &storage.Session{
		ID: storage.NewID(at), Site: "shop", VisitorID: v.ID, Bot: "sales", Version: "3", Channel: "web",
		Device: v.Device, Page: "/pricing", Lang: "de", Locale: "de-ch", Type: "lead",
		StartedAt: utc(at), LastActivityAt: utc(at.Add(time.Minute)), LastInputAt: utc(at),
		MessageCount: 4, LastMessageID: "01J0000000000000000000000Z",
		Engaged: true, HasInputs: true, HasResponses: true,
		Files: []storage.FileRef{{ID: "f1", Name: "a.pdf", Size: 3, Type: "application/pdf", At: at}},
		State: storage.State{
			Current: "b2", Previous: "b1", Pending: "b2",
			Variables: map[string]string{"email": "ada@example.com"}, HostVariables: map[string]string{"plan": "pro"},
			Goals: []string{"lead"}, Tags: []string{"hot"}, Reached: []string{"b1", "b2"},
			LastMessageContent: "hi", LastMessageType: "text",
			Sentiment:       &storage.SessionSentiment{Label: "positive", Mean: 0.5, Min: 0.4, Scored: 2},
			UnansweredCount: 1,
			Handover:        &storage.Handover{Status: storage.HandoverWaiting, WaitingSince: at},
		},
		Inputs: []storage.Input{{Block: "b2", Variable: "email", Kind: "email", Value: "ada@example.com", At: utc(at)}},
		Gaps:   []storage.Gap{{At: utc(at), Text: "pricing?"}},
	}
	if err := putSession(ctx, st.pool, sess, 100); err != nil {
		t.Fatal(err)
	}
	if err := appendInputs(ctx, st.pool, sess.ID, 0, sess.Inputs); err != nil {
		t.Fatal(err)
	}
	if err := loadGaps(ctx, st.pool, sess); err != nil {
		t.Fatal(err)
	}
	gotSess, err := st.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotSess, sess) {
		t.Errorf("session:\n got %+v\nwant %+v", gotSess, sess)
	}
	if _, err := st.Session(ctx, "nope"); err == nil || !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
}
