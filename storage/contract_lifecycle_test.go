package storage_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/storagetest"
)

// badgerLifecycle is the Badger engine as the lifecycle suite sees it:
// the store with its files, and a dump of its keys.
type badgerLifecycle struct {
	*storage.Store
	files *storage.Files
}

func (b badgerLifecycle) PutFile(ctx context.Context, f *storage.File, r io.Reader) error {
	return b.files.Put(ctx, f, r, storage.Quota{})
}

func (b badgerLifecycle) File(ctx context.Context, id string) (*storage.File, error) {
	return b.files.File(ctx, id)
}

// Dump leaves out the outbox's visitor index (wv/): its entries only
// point at outbox and log keys, which are dumped themselves.
func (b badgerLifecycle) Dump(tb testing.TB) map[string]string {
	out := map[string]string{}
	for k, v := range storagetest.Dump(tb, b.Store, "") {
		if !strings.HasPrefix(k, "wv/") {
			out[k] = string(v)
		}
	}
	return out
}

func TestLifecycle(t *testing.T) {
	contract.TestLifecycle(t, func(tb testing.TB) contract.LifecycleEngine {
		s, _ := MustOpen(tb)
		return badgerLifecycle{Store: s, files: storage.NewFiles(s)}
	})
}
