package postgres_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// mustOpenTurn opens a store on a database of the test's own.
func mustOpenTurn(tb testing.TB) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	// After each test, parley check finds nothing wrong.
	tb.Cleanup(func() {
		r, err := s.Verify(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, p := range r.Problems {
			tb.Errorf("verify: %s", p)
		}
	})
	return s
}

func TestContract_Turn(t *testing.T) {
	contract.TestTurn(t, func(tb testing.TB) contract.TurnEngine { return mustOpenTurn(tb) })
}

func TestContract_OutboxWrite(t *testing.T) {
	contract.TestOutboxWrite(t, func(tb testing.TB) (contract.OutboxWriteEngine, contract.OutboxReader) {
		url := postgrestest.URL(tb)
		s, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s, func(ctx context.Context, ep string) ([]storage.OutboxEntry, error) { return readOutbox(ctx, url, ep) }
	})
}

// readOutbox reads the events waiting for the endpoint from the table, in
// seq order (the engine's Outbox is the delivery side's).
func readOutbox(ctx context.Context, url, ep string) ([]storage.OutboxEntry, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT seq, event_id, type, lane, visitor_id, at, body FROM webhook_outbox WHERE endpoint = $1 ORDER BY seq`, ep)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.OutboxEntry, error) {
		e := storage.OutboxEntry{Endpoint: ep}
		var seq int64
		err := row.Scan(&seq, &e.ID, &e.Type, &e.Lane, &e.Visitor, &e.At, &e.Body)
		e.Key = strconv.FormatInt(seq, 10)
		return e, err
	})
}

func TestContract_Usage(t *testing.T) {
	contract.TestUsage(t, func(tb testing.TB) contract.UsageEngine { return mustOpenTurn(tb) })
}

// TestUsage_RefusedAcrossClose: refusals still counted in memory are
// stored by Close and reported by the next store on the database.
func TestUsage_RefusedAcrossClose(t *testing.T) {
	url := postgrestest.URL(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for range 3 {
		s.CountRefused(storage.Refusal{Site: "demo", Bot: "demo", Version: "1", Channel: "web", Reason: "visitors_per_ip", At: day.Add(time.Hour)})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Usage(ctx, storage.UsageQuery{From: day, To: day.AddDate(0, 0, 1)})
	if err != nil || r.Refused != 3 {
		t.Fatalf("refused after a restart: %+v, %v; want 3", r, err)
	}
}
