package storage_test

import (
	"context"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/storagetest"
)

// badgerFiles is the Badger engine as the files suite sees it.
type badgerFiles struct {
	*storage.Files
	st *storage.Store
}

func (b badgerFiles) CreateVisitor(ctx context.Context, v *storage.Visitor) error {
	return b.st.CreateVisitor(ctx, v)
}

func (b badgerFiles) VisitorFiles(ctx context.Context, visitorID string) ([]*storage.File, error) {
	return b.st.VisitorFiles(ctx, visitorID)
}

// StoredFiles counts the f/ records and fc/ chunks, and checks that each
// record has its visitor's index entry (vf/), written with it.
func (b badgerFiles) StoredFiles(tb testing.TB) (records, chunks int) {
	tb.Helper()
	keys := storagetest.CountKeys(tb, b.st, "f/", "fc/", "vf/")
	if keys["vf/"] != keys["f/"] {
		tb.Errorf("%d file records but %d visitor index entries", keys["f/"], keys["vf/"])
	}
	return keys["f/"], keys["fc/"]
}

func (b badgerFiles) WriteOrphan(tb testing.TB, id string, n int) {
	tb.Helper()
	err := b.st.DB().Update(func(txn *badger.Txn) error {
		for i := range n {
			if err := txn.Set(append([]byte("fc/"+id+"/"), 0, 0, 0, byte(i)), []byte("chunk")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func TestFilesContract(t *testing.T) {
	contract.TestFiles(t, func(tb testing.TB) contract.FilesEngine {
		s, err := storage.Open(tb.TempDir(), storage.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return badgerFiles{storage.NewFiles(s), s}
	})
}
