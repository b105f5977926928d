package postgres_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// lifecycleEngine is the PostgreSQL engine as the lifecycle suite sees
// it: the store with its files, and a dump of every row of every table.
type lifecycleEngine struct {
	*postgres.Store
	files *postgres.Files
	url   string
}

func (e lifecycleEngine) PutFile(ctx context.Context, f *storage.File, r io.Reader) error {
	return e.files.Put(ctx, f, r, storage.Quota{})
}

func (e lifecycleEngine) File(ctx context.Context, id string) (*storage.File, error) {
	return e.files.File(ctx, id)
}

// Dump returns every row of every table, keyed table/n, its values as
// text (bytes as they are, so a file's content is searched too).
func (e lifecycleEngine) Dump(tb testing.TB) map[string]string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, table := range tables {
		rows, _ := conn.Query(ctx, `SELECT * FROM `+pgx.Identifier{table}.Sanitize())
		n := 0
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				tb.Fatal(err)
			}
			var b strings.Builder
			for _, v := range vals {
				if raw, ok := v.([]byte); ok {
					b.Write(raw)
				} else {
					fmt.Fprint(&b, v)
				}
				b.WriteByte('|')
			}
			out[fmt.Sprintf("%s/%d", table, n)] = b.String()
			n++
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

func TestContract_Lifecycle(t *testing.T) {
	contract.TestLifecycle(t, func(tb testing.TB) contract.LifecycleEngine {
		url := postgrestest.URL(tb)
		s, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return lifecycleEngine{Store: s, files: postgres.NewFiles(s), url: url}
	})
}
