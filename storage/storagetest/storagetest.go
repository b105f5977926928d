// Package storagetest helps the tests of other packages look at what a
// storage.Store holds, through its public Scan.
package storagetest

import (
	"context"
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
