package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// The PostgreSQL file store serves uploads as the Badger one does.
var _ fileupload.Store = (*postgres.Files)(nil)

// pgFiles is the PostgreSQL engine as the files suite sees it, with a
// connection of its own to look at the tables.
type pgFiles struct {
	*postgres.Files
	st   *postgres.Store
	conn *pgx.Conn
}

func (p pgFiles) CreateVisitor(ctx context.Context, v *storage.Visitor) error {
	return p.st.CreateVisitor(ctx, v)
}

func (p pgFiles) VisitorFiles(ctx context.Context, visitorID string) ([]*storage.File, error) {
	return p.st.VisitorFiles(ctx, visitorID)
}

func (p pgFiles) StoredFiles(tb testing.TB) (records, chunks int) {
	tb.Helper()
	err := p.conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM file_chunks)`).Scan(&records, &chunks)
	if err != nil {
		tb.Fatal(err)
	}
	return records, chunks
}

func (p pgFiles) WriteOrphan(tb testing.TB, id string, n int) {
	tb.Helper()
	_, err := p.conn.Exec(context.Background(), `INSERT INTO file_chunks (file_id, n, data) SELECT $1, g, 'chunk' FROM generate_series(0, $2 - 1) g`, id, n)
	if err != nil {
		tb.Fatal(err)
	}
}

// openFiles opens a store on a database of its own and returns it with
// its files and a connection for looking at the tables.
func openFiles(tb testing.TB) pgFiles {
	tb.Helper()
	return openFilesWith(tb, postgres.Options{})
}

// openFilesWith is openFiles with options.
func openFilesWith(tb testing.TB, opts postgres.Options) pgFiles {
	tb.Helper()
	ctx := context.Background()
	url := postgrestest.URL(tb)
	st, err := postgres.Open(ctx, url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return pgFiles{postgres.NewFiles(st), st, conn}
}

func TestFilesContract(t *testing.T) {
	contract.TestFiles(t, func(tb testing.TB) contract.FilesEngine { return openFiles(tb) })
}
