//go:build unix

package server_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/server/admin"
	"github.com/parley-chat/parley/storage"
)

// buildParley builds the real binary into a directory anyone may read, so
// a test may run it as another user.
func buildParley(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "parley")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/parley-chat/parley")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	// The test process's umask is 077 once a store has opened in it
	// (storage.Open), and go build inherits it.
	os.Chmod(bin, 0o755)
	return bin
}

// child is a parley process.
type child struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startChild(tb testing.TB, bin string, env []string, cred *syscall.Credential, args ...string) *child {
	tb.Helper()
	c := &child{out: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if cred != nil {
		c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	tb.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
	return c
}

// wait waits for the process to end and returns its exit code.
func (c *child) wait(tb testing.TB, d time.Duration) int {
	tb.Helper()
	select {
	case <-c.done:
	case <-time.After(d):
		tb.Fatalf("parley did not end within %v; output:\n%s", d, c.out)
	}
	return c.cmd.ProcessState.ExitCode()
}

// kill9 kills the process with SIGKILL: no shutdown code runs.
func (c *child) kill9(tb testing.TB) {
	tb.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.wait(tb, 10*time.Second)
}

// crashRounds is how many times TestCrash_KillNine kills Parley: a few in
// CI, PARLEY_CRASH_ROUNDS for the long run (20 or more).
func crashRounds(tb testing.TB) int {
	if v := os.Getenv("PARLEY_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			tb.Fatalf("PARLEY_CRASH_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	return 3
}

// TestCrash_KillNine runs the real binary, drives concurrent visitors
// through the demo story (choices, a name as free text, email and phone
// inputs, uploads) and kills Parley with SIGKILL at random moments,
// restarting it on the same data directory each time. Clients resend what
// was not acked after they reconnect, as the widget does. At the end every
// acked message and every 201-answered upload must be stored exactly once,
// and records and indexes must agree.
func TestCrash_KillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rounds := crashRounds(t)
	bin := buildParley(t)
	data, addr := t.TempDir(), freeAddr(t)
	env := []string{"PARLEY_ADMIN_TOKEN=" + adminToken}
	args := []string{"serve", "--addr", addr, "--data", data, "--msg-rate", "-1", "--max-conns-per-ip", "-1"}
	p := startChild(t, bin, env, nil, args...)
	waitHealthy(t, addr)

	t.Run("SecondProcess", func(t *testing.T) {
		start := time.Now()
		second := startChild(t, bin, env, nil, "serve", "--addr", freeAddr(t), "--data", data)
		code := second.wait(t, 10*time.Second)
		if code == 0 || !strings.Contains(second.out.String(), "in use by another Parley process") || time.Since(start) > 5*time.Second {
			t.Errorf("second process on the data dir: exit %d after %v, output %q", code, time.Since(start), second.out)
		}
	})

	clients, kills := killWhileChatting(t, p, rounds, bin, env, addr, args...)
	check := startChild(t, bin, env, nil, "check", "--data", data)
	if code := check.wait(t, 60*time.Second); code != 0 {
		t.Errorf("parley check after the last kill: exit %d\n%s", code, check.out)
	}

	st, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkCrashed(t, st, storage.NewFiles(st), st.Verify, clients, kills, rounds)
}

// crashedStore is a store after a crash test: either engine.
type crashedStore interface {
	ackedStore
	admin.Store
}

// checkCrashed checks a store the crash test left: every acked message
// and upload stored once (checkAcked), the records whole (verify), the
// views listing them all (checkViews); and that the test exercised
// enough (20 acks a round).
func checkCrashed(tb testing.TB, st crashedStore, files fileupload.Store, verify func(context.Context) (*storage.VerifyReport, error), clients []*storyClient, kills, rounds int) {
	tb.Helper()
	acks, uploads := checkAcked(tb, st, files, clients)
	r, err := verify(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range r.Problems {
		tb.Errorf("verify: %s", p)
	}
	checkViews(tb, st, r)
	tb.Logf("%d kills; %d acked messages and %d uploads checked; store: %d visitors, %d sessions, %d messages, %d files, %d orphan uploads",
		kills, acks, uploads, r.Visitors, r.Sessions, r.Messages, r.Files, r.OrphanChunkFiles)
	if acks < 20*rounds {
		tb.Errorf("only %d messages acked: the test did not exercise much", acks)
	}
}

// killWhileChatting lets visitors chat with Parley (p, started with args)
// while it is killed with SIGKILL at random moments and restarted, rounds
// times, and once more while they still chat, so turns are left unfolded
// (the session records, rollups and indexes are written behind the
// acks): parley check must find the store whole, and the next open must
// fold them. It returns every client the visitors were and the kills.
func killWhileChatting(t *testing.T, p *child, rounds int, bin string, env []string, addr string, args ...string) ([]*storyClient, int) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("rounds %d, seed %d", rounds, seed)
	// The visitors: each talks until stopped, reconnecting while Parley is
	// down and resending its unacknowledged frame.
	var dead atomic.Bool
	stopChat := chatters("http://"+addr, 6, &dead)
	kills := 0
	for r := 0; r < rounds; r++ {
		time.Sleep(time.Duration(200+rng.IntN(1000)) * time.Millisecond)
		p.kill9(t)
		kills++
		p = startChild(t, bin, env, nil, args...)
		waitHealthy(t, addr)
	}
	time.Sleep(300 * time.Millisecond)
	p.kill9(t)
	return stopChat(), kills + 1
}

// chatters starts n visitors that talk through the demo story at base
// until dead is set, each reconnecting while Parley is down and resending
// its unacknowledged frame, and a new browser now and then. stop sets dead,
// waits for them and returns every client they were.
func chatters(base string, n int, dead *atomic.Bool) (stop func() []*storyClient) {
	var wg sync.WaitGroup
	var (
		mu      sync.Mutex
		clients []*storyClient
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			gen := 0
			newClient := func() *storyClient {
				gen++
				c := newStoryClient(base, fmt.Sprintf("k%d.%d", i, gen))
				c.files = (i+gen)%2 == 0
				mu.Lock()
				clients = append(clients, c)
				mu.Unlock()
				return c
			}
			c := newClient()
			for {
				if dead.Load() {
					// Killed for good: an unacked frame stays unacked.
					c.close()
					return
				}
				if c.ws == nil {
					if err := c.connect(ctx); err != nil {
						c.close()
						time.Sleep(50 * time.Millisecond)
						continue
					}
				}
				if err := c.step(ctx); err != nil {
					c.close()
					continue
				}
				// A new browser now and then: more visitors and sessions.
				if c.steps >= 14 && c.pending == nil {
					c.close()
					c = newClient()
				}
			}
		}()
	}
	return func() []*storyClient {
		dead.Store(true)
		wg.Wait()
		return clients
	}
}

// ackedStore is what checkAcked reads: either engine.
type ackedStore interface {
	Messages(ctx context.Context, sessionID string, limit int) ([]storage.Message, error)
	Ack(ctx context.Context, sessionID, clientID string) (storage.Ack, error)
}

// checkAcked checks that every acked message is stored exactly once, under
// its ack's ID, and every 201-answered upload has its record and exactly
// one message. It returns how many of each it checked.
func checkAcked(tb testing.TB, st ackedStore, files fileupload.Store, clients []*storyClient) (acks, uploads int) {
	tb.Helper()
	ctx := context.Background()
	msgs := map[string][]storage.Message{}
	messages := func(sid string) []storage.Message {
		if m, ok := msgs[sid]; ok {
			return m
		}
		m, err := st.Messages(ctx, sid, 0)
		if err != nil {
			tb.Fatal(err)
		}
		msgs[sid] = m
		return m
	}
	for _, c := range clients {
		c.mu.Lock()
		for k, ackID := range c.acked {
			sid, cid, _ := strings.Cut(k, "/")
			acks++
			if a, err := st.Ack(ctx, sid, cid); err != nil || a.ID != ackID {
				tb.Errorf("ack of %s in %s: stored %+v, %v; the client got %s", cid, sid, a, err, ackID)
			}
			var found []string
			for _, m := range messages(sid) {
				if m.ClientID == cid && m.From == storage.FromVisitor {
					found = append(found, m.ID)
				}
			}
			if len(found) != 1 || found[0] != ackID {
				tb.Errorf("message %s of session %s (ack %s): stored as %v, want exactly once", cid, sid, ackID, found)
			}
		}
		for fid, sid := range c.uploads {
			uploads++
			if _, err := files.File(ctx, fid); err != nil {
				tb.Errorf("upload %s answered 201: %v", fid, err)
			}
			n := 0
			for _, m := range messages(sid) {
				if m.File != nil && m.File.ID == fid {
					n++
				}
			}
			if n != 1 {
				tb.Errorf("upload %s: %d messages in session %s, want 1", fid, n, sid)
			}
		}
		c.mu.Unlock()
	}
	return acks, uploads
}

// checkViews pages through the admin views and checks they list every
// record: each visitor once in the overview, each session once in the
// dashboard and in its visitor's list.
func checkViews(tb testing.TB, st admin.Store, r *storage.VerifyReport) {
	tb.Helper()
	ctx := context.Background()
	visitors := map[string]bool{}
	for cursor := ""; ; {
		page, err := st.Users(ctx, storage.UserQuery{Limit: storage.MaxLimit, Cursor: cursor})
		if err != nil {
			tb.Fatal(err)
		}
		for _, row := range page.Items {
			if visitors[row.Visitor.ID] {
				tb.Errorf("overview lists %s twice", row.Visitor.ID)
			}
			visitors[row.Visitor.ID] = true
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	sessions := 0
	for cursor := ""; ; {
		page, err := st.Sessions(ctx, storage.SessionQuery{Limit: storage.MaxLimit, Cursor: cursor})
		if err != nil {
			tb.Fatal(err)
		}
		for _, row := range page.Items {
			sessions++
			vs, err := st.VisitorSessions(ctx, storage.VisitorSessionQuery{VisitorID: row.Session.VisitorID, Limit: storage.MaxLimit})
			if err != nil {
				tb.Fatal(err)
			}
			found := false
			for _, s := range vs.Items {
				found = found || s.ID == row.Session.ID
			}
			if !found {
				tb.Errorf("session %s is not in its visitor's list", row.Session.ID)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(visitors) != r.Visitors || sessions != r.Sessions {
		tb.Errorf("views list %d visitors and %d sessions; the store holds %d and %d", len(visitors), sessions, r.Visitors, r.Sessions)
	}
}

// TestCrash_OpenFailures: a store that cannot open fails at start with a
// message that says why and what to do.
func TestCrash_OpenFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildParley(t)
	run := func(t *testing.T, cred *syscall.Credential, data string) (int, string) {
		t.Helper()
		c := startChild(t, bin, []string{"PARLEY_ADMIN_TOKEN=" + adminToken}, cred, "serve", "--addr", freeAddr(t), "--data", data)
		code := c.wait(t, 15*time.Second)
		t.Logf("exit %d: %s", code, strings.TrimSpace(c.out.String()))
		return code, c.out.String()
	}

	t.Run("Permission", func(t *testing.T) {
		parent := t.TempDir()
		os.Chmod(parent, 0o755)
		os.Chmod(filepath.Dir(parent), 0o755)
		data := filepath.Join(parent, "data")
		os.Mkdir(data, 0o700)
		var cred *syscall.Credential
		if os.Geteuid() == 0 {
			// Root ignores modes: run Parley as nobody on root's directory.
			cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		} else {
			os.Chmod(data, 0)
			defer os.Chmod(data, 0o700)
		}
		code, out := run(t, cred, data)
		if code == 0 || !strings.Contains(out, "no permission") || !strings.Contains(out, data) {
			t.Errorf("exit %d, output %q; want a failure naming the permission and the directory", code, out)
		}
	})
	t.Run("Corrupt", func(t *testing.T) {
		data := t.TempDir()
		st, err := storage.Open(data, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		if err := os.WriteFile(filepath.Join(data, "MANIFEST"), []byte("this is not a manifest at all, not at all"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out := run(t, nil, data)
		if code == 0 || !strings.Contains(out, "parley restore") {
			t.Errorf("exit %d, output %q; want a failure that points at restoring a backup", code, out)
		}
	})
}

// TestCrash_DiskFull fills the disk under a serving Parley: turns are
// refused with the error frame "internal" and nothing of them is stored,
// the process stays up, and the same frames are stored once space is
// freed. It mounts a small tmpfs, so it runs as root only.
func TestCrash_DiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	bin := buildParley(t)
	data, addr := filepath.Join(mnt, "data"), freeAddr(t)
	p := startChild(t, bin, []string{"PARLEY_ADMIN_TOKEN=" + adminToken}, nil, "serve", "--addr", addr, "--data", data, "--msg-rate", "-1")
	waitHealthy(t, addr)
	ctx := context.Background()
	c := newStoryClient("http://"+addr, "full")
	c.files = false
	if err := c.connect(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := c.step(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Something else fills the disk up to 40 MiB, under the reserve.
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for n := free - 40<<20; n > 0; n -= int64(len(zeros)) {
		if _, err := filler.Write(zeros[:min(n, int64(len(zeros)))]); err != nil {
			t.Fatal(err)
		}
	}
	filler.Close()
	waitLog(t, p, "disk nearly full")
	before := len(c.acked)
	for i := 0; i < 3; i++ {
		if err := c.step(ctx); !errors.Is(err, errNotStored) {
			t.Fatalf("turn on a full disk: %v, want the error frame internal", err)
		}
	}
	if len(c.acked) != before || c.pending == nil {
		t.Fatal("a turn was acked on a full disk")
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("parley is not up on a full disk: %v", err)
	}

	// Space comes back: the frame is sent again and stored once.
	os.Remove(filepath.Join(mnt, "filler"))
	waitLog(t, p, "disk space is back")
	for i := 0; i < 3; i++ {
		if err := c.step(ctx); err != nil {
			t.Fatalf("turn after space came back: %v", err)
		}
	}
	if len(c.acked) != before+3 {
		t.Errorf("%d acks after space came back, want %d", len(c.acked)-before, 3)
	}
	c.close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("graceful stop: exit %d\n%s", code, p.out)
	}
	store, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checkAcked(t, store, storage.NewFiles(store), []*storyClient{c})
	r, err := store.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems {
		t.Errorf("verify: %s", p)
	}
}

// waitLog waits until the child's output holds s.
func waitLog(tb testing.TB, c *child, s string) {
	tb.Helper()
	for i := 0; i < 100; i++ {
		if strings.Contains(c.out.String(), s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("parley never logged %q:\n%s", s, c.out)
}
