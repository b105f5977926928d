package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/parley-chat/parley/storage"
)

// rawRecord returns the stored bytes of key and the version that wrote them.
func rawRecord(tb testing.TB, s *storage.Store, k string) ([]byte, uint64) {
	tb.Helper()
	var b []byte
	var ver uint64
	err := s.DB().View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(k))
		if err != nil {
			return err
		}
		ver = item.Version()
		b, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		tb.Fatalf("%s: %v", k, err)
	}
	return b, ver
}

// setHost records a turn that sets the session's host variables to vars
// on top of cur, as the gateway does, and returns the session as stored.
func setHost(tb testing.TB, s *storage.Store, cur *storage.Session, vars map[string]string) *storage.Session {
	tb.Helper()
	st := cur.State
	st.HostVariables = maps.Clone(st.HostVariables)
	if st.HostVariables == nil {
		st.HostVariables = map[string]string{}
	}
	maps.Copy(st.HostVariables, vars)
	next, _, _, err := s.RecordTurn(context.Background(), &storage.Turn{SessionID: cur.ID, State: &st, Prev: cur})
	if err != nil {
		tb.Fatal(err)
	}
	return next
}

func TestHostVariables_OwnKeys(t *testing.T) {
	// A turn that sets host variables writes the values that changed under
	// hv/, and neither the session record nor the visitor again; every
	// reader still sees them in State.HostVariables.
	s, _ := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sess := mustSession(t, s, storage.NewID(t0), t0)
	sess, err := s.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	sess = setHost(t, s, sess, map[string]string{"plan": "pro", "seats": "12"})
	rec, recVer := rawRecord(t, s, "s/"+sess.ID)
	_, visVer := rawRecord(t, s, "v/"+sess.VisitorID)
	if bytes.Contains(rec, []byte("hostVariables")) {
		t.Fatalf("the session record carries the host variables: %s", rec)
	}
	_, seatsVer := rawRecord(t, s, "hv/"+sess.ID+"/seats")

	sess = setHost(t, s, sess, map[string]string{"plan": "team"})
	if _, v := rawRecord(t, s, "s/"+sess.ID); v != recVer {
		t.Fatal("a turn that only changed a host variable rewrote the session record")
	}
	if _, v := rawRecord(t, s, "v/"+sess.VisitorID); v != visVer {
		t.Fatal("a turn that only changed a host variable rewrote the visitor record")
	}
	if _, v := rawRecord(t, s, "hv/"+sess.ID+"/seats"); v != seatsVer {
		t.Fatal("an unchanged host variable was written again")
	}
	if b, _ := rawRecord(t, s, "hv/"+sess.ID+"/plan"); string(b) != "team" {
		t.Fatalf("hv plan = %q, want team", b)
	}

	want := map[string]string{"plan": "team", "seats": "12"}
	got, err := s.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.State.HostVariables, want) {
		t.Fatalf("Session: host variables %v, want %v", got.State.HostVariables, want)
	}
	if latest, err := s.LatestSession(ctx, sess.VisitorID); err != nil || !maps.Equal(latest.State.HostVariables, want) {
		t.Fatalf("LatestSession: %v, %v", latest, err)
	}
	// A later turn with messages keeps them and does not write them again.
	_, _, _, err = s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, Text: "hi", At: t0.Add(time.Minute)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, v := rawRecord(t, s, "hv/"+sess.ID+"/seats"); v != seatsVer {
		t.Fatal("a text turn wrote the host variables again")
	}

	var export bytes.Buffer
	if err := s.WriteExport(ctx, &export, sess.VisitorID, t0, nil); err != nil {
		t.Fatal(err)
	}
	if e := export.String(); !strings.Contains(e, `"plan": "team"`) || !strings.Contains(e, `"seats": "12"`) {
		t.Fatalf("the export lacks the host variables:\n%s", export.String())
	}

	// An orphan host variable is a problem Verify names; the store so far has none.
	r, err := s.Verify(ctx)
	if err != nil || len(r.Problems) != 0 {
		t.Fatalf("verify: %v, %v", r.Problems, err)
	}
	if err := s.DB().Update(func(txn *badger.Txn) error { return txn.Set([]byte("hv/gone/x"), []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	if r, err = s.Verify(ctx); err != nil || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "hv/gone/x") {
		t.Fatalf("verify with an orphan host variable: %v, %v", r.Problems, err)
	}
	if err := s.DB().Update(func(txn *badger.Txn) error { return txn.Delete([]byte("hv/gone/x")) }); err != nil {
		t.Fatal(err)
	}

	// Erasing the visitor leaves no host variable behind.
	if _, err := s.EraseVisitor(ctx, sess.VisitorID); err != nil {
		t.Fatal(err)
	}
	err = s.DB().View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("hv/")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			t.Errorf("erase left %s", it.Item().Key())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHostVariables_RecordsWrittenBefore(t *testing.T) {
	// A session record that still carries its host variables in its JSON
	// (as before they had keys of their own) reads the same, and its next
	// turn moves them to their keys, losing none.
	s, _ := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sess := mustSession(t, s, storage.NewID(t0), t0)
	sess.State.HostVariables = map[string]string{"plan": "pro", "ref": "ad"}
	old, err := json.Marshal(sess)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Update(func(txn *badger.Txn) error { return txn.Set([]byte("s/"+sess.ID), old) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.State.HostVariables, sess.State.HostVariables) {
		t.Fatalf("read %v, want %v", got.State.HostVariables, sess.State.HostVariables)
	}
	setHost(t, s, got, map[string]string{"seats": "3"})
	if rec, _ := rawRecord(t, s, "s/"+sess.ID); bytes.Contains(rec, []byte("hostVariables")) {
		t.Fatalf("the record still carries host variables: %s", rec)
	}
	want := map[string]string{"plan": "pro", "ref": "ad", "seats": "3"}
	if got, err = s.Session(ctx, sess.ID); err != nil || !maps.Equal(got.State.HostVariables, want) {
		t.Fatalf("after the turn: %v, %v; want %v", got.State.HostVariables, err, want)
	}
	if b, _ := rawRecord(t, s, "hv/"+sess.ID+"/ref"); string(b) != "ad" {
		t.Fatalf("hv ref = %q, want the value moved from the record", b)
	}
}
