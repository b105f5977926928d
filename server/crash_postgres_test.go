package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestCrash_KillNinePostgres is TestCrash_KillNine on PostgreSQL: visitors
// chat (messages, choices, inputs, uploads) while Parley is killed with
// SIGKILL at random moments and restarted on the same database. Every
// acked message and every 201-answered upload must be stored exactly
// once, and parley check must find the store whole. PARLEY_CRASH_ROUNDS
// sets the rounds (20 or more for the long run).
func TestCrash_KillNinePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rounds := crashRounds(t)
	bin := buildParley(t)
	url, addr := postgrestest.URL(t), freeAddr(t)
	env := []string{"PARLEY_ADMIN_TOKEN=" + adminToken}
	args := []string{"serve", "--addr", addr, "--data", t.TempDir(), "--store", url, "--msg-rate", "-1", "--max-conns-per-ip", "-1"}
	p := startChild(t, bin, env, nil, args...)
	waitHealthy(t, addr)

	clients, kills := killWhileChatting(t, p, rounds, bin, env, addr, args...)
	check := startChild(t, bin, env, nil, "check", "--store", url)
	if code := check.wait(t, 60*time.Second); code != 0 || !strings.Contains(check.out.String(), "ok:") {
		t.Errorf("parley check after the last kill: exit %d\n%s", code, check.out)
	}

	st, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkCrashed(t, st, postgres.NewFiles(st), st.Verify, clients, kills, rounds)
}
