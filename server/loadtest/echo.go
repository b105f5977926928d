package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/coder/websocket"
	promserve "github.com/parley-chat/parley/server/metrics"
)

// EchoPath is where the baseline echo server takes WebSockets.
const EchoPath = "/ws"

// EchoHandler is the floor Parley is compared with: a bare coder/websocket
// echo, one goroutine per connection reading and writing back each frame,
// and /metrics with the same Go and process series as Parley's.
func EchoHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+EchoPath, func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			typ, b, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			if err := ws.Write(r.Context(), typ, b); err != nil {
				return
			}
		}
	})
	mux.Handle("GET /metrics", promserve.Handler(promserve.NewRegistry()))
	return mux
}

// ServeEcho runs the echo server on addr until ctx ends, printing
// "listening ADDR" on out once it accepts.
func ServeEcho(ctx context.Context, addr string, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	srv := &http.Server{Handler: EchoHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "listening %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}

// echoServer is a running baseline: a child process (so its memory is its
// own, as Parley's is) or, without a command, a server in this process.
type echoServer struct {
	addr string
	stop func()
}

// startEcho starts the baseline echo server. cmd is the command line of a
// process that runs ServeEcho and prints its "listening ADDR" line; with
// none the server runs in this process (tests: memory figures are then
// mixed with the load tool's own).
func startEcho(cmd []string, host string) (*echoServer, error) {
	if len(cmd) == 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("echo: %w", err)
		}
		srv := &http.Server{Handler: EchoHandler()}
		go srv.Serve(ln)
		return &echoServer{addr: ln.Addr().String(), stop: func() { srv.Close() }}, nil
	}
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("echo: start %s: %w", cmd[0], err)
	}
	stop := func() {
		c.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		stop()
		return nil, fmt.Errorf("echo: the echo process said %q, want \"listening ADDR\"", line)
	}
	return &echoServer{addr: addr, stop: stop}, nil
}
