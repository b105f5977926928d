package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/storage/storagetest"
)

func openBadger(tb testing.TB) *storage.Store {
	tb.Helper()
	st, err := storage.Open(tb.TempDir(), storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func openPostgres(tb testing.TB) *postgres.Store {
	tb.Helper()
	return openURL(tb, postgrestest.URL(tb))
}

// openURL opens a store on the database url names (a second store on one
// database is a second node), closed when the test ends.
func openURL(tb testing.TB, url string) *postgres.Store {
	tb.Helper()
	st, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// dumpAll is every record a store's stream yields.
func dumpAll(tb testing.TB, d storage.Dumper) ([]*storage.VisitorDump, *storage.StoreDump) {
	tb.Helper()
	var vs []*storage.VisitorDump
	err := d.DumpVisitors(context.Background(), "", func(v *storage.VisitorDump) error {
		vs = append(vs, v)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sd, err := d.DumpStore(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return vs, sd
}

// A Badger store copied into PostgreSQL and back: every record of the
// stream is the same on the way there and back, and the Badger store at
// the end holds the keys of the one at the start with the same values
// (records, indexes, counters).
func TestCopy_BadgerPostgresBadger(t *testing.T) {
	ctx := context.Background()
	src, pg, back := openBadger(t), openPostgres(t), openBadger(t)
	storagetest.Populate(t, src, storagetest.Fill{Visitors: 40, Seed: 7})

	r, err := storage.Copy(ctx, src, pg, "badger:src", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.To.Visitors == 0 || r.To.Sessions == 0 || r.To.Messages == 0 || r.To.Acks == 0 {
		t.Fatalf("copied %+v", r.To)
	}
	wantV, wantS := dumpAll(t, src)
	gotV, gotS := dumpAll(t, pg)
	if len(gotV) != len(wantV) {
		t.Fatalf("%d visitors in PostgreSQL, %d in Badger", len(gotV), len(wantV))
	}
	for i := range wantV {
		want, got := notYetInPostgres(*wantV[i]), notYetInPostgres(*gotV[i])
		if w, g := asJSON(t, &want), asJSON(t, &got); w != g {
			t.Errorf("visitor %s: %s", want.Visitor.ID, firstDiff(w, g))
		}
	}
	if !reflect.DeepEqual(wantS, gotS) {
		t.Errorf("counters:\nBadger   %+v\nPostgres %+v", wantS, gotS)
	}

	if _, err := storage.Copy(ctx, pg, back, "postgres:test", io.Discard); err != nil {
		t.Fatal(err)
	}
	a, b := storagetest.Dump(t, src, ""), storagetest.Dump(t, back, "")
	for k, va := range a {
		if strings.HasPrefix(k, "meta/") || storagetest.FunnelCounter(k) { // the counters: Verify checks them
			continue
		}
		if vb, ok := b[k]; !ok || !bytes.Equal(va, vb) {
			t.Errorf("%q: %s, back %s", k, va, vb)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && !strings.HasPrefix(k, "meta/") && !storagetest.FunnelCounter(k) {
			t.Errorf("%q only in the store copied back", k)
		}
	}
}

// notYetInPostgres is d without the times of markers the Badger engine
// does not keep (a timed-out session's).
func notYetInPostgres(d storage.VisitorDump) storage.VisitorDump {
	ss := make([]storage.SessionDump, len(d.Sessions))
	for i, s := range d.Sessions {
		s.TimedOutAt = time.Time{}
		ss[i] = s
	}
	d.Sessions = ss
	return d
}

// asJSON is v as indented JSON: records compare by what they hold, not
// by the engines' caches (unexported fields).
func asJSON(tb testing.TB, v any) string {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// firstDiff shows where two texts part, with a few lines around.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			from := max(0, i-4)
			return fmt.Sprintf("line %d:\nBadger:\n%s\nPostgreSQL:\n%s", i,
				strings.Join(la[from:min(len(la), i+3)], "\n"), strings.Join(lb[from:min(len(lb), i+3)], "\n"))
		}
	}
	return fmt.Sprintf("%d lines, %d lines", len(la), len(lb))
}

// A copy into PostgreSQL stopped half-way and run again is the same as
// one run; a database with other records is refused.
func TestCopy_PostgresResume(t *testing.T) {
	ctx := context.Background()
	src, pg := openBadger(t), openPostgres(t)
	storagetest.Populate(t, src, storagetest.Fill{Visitors: 12, Seed: 8})
	stop := &stopAfter{Dumper: src, n: 5}
	if _, err := storage.Copy(ctx, stop, pg, "badger:src", io.Discard); !errors.Is(err, errStopped) {
		t.Fatalf("first run: %v", err)
	}
	mark, empty, err := pg.CopyMark(ctx)
	if err != nil || empty || mark == nil || mark.Visitors != 5 || mark.Done {
		t.Fatalf("mark %+v, empty %v, %v", mark, empty, err)
	}
	r, err := storage.Copy(ctx, src, pg, "badger:src", io.Discard)
	if err != nil || !r.Resumed {
		t.Fatalf("%+v, %v", r, err)
	}
	wantV, _ := dumpAll(t, src)
	gotV, _ := dumpAll(t, pg)
	if len(wantV) != len(gotV) || r.Visitors != len(wantV)-5 {
		t.Fatalf("%d visitors, %d copied; %d by the second run", len(wantV), len(gotV), r.Visitors)
	}

	other := openPostgres(t)
	if _, err := storage.Copy(ctx, src, other, "badger:src", io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Copy(ctx, openBadgerWith(t, 2), other, "badger:elsewhere", io.Discard); !errors.Is(err, storage.ErrNotEmpty) {
		t.Fatalf("another source: %v", err)
	}
	_, empty, err = openPostgres(t).CopyMark(ctx)
	if err != nil || !empty {
		t.Fatalf("a new database: empty %v, %v", empty, err)
	}
}

func openBadgerWith(tb testing.TB, n int) *storage.Store {
	st := openBadger(tb)
	storagetest.Populate(tb, st, storagetest.Fill{Visitors: n, Seed: 9})
	return st
}

var errStopped = errors.New("stopped")

// stopAfter fails the dump after n visitors, as a kill would stop it.
type stopAfter struct {
	storage.Dumper
	n int
}

func (s *stopAfter) DumpVisitors(ctx context.Context, after string, fn func(*storage.VisitorDump) error) error {
	return s.Dumper.DumpVisitors(ctx, after, func(d *storage.VisitorDump) error {
		if s.n == 0 {
			return errStopped
		}
		s.n--
		return fn(d)
	})
}
