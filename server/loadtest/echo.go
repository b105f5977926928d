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
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// EchoPath is where the baseline echo server takes WebSockets.
const EchoPath = "/ws"

// EchoHandler is the floor Parley is compared with: a bare coder/websocket
// echo, one goroutine per connection reading and writing back each frame,
// and /metrics with the same process gauges as Parley's.
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
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		WriteProcessMetrics(w, r.URL.Query().Get("gc") == "1")
	})
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

var lastGC struct {
	sync.Mutex
	at time.Time
}

// WriteProcessMetrics writes the Go runtime's and the process's memory,
// goroutines, open files and CPU time as parley_* gauges and a counter in
// the Prometheus text format. Parley's /metrics and the echo baseline both
// use it, so the load tool reads their memory and CPU the same way. With gc set it first collects
// garbage, at most once a second, so heap figures count live memory.
func WriteProcessMetrics(w io.Writer, gc bool) {
	if gc {
		lastGC.Lock()
		if time.Since(lastGC.at) >= time.Second {
			runtime.GC()
			lastGC.at = time.Now()
		}
		lastGC.Unlock()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	gauge := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	gauge("parley_go_heap_inuse_bytes", "Bytes in in-use heap spans.", m.HeapInuse)
	gauge("parley_go_heap_alloc_bytes", "Bytes of allocated heap objects, live or not yet collected.", m.HeapAlloc)
	gauge("parley_go_stack_inuse_bytes", "Bytes in goroutine stacks.", m.StackInuse)
	gauge("parley_go_sys_bytes", "Bytes obtained from the OS by the Go runtime.", m.Sys)
	gauge("parley_go_goroutines", "Goroutines that exist now.", uint64(runtime.NumGoroutine()))
	gauge("parley_go_gc_cycles", "Garbage collections completed.", uint64(m.NumGC))
	// Linux only: resident memory and open files, from /proc.
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, resident uint64
		if _, err := fmt.Sscan(string(b), &size, &resident); err == nil {
			gauge("parley_process_resident_bytes", "Resident set size of the process.", resident*uint64(os.Getpagesize()))
		}
	}
	if cpu, ok := cpuSeconds(); ok {
		const name = "parley_process_cpu_seconds_total"
		fmt.Fprintf(w, "# HELP %s CPU time the process used, user and system, in seconds.\n# TYPE %s counter\n%s %.6f\n", name, name, name, cpu)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		gauge("parley_process_open_fds", "Open file descriptors.", uint64(len(fds)))
	}
}
