//go:build unix

package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReload_Watch changes the config file under a running `parley serve`
// and sends it SIGHUP: both reload it.
func TestReload_Watch(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sites.json")
	os.WriteFile(cfgPath, []byte(`{"sites":[{"id":"shop","origins":["http://localhost:*"]}]}`), 0o600)
	addr := freeAddr(t)
	stop, logs := runMain(t, []string{"--addr", addr, "--data", t.TempDir(), "--config", cfgPath, "--config-poll", "50ms"}, map[string]string{"PARLEY_ADMIN_TOKEN": adminToken})
	defer stop()
	waitHealthy(t, addr)
	waitLog := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if strings.Count(logs.String(), what) >= n {
				return
			}
		}
		t.Fatalf("no %q (%d) in the log:\n%s", what, n, logs)
	}
	time.Sleep(20 * time.Millisecond) // a new modification time
	os.WriteFile(cfgPath, []byte(`{"sites":[{"id":"shop","origins":["http://localhost:*"]},{"id":"bikes","origins":["https://bikes.example"]}]}`), 0o600)
	waitLog(`"msg":"config reloaded"`, 1)
	if !strings.Contains(logs.String(), `"sites":["shop","bikes"]`) {
		t.Errorf("the reload did not log the new sites:\n%s", logs)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(`"msg":"config reloaded"`, 2)
}
