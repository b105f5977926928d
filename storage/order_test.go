package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// TestRecordTurn_OrderBySequence: a clock that steps back (an NTP
// correction, a VM restored) must not reorder a session's messages: they
// stay in the order the turns were recorded, whatever their times say.
func TestRecordTurn_OrderBySequence(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := mustSession(t, s, storage.NewID(t0), t0)
	// The second turn's clock is an hour behind the first's, the third's a
	// millisecond behind the second's.
	times := []time.Time{t0.Add(time.Minute), t0.Add(-time.Hour), t0.Add(-time.Hour - time.Millisecond)}
	var want []string
	for i, at := range times {
		text := []string{"first", "second", "third"}[i]
		_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Messages: []storage.Message{
			{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: text},
			{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "re " + text},
		}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, text, "re "+text)
	}
	msgs, err := s.Messages(ctx, sess.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Text)
	}
	if len(got) != len(want) {
		t.Fatalf("messages = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("messages = %q, want %q (the order they were recorded in)", got, want)
		}
	}
	// The times are kept as the clock gave them.
	if !msgs[2].At.Equal(times[1]) {
		t.Errorf("second turn's time = %v, want %v", msgs[2].At, times[1])
	}
}
