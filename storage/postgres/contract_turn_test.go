package postgres_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// mustOpen opens a store on a database of the test's own.
func mustOpenTurn(tb testing.TB) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
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
