package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestStore_Verify: a store written by the turn path has no problems;
// rows that disagree (a session without its visitor, a message count off,
// a message or input without its session, an ack naming another message,
// a client ID stored twice) are each reported.
func TestStore_Verify(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, postgrestest.URL(t), Options{})
	sessions := startSessions(t, s, 4)
	for i, sess := range sessions {
		next, _, _, err := s.RecordTurn(ctx, textTurn(sess, "c1", t0.Add(time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		sessions[i] = next
	}
	r, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Visitors != 4 || r.Sessions != 4 || r.Messages != 8 || r.Acks != 4 || len(r.Problems) != 0 {
		t.Fatalf("sound store: %+v", r)
	}

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := s.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`DELETE FROM visitors WHERE id = $1`, sessions[0].VisitorID)
	exec(`UPDATE sessions SET message_count = 7 WHERE id = $1`, sessions[1].ID)
	exec(`INSERT INTO inputs (session_id, n, block, variable, kind, value, at) VALUES ('gone', 0, 'b', 'v', 'text', 'x', now())`)
	exec(`UPDATE acks SET message_id = 'other' WHERE session_id = $1`, sessions[2].ID)
	exec(`INSERT INTO messages (session_id, id, sender, kind, at, client_id) VALUES ($1, 'zz', 'visitor', 'text', now(), 'c1')`, sessions[3].ID)

	r, err = s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(r.Problems, "\n")
	for _, want := range []string{
		"session " + sessions[0].ID + ": visitor " + sessions[0].VisitorID + " has no record",
		"session " + sessions[1].ID + ": message count 7",
		"input gone/0: no session",
		"ack " + sessions[2].ID + "/c1: names message other",
		"client ID " + sessions[3].ID + "/c1: 2 messages",
		"session " + sessions[3].ID + ": message count 2, last message " + sessions[3].LastMessageID + "; its messages: 3, last zz",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}
