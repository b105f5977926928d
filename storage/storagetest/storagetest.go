// Package storagetest helps the tests of other packages look at what a
// storage.Store holds, through its public Scan.
package storagetest

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/storage"
)

// Dump returns every key of the store under prefix ("" for all) with its
// value.
func Dump(tb testing.TB, st *storage.Store, prefix string) map[string][]byte {
	tb.Helper()
	all := map[string][]byte{}
	err := st.Scan(context.Background(), prefix, func(k string, v []byte) error {
		all[k] = append([]byte(nil), v...)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return all
}

// FunnelCounter reports whether k is one of the funnel's counters (uf/,
// uh/: storage/funnel_counts.go). Each kind of writer keeps its own shard
// of a counter, so two stores holding the same sessions may hold their
// counts under other keys: compare stores without them; Verify checks
// their sums against the sessions.
func FunnelCounter(k string) bool { return strings.HasPrefix(k, "uf/") || strings.HasPrefix(k, "uh/") }

// CountKeys counts the store's keys under each of prefixes; a prefix with
// no keys is left out of the map.
func CountKeys(tb testing.TB, st *storage.Store, prefixes ...string) map[string]int {
	tb.Helper()
	got := map[string]int{}
	err := st.Scan(context.Background(), "", func(k string, _ []byte) error {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				got[p]++
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// NotPrivate lists what is inside dir (dir itself aside) that is not 0600
// for a file or 0700 for a directory, with its mode, and counts the files:
// what a data directory must never hold (README, --data).
func NotPrivate(tb testing.TB, dir string) (wrong []string, files int) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if info.Mode().Perm() != want {
			wrong = append(wrong, p+" "+info.Mode().Perm().String())
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return wrong, files
}
