package server_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/widget/widgettest"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runMain starts the whole program as `parley serve` and returns a stop
// function that cancels it (as SIGTERM does) and returns its exit code.
func runMain(tb testing.TB, args []string, env map[string]string) (stop func() int, logs *syncBuffer) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- server.Main(ctx, args, func(k string) string { return env[k] }, logs, logs)
	}()
	return func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(15 * time.Second):
			tb.Fatal("parley did not stop within 15 s")
			return -1
		}
	}, logs
}

func waitHealthy(tb testing.TB, addr string) {
	tb.Helper()
	for i := 0; i < 100; i++ {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("parley on %s never became healthy", addr)
}

func TestMain_ServeAndStop(t *testing.T) {
	data := t.TempDir()
	addr := freeAddr(t)
	stop, logs := runMain(t, []string{"--addr", addr, "--data", data}, map[string]string{})
	waitHealthy(t, addr)

	// A second process on the same data dir fails at once and says why.
	code, errOut := func() (int, string) {
		var out syncBuffer
		code := server.Main(context.Background(), []string{"--addr", freeAddr(t), "--data", data}, func(string) string { return "" }, &out, &out)
		return code, out.String()
	}()
	if code == 0 || !strings.Contains(errOut, "in use by another Parley process") {
		t.Errorf("second process: exit %d, output %q; want a failure naming the lock", code, errOut)
	}

	c := widgettest.MustDial(t, widgettest.URL("http://"+addr, "demo"), widgettest.Options{Origin: "http://localhost:3000"})
	welcome := c.MustHello(widgettest.Hello{})
	if welcome.Token == "" {
		t.Fatalf("got %+v; want welcome with a token", welcome)
	}
	// Keep reading so the close handshake completes, as a browser would.
	closed := c.Drain()
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d, logs:\n%s", code, logs)
	}
	if got := widgettest.CloseStatus(<-closed); got != widgettest.StatusGoingAway {
		t.Errorf("socket closed with %v, want 1001", got)
	}
	if info, err := os.Stat(filepath.Join(data, "visitor.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("visitor.key: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	if info, err := os.Stat(filepath.Join(data, "admin.token")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("admin.token: %v; want 0600", err)
	}
	if strings.Contains(logs.String(), welcome.Token) {
		t.Error("the visitor's token appeared in the logs")
	}
	// The generated admin token is shown once, with the console URL, at the
	// start that made it; a later start only says where it is kept.
	generated, _ := os.ReadFile(filepath.Join(data, "admin.token"))
	if first := logs.String(); !strings.Contains(first, strings.TrimSpace(string(generated))) || !strings.Contains(first, "/admin/") {
		t.Errorf("the first start did not show the generated admin token with the console URL:\n%s", first)
	}
	addr2 := freeAddr(t)
	stop2, logs2 := runMain(t, []string{"--addr", addr2, "--data", data}, map[string]string{})
	waitHealthy(t, addr2)
	if code := stop2(); code != 0 {
		t.Fatalf("second start: exit %d", code)
	}
	if strings.Contains(logs2.String(), strings.TrimSpace(string(generated))) {
		t.Error("a later start logged the admin token again")
	}
}

func TestMain_BadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("broken.json", `{"bot":"b","version":"1","start":"hi","fallback":"hi","blocks":[{"id":"hi","kind":"message","next":"nowhere"}]}`)
	tests := []struct {
		name, config string
		want         []string
	}{
		{"BrokenStory", `{"sites":[{"id":"acme","origins":["https://acme.example"],"story":"broken.json"}]}`,
			[]string{"site acme", "broken.json", `block "hi"`, `next "nowhere": no such block`}},
		{"BadOrigin", `{"sites":[{"id":"acme","origins":["acme.example"]}]}`, []string{"site acme", `origin "acme.example"`}},
		{"UnknownField", `{"sites":[{"id":"acme","origin":["https://acme.example"]}]}`, []string{`unknown field "origin"`}},
		{"BadTimeout", `{"sites":[{"id":"acme","origins":["https://acme.example"],"sessionTimeout":"soon"}]}`, []string{"site acme", "sessionTimeout"}},
		{"BadHandoverTimeout", `{"sites":[{"id":"acme","origins":["https://acme.example"],"handoverTimeout":"-1m"}]}`, []string{"site acme", "handoverTimeout"}},
		{"DuplicateSite", `{"sites":[{"id":"a","origins":["https://a.example"]},{"id":"a","origins":["https://a.example"]}]}`, []string{"site a: duplicate id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := write(tt.name+".json", tt.config)
			var out syncBuffer
			code := server.Main(context.Background(), []string{"--data", t.TempDir(), "--config", cfg}, func(string) string { return "" }, &out, &out)
			if code == 0 {
				t.Fatal("a bad config started")
			}
			if tt.name != "BrokenStory" { // its problem names the story file
				tt.want = append(tt.want, cfg)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("error %q does not mention %q", out.String(), w)
				}
			}
		})
	}
}

func TestMain_EnvTwins(t *testing.T) {
	addr := freeAddr(t)
	data := t.TempDir()
	stop, logs := runMain(t, nil, map[string]string{"PARLEY_ADDR": addr, "PARLEY_DATA": data, "PARLEY_ADMIN_TOKEN": "from-env-token-0123456789abcdefghij"})
	waitHealthy(t, addr)
	if code := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, logs)
	}
	if _, err := os.Stat(filepath.Join(data, "admin.token")); !os.IsNotExist(err) {
		t.Errorf("with PARLEY_ADMIN_TOKEN set, admin.token was written (err %v)", err)
	}
}
