package server_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/loadtest"
)

func TestLoadtestCommand_ReadsMetrics(t *testing.T) {
	// `parley loadtest` against `parley serve`: the server's memory comes
	// from /metrics with the admin token from PARLEY_ADMIN_TOKEN, or from
	// --metrics-url on the server's --debug-addr.
	addr, debug := freeAddr(t), freeAddr(t)
	env := map[string]string{"PARLEY_ADMIN_TOKEN": opsToken}
	stop, logs := runMain(t, []string{"--addr", addr, "--data", t.TempDir(), "--debug-addr", debug}, env)
	defer stop()
	waitHealthy(t, addr)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"AdminToken", nil, env},
		{"DebugAddr", []string{"--metrics-url", "http://" + debug + "/metrics"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut syncBuffer
			args := append([]string{"loadtest", "--addr", addr, "--visitors", "3", "--idle", "--duration", "200ms", "--json", "--quiet"}, tc.args...)
			code := server.Main(context.Background(), args, func(k string) string { return tc.env[k] }, &out, &errOut)
			var rep loadtest.Report
			if err := json.Unmarshal([]byte(out.String()), &rep); code != 0 || err != nil {
				t.Fatalf("exit %d, %v: %s %s", code, err, out.String(), errOut.String())
			}
			if rep.Held != 3 || rep.Memory == nil || rep.Memory.HeapAfter == 0 {
				t.Errorf("held %d, memory %+v, notes %q\n%s", rep.Held, rep.Memory, rep.Notes, logs)
			}
		})
	}
}
