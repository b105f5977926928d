package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/parley-chat/parley/storage"
)

// TestOutbox_BadKeys: a key no entry of this engine has (not a seq) is
// refused with ErrNotFound, and nothing is logged.
func TestOutbox_BadKeys(t *testing.T) {
	st := lifecycleStore(t)
	ctx := context.Background()
	for _, key := range []string{"zz", "-1", "1.5", "\x00\x00\x00\x00\x00\x00\x00\x01"} {
		if _, err := st.Outbox(ctx, "demo/a", key, 10); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Outbox after %q: %v, want ErrNotFound", key, err)
		}
		e := &storage.OutboxEntry{Endpoint: "demo/a", Key: key}
		if err := st.OutboxDone(ctx, e, &storage.Attempt{Outcome: storage.OutcomeDelivered}, nil); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("OutboxDone of %q: %v, want ErrNotFound", key, err)
		}
	}
	if log, err := st.DeliveryLog(ctx, "demo/a", 10); err != nil || len(log) != 0 {
		t.Errorf("log: %v, %v; want nothing logged", log, err)
	}
}
