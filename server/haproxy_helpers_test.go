package server_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// startHAProxy runs HAProxy with the deployment example's own config
// (deploy/haproxy.cfg) in front of up to three nodes' addresses, until the
// test ends, and returns the address it listens on once it routes to a
// node. Without HAProxy the test skips, except under CI=true.
func startHAProxy(t *testing.T, nodes ...string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/haproxy")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy is not installed; make setup installs it (apt-get install haproxy)")
		}
		t.Skip("haproxy is not installed: apt-get install haproxy (make setup does, as root)")
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-db", "-f", "../deploy/haproxy.cfg")
	cmd.Env = append(os.Environ(), "PARLEY_LISTEN="+addr)
	for i, n := range nodes {
		cmd.Env = append(cmd.Env, fmt.Sprintf("PARLEY_NODE%d=%s", i+1, n))
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy routes to no node: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
