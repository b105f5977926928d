package storage_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/storagetest"
)

// checkPrivate fails for every file under dir (dir itself aside) that is
// not 0600 and every directory that is not 0700, and counts the files.
func checkPrivate(tb testing.TB, dir string) (files int) {
	tb.Helper()
	wrong, files := storagetest.NotPrivate(tb, dir)
	for _, w := range wrong {
		tb.Errorf("not private: %s", w)
	}
	return files
}

func TestOpen_PrivateFiles(t *testing.T) {
	// A data directory someone else made 0755: Badger's files in it
	// (manifest, key registry, memtables, tables, value logs, lock) are
	// still 0600.
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the test's umask
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A file's chunks go to the value log, records to the tree.
	now := time.Now()
	f := &storage.File{ID: storage.NewID(now), Site: "demo", VisitorID: storage.NewID(now), SessionID: storage.NewID(now), Name: "a.bin", Type: "application/octet-stream", UploadedAt: now}
	if err := st.CreateVisitor(context.Background(), &storage.Visitor{ID: f.VisitorID, Site: "demo", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := storage.NewFiles(st).Put(context.Background(), f, bytes.NewReader(make([]byte, 600<<10)), storage.Quota{Files: -1, Bytes: -1}); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().Flatten(1); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, dir)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if n := checkPrivate(t, dir); n < 4 {
		t.Errorf("only %d files in the store", n)
	}
}
