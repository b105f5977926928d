package postgrestest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL server of the test's own, in a temporary
// directory, that the test stops and starts: what an outage test needs
// without disturbing the shared server.
type Cluster struct {
	bin, dir string
	port     int
	cred     *syscall.Credential // root runs it as postgres: PostgreSQL refuses root
}

// NewCluster creates and starts a cluster (initdb, then pg_ctl start),
// stopped when the test ends. Where PostgreSQL's programs are missing the
// test is skipped, except under CI=true, where it fails.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			tb.Fatal("postgrestest: no initdb under /usr/lib/postgresql: apt-get install -y postgresql")
		}
		tb.Skip("postgrestest: no initdb under /usr/lib/postgresql: " + howTo)
	}
	slices.Sort(bins)
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1]), dir: tb.TempDir(), port: freePort(tb)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("postgrestest: running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The temp dirs up to ours must let postgres in.
		for d := c.dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	c.run(tb, "initdb", "-D", c.data(), "--auth=trust", "-U", "postgres", "--no-sync")
	c.Start(tb)
	tb.Cleanup(func() { c.pgCtl(tb, "stop", "-m", "immediate") })
	return c
}

// URL is the cluster's postgres database, over TCP on loopback.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the stopped cluster and waits until it answers.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	c.pgCtl(tb, "start", "-w", "-l", filepath.Join(c.dir, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL())
		if err == nil {
			conn.Close(ctx)
			return
		}
		if ctx.Err() != nil {
			tb.Fatalf("postgrestest: the cluster does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the cluster at once, as a crash would: connections drop.
func (c *Cluster) Stop(tb testing.TB) {
	tb.Helper()
	c.pgCtl(tb, "stop", "-w", "-m", "immediate")
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) pgCtl(tb testing.TB, args ...string) {
	c.run(tb, "pg_ctl", append([]string{"-D", c.data()}, args...)...)
}

func (c *Cluster) run(tb testing.TB, prog string, args ...string) {
	tb.Helper()
	cmd := exec.Command(filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("postgrestest: %s %v: %v\n%s", prog, args, err, out)
	}
}

// freePort returns a TCP port on loopback no one listens on now.
func freePort(tb testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
