//go:build unix

package server_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/webhook/webhooktest"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestCrash_SessionTimeout runs the real binary with a one-second session
// timeout and a sweep every 50 ms, leaves sessions idle and kills it with
// SIGKILL at random moments while the receiver refuses every
// session.ended, so the events are written and waiting when Parley dies.
// After the last restart the receiver takes everything: each session has
// exactly one session.ended (one webhook-id, reason timeout), none lost.
func TestCrash_SessionTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 3))
	t.Logf("seed %d", seed)
	r := webhooktest.New(t)
	var refuse atomic.Bool
	refuse.Store(true)
	r.Behave(func(n int, d *webhooktest.Delivery) int {
		if refuse.Load() && d.Type == storage.EventSessionEnded {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	config := filepath.Join(t.TempDir(), "sites.json")
	src := fmt.Sprintf(`{"sites": [{"id": "demo", "origins": ["http://localhost:*"], "story": "builtin:demo", "sessionTimeout": "1s",
  "webhooks": [%s]}]}`, hook("crm", r.URL, true))
	if err := os.WriteFile(config, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}

	bin := buildParley(t)
	data, addr := t.TempDir(), freeAddr(t)
	base := "http://" + addr
	env := []string{"PARLEY_ADMIN_TOKEN=" + adminToken}
	args := []string{"serve", "--addr", addr, "--data", data, "--config", config,
		"--webhook-retry", "50ms", "--idle-sweep-every", "50ms", "--idle-sweep-limit", "2"}
	p := startChild(t, bin, env, nil, args...)
	waitHealthy(t, addr)

	var sessions []string
	for round := range 3 {
		for range 3 {
			c := widgettest.MustDial(t, widgettest.URL(base, "demo"), widgettest.Options{Origin: "http://localhost:3000"})
			w := c.MustHello(widgettest.Hello{})
			c.UntilPrompt("")
			c.CloseNow()
			sessions = append(sessions, w.Session)
		}
		// Killed before, while or after the sweeps end them.
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		t.Logf("round %d: kill", round)
		p.kill9(t)
		p = startChild(t, bin, env, nil, args...)
		waitHealthy(t, addr)
	}
	time.Sleep(1500 * time.Millisecond) // the last ones time out
	refuse.Store(false)
	waitUntil(t, 30*time.Second, "every session's session.ended", func() bool {
		return len(endedBy(t, r)) == len(sessions)
	})
	waitUntil(t, 30*time.Second, "the outbox to drain", func() bool {
		var list struct{ Items []struct{ Waiting int } }
		admintest.Get(t, base, adminToken, "/admin/api/webhooks", &list)
		return list.Items[0].Waiting == 0
	})
	p.kill9(t)
	got := endedBy(t, r)
	for _, sid := range sessions {
		if len(got[sid]) != 1 || got[sid][0] != storage.EndedByTimeout {
			t.Errorf("session %s: session.ended %v, want exactly one, reason timeout", sid, got[sid])
		}
	}
	if n := r.BadSignatures(); n != 0 {
		t.Errorf("%d deliveries with a bad signature", n)
	}
}
