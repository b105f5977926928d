package server_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// agentCmd runs `parley agent ARGS…` and returns its exit code, stdout and stderr.
func agentCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := server.Main(context.Background(), append([]string{"agent"}, args...), func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestAgentCommand(t *testing.T) {
	// The store itself: Badger (Parley stopped) or PostgreSQL.
	offline := func(t *testing.T, where ...string) {
		code, secret, errs := agentCmd(t, nil, "add", "ana", "--display", "Ana Lopez", "--email", "ana@example.org", "--sites", "demo,shop", where[0], where[1])
		if code != 0 || len(strings.TrimSpace(secret)) < 40 || !strings.Contains(errs, "shown this once") {
			t.Fatalf("add: %d %q %q", code, secret, errs)
		}
		if code, _, errs := agentCmd(t, nil, append([]string{"add", "ana"}, where...)...); code != 1 || !strings.Contains(errs, "exists") {
			t.Errorf("add again: %d %q", code, errs)
		}
		code, list, _ := agentCmd(t, nil, append([]string{"list"}, where...)...)
		if code != 0 || !strings.HasPrefix(list, "ana\tAna Lopez\t") || !strings.HasSuffix(list, "\tana@example.org\n") || strings.Contains(list, strings.TrimSpace(secret)) {
			t.Errorf("list: %d %q", code, list)
		}
		if code, _, errs := agentCmd(t, nil, append([]string{"revoke", "ana"}, where...)...); code != 0 {
			t.Errorf("revoke: %d %q", code, errs)
		}
		if code, list, _ := agentCmd(t, nil, append([]string{"list"}, where...)...); code != 0 || list != "" {
			t.Errorf("list after revoke: %d %q", code, list)
		}
		if code, _, errs := agentCmd(t, nil, append([]string{"add", "Not Valid"}, where...)...); code != 1 || !strings.Contains(errs, "name") {
			t.Errorf("bad name: %d %q", code, errs)
		}
		if code, _, errs := agentCmd(t, nil, append([]string{"add", "cy", "--email", "Cy <cy@example.org>"}, where...)...); code != 1 || !strings.Contains(errs, "email") {
			t.Errorf("bad email: %d %q", code, errs)
		}
	}
	t.Run("Offline", func(t *testing.T) { offline(t, "--data", t.TempDir()) })
	t.Run("Postgres", func(t *testing.T) { offline(t, "--store", postgrestest.URL(t)) })
	t.Run("Online", func(t *testing.T) {
		_, ts := startAdminServer(t, server.Config{})
		env := map[string]string{"PARLEY_ADMIN_TOKEN": adminToken}
		code, secret, errs := agentCmd(t, env, "add", "bo", "--url", ts.URL)
		if code != 0 || len(strings.TrimSpace(secret)) < 40 {
			t.Fatalf("add: %d %q %q", code, secret, errs)
		}
		if code, list, errs := agentCmd(t, env, "list", "--url", ts.URL); code != 0 || !strings.HasPrefix(list, "bo\tbo\t") {
			t.Errorf("list: %d %q %q", code, list, errs)
		}
		if code, _, errs := agentCmd(t, env, "revoke", "nobody", "--url", ts.URL); code != 1 || !strings.Contains(errs, "404") {
			t.Errorf("revoke unknown: %d %q", code, errs)
		}
		bad := map[string]string{"PARLEY_ADMIN_TOKEN": "wrong"}
		if code, _, errs := agentCmd(t, bad, "list", "--url", ts.URL); code != 1 || !strings.Contains(errs, "401") {
			t.Errorf("wrong token: %d %q", code, errs)
		}
	})
	t.Run("Usage", func(t *testing.T) {
		if code, _, errs := agentCmd(t, nil, "add"); code != 1 || !strings.Contains(errs, "NAME") {
			t.Errorf("no name: %d %q", code, errs)
		}
		if code, _, errs := agentCmd(t, nil, "fire", "x"); code != 1 || !strings.Contains(errs, "add, list or revoke") {
			t.Errorf("unknown verb: %d %q", code, errs)
		}
	})
}
